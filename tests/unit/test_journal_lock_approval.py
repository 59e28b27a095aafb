"""The journal (fsynced JSON lines, 0600, torn-tail tolerant), the local
lock (O_EXCL file naming its holder) and approvals bound to a plan's digest."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from remediator.domain.errors import ApprovalRefused, BadInput
from remediator.planfile.approval import Approval, read_approval, write_approval
from remediator.planfile.digest import with_digest
from remediator.planfile.model import Plan, PlanSummary
from remediator.run import journal as journal_mod
from remediator.run.journal import Journal, read_journal
from remediator.run.lock import FileLock, LockHeld, held, lock_key, owner_info

NOW = "2026-01-01T00:00:00Z"


def _plan(created_at: str = NOW, plan_id: str = "plan-0123456789ab") -> Plan:
    return with_digest(
        Plan(
            plan_id=plan_id,
            created_at=created_at,
            tool_version="0.1.0",
            account_id="123456789012",
            regions=("us-east-1",),
            policy_digest="sha256:0",
            summary=PlanSummary(),
        )
    )


def _write_run(path: Path) -> None:
    with Journal(path, clock=lambda: NOW) as j:
        j.write("run", run_id="run-1", plan_id="plan-1", plan_digest="sha256:1")
        j.write("intent", change_id="c-1", kind="k", target="t", region="us-east-1")
        j.write(
            "done",
            change_id="c-1",
            kind="k",
            target="t",
            region="us-east-1",
            result={"RevisionId": "r"},
            state_after={"S": 1},
        )
        j.write("intent", change_id="c-2", kind="k", target="u", region="us-east-1")


# --------------------------------------------------------------------------
# Journal


def test_journal_lines_are_json_fsynced_one_by_one_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(journal_mod.os, "fsync", fsync)
    old = os.umask(0o000)  # even with a permissive umask the file is 0600
    try:
        path = tmp_path / "deep" / "p.journal.jsonl"
        j = Journal(path, clock=lambda: NOW)
        entry = j.write("run", plan_id="plan-1", plan_digest="sha256:1")
        assert entry == {"event": "run", "plan_id": "plan-1", "plan_digest": "sha256:1", "at": NOW}
        assert len(synced) == 1
        # Written and on disk before the next step: readable while still open.
        assert json.loads(path.read_text(encoding="utf-8").splitlines()[0]) == entry
        j.write("intent", change_id="c-1", target=Path("/x"))  # non-JSON values become strings
        assert len(synced) == 2
        j.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    parsed = [json.loads(line) for line in lines]
    assert parsed[1]["target"] == "/x"
    assert all(line == json.dumps(json.loads(line), sort_keys=True) for line in lines)


def test_read_journal_reconstructs_each_change(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    _write_run(path)
    view = read_journal(path)
    assert view.header["plan_digest"] == "sha256:1"
    assert view.order == ["c-1", "c-2"]
    assert view.records["c-1"].state == "done"
    assert view.records["c-1"].result == {"RevisionId": "r"}
    assert view.records["c-1"].state_after == {"S": 1}
    assert view.records["c-2"].state == "intent"
    assert [r.change_id for r in view.applied()] == ["c-1", "c-2"]
    assert view.finished is None
    assert view.truncated is False


def test_a_torn_last_line_is_tolerated_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    _write_run(path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"event": "done", "change_id": "c-2", "res')  # killed mid-write
    view = read_journal(path)
    assert view.truncated is True
    assert view.records["c-2"].state == "intent"  # the torn line never happened
    assert view.records["c-1"].state == "done"


def test_a_torn_middle_line_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    _write_run(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BadInput, match="line 3 is not JSON"):
        read_journal(path)


def test_a_missing_journal_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        read_journal(tmp_path / "nope.jsonl")


def test_a_journal_without_run_header_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"event": "intent", "change_id": "c-1"}\n', encoding="utf-8")
    with pytest.raises(BadInput, match="no run header"):
        read_journal(path)
    path.write_text('["not", "an", "entry"]\n', encoding="utf-8")
    with pytest.raises(BadInput, match="not a journal entry"):
        read_journal(path)


def test_undo_events_and_finished(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    _write_run(path)
    with Journal(path) as j:
        j.write("undo-skipped", change_id="c-1", error="changed by hand")
        j.write("undo-failed", change_id="c-2", error="boom")
        j.write("finished", outcome="rollback-incomplete")
    view = read_journal(path)
    assert view.records["c-1"].state == "done"  # still applied
    assert view.records["c-1"].error == "changed by hand"
    assert view.records["c-2"].state == "undo-failed"
    assert [r.change_id for r in view.applied()] == ["c-1", "c-2"]
    assert view.finished is not None and view.finished["outcome"] == "rollback-incomplete"


def test_appending_after_a_torn_line_keeps_the_journal_readable(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    _write_run(path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"event": "done", "change_id": "c-2", "res')
    assert read_journal(path).truncated
    with Journal(path) as j:  # what apply --resume does next
        j.write("run", run_id="run-2", plan_id="plan-1", plan_digest="sha256:1", resume=True)
        j.write("done", change_id="c-2", result={}, state_after={"S": 2})
    view = read_journal(path)
    assert view.records["c-2"].state == "done"


# --------------------------------------------------------------------------
# Approvals


def test_approval_round_trip(tmp_path: Path) -> None:
    plan = _plan()
    path = tmp_path / "p.approval.json"
    written = write_approval(plan, path, by="Ana Ops", at=NOW, note="CHG-1234", max_risk="medium")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "remediator-approval"
    assert data["plan_digest"] == plan.digest and data["plan_id"] == plan.plan_id
    read = read_approval(path, plan)
    assert read == written
    assert read == Approval(
        plan_id=plan.plan_id,
        plan_digest=plan.digest,
        approved_by="Ana Ops",
        approved_at=NOW,
        note="CHG-1234",
        max_risk="medium",
    )


def test_an_approval_for_another_digest_is_refused(tmp_path: Path) -> None:
    plan = _plan()
    other = _plan(created_at="2026-02-02T00:00:00Z")  # same id, other digest
    assert other.plan_id == plan.plan_id and other.digest != plan.digest
    path = tmp_path / "a.json"
    write_approval(other, path, by="ana", at=NOW)
    with pytest.raises(ApprovalRefused, match="not for"):
        read_approval(path, plan)
    write_approval(_plan(plan_id="plan-ffffffffffff"), path, by="ana", at=NOW)
    with pytest.raises(ApprovalRefused):
        read_approval(path, plan)


def test_an_edited_approval_is_refused(tmp_path: Path) -> None:
    plan = _plan()
    path = tmp_path / "a.json"
    write_approval(plan, path, by="ana", at=NOW)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["plan_digest"] = "sha256:" + "0" * 64
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ApprovalRefused):
        read_approval(path, plan)


@pytest.mark.parametrize(
    "content", ["not json", "{}", '{"kind": "remediator-approval"}', '{"kind": "x", "plan_id": 1}']
)
def test_a_file_that_is_not_an_approval_is_bad_input(tmp_path: Path, content: str) -> None:
    path = tmp_path / "a.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInput, match="not an approval file"):
        read_approval(path, _plan())


def test_approval_needs_a_file_and_a_name(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        read_approval(tmp_path / "missing.json", _plan())
    with pytest.raises(BadInput, match="--by"):
        write_approval(_plan(), tmp_path / "a.json", by="  ", at=NOW)
    assert not (tmp_path / "a.json").exists()


# --------------------------------------------------------------------------
# FileLock


def _info(run_id: str, owner: str) -> dict[str, object]:
    return {**owner_info(run_id, NOW), "owner": owner}


def test_lock_key_is_stable_and_region_order_free() -> None:
    assert lock_key("123", ["us-east-1", "eu-west-1"]) == lock_key(
        "123", ("eu-west-1", "us-east-1")
    )
    assert lock_key("123", ["us-east-1"]) == "remediator/123/us-east-1"


def test_file_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / ".locks")
    key = lock_key("123456789012", ["us-east-1"])
    mine = _info("run-a", "ana@laptop")
    lock.acquire(key, mine)
    assert stat.S_IMODE(lock.path(key).stat().st_mode) == 0o600
    assert json.loads(lock.path(key).read_text(encoding="utf-8"))["run_id"] == "run-a"

    with pytest.raises(LockHeld) as caught:
        lock.acquire(key, _info("run-b", "bob@ci"))
    message = str(caught.value)
    assert "ana@laptop" in message and "run-a" in message and str(os.getpid()) in message
    assert "remediate unlock" in message

    # Another key (other regions) is another lock.
    lock.acquire(lock_key("123456789012", ["eu-west-1"]), _info("run-c", "cy@ci"))


def test_file_lock_is_released_by_its_owner_only(tmp_path: Path) -> None:
    lock = FileLock(tmp_path)
    key = "remediator/1/us-east-1"
    mine, theirs = _info("run-a", "ana"), _info("run-b", "bob")
    lock.acquire(key, mine)
    lock.release(key, theirs)
    assert lock.path(key).exists()
    lock.release(key, mine)
    assert not lock.path(key).exists()
    lock.release(key, mine)  # releasing twice is harmless
    lock.acquire(key, theirs)  # free again


def test_break_lock(tmp_path: Path) -> None:
    lock = FileLock(tmp_path)
    key = "remediator/1/us-east-1"
    assert lock.break_lock(key) is False
    # what a dead run of this host leaves: the file naming it, flocked by nobody
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    leftover = {**_info("run-dead", "ana"), "pid": int(dead.stdout)}
    lock.path(key).write_text(json.dumps(leftover), encoding="utf-8")
    assert lock.break_lock(key) is True
    assert not lock.path(key).exists()
    lock.acquire(key, _info("run-new", "bob"))
    with pytest.raises(LockHeld, match=r"held by a live run.*run-new"):
        lock.break_lock(key)  # its holder lives: only with force
    assert lock.break_lock(key, force=True) is True
    assert not lock.path(key).exists()


def test_an_unreadable_lock_file_nobody_holds_is_free(tmp_path: Path) -> None:
    lock = FileLock(tmp_path)
    key = "remediator/1/us-east-1"
    lock.path(key).write_text("garbage", encoding="utf-8")
    lock.acquire(key, _info("run-a", "ana"))
    assert json.loads(lock.path(key).read_text(encoding="utf-8"))["run_id"] == "run-a"
    assert stat.S_IMODE(lock.path(key).stat().st_mode) == 0o600


@pytest.mark.parametrize("content", ["[1]", '"ana"', "42", "null", "true"])
def test_a_held_lock_whose_file_is_not_an_object_still_refuses(
    tmp_path: Path, content: str
) -> None:
    holder = FileLock(tmp_path)
    key = "remediator/1/us-east-1"
    holder.acquire(key, _info("run-h", "hana"))
    holder.path(key).write_text(content, encoding="utf-8")  # the holder's file edited by hand
    lock = FileLock(tmp_path)
    with pytest.raises(
        LockHeld, match=r"Another run \(apply or rollback\) holds the lock .*\(pid \?, run \?\)"
    ):
        lock.acquire(key, _info("run-a", "ana"))
    lock.release(key, _info("run-a", "ana"))  # not its holder's: left for `remediate unlock`
    assert lock.path(key).read_text(encoding="utf-8") == content


def test_held_releases_on_error(tmp_path: Path) -> None:
    lock = FileLock(tmp_path)
    key = "remediator/1/us-east-1"
    info = _info("run-a", "ana")
    with pytest.raises(RuntimeError), held(lock, key, info):
        assert lock.path(key).exists()
        raise RuntimeError("boom")
    assert not lock.path(key).exists()
