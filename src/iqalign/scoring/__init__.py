"""iqalign.scoring: images -> scores table (Q metrics, M models) on a GPU or the CPU.

Needs the ``scoring`` extra: ``pip install 'iqalign[scoring]'``. Heavy libraries are
imported inside the functions that need them.
"""
