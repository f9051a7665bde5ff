"""Terminal renderers: analysis results as plain text blocks (lines, paragraphs, tables).

One module per area (``discovery``, ``bottlenecks``, ``kpi``, ``conformance``, ``store``,
``pilot``, ``review``, ``monitoring``, ``audit``, ``sop``, ``report``, ``why``): each ``render_*`` function
takes a result and returns a :class:`~csmine.reports.text.blocks.Text`, plain data
with no terminal library behind it. The CLI prints it (``csmine.cli.render.print_text``
turns its :class:`~csmine.reports.text.blocks.Table` blocks into rich tables, the one
table builder), so only ``csmine.cli`` imports rich and the renderers are testable as data.
"""
