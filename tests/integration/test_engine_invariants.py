"""The apply engine's invariants (docs/apply.md), each shown by breaking apply.

2. a journal belongs to one plan, and "applied" is decided under the lock;
4. an error while verifying counts as a failed verification;
5. a local write failure or an unexpected exception mid-run leaves no change
   live that is neither journaled nor undone and reported;
6. the journal is opened without following symlinks, in a folder others
   cannot write.
(3, rollback by the journal alone, is shown through the CLI in
tests/cli/test_apply_cli.py.)
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from remediator.changes import registry
from remediator.domain.errors import AwsAccessError, BadInput
from remediator.domain.outcomes import EXIT_OK, EXIT_ROLLED_BACK
from remediator.run import journal as journaling
from remediator.run.apply import ApplyOptions, run_apply, run_rollback
from remediator.run.journal import Journal, read_journal
from tests.integration.test_apply_flow import NOW, World, _text


def test_apply_refuses_a_journal_that_names_another_plan(world: World) -> None:
    plan, path = world.plan()
    journal_path = path.parent / "shared.jsonl"
    with Journal(journal_path) as j:
        j.write("run", run_id="run-x", plan_id="plan-other", plan_digest="sha256:other")
        j.write("finished", outcome="rolled-back")
    written = journal_path.read_bytes()
    before = world.snapshot()

    with pytest.raises(BadInput, match="belongs to"):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", journal=journal_path))

    assert world.snapshot() == before
    assert journal_path.read_bytes() == written


def test_an_apply_that_waited_while_another_run_applied_the_plan_leaves_its_journal(
    world: World,
) -> None:
    plan, path = world.plan()
    before = world.snapshot()
    journal_path = path.parent / "p.journal.jsonl"
    other: list[int] = []

    def answer(question: str) -> bool:
        # while this run waits at its prompt, another run applies the plan
        other.append(run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high")).exit_code)
        return True

    with pytest.raises(BadInput, match="already applied"):
        run_apply(plan, path, world.aws(), ApplyOptions(confirm=answer))

    assert other == [EXIT_OK]
    view = read_journal(journal_path)
    assert view.finished is not None and view.finished["outcome"] == "applied"
    rolled = run_rollback(plan, journal_path, world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert world.snapshot() == before


def test_an_error_while_verifying_counts_as_a_failed_verification(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()

    def verify(p: Any, applied: Any) -> list[str]:
        raise AwsAccessError("AccessDenied: lambda:ListFunctions is not allowed.")

    outcome = run_apply(
        plan,
        path,
        world.aws(),
        ApplyOptions(max_risk="high", rollback_on_verify_failure=True),
        verify,
    )

    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert "lambda:ListFunctions" in _text(outcome)
    assert world.snapshot() == before
    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.finished is not None and view.finished["outcome"] == "rolled-back"
    assert view.applied() == []


def test_a_full_disk_mid_run_undoes_what_was_applied(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, path = world.plan()
    assert len(plan.changes) >= 3
    before = world.snapshot()
    real = Journal.write
    dones: list[str] = []

    def write(self: Journal, event: str, **fields: Any) -> dict[str, Any]:
        if event == "done":
            dones.append(fields.get("change_id", ""))
        if len(dones) >= 3:  # the third change was made, then the disk filled up
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, event, **fields)

    monkeypatch.setattr(Journal, "write", write)

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert world.snapshot() == before
    for cid in dones:
        assert f"undone       {cid}" in _text(outcome)
    assert "No space left on device" in _text(outcome)


def test_an_unexpected_exception_in_a_handler_undoes_what_was_applied(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, path = world.plan()
    third = plan.changes[2]
    h = registry.handler(third.kind)
    real = type(h).apply

    def apply(self: Any, aws: Any, change: Any, live: Any, results: Any) -> dict[str, Any]:
        if change.id == third.id:
            raise KeyError("VpcEndpoints")  # an AWS answer the code did not expect
        return real(self, aws, change, live, results)

    monkeypatch.setattr(type(h), "apply", apply)
    before = world.snapshot()

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert world.snapshot() == before
    assert "KeyError" in _text(outcome)
    for change in plan.changes[:2]:
        assert f"undone       {change.id}" in _text(outcome)
    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.finished is not None and view.finished["outcome"] == "rolled-back"
    assert view.applied() == []


def test_the_journal_is_not_opened_through_a_symlink(world: World) -> None:
    plan, path = world.plan()
    elsewhere = path.parent / "elsewhere.txt"
    elsewhere.write_text("keep me\n", encoding="utf-8")
    link = path.parent / "p.journal.jsonl"
    link.symlink_to(elsewhere)
    before = world.snapshot()

    with pytest.raises(BadInput, match="symbolic link"):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    assert elsewhere.read_text(encoding="utf-8") == "keep me\n"
    assert world.snapshot() == before


def test_a_journal_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(BadInput, match="writable by others"):
        Journal(shared / "p.journal.jsonl")
    assert not (shared / "p.journal.jsonl").exists()
    assert journaling.read_journal  # the reader is unaffected
