"""The error tree. Each error carries its process exit code; the CLI maps
errors to exits in exactly one place. Messages are one line: what is wrong,
then what to do about it.

Exit codes (the contract, see docs/plan-format.md and docs/auto.md):
  0  success, nothing to do
  1  error (bad input, AWS error, refused approval)
  2  changes present (``plan --detailed-exitcode``)
  3  stale plan: the live state no longer matches the plan
  4  apply failed and was rolled back
  5  apply failed and rollback is incomplete
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_STALE = 3
EXIT_ROLLED_BACK = 4
EXIT_ROLLBACK_INCOMPLETE = 5


class RemediatorError(Exception):
    """Base: a failure remediator understands and can explain in one line."""

    exit_code = EXIT_ERROR

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


class StalePlan(RemediatorError):
    exit_code = EXIT_STALE


class ApprovalRefused(RemediatorError):
    pass


class ApplyRolledBack(RemediatorError):
    exit_code = EXIT_ROLLED_BACK


class RollbackIncomplete(RemediatorError):
    exit_code = EXIT_ROLLBACK_INCOMPLETE


class ChangeFailed(RemediatorError):
    """One change could not be applied (the run then rolls back)."""


class StaleTarget(RemediatorError):
    """The target no longer has the state the plan was made against."""
