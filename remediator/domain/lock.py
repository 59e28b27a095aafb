"""What a lock is, whichever store holds it (a local file, a DynamoDB item):
two applies against the same account and regions never interleave, and a
lock is held only while its holder lives.

* File lock: ``fcntl.flock`` on an open file kept for the run's life; the
  kernel drops it when the process dies (kill -9 included). The file may
  stay on disk naming its last holder; it means nothing unless flocked.
* DynamoDB lock: a lease (``expires_at``, epoch seconds) renewed by a
  heartbeat while the run lives; an expired lease may be taken over.
"""

from __future__ import annotations

from typing import Any, Protocol

from remediator.domain.errors import RemediatorError


class LockHeld(RemediatorError):
    pass


class LockLost(RemediatorError):
    """The run no longer holds its lock (its lease was taken over or could not
    be renewed in time, or the lock was broken with ``unlock --force``): it
    stops before its next write."""


class Lock(Protocol):
    """A lock store: ``acquire`` raises ``LockHeld`` naming the holder;
    ``release`` frees only the caller's own lock; ``check`` raises
    ``LockLost`` once the caller's lock is no longer its own; ``break_lock``
    frees a lock whose holder is gone (any lock with ``force``; a live
    holder's without it raises ``LockHeld``) and says whether one was there."""

    def acquire(self, key: str, info: dict[str, Any]) -> None: ...

    def release(self, key: str, info: dict[str, Any]) -> None: ...

    def check(self, key: str) -> None: ...

    def break_lock(self, key: str, force: bool = False) -> bool: ...


def lock_key(account_id: str, regions: tuple[str, ...] | list[str]) -> str:
    return f"remediator/{account_id}/{'+'.join(sorted(regions))}"


def describe_holder(holder: dict[str, Any]) -> str:
    return f"{holder.get('owner', '?')} (pid {holder.get('pid', '?')}, run {holder.get('run_id', '?')}) since {holder.get('since', '?')}"


def holder_host(holder: dict[str, Any]) -> str | None:
    """The host a holder ran on: its ``host``, else what follows ``@`` in its
    ``owner`` (user@host)."""
    host = holder.get("host")
    if isinstance(host, str) and host:
        return host
    owner = holder.get("owner")
    if isinstance(owner, str) and "@" in owner:
        return owner.rsplit("@", 1)[1] or None
    return None
