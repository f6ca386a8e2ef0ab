"""The Examples sections of iqalign.stats run as doctests."""

import doctest
import importlib
import pkgutil

import pytest

import iqalign.stats

SUBMODULES = sorted(info.name for info in pkgutil.iter_modules(iqalign.stats.__path__))
MODULES = ["iqalign.stats", *(f"iqalign.stats.{name}" for name in SUBMODULES)]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
