"""Locks: two applies against the same account and region never interleave.

Local file (default): created with O_EXCL under the lock directory, holding
owner, pid and time. DynamoDB (``--lock-table``): a conditional put on the
key ``LockID`` (``attribute_not_exists``), released with a conditional
delete on the owner. A refused lock names its holder; a stale lock is only
broken explicitly (``remediate unlock``).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediator.domain.errors import RemediatorError


class LockHeld(RemediatorError):
    pass


def lock_key(account_id: str, regions: tuple[str, ...] | list[str]) -> str:
    return f"remediator/{account_id}/{'+'.join(sorted(regions))}"


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


def _describe(holder: dict[str, Any]) -> str:
    return f"{holder.get('owner', '?')} (pid {holder.get('pid', '?')}, run {holder.get('run_id', '?')}) since {holder.get('since', '?')}"


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
                f"Another run (apply or rollback) holds the lock for {key}: {_describe(holder)}.",
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


@dataclass
class DynamoLock:
    client: Any
    table: str

    def acquire(self, key: str, info: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        item = {"LockID": {"S": key}, **{k: {"S": str(v)} for k, v in info.items()}}
        try:
            self.client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(LockID)"
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                held = self.client.get_item(
                    TableName=self.table, Key={"LockID": {"S": key}}, ConsistentRead=True
                ).get("Item", {})
                holder = {k: v.get("S") for k, v in held.items()}
                raise LockHeld(
                    f"Another run (apply or rollback) holds the lock for {key} in table {self.table}: {_describe(holder)}.",
                    hint="Wait for it to finish; if that run is dead, break it with `remediate unlock PLAN --lock-table TABLE`.",
                ) from None
            if code == "ResourceNotFoundException":
                raise RemediatorError(
                    f"Lock table {self.table} does not exist.",
                    hint="Create it with a string partition key named LockID, or leave out --lock-table for a local lock.",
                ) from None
            raise

    def release(self, key: str, info: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        with suppress(ClientError):
            self.client.delete_item(
                TableName=self.table,
                Key={"LockID": {"S": key}},
                ConditionExpression="run_id = :r",
                ExpressionAttributeValues={":r": {"S": str(info["run_id"])}},
            )

    def break_lock(self, key: str) -> bool:
        out = self.client.delete_item(
            TableName=self.table, Key={"LockID": {"S": key}}, ReturnValues="ALL_OLD"
        )
        return bool(out.get("Attributes"))


@contextmanager
def held(lock: FileLock | DynamoLock, key: str, info: dict[str, Any]) -> Iterator[None]:
    lock.acquire(key, info)
    try:
        yield
    finally:
        lock.release(key, info)
