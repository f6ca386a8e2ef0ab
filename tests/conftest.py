"""Test-wide setup. Runs before any test module imports a library.

Hub downloads must fail fast (HF_HUB_OFFLINE) and weights must never be looked for in
(or written to) the user's real cache (a temporary TORCH_HOME): a missed download
otherwise retries for minutes on a machine without internet.
"""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TORCH_HOME", tempfile.mkdtemp(prefix="iqalign-test-torch-home-"))
os.environ.setdefault("MPLBACKEND", "Agg")
