"""`remediate show` for fleet-sized plans: ASFF batches with --out-dir (and
one Error: line without it past 100 findings), closed findings with
--previous, Markdown --detail fit|full, and a fixed text width off a
terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from remediator import planfile
from remediator.cli.main import app
from remediator.cli.plan import text_width
from remediator.planfile.digest import plan_digest
from remediator.planfile.model import Plan
from remediator.render import markdown as md
from tests.fleet import fleet_plan


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.json"
    planfile.write_plan(fleet_plan(600), path)
    return path


def test_asff_past_100_findings_needs_out_dir(big: Path, tmp_path: Path) -> None:
    code, out, err = _run("show", str(big), "--format", "asff")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("Error:") and "--out-dir" in err
    code, out, err = _run("show", str(big), "--format", "asff", "--out-dir", str(tmp_path / "a"))
    assert code == 0, err
    files = sorted((tmp_path / "a").iterdir())
    assert [f.name for f in files][:2] == ["asff-0001.json", "asff-0002.json"]
    assert all(len(json.loads(f.read_text())) <= 100 for f in files)
    assert sum(len(json.loads(f.read_text())) for f in files) >= 500


def test_previous_plan_closes_what_is_gone(big: Path, tmp_path: Path) -> None:
    old = planfile.read_plan(big)
    gone = old.functions[1].name
    new: Plan = old.model_copy(
        update={
            "findings": tuple(f for f in old.findings if f.function != gone),
            "functions": tuple(
                f.model_copy(update={"status": "healthy"}) if f.name == gone else f
                for f in old.functions
            ),
        }
    )
    new = new.model_copy(update={"digest": plan_digest(new)})
    new_path = tmp_path / "new.json"
    planfile.write_plan(new, new_path)
    code, _, err = _run(
        "show",
        str(new_path),
        "--format",
        "asff",
        "--previous",
        str(big),
        "--out-dir",
        str(tmp_path / "b"),
    )
    assert code == 0, err
    items = [i for f in sorted((tmp_path / "b").iterdir()) for i in json.loads(f.read_text())]
    closed = [i for i in items if i["RecordState"] == "ARCHIVED"]
    assert [i["Title"].split(":")[0] for i in closed] == [gone]
    assert closed[0]["Workflow"] == {"Status": "RESOLVED"}


def test_markdown_detail(big: Path) -> None:
    code, fit, _ = _run("show", str(big), "--format", "markdown")
    assert code == 0 and len(fit) <= md.LIMIT
    code, full, _ = _run("show", str(big), "--format", "markdown", "--detail", "full")
    assert code == 0 and len(full) > len(fit) and md.LEFT_OUT_MARK not in full
    code, _, err = _run("show", str(big), "--format", "markdown", "--detail", "most")
    assert code == 1 and err.startswith("Error:") and err.count("\n") == 1


def test_text_off_a_terminal_is_120_columns_whatever_columns_says(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = _run("show", str(big))
    assert code == 0
    rule = next(line for line in out.splitlines() if line.startswith("\u2500"))
    assert 60 < len(rule) <= 120


@pytest.mark.parametrize(
    ("tty", "columns", "width"), [(True, "80", 80), (True, "200", 200), (False, "80", 120)]
)
def test_text_width_follows_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch, tty: bool, columns: str, width: int
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    monkeypatch.setenv("COLUMNS", columns)
    assert text_width() == width
