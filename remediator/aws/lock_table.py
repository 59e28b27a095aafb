"""The DynamoDB lock (``--lock-table``): a lease on the item keyed ``LockID``.

* The item carries the holder (owner, host, pid, run_id, since), the lease
  length ``lease_seconds`` and ``expires_at`` (epoch seconds, a Number: the
  attribute to name as the table's TTL attribute, so DynamoDB deletes leases
  left by dead runs; taking over does not wait for TTL).
* ``acquire``: a conditional put, ``attribute_not_exists(LockID) OR
  expires_at < :now``: a free key, or an expired lease, is taken over; a live
  one refuses, naming its holder and when the lease ends. An item without
  ``expires_at`` (written before leases) never expires: ``remediate unlock``.
* A heartbeat thread renews the lease every ``lease_seconds / 5`` with an
  update conditional on the run id. A renewal refused (someone took the lease
  over) or a lease that ran out before a renewal got through marks the lock
  lost; ``check`` then raises ``LockLost`` and the run's door refuses its next
  write (``run.lock.held``). ``check`` counts a lease lost one heartbeat
  before it ends (a write is never sent in the lease's last fifth), so a run
  whose renewals stall stops before anyone may take its lease over.
* ``release``: a delete conditional on the run id (a taken-over lease stays
  its new holder's).
* ``break_lock``: an expired lease, or any with ``force``.

``clock`` (epoch seconds) and ``wait`` (the heartbeat's pause) are injected:
tests move time themselves. Clocks of the hosts sharing a table are assumed
in sync to well within the lease (NTP: milliseconds; the lease: minutes).
``client`` is a DynamoDB client from the run's door
(``Aws.client("dynamodb", region)``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from remediator.domain.errors import RemediatorError
from remediator.domain.lock import LockHeld, LockLost, describe_holder

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

log = structlog.get_logger(__name__)

DEFAULT_LEASE_SECONDS = 300.0
"""Five minutes: a heartbeat every minute, so four renewals may fail (a
network blip, throttling) before the lease runs out; a crashed run's lease
is free to take over five minutes after its last renewal at most."""
EXPIRES_AT = "expires_at"
"""The lease's end (epoch seconds, Number): the table's TTL attribute."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Beat:
    run_id: str
    expires_at: float
    stop: threading.Event
    lost: str | None = None
    thread: threading.Thread | None = None


@dataclass
class DynamoLock:
    client: DynamoDBClient
    table: str
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    clock: Callable[[], float] = time.time
    heartbeat: bool = True
    """Renew in a background thread (tests of renewal call ``renew``)."""
    _beats: dict[str, _Beat] = field(default_factory=dict, init=False, repr=False, compare=False)
    _guard: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def _holder(self, key: str) -> dict[str, Any]:
        item = self.client.get_item(
            TableName=self.table, Key={"LockID": {"S": key}}, ConsistentRead=True
        ).get("Item", {})
        return {k: v.get("S", v.get("N")) for k, v in item.items()}

    def acquire(self, key: str, info: dict[str, Any]) -> None:
        now = self.clock()
        expires = now + self.lease_seconds
        item: dict[str, Any] = {
            "LockID": {"S": key},
            **{k: {"S": str(v)} for k, v in info.items()},
            EXPIRES_AT: {"N": str(math.ceil(expires))},
            "lease_seconds": {"N": str(int(self.lease_seconds))},
        }
        try:
            old = self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=f"attribute_not_exists(LockID) OR {EXPIRES_AT} < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            code = _code(exc)
            if code == "ConditionalCheckFailedException":
                holder = self._holder(key)
                until = holder.get(EXPIRES_AT)
                lease = f" (lease until {_stamp(float(until))})" if until else " (no lease)"
                raise LockHeld(
                    f"Another run (apply or rollback) holds the lock for {key} in table {self.table}: {describe_holder(holder)}{lease}.",
                    hint="Wait for it to finish (a dead run's lease can be taken over once it expires); to break it anyway: `remediate unlock PLAN --lock-table TABLE --force`.",
                ) from None
            if code == "ResourceNotFoundException":
                raise RemediatorError(
                    f"Lock table {self.table} does not exist.",
                    hint="Create it with a string partition key named LockID (TTL attribute expires_at), or leave out --lock-table for a local lock.",
                ) from None
            raise
        if old.get("Attributes"):
            taken = {k: v.get("S", v.get("N")) for k, v in old["Attributes"].items()}
            log.warning(
                "expired_lease_taken_over", key=key, table=self.table, holder=describe_holder(taken)
            )
        beat = _Beat(str(info.get("run_id")), expires, threading.Event())
        with self._guard:
            self._beats[key] = beat
        if self.heartbeat:
            beat.thread = threading.Thread(
                target=self._beat, args=(key, beat), name=f"lease {key}", daemon=True
            )
            beat.thread.start()

    def renew(self, key: str) -> bool:
        """Extend the caller's lease to ``lease_seconds`` from now; False (and
        the lock marked lost) once the lease is someone else's (a renewal
        that gets through proves no one took it over meanwhile). A renewal
        that does not get through (network, throttling) raises and leaves the
        lease as it was."""
        with self._guard:
            beat = self._beats.get(key)
        if beat is None or beat.lost:
            return False
        expires = self.clock() + self.lease_seconds
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"LockID": {"S": key}},
                UpdateExpression=f"SET {EXPIRES_AT} = :e",
                ConditionExpression="run_id = :r",
                ExpressionAttributeValues={
                    ":e": {"N": str(math.ceil(expires))},
                    ":r": {"S": beat.run_id},
                },
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            beat.lost = "another run took its lease over (or it was broken with --force)"
            return False
        beat.expires_at = expires
        return True

    def _beat(self, key: str, beat: _Beat) -> None:
        interval = max(self.lease_seconds / 5, 0.01)
        while not beat.stop.wait(interval):
            try:
                if not self.renew(key):
                    log.error("lock_lost", key=key, table=self.table, why=beat.lost)
                    return
            except (ClientError, BotoCoreError) as exc:  # try again at the next beat
                log.warning("lease_renewal_failed", key=key, table=self.table, error=str(exc))

    def check(self, key: str) -> None:
        with self._guard:
            beat = self._beats.get(key)
        if beat is None:
            raise LockLost(f"This run does not hold the lock for {key} in table {self.table}.")
        if beat.lost is None and self.clock() >= beat.expires_at - self.lease_seconds / 5:
            beat.lost = f"its lease (until {_stamp(beat.expires_at)}) was not renewed in time"
        if beat.lost is not None:
            raise LockLost(
                f"This run lost the lock for {key} in table {self.table}: {beat.lost}; it stopped before its next change to AWS.",
                hint="Check what else runs against the account, then `remediate rollback JOURNAL` or `apply --resume JOURNAL`.",
            )

    def release(self, key: str, info: dict[str, Any]) -> None:
        with self._guard:
            beat = self._beats.get(key)
            if beat is not None and beat.run_id == str(info.get("run_id")):
                del self._beats[key]
            else:
                beat = None
        if beat is not None:
            beat.stop.set()
            if beat.thread is not None and beat.thread is not threading.current_thread():
                beat.thread.join(timeout=5)
        with suppress(ClientError):
            self.client.delete_item(
                TableName=self.table,
                Key={"LockID": {"S": key}},
                ConditionExpression="run_id = :r",
                ExpressionAttributeValues={":r": {"S": str(info["run_id"])}},
            )

    def break_lock(self, key: str, force: bool = False) -> bool:
        """Delete the lock item: an expired lease (or one from before leases)
        freely, a live one only with ``force``. Whether there was one."""
        holder = self._holder(key)
        if not holder:
            return False
        until = holder.get(EXPIRES_AT)
        if force:
            out = self.client.delete_item(
                TableName=self.table, Key={"LockID": {"S": key}}, ReturnValues="ALL_OLD"
            )
            return bool(out.get("Attributes"))
        if until is not None and float(until) >= self.clock():
            raise LockHeld(
                f"Not breaking the lock for {key} in table {self.table}: its lease is live until {_stamp(float(until))}, {describe_holder(holder)}.",
                hint="A live run renews it; a dead one's can be taken over once it expires. Break it anyway with --force.",
            )
        condition: dict[str, Any] = {"ConditionExpression": "attribute_exists(LockID)"}
        if "run_id" in holder:  # only the lease read: a run that took it over since keeps it
            condition = {
                "ConditionExpression": "run_id = :r",
                "ExpressionAttributeValues": {":r": {"S": str(holder["run_id"])}},
            }
        try:
            self.client.delete_item(TableName=self.table, Key={"LockID": {"S": key}}, **condition)
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True
