"""Smoke test for the benchmark (benchmarks/run.py) at its smallest sizes.

No timing is asserted: CI machines vary. What is checked is that the one
documented command works end to end (moto server, seeding, `remediate plan`
and the floor as subprocesses, the pure core, apply throughput), that it
writes the table and the JSON, and the one property that does not depend on
the machine: the EC2 describes discovery makes do not grow with the number
of functions (20 vs 60 functions here). The clients reach moto through the
latency proxy (2 ms here), as the headline figures do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("moto.server")


def test_the_documented_command_parses_its_arguments() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert "--sizes" in result.stdout


def test_benchmark_runs_and_ec2_calls_do_not_depend_on_the_number_of_functions(
    tmp_path: Path,
) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import run as bench
    finally:
        sys.path.remove(str(ROOT))

    out = tmp_path / "results.json"
    messages: list[str] = []
    doc = bench.run(
        [20, 60],
        ["default"],
        out,
        help_repeat=1,
        apply_real=0,
        apply_contended=30,
        vpcs=2,
        latency_ms=2,
        auto_targets=2,
        auto_functions=6,
        versions_estate=(10, 120),
        say=messages.append,
    )

    written = json.loads(out.read_text())
    assert written["sizes"] == [20, 60]
    assert [(r["size"], r["variant"]) for r in written["results"]] == [
        (20, "default"),
        (60, "default"),
    ]
    assert "| functions | policy | plan s | floor s | plan/floor |" in doc["table"]
    assert "remediate --help" in doc["table"]

    small, large = written["results"]
    for row in (small, large):
        # the floor makes exactly the calls remediate counted, and the pure
        # core planned the same inventory as the CLI
        assert row["floor_calls_match"], (row["api_calls"], row["floor_api_calls"])
        assert row["core_matches_cli_plan"]
        assert row["summary"]["functions"] == row["size"]
        assert row["plan_seconds"] > 0 and row["floor_seconds"] > 0
        assert row["plan_peak_mb"] > 0
    ec2 = lambda row: {k: v for k, v in row["api_calls"].items() if k.startswith("ec2:")}  # noqa: E731
    assert ec2(small) == ec2(large)
    # the built-in policy reads tags from the Tagging API, pages not functions
    for row in (small, large):
        assert row["api_calls"].get("lambda:ListTags", 0) == 0
        assert row["api_calls"]["resourcegroupstaggingapi:GetResources"] == 1
    # the proxy pages ListFunctions by 50 as AWS does, for remediate and the
    # floor alike (20 functions and their versions: one page; 60: two)
    assert [row["api_calls"]["lambda:ListFunctions"] for row in (small, large)] == [1, 2]
    assert written["latency_ms"] == 2 and "latency added in front of moto: 2" in doc["table"]
    assert written["targets"]["ec2_calls_constant[default]"]["met"] is True

    fleet = written["auto"]
    assert fleet["targets"] == 2 and fleet["concurrency"] == 8
    assert fleet["wall_seconds"] > 0 and fleet["sum_target_seconds"] > 0
    assert written["targets"]["auto_peak_mb"]["met"] is not None

    # 10 functions with 120 versions each: the built-in read switches to
    # reading by alias, the listed read pages every version; same findings
    kept = written["versions"]
    assert kept["same_findings"] is True
    listed, auto = kept["rows"]["listed"]["api_calls"], kept["rows"]["auto"]["api_calls"]
    assert listed["lambda:ListFunctions"] == 25 and "lambda:GetFunctionConfiguration" not in listed
    assert auto["lambda:ListFunctions"] == 21 and auto["lambda:GetFunctionConfiguration"] == 10

    assert [a["failures"] for a in written["apply"]] == [0] * len(written["apply"])
    contended = [a for a in written["apply"] if a["neighbour_rate"]]
    assert contended and contended[0]["throttled"] == contended[0]["retries"]
