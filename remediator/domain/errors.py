"""The error tree. Each error carries its process exit code (from the one
table in ``remediator.domain.outcomes``); the CLI maps errors to exits in
exactly one place. Messages are one line: what is wrong, then what to do
about it.

A stale plan, a rolled-back or an incompletely rolled-back apply are not
errors: apply reports them as an outcome with its step lines and exit code.
"""

from __future__ import annotations

from remediator.domain.outcomes import EXIT_CODES


class RemediatorError(Exception):
    """Base: a failure remediator understands and can explain in one line."""

    exit_code = EXIT_CODES["error"]

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class BadInput(RemediatorError):
    """A file, option or value the user gave is wrong."""


class AwsAccessError(RemediatorError):
    """AWS refused or could not be reached (credentials, permission, endpoint)."""


class AwsCallFailed(RemediatorError):
    """One AWS call of apply or rollback failed for good (after the door's retries).

    Raised by the AWS door in place of botocore's exceptions, so nothing above
    ``remediator.aws`` needs botocore to tell a refusal from a conflict.
    ``code`` is AWS's error code (``""`` for a failure below HTTP, such as a
    timeout), ``status`` the HTTP status (0 when there was no answer).
    ``message`` is the one line a user reads (the IAM permission to add, the
    endpoint that cannot be reached, or AWS's own text)."""

    def __init__(
        self, message: str, *, service: str, operation: str, code: str = "", status: int = 0
    ) -> None:
        super().__init__(message)
        self.service = service
        self.operation = operation
        self.code = code
        self.status = status


class ApprovalRefused(RemediatorError):
    """No change may run: the person at the prompt said no, or no approval covers it."""


class SignatureRefused(ApprovalRefused):
    """A plan or approval whose signature is missing (when one is required),
    made with another key, or over content that is not the file's (a stale
    or forged signature). Refused before anything changes; the exit code is
    ApprovalRefused's (1, ``error``): nothing ran, a person must look."""


class ChangeFailed(RemediatorError):
    """One change could not be applied (the run then rolls back)."""


class StaleTarget(RemediatorError):
    """The target no longer has the state the plan was made against."""
