"""Small named DAGs and tables for the statistics tests (builders return fresh objects)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iqalign.causal import parse_dag

NULL_DAG = """
name: null_given_image
title: Q and M share only the source image
nodes:
  X0: {column: image_id}
  C: {column: corruption}
  S: {column: severity}
  Q: {column: "q_*"}
  M: {column: "correct_*"}
edges: ["X0 -> Q", "X0 -> M", "C -> Q", "S -> Q"]
implies: ["Q _||_ M | X0"]
"""


def null_dag(extra_edges: tuple[str, ...] = ()):
    """Q and M connected only through the image X0: Q _||_ M | X0 holds unless edges are added."""
    text = NULL_DAG
    if extra_edges:
        text = text.replace(
            '"S -> Q"]', '"S -> Q", ' + ", ".join(f'"{e}"' for e in extra_edges) + "]"
        )
    return parse_dag(text)


@pytest.fixture
def small_table() -> pd.DataFrame:
    """A hand-sized scores table: 6 images x 4 rows, both classes in most images."""
    rng = np.random.default_rng(7)
    ids = np.repeat([f"img{i}" for i in range(6)], 4)
    q = rng.normal(size=ids.size)
    m = (rng.random(ids.size) < 1 / (1 + np.exp(-q))).astype(int)
    return pd.DataFrame(
        {
            "image_id": ids,
            "label": np.repeat([0, 0, 1, 1, 2, 2], 4),
            "corruption": np.tile(["none", "fog", "fog", "snow"], 6),
            "severity": np.tile([0, 1, 2, 1], 6),
            "q_tv": q,
            "correct_r34": m,
        }
    )
