"""The file lock knows whether its holder lives: a flock the kernel drops when
the holder dies (kill -9 included), and ``unlock`` that refuses to break a
live holder's lock unless forced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from remediator.aws import door
from remediator.domain.lock import LockLost
from remediator.run.lock import FileLock, LockHeld, held, lock_key, owner_info, pid_alive_here

NOW = "2026-01-01T00:00:00Z"
KEY = lock_key("123456789012", ["us-east-1"])

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from remediator.run.lock import FileLock, owner_info
    FileLock(Path(sys.argv[1])).acquire(sys.argv[2], owner_info("run-child", "then"))
    print("held", flush=True)
    time.sleep(120)
    """
)


@pytest.fixture
def child(tmp_path: Path) -> subprocess.Popen[str]:
    """A separate process holding the lock for ``KEY`` under ``tmp_path``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_a_holder_killed_with_sigkill_frees_the_lock_at_once(
    tmp_path: Path, child: subprocess.Popen[str]
) -> None:
    lock = FileLock(tmp_path)
    with pytest.raises(LockHeld, match=rf"pid {child.pid}, run run-child"):
        lock.acquire(KEY, owner_info("run-mine", NOW))
    assert lock.status(KEY)[0] is True

    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)

    # the file stays, naming the dead run; nobody holds it
    live, holder = lock.status(KEY)
    assert (live, holder and holder["run_id"]) == (False, "run-child")
    assert not pid_alive_here(holder or {})
    lock.acquire(KEY, owner_info("run-mine", NOW))  # no wait, no unlock
    assert json.loads(lock.path(KEY).read_text(encoding="utf-8"))["run_id"] == "run-mine"
    lock.release(KEY, owner_info("run-mine", NOW))
    assert not lock.path(KEY).exists()


def test_unlock_refuses_a_live_holder_in_another_process_and_force_breaks_it(
    tmp_path: Path, child: subprocess.Popen[str]
) -> None:
    lock = FileLock(tmp_path)
    with pytest.raises(LockHeld, match=r"held by a live run.*run-child.*--force"):
        lock.break_lock(KEY)
    assert lock.path(KEY).exists() and child.poll() is None
    assert lock.break_lock(KEY, force=True) is True
    lock.acquire(KEY, owner_info("run-mine", NOW))  # the broken holder's flock is on a gone file


def test_a_stale_file_naming_a_live_pid_on_this_host_needs_force(tmp_path: Path) -> None:
    """A file nobody flocks but whose pid runs here (a lock written by an
    older remediator, say): unlock does not guess."""
    lock = FileLock(tmp_path)
    lock.path(KEY).write_text(json.dumps(owner_info("run-old", NOW)), encoding="utf-8")
    with pytest.raises(LockHeld, match="alive on this host"):
        lock.break_lock(KEY)
    assert lock.break_lock(KEY, force=True) is True
    assert lock.break_lock(KEY) is False


@pytest.mark.parametrize(
    ("holder", "alive"),
    [
        ({"owner": "ana@elsewhere", "pid": os.getpid()}, False),  # another host: cannot tell
        ({"host": "elsewhere", "owner": "ana@x", "pid": os.getpid()}, False),
        ({"pid": os.getpid()}, False),  # no host
        ({"owner": "x", "pid": "?"}, False),
        ({**owner_info("r", NOW), "pid": 0}, False),
        ({**owner_info("r", NOW), "pid": "nope"}, False),
        (owner_info("r", NOW), True),
        ({**owner_info("r", NOW), "pid": 1}, True),  # init: someone else's live process
    ],
)
def test_pid_alive_here(holder: dict[str, object], alive: bool) -> None:
    assert pid_alive_here(holder) is alive


def test_two_contenders_one_wins(tmp_path: Path) -> None:
    start = threading.Barrier(8)
    won: list[str] = []
    refused: list[str] = []

    def contend(n: int) -> None:
        lock = FileLock(tmp_path)
        start.wait()
        try:
            lock.acquire(KEY, owner_info(f"run-{n}", NOW))
        except LockHeld:
            refused.append(f"run-{n}")
        else:
            won.append(f"run-{n}")

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    assert json.loads(FileLock(tmp_path).path(KEY).read_text(encoding="utf-8"))["run_id"] == won[0]


def test_a_lock_broken_by_force_stops_the_run_before_its_next_write(tmp_path: Path) -> None:
    made: list[tuple[str, str]] = []

    def factory(service: str, region: str) -> object:
        made.append((service, region))
        raise AssertionError("no client may be made for a refused write")

    aws = door.Aws(factory)
    lock = FileLock(tmp_path)
    info = owner_info("run-a", NOW)
    with held(lock, KEY, info, aws):
        assert aws.write_guard is not None
        aws.write_guard()  # still ours
        FileLock(tmp_path).break_lock(KEY, force=True)
        with pytest.raises(LockLost, match="broken"):
            aws.call("ec2", "us-east-1", "create_route", RouteTableId="rtb-1")
        with pytest.raises(AssertionError):
            aws.call("ec2", "us-east-1", "describe_route_tables")  # reads still pass the guard
    assert aws.write_guard is None and made == [("ec2", "us-east-1")]
