"""`auto` writes Security Hub batches that close what was fixed: after its
own apply (``review.asff/``), and on the next run for what an earlier run
beside it found (``plan.asff/``), with the same finding Id."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from remediator.run import auto
from tests.asff_model import validate
from tests.integration.test_auto import HOME, deps, moto, options, seed_fleet

__all__ = ["moto"]  # the fixture, used by name


def _findings(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.glob("asff-*.json"))
    assert files, folder
    return [f for path in files for f in json.loads(path.read_text())]


def _states(folder: Path) -> dict[str, str]:
    return {
        f["Resources"][0]["Details"]["AwsLambdaFunction"]["FunctionName"]: f["RecordState"]
        for f in _findings(folder)
    }


def test_fixed_findings_are_closed_by_this_run_and_by_the_next(moto: None, tmp_path: Path) -> None:
    seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    one: dict[str, Any] = {
        "regions": ("us-east-1",),
        "accounts": (),
        "role_arn": None,
        "max_risk": "high",
    }
    runs = tmp_path / "runs"

    # run 1 fixes orders-api alone: its own review batches close the finding
    first = auto.run(
        options(tmp_path, out_dir=runs / "1", functions=("orders-api",), **one), deps()
    )
    assert first.targets[0].outcome == "fixed"
    folder = runs / "1" / HOME / "us-east-1"
    assert _states(folder / "plan.asff") == {"orders-api": "ACTIVE"}
    assert _states(folder / "review.asff") == {"orders-api": "ARCHIVED"}
    opened = _findings(folder / "plan.asff")[0]
    closed = _findings(folder / "review.asff")[0]
    assert closed["Id"] == opened["Id"]
    assert closed["Workflow"] == {"Status": "RESOLVED"}
    assert closed["Compliance"] == {"Status": "PASSED"}
    assert validate(opened) == [] and validate(closed) == []

    # run 2, beside it, over every function: run 1's last plan is the
    # baseline, so orders-api (gone now) is closed again, the rest is open
    os.utime(runs / "1" / "summary.json", ns=(1, 1))
    second = auto.run(options(tmp_path, out_dir=runs / "2", dry_run=True, **one), deps())
    assert second.error is None
    states = _states(runs / "2" / HOME / "us-east-1" / "plan.asff")
    assert states.pop("orders-api") == "ARCHIVED"
    assert states and set(states.values()) == {"ACTIVE"}
    assert all(validate(f) == [] for f in _findings(runs / "2" / HOME / "us-east-1" / "plan.asff"))
