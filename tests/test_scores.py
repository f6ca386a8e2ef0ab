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
    from iqalign.scoring.metrics.registry import metric_column
    from iqalign.scoring.models.registry import slug

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
    run = scores.read_run(tmp_path)
    pd.testing.assert_frame_equal(run.table.reset_index(drop=True), frame)
    info = run.metrics["q_tv"]
    assert (info.family, info.higher_is_better, info.source_slug) == ("tv", False, None)


def _write_run(folder: Path, columns: dict, models: dict) -> Path:
    frame = pd.DataFrame({
        "image_id": ["a", "b"], "q_tg_maxprob_timm_resnet50": [0.9, 0.2], "q_tv": [0.1, 0.2],
        "correct_timm_resnet50": [1, 0], "pred_timm_resnet50": [3, 4],
    })  # fmt: skip
    (folder / "shards").mkdir(parents=True)
    frame.to_parquet(folder / "shards" / "part-00000.parquet")
    manifest = {"status": "complete", "columns": columns, "models": models}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


MODELS = {"timm:resnet50": {"correct_column": "correct_timm_resnet50",
                            "pred_column": "pred_timm_resnet50"}}  # fmt: skip


def _entry(metric, family, higher, source, **more):
    return {"metric": metric, "family": family, "higher_is_better": higher,
            "source_model": source, **more}  # fmt: skip


def test_read_run_gives_the_manifests_records(tmp_path):
    columns = {
        "q_tg_maxprob_timm_resnet50": _entry("tg_maxprob", "strong_tg", True, "timm:resnet50",
                                             role="confidence"),
        "q_tv": _entry("tv", "tv", False, None, role="quality"),
    }  # fmt: skip
    run = scores.read_run(_write_run(tmp_path, columns, MODELS))
    assert isinstance(run, scores.ScoredRun) and run.path == tmp_path
    got = {
        c: {"metric": i.metric, "family": i.family, "higher_is_better": i.higher_is_better,
            "source_model": i.source_model, "role": i.role}
        for c, i in run.metrics.items()
    }  # fmt: skip
    assert got == columns and run.manifest["models"] == MODELS
    model = run.models["timm_resnet50"]
    assert (model.name, model.slug) == ("timm:resnet50", "timm_resnet50")
    assert MODELS[model.name] == {"correct_column": model.correct_column,
                                  "pred_column": model.pred_column}  # fmt: skip
    assert run.metrics["q_tg_maxprob_timm_resnet50"].source_slug == "timm_resnet50"
    assert run.quality_columns == list(columns)
    assert run.performance_columns == ["correct_timm_resnet50"]
    assert [i.column for i in run.metrics_with_role("confidence", "timm_resnet50")] == [
        "q_tg_maxprob_timm_resnet50"
    ]


def test_the_role_comes_from_the_manifest_not_the_metric_name(tmp_path):
    columns = {
        "q_tg_maxprob_timm_resnet50": _entry("my_msp", "strong_tg", True, "timm:resnet50",
                                             role="confidence"),
        "q_tv": _entry("tg_maxprob", "tv", False, None, role="quality"),  # a name, no more
    }  # fmt: skip
    run = scores.read_run(_write_run(tmp_path, columns, MODELS))
    assert run.metrics["q_tg_maxprob_timm_resnet50"].role == "confidence"
    assert run.metrics["q_tv"].role == "quality"


def test_an_old_manifest_without_roles_still_reads(tmp_path):
    columns = {
        "q_tg_maxprob_timm_resnet50": _entry("tg_maxprob", "strong_tg", True, "timm:resnet50"),
        "q_tv": _entry("tv", "tv", False, None),
    }  # fmt: skip
    run = scores.read_run(_write_run(tmp_path, columns, MODELS))
    assert {c: i.role for c, i in run.metrics.items()} == {
        "q_tg_maxprob_timm_resnet50": "confidence", "q_tv": "quality"
    }  # fmt: skip
    assert set(scores.ROLES) >= {scores.role_of(m) for m in ("msp", "tg_entropy", "piqe")}


def test_the_scoring_registry_records_a_role_per_metric():
    from iqalign.scoring.metrics.registry import METRIC_SPECS

    roles = {name: spec.role for name, spec in METRIC_SPECS.items()}
    assert set(roles.values()) <= set(scores.ROLES)
    # the derivation for old manifests agrees with the registry
    assert all(scores.role_of(name, spec.family) == spec.role
               for name, spec in METRIC_SPECS.items())  # fmt: skip
    assert roles["tg_maxprob"] == "confidence" and roles["entropy"] == "quality"


def test_the_top_level_package_reads_a_run_without_torch():
    import subprocess
    import sys

    code = (
        "import sys, iqalign; iqalign.read_run; iqalign.ScoredRun; iqalign.load_dag; "
        "heavy = sorted(m for m in ('torch', 'pgmpy', 'pyiqa', 'open_clip') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _manifest_record_reads(path: Path) -> list[str]:
    """Where code reads a manifest's per-column records: ``x["columns"]``,
    ``x.get("columns")``, or a comparison with the key."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    keys = {"columns"}
    hits = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "get" and node.args and isinstance(node.args[0], ast.Constant)):  # fmt: skip
            key = node.args[0].value
        elif isinstance(node, ast.Compare):
            key = next((c.value for c in node.comparators if isinstance(c, ast.Constant)), None)
        if key in keys:
            hits.append(f"{path.relative_to(SRC.parent)}:{node.lineno}")
    return hits


def test_no_module_but_scores_reads_the_manifests_records():
    paths = [path for path in sorted(SRC.rglob("*.py")) if path not in OWNERS]
    found = [hit for path in paths for hit in _manifest_record_reads(path)]
    assert found == [], "read a run with iqalign.scores.read_run:\n" + "\n".join(found)


def test_no_statistics_code_compares_metric_names():
    """Estimators find a column by its role (the manifest's), never by its metric name."""
    found = []
    for path in sorted((SRC / "stats").rglob("*.py")) + sorted((SRC / "report").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "metric"
                for side in (node.left, *node.comparators)
            ):
                found.append(f"{path.relative_to(SRC.parent)}:{node.lineno}")
    assert found == []


def test_the_manifest_records_each_columns_role_and_read_run_reads_it():
    from types import SimpleNamespace

    from iqalign.scoring.metrics.registry import METRIC_SPECS
    from iqalign.scoring.run.manifest import column_entries

    metric = SimpleNamespace(spec=METRIC_SPECS["tg_entropy"], column="q_tg_entropy_m",
                             key="tg_entropy:m", source="m", weight_files=[])  # fmt: skip
    entries = column_entries([metric], {})
    assert entries["q_tg_entropy_m"]["role"] == "entropy"
    table = pd.DataFrame({"q_tg_entropy_m": [1.0], "correct_m": [1]})
    run = scores.ScoredRun.from_table(table, {"columns": entries})
    assert run.metrics["q_tg_entropy_m"].role == "entropy"
    assert run.metrics_with_role("entropy", "m") == [run.metrics["q_tg_entropy_m"]]
