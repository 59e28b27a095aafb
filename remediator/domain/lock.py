"""What a lock is, whichever store holds it (a local file, a DynamoDB item):
two applies against the same account and regions never interleave."""

from __future__ import annotations

from typing import Any, Protocol

from remediator.domain.errors import RemediatorError


class LockHeld(RemediatorError):
    pass


class Lock(Protocol):
    """A lock store: ``acquire`` raises ``LockHeld`` naming the holder;
    ``release`` frees only the caller's own lock; ``break_lock`` frees any
    (``remediate unlock``) and says whether one was held."""

    def acquire(self, key: str, info: dict[str, Any]) -> None: ...

    def release(self, key: str, info: dict[str, Any]) -> None: ...

    def break_lock(self, key: str) -> bool: ...


def lock_key(account_id: str, regions: tuple[str, ...] | list[str]) -> str:
    return f"remediator/{account_id}/{'+'.join(sorted(regions))}"


def describe_holder(holder: dict[str, Any]) -> str:
    return f"{holder.get('owner', '?')} (pid {holder.get('pid', '?')}, run {holder.get('run_id', '?')}) since {holder.get('since', '?')}"
