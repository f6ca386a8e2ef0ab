"""The scores contract: one owner of the column scheme, one way to read a run."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from iqalign import scores
from iqalign.errors import ScoresNotFoundError, ScoresTableError

SRC = Path(scores.__file__).resolve().parent
OWNERS = {SRC / "scores.py"}
# A prefix spelled out: the bare prefix, or one that a name or pattern follows
# (f"q_{name}" parses to the constant "q_"; "'correct_*'" in a message).
PREFIX_LITERAL = re.compile(r"(?<![A-Za-z0-9])(q|correct)_(\*|$)")


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _prefix_literals(path: Path, root: Path = SRC.parent) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstring_nodes(tree)
    return [
        f"{path.relative_to(root)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and PREFIX_LITERAL.search(node.value)
    ]


def test_no_module_but_scores_spells_the_column_prefixes():
    paths = [path for path in sorted(SRC.rglob("*.py")) if path not in OWNERS]
    found = [hit for path in paths for hit in _prefix_literals(path)]
    hint = "use iqalign.scores (quality_column, performance_column, ...):\n"
    assert found == [], hint + "\n".join(found)


@pytest.mark.parametrize("code", ['x = "q_"', 'x = f"correct_{m}"', "x = \"column: 'q_*'\""])
def test_the_literal_check_catches_each_spelling(code, tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(f'"""Docstrings may show q_tv."""\n{code}\n')
    assert len(_prefix_literals(path, tmp_path)) == 1


def test_no_module_but_scores_and_imagenet_c_spells_clean():
    clean = re.compile(r"""corruption\S*\s*[=!]=\s*["']none["']|["']none["'],\s*0\)""")
    found = [
        f"{path.relative_to(SRC.parent)}: {line.strip()}"
        for path in SRC.rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if clean.search(line)
    ]
    assert found == []


def test_column_names_round_trip_through_the_scoring_registry():
    # the scheme the scoring engine writes, built by its own registry functions
    from iqalign.scoring.metrics import metric_column
    from iqalign.scoring.models import slug

    assert metric_column("clipiqa+") == scores.quality_column("clipiqa+") == "q_clipiqa_plus"
    assert metric_column("zsclip_maxlogit", "clip:ViT-B-32") == "q_zsclip_maxlogit_vit_b_32"
    column = scores.performance_column(slug("timm:resnet50.a1_in1k"))
    assert scores.model_of(column) == "timm_resnet50_a1_in1k"


def test_same_model_is_decided_on_the_column_slug_for_timm_models():
    """The manifest records Q's source by registry name; the table names M by slug."""
    from iqalign.causal import AppliesTo

    info = scores.MetricInfo(
        "q_tg_maxlogit_timm_resnet50", "tg_maxlogit", "strong_tg", True, "timm:resnet50"
    )
    assert info.is_from_model("timm_resnet50") and not info.is_from_model("resnet50")
    same = AppliesTo(("strong_tg",), "same_model")
    assert same.accepts("strong_tg", "timm:resnet50", "timm_resnet50")
    assert not AppliesTo(("strong_tg",), "other_model").accepts(
        "strong_tg", "timm:resnet50", "timm_resnet50"
    )


def test_reading_a_run_has_one_set_of_errors(tmp_path):
    with pytest.raises(ScoresNotFoundError, match="no such Parquet file or run folder"):
        scores.read_run(tmp_path / "absent")
    with pytest.raises(ScoresNotFoundError, match=r"not an iqalign run: no manifest\.json"):
        scores.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ScoresTableError, match=r"manifest.json: not valid JSON"):
        scores.read_run(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ScoresTableError, match="expected a JSON object"):
        scores.read_manifest(tmp_path)


def test_the_scoring_writer_reads_manifests_through_the_contract(tmp_path):
    from iqalign.scoring import read_manifest, read_scores

    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ScoresTableError, match="not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "running"}))
    with pytest.raises(ScoresTableError, match="not complete"):
        read_scores(tmp_path)


def test_read_run_reads_shards_and_manifest(tmp_path):
    frame = pd.DataFrame({"image_id": ["a", "b"], "q_tv": [0.1, 0.2], "correct_m": [0, 1]})
    (tmp_path / "shards").mkdir()
    frame.iloc[:1].to_parquet(tmp_path / "shards" / "part-00000.parquet")
    frame.iloc[1:].to_parquet(tmp_path / "shards" / "part-00001.parquet")
    entry = {"metric": "tv", "family": "tv", "higher_is_better": False, "source_model": None}
    (tmp_path / "manifest.json").write_text(json.dumps({"columns": {"q_tv": entry}}))
    table, manifest = scores.read_run(tmp_path)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), frame)
    info = scores.read_metric_infos(table.columns, manifest)["q_tv"]
    assert (info.family, info.higher_is_better, info.source_slug) == ("tv", False, None)
