"""iqalign: causal claims about image quality (Q) and network performance (M), tested on data.

Layers (see DESIGN.md in the shared folder for the map):

- :mod:`iqalign.causal` -- DAG files, d-separation, claims, test plans, figures (no torch).
- :mod:`iqalign.stats` -- predictability, correlations, conditional-independence tests (no torch).
- :mod:`iqalign.scoring` -- images -> scores table (torch, pyiqa, open_clip; optional extra).
- :mod:`iqalign.report` -- figures, tables, HTML/Markdown report.
- :mod:`iqalign.cli` -- the ``iqalign`` command.
"""

__version__ = "0.1.0"
