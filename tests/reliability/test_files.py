"""Plan, approval, journal and lock files: owner-only permissions, atomic
writes (a crash leaves the old file or the new one, never a part, and no
temporary file), and journals that are append-only with an fsync per line."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator import planfile, planner
from remediator.domain.errors import BadInput
from remediator.planfile.approval import read_approval, write_approval
from remediator.planfile.model import Plan
from remediator.run.journal import Journal, read_journal
from remediator.run.lock import FileLock
from tests import factories as fx

NOW = "2026-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """umask 0: a file is owner-only because the code says so, not by luck."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _plan(marker: str = "a") -> Plan:
    """A small real plan; ``marker`` makes two plans differ."""
    world = fx.vpc_world(
        "a",
        functions=[
            fx.function(
                f"mixed-{marker}", [fx.pub("a", "a"), fx.natsub("a", "b"), fx.natsub("a", "c")]
            )
        ],
    )
    return planner.build_plan(fx.inventory(world), fx.policy(), NOW)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --------------------------------------------------------------------------
# Owner-only


def test_plan_approval_journal_and_lock_files_are_owner_only(tmp_path: Path) -> None:
    plan = _plan()
    planfile.write_plan(plan, tmp_path / "p.json")
    write_approval(plan, tmp_path / "p.approval.json", by="ana", at=NOW)
    with Journal(tmp_path / "p.journal.jsonl") as journal:
        journal.write("run", plan_id=plan.plan_id, plan_digest=plan.digest)
    FileLock(tmp_path / ".locks").acquire("123456789012/us-east-1", {"run_id": "r"})
    files = [tmp_path / "p.json", tmp_path / "p.approval.json", tmp_path / "p.journal.jsonl"]
    files += list((tmp_path / ".locks").iterdir())
    assert len(files) == 4
    for path in files:
        assert _mode(path) == 0o600, (path.name, oct(_mode(path)))


def test_rewriting_a_world_readable_plan_makes_it_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    planfile.write_plan(_plan(), path)
    assert _mode(path) == 0o600


# --------------------------------------------------------------------------
# Atomic: write to a temporary file, fsync, rename


def _failing(exc: BaseException) -> Callable[..., None]:
    def fail(*_: Any, **__: Any) -> None:
        raise exc

    return fail


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
@pytest.mark.parametrize("step", ["os.replace", "os.fsync"])
def test_a_failed_plan_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException, step: str
) -> None:
    path = tmp_path / "p.json"
    old = _plan("old")
    planfile.write_plan(old, path)
    before = path.read_bytes()
    monkeypatch.setattr(os, step.split(".")[1], _failing(exc))
    # a full disk is the user's to fix: one line naming the file; an interrupt stays one
    expected: type[BaseException] = BadInput if isinstance(exc, OSError) else type(exc)
    with pytest.raises(expected) as raised:
        planfile.write_plan(_plan("new"), path)
    monkeypatch.undo()
    if expected is BadInput:
        assert str(path) in str(raised.value) and "No space left" in str(raised.value)
    assert path.read_bytes() == before
    assert planfile.read_plan(path) == old
    assert _leftovers(tmp_path, {"p.json"}) == []


def test_a_crash_inside_the_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after half the bytes reached the temporary file."""
    path = tmp_path / "p.json"
    planfile.write_plan(_plan("old"), path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, handle: Any) -> None:
            self._h = handle

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *a: object) -> None:
            self._h.close()

        def write(self, text: str) -> int:
            self._h.write(text[: len(text) // 2])
            self._h.flush()
            raise KeyboardInterrupt

        def __getattr__(self, name: str) -> Any:
            return getattr(self._h, name)

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
    with pytest.raises(KeyboardInterrupt):
        planfile.write_plan(_plan("new"), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, {"p.json"}) == []


@pytest.mark.parametrize("exc", [OSError(5, "I/O error"), KeyboardInterrupt()])
def test_a_failed_approval_write_keeps_the_old_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    plan = _plan()
    path = tmp_path / "p.approval.json"
    write_approval(plan, path, by="ana", at=NOW, note="first")
    before = path.read_bytes()
    monkeypatch.setattr(os, "replace", _failing(exc))
    expected: type[BaseException] = BadInput if isinstance(exc, OSError) else type(exc)
    with pytest.raises(expected):
        write_approval(plan, path, by="bob", at=NOW, note="second")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert read_approval(path, plan).approved_by == "ana"
    assert _leftovers(tmp_path, {"p.approval.json"}) == []


def test_the_rename_is_made_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After os.replace the folder is fsynced, so a power cut does not bring
    the old file (or none) back."""
    synced: list[str] = []
    real_fsync = os.fsync
    order: list[str] = []
    real_replace = os.replace

    def fsync(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        synced.append(kind)
        order.append(f"fsync-{kind}")
        real_fsync(fd)

    def replace(a: Any, b: Any) -> None:
        order.append("replace")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    planfile.write_plan(_plan(), tmp_path / "p.json")
    assert order == ["fsync-file", "replace", "fsync-dir"]


# --------------------------------------------------------------------------
# Journals: append-only, one fsync per line


def test_journal_lines_are_appended_and_fsynced_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.journal.jsonl"
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    with Journal(path) as journal:
        journal.write("run", plan_id="plan-1", plan_digest="sha256:x")
        for i in range(3):
            journal.write("intent", change_id=f"c-{i}", kind="k", target="t", region="r")
    assert len(synced) == 4
    first = path.read_bytes()
    with Journal(path) as journal:  # a second run appends; what was written stays as it was
        journal.write("finished", outcome="rolled-back")
    assert path.read_bytes().startswith(first)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 5
    flags = os.open(path, os.O_RDONLY)
    os.close(flags)
    view = read_journal(path)
    assert view.finished == {"event": "finished", "outcome": "rolled-back"}


def test_a_journal_torn_by_a_kill_stays_readable_and_is_closed_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "p.journal.jsonl"
    with Journal(path) as journal:
        journal.write("run", plan_id="plan-1", plan_digest="sha256:x")
        journal.write("intent", change_id="c-1", kind="k", target="t", region="r")
    with path.open("a", encoding="utf-8") as raw:
        raw.write('{"event": "done", "change_id": "c-1", "res')  # the kill
    assert read_journal(path).truncated
    with Journal(path) as journal:
        journal.write("finished", outcome="error")
    view = read_journal(path)
    assert view.truncated and view.finished is not None
    assert view.records["c-1"].state == "intent"
    assert (
        json.loads(path.read_text(encoding="utf-8").splitlines()[-2])["event"] == "torn-line-closed"
    )
