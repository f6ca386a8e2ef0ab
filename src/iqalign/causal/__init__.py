"""iqalign.causal: the paper's DAGs as data, d-separation, claims, test plans, figures.

Importing this package is fast and never imports torch (nor pgmpy, which would): the
heavy imports live inside the functions that need them.

Examples
--------
>>> from iqalign.causal import load_dag, check_claim
>>> bool(check_claim(load_dag("baseline"), "Q _||_ M | X"))
True
>>> bool(check_claim(load_dag("shared_features"), "Q _||_ M | X"))
False
"""

from iqalign.causal.checks import (
    READING_OF_CRITERION,
    ClaimCheck,
    RecordedClaimResult,
    VariantComparison,
    check_claim,
    check_recorded_claims,
    compare_variants,
)
from iqalign.causal.claims import Claim, parse_claim, parse_query
from iqalign.causal.dag import QUALITY_FAMILIES, ROLES, AppliesTo, Dag, Edge, Node, RecordedClaim
from iqalign.causal.dsep import (
    DSeparationJudgement,
    Path,
    PathStep,
    Reading,
    find_open_paths,
    get_determined,
    is_d_separated,
    judge_d_separation,
    list_paths,
    list_readings,
)
from iqalign.causal.implied import list_implied_independencies
from iqalign.causal.io import (
    dag_to_dict,
    format_dagitty,
    get_builtin_dag_dir,
    list_builtin_dags,
    list_variant_groups,
    load_dag,
    parse_dag,
    parse_dagitty,
    to_pgmpy,
)
from iqalign.causal.plan import PLAN_READING, TestPlan, find_qm_nodes, plan_claim, plan_tests
from iqalign.causal.render import FORMATS, GraphvizNotFoundError, format_dot, render_dag

__all__ = [
    "FORMATS",
    "PLAN_READING",
    "QUALITY_FAMILIES",
    "READING_OF_CRITERION",
    "ROLES",
    "AppliesTo",
    "Claim",
    "ClaimCheck",
    "DSeparationJudgement",
    "Dag",
    "Edge",
    "GraphvizNotFoundError",
    "Node",
    "Path",
    "PathStep",
    "Reading",
    "RecordedClaim",
    "RecordedClaimResult",
    "TestPlan",
    "VariantComparison",
    "check_claim",
    "check_recorded_claims",
    "compare_variants",
    "dag_to_dict",
    "find_open_paths",
    "find_qm_nodes",
    "format_dagitty",
    "format_dot",
    "get_builtin_dag_dir",
    "get_determined",
    "is_d_separated",
    "judge_d_separation",
    "list_builtin_dags",
    "list_implied_independencies",
    "list_paths",
    "list_readings",
    "list_variant_groups",
    "load_dag",
    "parse_claim",
    "parse_dag",
    "parse_dagitty",
    "parse_query",
    "plan_claim",
    "plan_tests",
    "render_dag",
    "to_pgmpy",
]
