"""Findings and function summaries: the verdicts of each function's
``$LATEST`` and alias versions turned into findings with stable codes
(docs/findings.md), ids and evidence chains. Pure; all output sorted."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from remediator.diagnose.egress import RegionIndex
from remediator.diagnose.filters import judged_subnets
from remediator.diagnose.verdict import ConfigVerdict, judge_config
from remediator.domain.base import construct, gc_paused, replaced
from remediator.domain.findings import (
    ALIAS_BROKEN,
    AZ_BELOW_MIN,
    CODES,
    EGRESS_UNKNOWN,
    ENDPOINT_PRIVATE_DNS_OFF,
    ENDPOINT_VPC_DNS_OFF,
    ISOLATED_MIXED,
    ISOLATED_NO_ENDPOINT,
    LATEST_BROKEN_ALIAS_OK,
    NAT_BROKEN,
    NOTE_CODES,
    PUBLIC_ALL,
    PUBLIC_MIXED,
    SUBNET_MISSING,
)
from remediator.domain.inventory import Function, Inventory
from remediator.domain.owner import Owner, owner_of
from remediator.domain.plan import Finding, FunctionStatus, FunctionSummary, SubnetEgress
from remediator.domain.policy import Policy, Settings

_M = TypeVar("_M", bound=BaseModel)


def _built(model: type[_M], **values: Any) -> _M:
    """``model(**values)`` for values this module assembles from validated
    inventory and verdict data (exact types: str, tuples of models, floats),
    without revalidating them, and with one shared ``model_fields_set`` per
    combination of fields (``domain.base.construct``): a frozen model never
    changes its own, and 10,000 function summaries would otherwise carry
    10,000 identical sets (7 MB)."""
    return construct(model, values)


def routes_phrase(subnets: Iterable[SubnetEgress]) -> str:
    """The routes that decide the subnets' class, destinations grouped by
    target (``0.0.0.0/1, 128.0.0.0/1 -> igw-1``; several targets joined by
    ``; ``): of each subnet's winning routes (``SubnetEgress.route``), those
    to the target its verdict names."""
    by_target: dict[str, set[str]] = {}
    for s in subnets:
        for part in (s.route or "").split(", "):
            dest, sep, target = part.partition(" -> ")
            if sep and target == s.target:
                by_target.setdefault(target, set()).add(dest)
    return "; ".join(f"{', '.join(sorted(d))} -> {t}" for t, d in sorted(by_target.items()))


def _not_default(subnets: Iterable[SubnetEgress]) -> str | None:
    """``routes_phrase`` when a route other than ``0.0.0.0/0`` decides the
    class of one of the subnets; None when ``0.0.0.0/0`` alone does (the
    texts that have always said so keep their words)."""
    phrase = routes_phrase(subnets)
    if not phrase or all(p.startswith("0.0.0.0/0 -> ") for p in phrase.split("; ")):
        return None
    return phrase


def _how(subnets: Iterable[SubnetEgress], default: str, winning: str) -> str:
    """``default`` when ``0.0.0.0/0`` decides the subnets' class, else
    ``winning`` naming the routes that do."""
    routes = _not_default(subnets)
    return default if routes is None else f"{winning} ({routes})"


def stable_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]


def _spec(
    code: str,
    detail: str,
    subnets: Iterable[SubnetEgress],
    total: int,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """What a finding of ``code`` says, whatever function it is about: every
    field but the function's and the id."""
    evidence = tuple(sorted(subnets, key=lambda s: s.subnet_id))
    severity, title = CODES[code]
    return {
        "code": code,
        "severity": severity,
        "title": title,
        "detail": detail,
        "subnet_ids": tuple(s.subnet_id for s in evidence),
        "affected_share": round(len(evidence) / total, 3) if total else 0.0,
        "evidence": evidence,
        "notes": notes,
        "status": "info" if severity == "info" else "open",
    }


def _of_spec(
    region: str, fn: Function, qualifier: str, spec: dict[str, Any], key: str = ""
) -> Finding:
    """The finding ``spec`` describes, on ``fn``'s ``qualifier``. ``key`` tells
    apart findings of one code on one qualifier (an alias name, a weighted
    version); ids stay stable for a given world."""
    parts = (region, fn.arn, qualifier, spec["code"]) + ((key,) if key else ())
    return _built(
        Finding,
        id=stable_id("f-", *parts),
        region=region,
        function=fn.name,
        function_arn=fn.arn,
        qualifier=qualifier,
        **spec,
    )


def _finding(
    region: str,
    fn: Function,
    code: str,
    detail: str,
    subnets: Iterable[SubnetEgress],
    total: int,
    qualifier: str = "$LATEST",
    notes: tuple[str, ...] = (),
    key: str = "",
) -> Finding:
    return _of_spec(region, fn, qualifier, _spec(code, detail, subnets, total, notes), key)


def _config_findings(
    region: str,
    fn: Function,
    verdict: ConfigVerdict,
    settings: Settings,
    qualifier: str,
) -> list[Finding]:
    """The findings of ``verdict`` on ``fn``; what they say depends on the
    verdict alone, so it is worked out once per verdict (``ConfigVerdict.memo``,
    which lives as long as the region index that holds the verdict)."""
    memo_key = ("findings", qualifier, settings.min_azs)
    specs: list[dict[str, Any]] | None = verdict.memo.get(memo_key)
    if specs is None:
        specs = verdict.memo[memo_key] = _config_specs(verdict, settings.min_azs, qualifier)
    return [_of_spec(region, fn, qualifier, spec) for spec in specs]


def _config_specs(verdict: ConfigVerdict, min_azs: int, qualifier: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    total = len(verdict.subnets)
    ep = verdict.endpoint
    ep_note: tuple[str, ...] = ()
    if ep.usable and ep.endpoint is not None:
        ep_note = (
            f"Lambda API calls reach {ep.endpoint.vpc_endpoint_id} (private DNS); other egress still hangs.",
        )
    public = verdict.of("public")
    if public:
        code = PUBLIC_ALL if len(public) == total else PUBLIC_MIXED
        share = f"{len(public)} of {total}"
        out.append(
            _spec(
                code,
                f"{share} subnets {_how(public, 'route 0.0.0.0/0', 'route public destinations')} to an internet gateway; an execution environment placed there cannot reach outside the VPC.",
                public,
                total,
                ep_note,
            )
        )
    broken = verdict.of("nat-broken")
    if broken:
        out.append(
            _spec(
                NAT_BROKEN,
                f"{len(broken)} of {total} subnets have {_how(broken, 'a default route whose NAT path', 'a winning route whose path')} does not reach the internet.",
                broken,
                total,
            )
        )
    isolated = verdict.of("isolated")
    if isolated and not ep.usable:
        out.append(
            _spec(
                ISOLATED_NO_ENDPOINT,
                f"{len(isolated)} of {total} subnets have no default route and the VPC has no usable Lambda endpoint: Lambda API calls hang there.",
                isolated,
                total,
                tuple(f"{code}: {detail}" for code, detail in ep.problems),
            )
        )
    elif isolated and verdict.of("nat"):
        out.append(
            _spec(
                ISOLATED_MIXED,
                f"{len(isolated)} of {total} subnets reach only the Lambda endpoint; internet calls from them hang while the others work.",
                isolated,
                total,
            )
        )
    missing = verdict.of("unknown")
    if missing:
        out.append(
            _spec(
                SUBNET_MISSING,
                f"{len(missing)} subnets of the VpcConfig were not found (deleted, or another account's).",
                missing,
                total,
            )
        )
    other = verdict.of("other")
    if other:
        out.append(
            _spec(
                EGRESS_UNKNOWN,
                f"{len(other)} of {total} subnets send {_how(other, '0.0.0.0/0', 'public destinations')} where remediator cannot judge the egress from this account (a transit gateway or VGW, a prefix list it could not read, or a NAT in a VPC another account owns); each subnet's evidence says which.",
                other,
                total,
            )
        )
    # An endpoint matters when the function depends on it: it is the VPC's
    # resolver answer for the Lambda API (private DNS active) or the function
    # has isolated subnets that can reach nothing else.
    if ep.endpoint is not None and ep.problems and (ep.dns_active or isolated):
        for code, detail in ep.problems:
            if code in (ENDPOINT_PRIVATE_DNS_OFF, ENDPOINT_VPC_DNS_OFF) and ep.dns_active:
                continue
            out.append(_spec(code, detail, isolated or verdict.subnets, total))
    out += _filter_specs(verdict)
    if qualifier == "$LATEST" and 0 < len(verdict.azs) < min_azs:
        out.append(
            _spec(
                AZ_BELOW_MIN,
                f"subnets span {len(verdict.azs)} Availability Zone(s) ({', '.join(verdict.azs)}); the policy asks for {min_azs}.",
                verdict.subnets,
                total,
            )
        )
    return out


def _filter_specs(verdict: ConfigVerdict) -> list[dict[str, Any]]:
    """One finding per filter code (``filters``): high when every judged
    path of the config is blocked, medium when only some subnets are."""
    out: list[dict[str, Any]] = []
    total = len(verdict.subnets)
    for p in verdict.filters:
        blocked = set(p.subnet_ids)
        evidence = [s for s in verdict.subnets if s.subnet_id in blocked]
        spec = _spec(p.code, p.detail, evidence, total)
        if spec["severity"] == "high" and len(blocked) < len(
            judged_subnets(verdict.subnets, verdict.endpoint)
        ):
            spec = {**spec, "severity": "medium"}  # its status stays "open"
        out.append(spec)
    return out


def _owner_view_notes(index: RegionIndex, finding: Finding) -> Finding:
    """An egress-unknown finding in a shared VPC whose owner's view could not
    be read says so, with why (the evidence keeps the per-subnet detail)."""
    if finding.code != EGRESS_UNKNOWN:
        return finding
    views = {e.vpc_id: index.owner_views.get(e.vpc_id or "") for e in finding.evidence}
    notes = sorted(
        f"the VPC owner's view of {vpc} (account {v.account_id}, role {v.role_arn}) could not "
        f"be read: {v.error}; its egress stays not verifiable from this account"
        for vpc, v in views.items()
        if v is not None and v.error
    )
    if not notes:
        return finding
    return finding.model_copy(update={"notes": (*finding.notes, *notes)})


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]
    functions: tuple[FunctionSummary, ...]


def _alias_findings(
    region: str, index: RegionIndex, fn: Function, latest: ConfigVerdict
) -> list[Finding]:
    out: list[Finding] = []
    versions = {v.version: v for v in fn.versions}
    for alias in fn.aliases:
        broken_versions: list[tuple[str, ConfigVerdict]] = []
        for version in (alias.function_version, *alias.additional_versions):
            if version == "$LATEST" or version not in versions:
                continue
            config = versions[version].vpc_config
            if config is None:
                continue
            verdict = judge_config(index, config)
            if verdict.broken:
                broken_versions.append((version, verdict))
        for version, verdict in broken_versions:
            bad = verdict.of("public", "nat-broken", "isolated")
            state = "is fine" if not latest.broken else "is broken too"
            out.append(
                _finding(
                    region,
                    fn,
                    ALIAS_BROKEN,
                    f"alias '{alias.name}' runs version {version}, published with subnets that have no egress; $LATEST {state}. Fixing $LATEST does not fix the alias.",
                    bad,
                    len(verdict.subnets),
                    alias.name,
                    key=version if len(broken_versions) > 1 else "",
                )
            )
        if latest.broken and not broken_versions and alias.function_version != "$LATEST":
            out.append(
                _finding(
                    region,
                    fn,
                    LATEST_BROKEN_ALIAS_OK,
                    f"alias '{alias.name}' runs version {alias.function_version}, which is fine; publishing $LATEST before it is fixed would ship the broken config.",
                    (),
                    len(latest.subnets),
                    "$LATEST",
                    key=alias.name,
                )
            )
    return out


def diagnose(
    inventory: Inventory, policy: Policy, *, indexes: Sequence[RegionIndex] | None = None
) -> Diagnosis:
    """Classify every function in the inventory. Pure and deterministic.

    ``indexes`` (one per ``inventory.regions``, in order) lets a caller that
    goes on working on the same inventory (the planner) share the lookups
    and caches; by default each call builds its own."""
    if indexes is None:
        indexes = [RegionIndex(r, inventory.account_id) for r in inventory.regions]
    if len(indexes) != len(inventory.regions) or any(
        i.inv is not r for i, r in zip(indexes, inventory.regions, strict=True)
    ):
        raise ValueError("indexes must be built from inventory.regions, in order")
    with gc_paused():
        return _diagnose(inventory, policy, indexes)


def _diagnose(inventory: Inventory, policy: Policy, indexes: Sequence[RegionIndex]) -> Diagnosis:
    findings: list[Finding] = []
    summaries: list[FunctionSummary] = []
    for region_inv, index in zip(inventory.regions, indexes, strict=True):
        region = region_inv.region
        for fn in region_inv.functions:
            settings = policy.settings_for(fn)
            if fn.vpc_config is None:
                summaries.append(_summary(region, fn, "not-in-vpc"))
                continue
            latest = judge_config(index, fn.vpc_config)
            if settings.exempt:
                reason = settings.exempt_reason or "exempt by policy"
                summaries.append(
                    _summary(
                        region,
                        fn,
                        "exempt",
                        latest,
                        exempt_reason=reason,
                        **_seen_tags(policy, fn),
                    )
                )
                continue
            fn_findings = _config_findings(region, fn, latest, settings, "$LATEST")
            fn_findings += _alias_findings(region, index, fn, latest)
            if index.inv.owner_views:
                fn_findings = [_owner_view_notes(index, f) for f in fn_findings]
            owner = owner_of(fn.tags, policy.iac)
            if owner is not None:
                fn_findings = [_owned(f, owner) for f in fn_findings]
            fn_findings.sort(key=lambda f: (f.qualifier, f.code))
            findings.extend(fn_findings)
            actionable = [f for f in fn_findings if f.severity != "info"]
            status: FunctionStatus
            if actionable:
                status = "affected"
            elif any(f.code not in NOTE_CODES for f in fn_findings):
                status = "egress-unknown"
            else:
                status = "healthy"
            ids = tuple(f.id for f in fn_findings)
            summaries.append(
                _summary(
                    region,
                    fn,
                    status,
                    latest,
                    finding_ids=ids,
                    **_seen_tags(policy, fn),
                    **({"owner": owner} if owner is not None else {}),
                )
            )
    findings.sort(key=lambda f: (f.region, f.function, f.qualifier, f.code))
    summaries.sort(key=lambda s: (s.region, s.name))
    return Diagnosis(tuple(findings), tuple(summaries))


def _owned(f: Finding, owner: Owner) -> Finding:
    """``f`` of a function ``owner`` deployed: it names the owner, and warns
    (for what a change would fix) that a direct change drifts."""
    notes = f.notes if f.severity == "info" else (*f.notes, owner.drift_warning() + ".")
    return replaced(f, {"owner": owner, "notes": notes})


_NO_TAGS: dict[str, str] = {}  # shared by every summary without them (frozen: never mutated)


def _seen_tags(policy: Policy, fn: Function) -> dict[str, Any]:
    """``policy_tags`` for a summary: the function's tags the rules match on.
    Always given (an empty one shared), so ``model_construct`` does not call
    the field's default factory 10,000 times."""
    seen = policy.policy_tags(fn.tags) if fn.tags else None
    return {"policy_tags": seen or _NO_TAGS}


def _summary(
    region: str,
    fn: Function,
    status: FunctionStatus,
    latest: ConfigVerdict | None = None,
    **extra: Any,
) -> FunctionSummary:
    """``latest``: the verdict on $LATEST, when the function is in a VPC."""
    if latest is None:
        return _built(
            FunctionSummary,
            region=region,
            name=fn.name,
            arn=fn.arn,
            status=status,
            policy_tags=_NO_TAGS,
        )
    return _built(
        FunctionSummary,
        region=region,
        name=fn.name,
        arn=fn.arn,
        status=status,
        vpc_id=latest.vpc_id,
        subnets=latest.subnets,
        availability_zones=latest.azs,
        **extra,
    )
