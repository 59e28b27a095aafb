"""Who owns a function: the infrastructure-as-code tool that deployed it.

A direct change to a function that CloudFormation (SAM, CDK) or Terraform
deployed is drift: CloudFormation's drift-aware change sets (``REVERT_DRIFT``,
``cdk deploy --revert-drift``) put the old subnets back on the next deploy,
and Terraform's next plan proposes the old ``vpc_config``. Ownership is read
from the tags discovery already reads (no per-function call):

- CloudFormation tags what it creates with ``aws:cloudformation:stack-name``,
  ``aws:cloudformation:stack-id`` and ``aws:cloudformation:logical-id``;
- Terraform has no standard tag: the policy's ``[iac]`` section names the
  tags that mark ownership (``terraform_tags``) and those that say where the
  code lives (``terraform_detail_tags``: a module, a workspace).

Pure: tags in, ``Owner`` out.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Final, Literal

from pydantic import Field

from remediator.domain.base import Frozen

CFN_STACK_NAME: Final = "aws:cloudformation:stack-name"
CFN_STACK_ID: Final = "aws:cloudformation:stack-id"
CFN_LOGICAL_ID: Final = "aws:cloudformation:logical-id"
CFN_TAGS: Final = (CFN_LOGICAL_ID, CFN_STACK_ID, CFN_STACK_NAME)

OwnerKind = Literal["cloudformation", "terraform"]
OwnedMode = Literal["apply", "patch-only", "skip"]
"""What remediator does about an owned function: ``apply`` (change it now and
write the patch), ``patch-only`` (no direct change: the patch is the
deliverable), ``skip`` (leave it alone)."""


def _none(value: object) -> bool:
    return value is None


class Owner(Frozen):
    """The tool that deployed a function, and where its definition lives.

    ``kind`` ``cloudformation``: ``stack_name``/``stack_id``/``logical_id``
    come from the ``aws:cloudformation:*`` tags (any may be missing when a
    tag was not read). ``terraform``: ``detail`` holds the policy's detail
    tags as ``key=value`` pairs (module, workspace). Fields left unset stay
    out of the plan JSON."""

    kind: OwnerKind
    stack_name: str | None = Field(default=None, exclude_if=_none)
    stack_id: str | None = Field(default=None, exclude_if=_none)
    logical_id: str | None = Field(default=None, exclude_if=_none)
    detail: str | None = Field(default=None, exclude_if=_none)

    def describe(self) -> str:
        """One line for humans: who owns the function."""
        if self.kind == "cloudformation":
            where = f"CloudFormation stack '{self.stack_name or self.stack_id or '?'}'"
            return where + (f", logical id '{self.logical_id}'" if self.logical_id else "")
        return "Terraform" + (f" ({self.detail})" if self.detail else "")

    def drift_warning(self) -> str:
        """What a direct change does to this owner's next deploy."""
        if self.kind == "cloudformation":
            return (
                f"owned by {self.describe()}: a direct change is drift, and a drift-aware "
                "deploy (change set with REVERT_DRIFT, cdk deploy --revert-drift) puts the old "
                "subnets back; deploy the template patch (remediate iac-patch) as well"
            )
        return (
            f"owned by {self.describe()}: a direct change is drift, and the next terraform "
            "plan proposes the old vpc_config; change the Terraform code as well"
        )


class IacSettings(Frozen):
    """The policy's ``[iac]`` section: how Terraform ownership is recognised.

    ``detect``: read function tags for ownership even when no rule matches
    on tags (one Tagging API page per 100 functions). ``terraform_tags``: every pair must match (values may be globs), e.g.
    ``{"managed-by" = "terraform"}``; empty: Terraform ownership is not
    detected. ``terraform_detail_tags``: tags whose values say where the code
    lives (``["tf-module", "tf-workspace"]``)."""

    detect: bool = True
    terraform_tags: dict[str, str] = Field(default_factory=dict)
    terraform_detail_tags: tuple[str, ...] = ()

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """The tag keys ownership is read from, sorted."""
        return tuple(sorted({*CFN_TAGS, *self.terraform_tags, *self.terraform_detail_tags}))


def owner_of(tags: Mapping[str, str], iac: IacSettings) -> Owner | None:
    """The owner ``tags`` name, or ``None`` (always ``None`` with ``detect``
    off). CloudFormation's own tags win over a Terraform marker (a stack Terraform deploys is still a stack)."""
    if not iac.detect or not tags:
        return None
    if any(key in tags for key in CFN_TAGS):
        return Owner(
            kind="cloudformation",
            stack_name=tags.get(CFN_STACK_NAME),
            stack_id=tags.get(CFN_STACK_ID),
            logical_id=tags.get(CFN_LOGICAL_ID),
        )
    if iac.terraform_tags and all(
        key in tags and fnmatch.fnmatchcase(tags[key], value)
        for key, value in iac.terraform_tags.items()
    ):
        detail = ", ".join(f"{key}={tags[key]}" for key in iac.terraform_detail_tags if key in tags)
        return Owner(kind="terraform", detail=detail or None)
    return None
