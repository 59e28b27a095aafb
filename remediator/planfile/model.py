"""The plan document: what is wrong, and the ordered changes that fix it.

This is the plan file's format (``format_version`` 1): ``changes`` holds
every kind's typed change (``remediator.changes.registry.Change``, told apart
by ``kind``), so the document lives here, above ``changes``; its parts
(findings, fingerprints, what every change shares) are
``remediator.domain.plan``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from remediator.changes.registry import Change
from remediator.domain.base import Frozen
from remediator.domain.plan import FORMAT_VERSION, Finding, FunctionSummary

__all__ = ["FORMAT_VERSION", "Plan", "PlanSummary", "Signature"]


class Signature(Frozen):
    """A MAC or signature over a plan's digest or an approval's content
    (``remediator.planfile.signing``). ``signs`` is the ``sha256:`` of the
    message the key signed, so a signature copied onto other content is
    told from a forged one; ``value`` is base64. Never part of the digest."""

    alg: str
    key_id: str
    signs: str
    value: str


class PlanSummary(Frozen):
    functions: int = 0
    affected: int = 0
    healthy: int = 0
    exempt: int = 0
    not_in_vpc: int = 0
    findings: int = 0
    blocked: int = 0
    deferred: int = 0
    changes: int = 0
    changes_by_risk: dict[str, int] = Field(default_factory=dict)


def _require_format_version(schema: dict[str, Any]) -> None:
    """A plan file always carries its ``format_version``: the schema says so."""
    required = schema.setdefault("required", [])
    if "format_version" not in required:
        required.insert(0, "format_version")


class Plan(Frozen):
    """A plan: what is wrong, and the ordered changes that fix it.

    ``digest`` is ``sha256:`` over the canonical JSON of every other field;
    ``plan_id`` is derived from the content without the creation time, so
    the same world and policy give the same id.
    """

    model_config = ConfigDict(json_schema_extra=_require_format_version)

    format_version: Literal[1] = FORMAT_VERSION
    plan_id: str
    created_at: str
    tool_version: str
    account_id: str
    partition: str = "aws"
    regions: tuple[str, ...]
    policy_digest: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    summary: PlanSummary
    functions: tuple[FunctionSummary, ...] = ()
    findings: tuple[Finding, ...] = ()
    changes: tuple[Change, ...] = ()
    digest: str = ""
    # left out of the file when absent, so unsigned plans keep their bytes;
    # the digest covers every field but ``digest`` and ``signature``
    signature: Signature | None = Field(default=None, exclude_if=lambda s: s is None)
