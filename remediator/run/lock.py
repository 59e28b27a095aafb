"""Locks: two applies against the same account and region never interleave.

Local file (default): created with O_EXCL under the lock directory, holding
owner, pid and time. DynamoDB (``--lock-table``): ``aws.lock_table``. A
refused lock names its holder; a stale lock is only broken explicitly
(``remediate unlock``). ``lock_for`` is the one place a lock is chosen.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediator.aws.door import Aws
from remediator.aws.lock_table import DynamoLock
from remediator.domain.lock import LockHeld, describe_holder, lock_key

__all__ = ["DynamoLock", "FileLock", "LockHeld", "held", "lock_for", "lock_key", "owner_info"]


def owner_info(run_id: str, now: str) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {
        "owner": f"{user}@{socket.gethostname()}",
        "pid": os.getpid(),
        "run_id": run_id,
        "since": now,
    }


def _read_holder(path: Path) -> dict[str, Any] | None:
    """The holder a lock file names; None when it is unreadable or not a JSON
    object (a kill before the write, or an edit by hand)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


@dataclass
class FileLock:
    directory: Path

    def path(self, key: str) -> Path:
        return self.directory / (key.replace("/", "_") + ".lock")

    def acquire(self, key: str, info: dict[str, Any]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            holder = _read_holder(path) or {}
            raise LockHeld(
                f"Another run (apply or rollback) holds the lock for {key}: {describe_holder(holder)}.",
                hint=f"Wait for it to finish; if that run is dead, break the lock with `remediate unlock PLAN` (file {path}).",
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(info, sort_keys=True))
            handle.flush()
            os.fsync(handle.fileno())

    def release(self, key: str, info: dict[str, Any]) -> None:
        path = self.path(key)
        holder = _read_holder(path)
        if holder is not None and holder.get("run_id") == info.get("run_id"):
            path.unlink(missing_ok=True)

    def break_lock(self, key: str) -> bool:
        path = self.path(key)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed


def lock_for(
    table: str | None, directory: Path, aws: Aws | None, region: str
) -> FileLock | DynamoLock:
    """The one way a run gets its lock: the DynamoDB ``table`` (through
    ``aws``'s client for ``region``) when one is named, else a file lock in
    ``directory``."""
    if table:
        if aws is None:
            raise ValueError("a lock table needs the run's AWS door")
        return DynamoLock(aws.client("dynamodb", region), table)
    return FileLock(directory)


@contextmanager
def held(lock: FileLock | DynamoLock, key: str, info: dict[str, Any]) -> Iterator[None]:
    lock.acquire(key, info)
    try:
        yield
    finally:
        lock.release(key, info)
