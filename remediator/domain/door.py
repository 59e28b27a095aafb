"""What a change kind may ask of the AWS door: the seam between ``changes`` and ``aws``.

``remediator.aws.door.Aws`` implements it; the change kinds are written against it, so
they never import boto3, botocore or ``remediator.aws`` (and tests can hand them a fake).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Timing(Protocol):
    """The clock and waits a change settles by (injectable: tests move time themselves)."""

    settle_timeout: float
    poll_interval: float

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def sleep(self) -> Callable[[float], None]: ...


class Door(Protocol):
    """One AWS call at a time, with the door's retries and its check-mode guard.

    ``call`` raises ``remediator.domain.errors.AwsCallFailed`` for a refusal or a
    failure that outlived the retries. ``progress`` journals what a multi-call change
    has made so far (``None``: it took its own partial work back). ``plan_id`` and
    ``run_id`` make the idempotency tokens of creates."""

    plan_id: str
    run_id: str

    @property
    def settings(self) -> Timing: ...

    def call(self, service: str, region: str, operation: str, **params: Any) -> dict[str, Any]: ...

    def progress(self, partial: dict[str, Any] | None) -> None: ...
