"""Locks: two applies against the same account and region never interleave,
and a lock is held only while its holder lives.

Local file (default): ``fcntl.flock`` on ``<dir>/<key>.lock``, kept open for
the run's life, so the kernel releases it the moment the process ends (a
kill -9 included): no stale lock after a crash. The file names its holder
(owner, host, pid, run id, since when); a file nobody flocks is free,
whatever it says. DynamoDB (``--lock-table``): a lease renewed by a
heartbeat (``aws.lock_table``). ``remediate unlock`` breaks a lock whose
holder is gone, and one whose holder lives only with ``--force``.
``lock_for`` is the one place a lock is chosen; ``held`` the one way a run
holds one (and, given the run's door, stops its writes once it lost it).
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediator.aws.door import Aws
from remediator.aws.lock_table import DEFAULT_LEASE_SECONDS, DynamoLock
from remediator.domain.lock import LockHeld, LockLost, describe_holder, holder_host, lock_key

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DynamoLock",
    "FileLock",
    "LockHeld",
    "LockLost",
    "held",
    "lock_for",
    "lock_key",
    "owner_info",
    "pid_alive_here",
]


def owner_info(run_id: str, now: str) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    host = socket.gethostname()
    return {
        "owner": f"{user}@{host}",
        "host": host,
        "pid": os.getpid(),
        "run_id": run_id,
        "since": now,
    }


def pid_alive_here(holder: dict[str, Any]) -> bool:
    """Whether the holder's process runs on this host: the same host name and
    a live pid. An unknown host or pid: False."""
    if holder_host(holder) != socket.gethostname():
        return False
    try:
        pid = int(str(holder.get("pid")))
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a live process of another user
    except OSError:
        return False
    return True


def _read_holder(path: Path) -> dict[str, Any] | None:
    """The holder a lock file names; None when it is unreadable or not a JSON
    object (a kill before the write, or an edit by hand)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return holder if isinstance(holder, dict) else None


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open on ``fd`` (it does not once
    its holder released it or ``unlock --force`` removed it)."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _flock(fd: int, shared: bool = False) -> bool:
    """Take the flock without waiting; False when someone else holds it."""
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass
class FileLock:
    directory: Path
    _open: dict[str, tuple[int, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _guard: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def path(self, key: str) -> Path:
        return self.directory / (key.replace("/", "_") + ".lock")

    def acquire(self, key: str, info: dict[str, Any]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if not _flock(fd):
                os.close(fd)
                holder = _read_holder(path) or {}
                raise LockHeld(
                    f"Another run (apply or rollback) holds the lock for {key}: {describe_holder(holder)}.",
                    hint=f"Wait for it to finish (the lock frees itself when that run ends, even if it is killed); to break it anyway: `remediate unlock PLAN --force` (file {path}).",
                )
            if _same_file(fd, path):
                break
            os.close(fd)  # released (or broken) between our open and flock: again
        else:  # pragma: no cover - a hundred releases in a row
            raise LockHeld(f"The lock file {path} keeps changing; another run is taking it.")
        try:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info, sort_keys=True).encode("utf-8"), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        with self._guard:
            self._open[key] = (fd, str(info.get("run_id")))

    def release(self, key: str, info: dict[str, Any]) -> None:
        """Free the caller's own lock (removing its file); anyone else's
        stays. Releasing twice is harmless."""
        with self._guard:
            mine = self._open.get(key)
            if mine is None or mine[1] != str(info.get("run_id")):
                return
            del self._open[key]
        fd, path = mine[0], self.path(key)
        try:
            if _same_file(fd, path):  # unlinked while flocked: no one can hold the old file
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # the flock goes with the last descriptor

    def check(self, key: str) -> None:
        with self._guard:
            mine = self._open.get(key)
        if mine is None:
            raise LockLost(f"This run does not hold the lock for {key}.")
        if not _same_file(mine[0], self.path(key)):
            raise LockLost(
                f"The lock for {key} was broken (`remediate unlock --force`) while this run held it; it stopped before its next change to AWS.",
                hint="Check what else runs against the account, then `remediate rollback JOURNAL` or `apply --resume JOURNAL`.",
            )

    def status(self, key: str) -> tuple[bool, dict[str, Any] | None]:
        """(held by a live process, the holder its file names); (False, None)
        when there is no lock file."""
        path = self.path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False, None
        try:
            live = not _flock(fd, shared=True)
        finally:
            os.close(fd)
        return live, _read_holder(path)

    def break_lock(self, key: str, force: bool = False) -> bool:
        """Remove the lock of a holder that is gone; a live holder's (its
        flock held, or its pid alive on this host) only with ``force``.
        Whether there was a lock file."""
        live, holder = self.status(key)
        path = self.path(key)
        if not path.exists():
            return False
        if not force:
            if live:
                why = "it is held by a live run"
            elif holder is not None and pid_alive_here(holder):
                why = "its holder's process is alive on this host"
            else:
                why = ""
            if why:
                raise LockHeld(
                    f"Not breaking the lock for {key}: {why}, {describe_holder(holder or {})}.",
                    hint="It frees itself when that run ends, even if killed; break it anyway with --force.",
                )
        path.unlink(missing_ok=True)
        return True


def lock_for(
    table: str | None,
    directory: Path,
    aws: Aws | None,
    region: str,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clock: Callable[[], float] = time.time,
) -> FileLock | DynamoLock:
    """The one way a run gets its lock: the DynamoDB ``table`` (through
    ``aws``'s client for ``region``; a lease of ``lease_seconds`` on
    ``clock``, epoch seconds) when one is named, else a file lock in
    ``directory``."""
    if table:
        if aws is None:
            raise ValueError("a lock table needs the run's AWS door")
        return DynamoLock(
            aws.client("dynamodb", region), table, lease_seconds=lease_seconds, clock=clock
        )
    return FileLock(directory)


@contextmanager
def held(
    lock: FileLock | DynamoLock, key: str, info: dict[str, Any], door: Aws | None = None
) -> Iterator[None]:
    """Hold ``lock`` for the block. With the run's ``door``, every write the
    door sends first checks the lock is still this run's (``LockLost``
    otherwise: the run stops before that write)."""
    lock.acquire(key, info)
    previous = door.write_guard if door is not None else None
    if door is not None:
        door.write_guard = lambda: lock.check(key)
    try:
        yield
    finally:
        if door is not None:
            door.write_guard = previous
        lock.release(key, info)
