"""Open a report in headless Chromium (Debian's chromium + chromium-driver) and say what
loaded. The flags keep Chromium off the network: the report must need none."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]

_FIGURES_JS = """
const out = [];
for (const fig of document.querySelectorAll('figure')) {
  const img = fig.querySelector('img');
  const svg = fig.querySelector('svg');
  let ok = false;
  if (img) { ok = img.complete && img.naturalWidth > 0; }
  else if (svg) { const b = svg.getBoundingClientRect(); ok = b.width > 0 && b.height > 0; }
  out.push([fig.dataset.name || '', ok]);
}
return out;
"""


def open_report(path: Path) -> dict:
    """Load ``path`` from disk; return its title, figures (name, loaded) and console errors."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail(
            "headless Chromium is missing: apt-get install chromium chromium-driver (.ci/run does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(path.resolve().as_uri())
        figures = driver.execute_script(_FIGURES_JS)
        errors = [
            entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")
        ]
        return {"title": driver.title, "figures": figures, "errors": errors}
    finally:
        driver.quit()
