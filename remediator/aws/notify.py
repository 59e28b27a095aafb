"""Tell someone: publish a run summary to an SNS topic (``--notify-sns ARN``).

The message is the summary JSON that ``remediate auto`` prints as its last
line. SNS takes at most 256 KiB: a summary too large for that keeps the
account-regions that need a person (anything but ``clean`` and ``fixed``)
and says so (``targets_truncated``). Message attributes ``outcome`` and
``exit_code`` let subscribers filter (an SNS subscription filter policy such
as ``{"outcome": ["review", "error", "rolled-back", "rollback-incomplete"]}``).
"""

from __future__ import annotations

import json
from typing import Any

from remediator.aws.door import Aws
from remediator.domain.errors import BadInput

MAX_MESSAGE_BYTES = 250_000  # SNS allows 262,144 bytes with the attributes
SUBJECT_MAX = 100
QUIET_OUTCOMES = frozenset({"clean", "fixed"})


def topic_region(topic_arn: str) -> str:
    """The region of ``arn:aws:sns:<region>:<account>:<name>``."""
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
        raise BadInput(
            f"--notify-sns {topic_arn!r} is not an SNS topic ARN.",
            hint="Pass arn:aws:sns:REGION:ACCOUNT:TOPIC.",
        )
    return parts[3]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def message_for(summary: dict[str, Any]) -> str:
    """The summary as compact JSON, trimmed to fit one SNS message."""
    text = _dumps(summary)
    if len(text.encode()) <= MAX_MESSAGE_BYTES:
        return text
    kept = [t for t in summary.get("targets", []) if t.get("outcome") not in QUIET_OUTCOMES]
    trimmed = {**summary, "targets": kept, "targets_truncated": True}
    text = _dumps(trimmed)
    if len(text.encode()) <= MAX_MESSAGE_BYTES:
        return text
    return _dumps({**summary, "targets": [], "targets_truncated": True})


def subject_for(summary: dict[str, Any]) -> str:
    """One ASCII line of at most 100 characters (SNS's rules for email subjects)."""
    text = (
        f"remediator {summary.get('outcome', '?')}: "
        f"{summary.get('targets_total', 0)} account-region(s), "
        f"{summary.get('changes_applied', 0)} change(s) applied, "
        f"{summary.get('changes_left', 0)} left"
    )
    ascii_text = text.encode("ascii", "replace").decode()
    return ascii_text[:SUBJECT_MAX]


def publish(aws: Aws, topic_arn: str, summary: dict[str, Any]) -> str:
    """Publish ``summary`` to ``topic_arn`` through the runner's door; returns
    the message id. AWS failures become one-line ``AwsAccessError``s (the
    door's ``botocore`` policy)."""
    out = aws.call(
        "sns",
        topic_region(topic_arn),
        "publish",
        TopicArn=topic_arn,
        Subject=subject_for(summary),
        Message=message_for(summary),
        MessageAttributes={
            "outcome": {"DataType": "String", "StringValue": str(summary.get("outcome"))},
            "exit_code": {"DataType": "Number", "StringValue": str(summary.get("exit_code"))},
        },
    )
    return str(out.get("MessageId", ""))
