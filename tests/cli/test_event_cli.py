"""`remediate event` through the command line: exit codes, one `Error:` line,
the summary as the last line of stdout (in-process moto where AWS is read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from typer.testing import CliRunner, Result

from remediator.cli.handler import handler
from remediator.cli.main import app
from tests.integration.event_world import cloudtrail, sqs


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


def _run(tmp_path: Path, *args: str, stdin: str | None = None) -> Result:
    base = ["event", *args, "--out-dir", str(tmp_path / "out"), "--lock-dir", str(tmp_path / "l")]
    return CliRunner().invoke(app, base, input=stdin)


def _summary(result: Result) -> dict[str, object]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("stdin", "message"),
    [("not json", "The event is not JSON."), ('{"Records": 3}', "The SQS batch has no Records.")],
)
def test_malformed_stdin_is_one_error_line_and_exit_1(
    tmp_path: Path, moto: None, stdin: str, message: str
) -> None:
    result = _run(tmp_path, "-", stdin=stdin)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}")
    summary = _summary(result)
    assert summary["outcome"] == "error" and summary["exit_code"] == 1


def test_an_unreadable_file_is_one_error_line(tmp_path: Path) -> None:
    result = _run(tmp_path, str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Cannot read the event")
    assert len(result.stderr.strip().splitlines()) == 1
    assert _summary(result)["exit_code"] == 1


def test_a_foreign_account_event_is_ignored_and_exits_0(tmp_path: Path, moto: None) -> None:
    event = cloudtrail("CreateFunction20150331", {"functionName": "f"}, account="999999999999")
    result = _run(tmp_path, "-", stdin=json.dumps(sqs(event)))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ignored ")
    summary = _summary(result)
    assert summary["batchItemFailures"] == []
    assert "this operator serves 123456789012/us-east-1" in result.stdout


def test_the_handler_reports_a_bad_setting_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REMEDIATOR_MAX_CHANGES", "lots")
    data = handler(cloudtrail("CreateFunction20150331", {"functionName": "f"}), None)
    assert data["exit_code"] == 1
    assert "REMEDIATOR_MAX_CHANGES='lots' is not a whole number" in str(data["error"])
