"""iqalign.report: figures, tables and the HTML/Markdown reports (no torch)."""
