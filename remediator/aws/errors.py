"""AWS failures as remediator errors: one line naming the IAM action and the
region, and a hint saying what to do next.

``IAM_PREFIX`` is the one map from botocore's service name to the IAM action
prefix (``remediate iam-policy`` builds its actions with it too).
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ProfileNotFound,
)

from remediator.domain import errors

IAM_PREFIX: dict[str, str] = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "resourcegroupstaggingapi": "tag",
}
"""botocore's service name -> the IAM action prefix, where they differ."""

ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
        "SignatureDoesNotMatch",
    }
)
UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)
"""An endpoint that cannot be reached (refused, black-holed, dropped)."""

NO_CREDENTIALS_HINT = (
    "Configure credentials (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY), or run `remediate demo` to try remediator on a sandbox."
)


def iam_action(service: str, operation: str) -> str:
    """``ec2`` + ``DescribeVpcs`` -> ``ec2:DescribeVpcs`` (with IAM's prefix)."""
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def one_line(text: str) -> str:
    return " ".join(text.split())


def profile_not_found(exc: ProfileNotFound, profile: str | None) -> errors.BadInput:
    name = profile or str(exc.kwargs.get("profile", ""))
    return errors.BadInput(
        f"AWS profile '{name}' not found.",
        hint="List the configured profiles with `aws configure list-profiles`.",
    )


def translate_error(
    exc: Exception, *, service: str, operation: str, region: str, endpoint_url: str | None
) -> errors.RemediatorError | None:
    """The remediator error for an AWS/botocore exception, or None if it is not one.

    ``operation`` is the API name (``DescribeRouteTables``); together with
    ``service`` it is the IAM action the caller needs.
    """
    action = iam_action(service, operation)
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = one_line(str(err.get("Message", "")))
        if code in ACCESS_DENIED_CODES:
            return errors.AwsAccessError(
                f"Access denied: missing IAM permission {action} in {region} ({code}).",
                hint="Grant that permission to the identity remediator runs as, then run again.",
            )
        if code in CREDENTIAL_CODES:
            return errors.AwsAccessError(
                f"AWS rejected the credentials ({code}) calling {action} in {region}.",
                hint="Refresh or reconfigure the credentials "
                "(`aws sts get-caller-identity` must succeed), then run again.",
            )
        detail = f": {message}" if message else ""
        return errors.AwsAccessError(
            f"AWS error {code} calling {action} in {region}{detail}",
            hint="Check the message above; run again once it is resolved.",
        )
    if isinstance(exc, NoCredentialsError):
        return errors.AwsAccessError("No AWS credentials found.", hint=NO_CREDENTIALS_HINT)
    if isinstance(exc, UNREACHABLE):
        url = str(exc.kwargs.get("endpoint_url") or endpoint_url or "the AWS endpoint")
        return errors.AwsAccessError(
            f"The AWS endpoint {url} cannot be reached (calling {action} in {region}).",
            hint="Check --endpoint-url / AWS_ENDPOINT_URL, the region name, "
            "and the network (proxy, VPN, firewall).",
        )
    if isinstance(exc, ProfileNotFound):
        return profile_not_found(exc, None)
    if isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError):
        return errors.AwsAccessError(
            f"AWS call {action} in {region} failed: {one_line(str(exc))}",
            hint="Check the credentials, the region and the network, then run again.",
        )
    return None


def call_failed(
    exc: Exception, service: str, api: str, region: str, code: str = "", status: int = 0
) -> errors.AwsCallFailed:
    """The one-line, botocore-free form of a failed call of apply or rollback."""
    translated = translate_error(
        exc, service=service, operation=api, region=region, endpoint_url=None
    )
    return errors.AwsCallFailed(
        str(translated or exc), service=service, operation=api, code=code, status=status
    )
