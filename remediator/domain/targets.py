"""The targets of a fleet run: account-region pairs, the shard of them one
runner takes, and the checks on the account list and the role template.
Pure: no AWS call, no clock."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from remediator.domain.errors import BadInput

ACCOUNT_ID = re.compile(r"^\d{12}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|\{account_id\}):role/[\w+=,.@/-]+$")


@dataclass(frozen=True, order=True)
class Target:
    """One account-region pair. ``role_arn`` None: the runner's own credentials."""

    account_id: str
    region: str
    role_arn: str | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.account_id}:{self.region}"


def shard_of(key: str, count: int) -> int:
    """The shard (1..count) of ``key``: stable, whatever else is in the fleet."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``; shards are numbered from 1."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise BadInput(
            f"--shard {text!r} is not I/N with 1 <= I <= N.",
            hint="Pass e.g. --shard 1/3 (this runner takes the first of three shards).",
        )
    return int(match.group(1)), int(match.group(2))


def select_shard(targets: Iterable[Target], shard: tuple[int, int] | None) -> list[Target]:
    ordered = sorted(targets)
    if shard is None:
        return ordered
    index, count = shard
    return [t for t in ordered if shard_of(t.key, count) == index]


def parse_accounts(text: str, source: str = "accounts file") -> list[str]:
    """Account ids, one per line; ``#`` starts a comment; sorted, without repeats."""
    found: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not ACCOUNT_ID.match(line):
            raise BadInput(
                f"{source} line {number}: {line!r} is not a 12-digit AWS account id.",
                hint="List one account id per line; # starts a comment.",
            )
        found.append(line)
    return sorted(set(found))


def check_role_template(template: str, *, many: bool) -> None:
    if not ROLE_ARN.match(template):
        raise BadInput(
            f"--role-arn {template!r} is not an IAM role ARN.",
            hint="Pass e.g. 'arn:aws:iam::{account_id}:role/remediator' (quote it in the shell).",
        )
    if many and "{account_id}" not in template:
        raise BadInput(
            "--role-arn must contain {account_id} when several accounts are given.",
            hint="Pass e.g. 'arn:aws:iam::{account_id}:role/remediator'.",
        )
    if not many and "{account_id}" in template:
        raise BadInput(
            "--role-arn contains {account_id} but no accounts were given.",
            hint="Add --accounts-file FILE or --organization, or name one role.",
        )


def role_for(template: str, account_id: str) -> str:
    return template.replace("{account_id}", account_id)
