from csmine.cli import cli

cli()
