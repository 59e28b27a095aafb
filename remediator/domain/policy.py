"""The desired model: what a function's egress should look like, per function.

A policy is a TOML file (``--policy``) or the built-in defaults. It holds
``[defaults]`` and an ordered list of ``[[rules]]`` matched by function name
glob and/or tags; every matching rule overrides the defaults in file order
(the last match wins per key). Unknown keys and bad values are errors that
name the key. See ``plans/policy.example.toml`` and docs/policy.md.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from remediator.domain.base import Frozen
from remediator.domain.errors import BadInput
from remediator.domain.files import read_text
from remediator.domain.inventory import Function
from remediator.domain.owner import CFN_STACK_NAME, IacSettings, OwnedMode

Strategy = Literal["keep-private-subnets", "add-nat-route", "lambda-endpoint"]
DEFAULT_STRATEGIES: tuple[Strategy, ...] = (
    "keep-private-subnets",
    "add-nat-route",
    "lambda-endpoint",
)
EXEMPT_TAG = "remediator:exempt"

OWNER_FIELDS = ("{account}", "{account_id}")
"""What a network role template may write for the VPC owner's account id."""
_NETWORK_ROLE = re.compile(
    r"^arn:aws[a-z-]*:iam::(\d{12}|\{account\}|\{account_id\}):role/[\w+=,.@/-]{1,512}$"
)


# Keys added after the first policy format, with their defaults: a policy
# that leaves one at its default hashes as it did before the key existed.
_ADDED_KEYS: dict[str, object] = {"network_role_arn": None, "versions_read": "auto"}


def network_role_problem(template: str) -> str | None:
    """Why ``template`` is not a network role template (``None``: it is one):
    an IAM role ARN whose account is ``{account}`` (or ``{account_id}``, the
    fleet's spelling), so it names a role in whichever account owns a VPC."""
    if not _NETWORK_ROLE.match(template):
        return f"{template!r} is not an IAM role ARN"
    if not any(f in template for f in OWNER_FIELDS):
        return f"{template!r} has no {{account}} where the VPC owner's account id goes"
    return None


def check_network_role(template: str | None, source: str = "--network-role-arn") -> str | None:
    """``template`` when it is a network role template (or ``None``), else ``BadInput``."""
    if template is None:
        return None
    problem = network_role_problem(template)
    if problem is not None:
        raise BadInput(
            f"{source} {problem}.",
            hint="Pass e.g. 'arn:aws:iam::{account}:role/remediator-network-read' (quote it in the shell).",
        )
    return template


def network_role_for(template: str, account_id: str) -> str:
    """The role to assume in ``account_id`` (the VPC owner's)."""
    out = template
    for name in OWNER_FIELDS:
        out = out.replace(name, account_id)
    return out


class Settings(Frozen):
    """The effective settings for one function (defaults + matching rules)."""

    strategies: tuple[Strategy, ...] = DEFAULT_STRATEGIES
    min_azs: int = Field(default=2, ge=1, le=16)
    exempt: bool = False
    exempt_reason: str = ""
    allow_shared_route_table_changes: bool = False
    allow_endpoint_creation: bool = False
    move_aliases: bool = True
    # what to do about a function CloudFormation or Terraform owns
    # (docs/iac.md); unset: ``apply`` for ``remediate apply``, held for review
    # by ``auto`` and ``event``
    owned_functions: OwnedMode | None = None

    @property
    def owned_mode(self) -> OwnedMode:
        return self.owned_functions or "apply"

    @model_validator(mode="after")
    def _strategies_unique(self) -> Settings:
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError("strategies must not repeat a strategy")
        return self


class Rule(Frozen):
    """Overrides for the functions it matches. A rule needs at least one
    matcher; every given matcher must match (names: any glob; tags: all pairs,
    values may be globs)."""

    name: str = ""
    match_names: tuple[str, ...] = ()
    match_tags: dict[str, str] = Field(default_factory=dict)
    strategies: tuple[Strategy, ...] | None = None
    min_azs: int | None = Field(default=None, ge=1, le=16)
    exempt: bool | None = None
    exempt_reason: str | None = None
    allow_shared_route_table_changes: bool | None = None
    allow_endpoint_creation: bool | None = None
    move_aliases: bool | None = None
    owned_functions: OwnedMode | None = None

    @model_validator(mode="after")
    def _has_matcher(self) -> Rule:
        if not self.match_names and not self.match_tags:
            raise ValueError("a rule needs match_names or match_tags")
        if self.strategies is not None and len(set(self.strategies)) != len(self.strategies):
            raise ValueError("strategies must not repeat a strategy")
        return self

    def matches(self, function: Function) -> bool:
        if self.match_names and not any(
            fnmatch.fnmatchcase(function.name, pattern) for pattern in self.match_names
        ):
            return False
        return all(
            key in function.tags and fnmatch.fnmatchcase(function.tags[key], value)
            for key, value in self.match_tags.items()
        )


_OVERRIDABLE = tuple(Settings.model_fields)


class Policy(Frozen):
    """Defaults, rules, and plan-wide limits."""

    defaults: Settings = Field(default_factory=Settings)
    rules: tuple[Rule, ...] = ()
    max_changes: int = Field(default=100, ge=1, le=10_000)
    allowed_account_ids: tuple[str, ...] = ()
    # where discovery reads tags when a rule matches on them: the Resource
    # Groups Tagging API (100 functions a call; an index that may trail a tag
    # added moments ago, so apply re-reads the live tags of every target
    # before its first write) or Lambda's ListTags (one call per VPC
    # function, always current)
    tags_from: Literal["lambda", "tagging-api"] = "tagging-api"
    # how discovery reads published versions (aws.versions): "auto" starts the
    # whole ListFunctions(ALL) listing and switches to reading the versions
    # aliases run once it sees hundreds of versions per function; "listed"
    # and "by-alias" fix one read
    versions_read: Literal["auto", "listed", "by-alias"] = "auto"
    # a role in each VPC owner's account ({account}) to read what a VPC shared
    # through AWS RAM hides from this account (its NAT gateways…); the command
    # line's --network-role-arn wins over it
    network_role_arn: str | None = None
    # refuse a plan or approval without a valid signature (``--signing-key``)
    # in apply, rollback and auto, as ``--require-signature`` does; left out
    # of dumps (and so of the digest) when off, so older policies keep theirs
    require_signature: bool = Field(default=False, exclude_if=lambda v: not v)
    # how ownership by infrastructure as code is recognised (docs/iac.md)
    iac: IacSettings = Field(default_factory=IacSettings)

    @field_validator("network_role_arn")
    @classmethod
    def _network_role(cls, value: str | None) -> str | None:
        problem = network_role_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def uses_tags(self) -> bool:
        return any(rule.match_tags for rule in self.rules)

    @property
    def reads_tags(self) -> bool:
        """Whether discovery reads function tags: for the rules, and always for
        ownership (the ``aws:cloudformation:*`` tags; ``iac.detect = false``
        turns that off)."""
        return self.uses_tags or self.iac.detect

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """The tag keys any rule matches on, sorted."""
        return tuple(sorted({key for rule in self.rules for key in rule.match_tags}))

    @property
    def read_tag_keys(self) -> tuple[str, ...]:
        """The tag keys discovery lists functions by (``aws.discover.tag_streams``):
        the rules' keys and, for ownership, one key every owned function
        carries (CloudFormation's stack name; a Terraform marker's first key,
        since all must match). A function's listing brings all its tags."""
        keys = set(self.tag_keys)
        if self.iac.detect:
            keys.add(CFN_STACK_NAME)
            if self.iac.terraform_tags:
                keys.add(min(self.iac.terraform_tags))
        return tuple(sorted(keys))

    def policy_tags(self, tags: dict[str, str]) -> dict[str, str]:
        """The part of ``tags`` the rules can see (what decides ``settings_for``)."""
        return {key: tags[key] for key in self.tag_keys if key in tags}

    @property
    def may_create_endpoints(self) -> bool:
        candidates = [self.defaults.allow_endpoint_creation] + [
            bool(rule.allow_endpoint_creation) for rule in self.rules
        ]
        return any(candidates)

    def settings_for(self, function: Function) -> Settings:
        overrides: dict[str, object] = {}
        for rule in self.rules:
            if rule.matches(function):
                for key in _OVERRIDABLE:
                    value = getattr(rule, key)
                    if value is not None:
                        overrides[key] = value
                if rule.exempt and rule.exempt_reason is None:
                    overrides["exempt_reason"] = (
                        f"rule '{rule.name or ','.join(rule.match_names) or 'tags'}'"
                    )
        if not overrides:
            return self.defaults
        # validate, not model_copy: the merged settings must obey the same rules
        return Settings.model_validate({**self.defaults.model_dump(), **overrides})

    def digest(self) -> str:
        # a key left unset stays out, so adding keys keeps the digests of older policies
        unset: dict[str, Any] = {
            name: True for name, value in _ADDED_KEYS.items() if getattr(self, name) == value
        }
        if self.iac == IacSettings():
            unset["iac"] = True
        if self.defaults.owned_functions is None:
            unset["defaults"] = {"owned_functions"}
        quiet = {
            i: {"owned_functions"} for i, r in enumerate(self.rules) if r.owned_functions is None
        }
        if quiet:
            unset["rules"] = quiet
        body = json.dumps(
            self.model_dump(mode="json", exclude=unset), sort_keys=True, separators=(",", ":")
        )
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def check_account(allowed_account_ids: Sequence[str], account_id: str) -> None:
    """The one check of the policy's ``allowed_account_ids`` (empty: any account).

    Discovery runs it right after ``GetCallerIdentity``, before anything else is read
    (``plan``, ``demo``, ``auto``); ``apply`` runs it on the plan file's account."""
    if allowed_account_ids and account_id not in allowed_account_ids:
        raise BadInput(
            f"Account {account_id} is not in the policy's allowed_account_ids ({', '.join(allowed_account_ids)}).",
            hint="Use credentials for an allowed account, or add it to the policy.",
        )


def default_policy() -> Policy:
    """The built-in policy: default settings, and functions tagged
    ``remediator:exempt=true`` are exempt (they need no egress)."""
    return Policy(
        rules=(
            Rule(
                name="exempt-tag",
                match_tags={EXEMPT_TAG: "true"},
                exempt=True,
                exempt_reason=f"tagged {EXEMPT_TAG}=true",
            ),
        )
    )


def _describe_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    what = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    more = len(err.errors()) - 1
    return f"{where}: {what}" + (
        f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    )


def parse_policy(text: str, source: str = "policy") -> Policy:
    try:
        return _parse_policy(text, source)
    except RecursionError:  # `a = [[[[…` deeper than the TOML parser can walk
        raise BadInput(
            f"{source} is not a valid policy: it is nested too deeply.",
            hint="See docs/policy.md for the keys and their values.",
        ) from None


def _parse_policy(text: str, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(
            f"{source} is not valid TOML: {exc}.",
            hint="Fix the syntax; see plans/policy.example.toml.",
        ) from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise BadInput(
            f"{source}: {_describe_error(exc)}.",
            hint="See docs/policy.md for the keys and their values.",
        ) from None


def load_policy(path: Path | None) -> Policy:
    """Read and validate a policy file; ``None`` gives the built-in defaults."""
    if path is None:
        return default_policy()
    text = read_text(
        path,
        "Policy file",
        "Pass an existing file to --policy, or leave it out for the built-in defaults.",
    )
    return parse_policy(text, str(path))
