"""``python -m iqalign`` runs the CLI (same as the ``iqalign`` command)."""

from iqalign.cli import main

main()
