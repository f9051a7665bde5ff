"""Files in and out: import readers, XES, mapping files and vendor presets, export, safe file writing."""
