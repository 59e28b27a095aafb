"""Discovery: read what exists in an account and return it as an ``Inventory``.

Discovery reads through one door (``aws.door.Aws``: ``check`` mode,
botocore's retries, every call counted); the EC2 side is ``aws.network``,
and every answer is parsed by ``domain.wire``. It makes a small, predictable
number of calls:

* ``sts:GetCallerIdentity`` once, for the account id and partition;
* per region, ``lambda:ListFunctions`` (``FunctionVersion=ALL``, paginated;
  in an account that keeps hundreds of versions per function, ``$LATEST``
  only, and the versions aliases run read by alias: ``aws.versions``),
  and, when tags are asked for, ``tag:GetResources`` pages (100 functions
  each; ``lambda:ListTags`` per function with ``tags_from="lambda"``);
* per region with VPC-attached functions, a fixed set of *batched* EC2
  describes scoped to the VPCs in use (filters of at most 200 values per
  call), so the number of EC2 calls does not grow with the number of
  functions. A region without VPC-attached functions gets no EC2 call.
  Besides subnets, VPCs, route tables, gateways, endpoints (Lambda and
  Gateway Load Balancer) and security groups, they read the VPCs' network
  ACLs and network interfaces, the instances routes point at (only when a
  route does), and the managed prefix lists routes or the functions' egress
  rules name (one ``GetManagedPrefixListEntries`` per distinct list);
* then, once the network is known, ``lambda:ListAliases`` only for the
  functions with a published version attached to a VPC that the caller's
  ``needs_details`` rule says need their aliases (``run`` passes
  ``diagnose.alias_reads.alias_reads_needed``: ``$LATEST`` or a published
  VpcConfig has no egress); without a rule, for every such function.

A function's VPC is derived from its subnets (``DescribeSubnets``), never
taken from Lambda's ``VpcConfig.VpcId``.

Retries and time budget
-----------------------
Every client uses botocore's ``adaptive`` retry mode with 10 attempts, which
absorbs Lambda's control-plane throttling (about 15 requests/s). Connection
failures are treated differently: an endpoint that cannot be reached
(``EndpointConnectionError``, ``ConnectTimeoutError``,
``ConnectionClosedError``) is tried at most ``CONNECT_ATTEMPTS`` (2) times,
each connection attempt bounded by ``CONNECT_TIMEOUT_SECONDS`` (5 s). A
refused connection therefore fails in well under a second and a black-holed
one in about 11 s, instead of the minute the full retry budget would take.
The cut-off is a ``needs-retry`` event handler registered ahead of botocore's
own retry handler on every client (``_stop_retrying_unreachable``).

Errors
------
Every AWS failure leaves this module as an ``errors.AwsAccessError`` (or
``errors.BadInput`` for an unknown profile or an unmatched function
pattern) with a one-line message that names the ``service:Operation`` (the
IAM action) and the region, and a hint saying what to do next.
"""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import structlog

from remediator.aws import session as sessions
from remediator.aws import versions
from remediator.aws.door import Aws
from remediator.aws.errors import UNREACHABLE, translate_error
from remediator.aws.network import FILTER_CHUNK, Network, filtered, read_network
from remediator.aws.owner_view import OwnerViews
from remediator.aws.pacing import LambdaPacer
from remediator.aws.session import (
    CONNECT_ATTEMPTS,
    CONNECT_TIMEOUT_SECONDS,
    MAX_ATTEMPTS,
    ClientFactory,
    client_config,
    make_session,
)
from remediator.domain import errors, wire
from remediator.domain.inventory import (
    Alias,
    Function,
    FunctionVersion,
    Inventory,
    RegionInventory,
    VpcConfig,
)
from remediator.domain.policy import check_account

if TYPE_CHECKING:
    from mypy_boto3_lambda.type_defs import (
        AliasConfigurationTypeDef,
        FunctionConfigurationTypeDef,
    )
    from mypy_boto3_resourcegroupstaggingapi.type_defs import ResourceTagMappingTypeDef

__all__ = [
    "CONNECT_ATTEMPTS",
    "CONNECT_TIMEOUT_SECONDS",
    "FILTER_CHUNK",
    "MAX_ATTEMPTS",
    "READ_PERMISSIONS",
    "CallCounter",
    "ClientFactory",
    "client_config",
    "discover",
    "make_session",
    "translate_error",
]

log = structlog.get_logger(__name__)

Progress = Callable[[str], None]

NeedsDetails = Callable[[str, RegionInventory], Callable[[Function], bool]]
"""``needs_details(account_id, network)`` -> ``test(fn)``: asked once per
region after its network is read (``network``: the region's EC2 side, no
functions yet), the test says whether ``fn`` (a function with a published
version attached to a VPC, its ``versions`` filled, no aliases) needs its
aliases read. Supplied by callers that may judge egress (aws/ cannot)."""

LATEST = "$LATEST"

READ_PERMISSIONS: tuple[str, ...] = (
    "sts:GetCallerIdentity",
    "lambda:ListFunctions",
    "lambda:GetFunctionConfiguration",
    "lambda:ListVersionsByFunction",
    "lambda:ListAliases",
    "lambda:ListTags",
    "tag:GetResources",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DescribeRouteTables",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeNatGateways",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeInstances",
    "ec2:DescribeManagedPrefixLists",
    "ec2:GetManagedPrefixListEntries",
)
"""The IAM actions discovery needs: ``remediate iam-policy`` builds the plan
policy from them, and tests/unit/test_iam.py fails when discovery sends an
operation that is not listed here."""


# --------------------------------------------------------------------------
# Call counting and the fail-fast on unreachable endpoints

# deeper event name run first, so the counter registers on the same name as
# the Stubber, in the "first" section, to see every call.
_BEFORE_CALL_EVENT = "before-call.*.*"


class CallCounter:
    """Counts AWS operations by ``service:Operation`` (e.g. ``ec2:DescribeSubnets``).

    It hooks botocore's ``before-call`` event, which fires once per logical
    API call (each page of a paginator is one call; retries of the same call
    are not counted again). Attaching the same counter twice to one client or
    session is a no-op.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._unique_id = f"remediator-call-counter-{id(self)}"

    @property
    def counts(self) -> dict[str, int]:
        """The counts so far, sorted by key."""
        return dict(sorted(self._counts.items()))

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def attach(self, client: Any) -> Any:
        """Count the calls made through ``client``; returns the client."""
        client.meta.events.register_first(
            _BEFORE_CALL_EVENT, self._count, unique_id=self._unique_id
        )
        return client

    def _count(self, model: Any = None, **_: Any) -> None:
        if model is None:
            return
        self._counts[f"{model.service_model.service_name}:{model.name}"] += 1


def _stop_retrying_unreachable(
    attempts: int = 0, caught_exception: BaseException | None = None, **_: Any
) -> None:
    """``needs-retry`` handler: give up early on an endpoint that cannot be reached.

    botocore asks every ``needs-retry`` handler and retries when one of them
    returns a delay; the only way to veto its own handler is to raise, which
    ends the call with the original connection error.
    """
    if isinstance(caught_exception, UNREACHABLE) and attempts >= CONNECT_ATTEMPTS:
        raise caught_exception


def _install_fail_fast(client: Any) -> None:
    service_event = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(
        f"needs-retry.{service_event}",
        _stop_retrying_unreachable,
        unique_id="remediator-stop-retrying-unreachable",
    )


def reader(
    session: Any,
    endpoint_url: str | None,
    client_factory: ClientFactory | None,
    counter: CallCounter,
) -> Aws:
    """Discovery's door: read-only (``check`` mode), botocore's retries, every
    client counted and failing fast on an unreachable endpoint, and each
    Lambda client (one per account and Region) kept within Lambda's
    control-plane quota (``aws.pacing``)."""
    if session is None and client_factory is None:
        raise ValueError("discover() needs a session or a client_factory")
    make = client_factory or sessions.client_factory(session, endpoint_url=endpoint_url)

    def counted(service: str, region: str) -> Any:
        client = make(service, region)
        _install_fail_fast(client)
        if service == "lambda":
            LambdaPacer().attach(client)
        return counter.attach(client)

    return Aws(counted, mode="check", retry="botocore")


# --------------------------------------------------------------------------
# Discovery


@dataclass(frozen=True)
class Scope:
    """What an event-driven run reads instead of every function of a region.

    ``functions``: these names only, each by ``GetFunctionConfiguration`` and
    ``ListVersionsByFunction`` (no ``ListFunctions``; tags by ``ListTags``);
    one that no longer exists is left out. ``vpcs``: the functions attached
    to these VPCs (a subnet of theirs, current or of a published version, is
    in one of them), found by ``ListFunctions`` and one ``DescribeSubnets``
    of those VPCs. The network read is then the usual one, of the kept
    functions' subnets only."""

    functions: tuple[str, ...] = ()
    vpcs: tuple[str, ...] = ()


def discover(
    session: Any,
    regions: Sequence[str],
    *,
    endpoint_url: str | None = None,
    function_patterns: Sequence[str] = (),
    need_tags: bool = False,
    tags_from: str = "tagging-api",
    tag_keys: Sequence[str] = (),
    versions_read: str = "auto",
    dns_for_all_vpcs: bool = False,
    progress: Progress | None = None,
    client_factory: ClientFactory | None = None,
    allowed_account_ids: Sequence[str] = (),
    owner_views: OwnerViews | None = None,
    needs_details: NeedsDetails | None = None,
    scope: Scope | None = None,
) -> Inventory:
    """Read the functions of ``regions`` and the network they use.

    ``allowed_account_ids`` (the policy's guard) is checked right after
    ``GetCallerIdentity``: any other account is refused before anything else
    is read from it.

    ``function_patterns`` narrows the functions to those whose name matches
    one of the fnmatch globs (or exact names, or unqualified ARNs); a pattern
    matching nothing in any region is ``errors.BadInput``. ``need_tags``
    reads the tags of VPC-attached functions, from the Resource Groups
    Tagging API (``GetResources``, 100 functions a page; the default; only
    the functions carrying one of ``tag_keys``, the keys the policy matches
    on, when that takes fewer pages: ``tag_streams``) or, with
    ``tags_from="lambda"``, from Lambda's ``ListTags`` (one call each). ``dns_for_all_vpcs`` reads the
    DNS attributes of every VPC in use, not only of those with a Lambda
    endpoint. ``client_factory`` replaces client creation (tests); the
    session is then unused and may be None. ``owner_views`` reads what a VPC
    shared with this account hides from it from the VPC's owner
    (``aws.owner_view``); ``None``: nothing is read from other accounts.
    ``versions_read`` is the policy's choice of how published versions are
    read (``aws.versions``). ``needs_details`` (``NeedsDetails``) narrows the
    ``ListAliases`` reads to
    the functions whose diagnosis needs them; ``None``: every function with a
    published version attached to a VPC is read. ``scope`` (``Scope``)
    narrows what is read at all; ``None``: every function of each region.
    """
    wanted_regions = list(dict.fromkeys(regions))
    if not wanted_regions:
        raise errors.BadInput(
            "No AWS region given.", hint="Pass --region or set AWS_REGION / AWS_DEFAULT_REGION."
        )
    say: Progress = progress or _quiet
    counter = CallCounter()
    aws = reader(session, endpoint_url, client_factory, counter)

    say("reading the caller identity")
    identity = aws.call("sts", wanted_regions[0], "get_caller_identity")
    account_id = str(identity["Account"])
    arn = str(identity.get("Arn", ""))
    partition = arn.split(":")[1] if arn.count(":") >= 2 and arn.split(":")[1] else "aws"
    log.info("caller_identified", account_id=account_id, partition=partition)
    check_account(allowed_account_ids, account_id)

    listed: dict[str, dict[str, _Listed]] = {}
    by_alias: set[str] = set()
    for region in wanted_regions:
        say(f"listing functions in {region}")
        if scope is None:
            entries, aliased = versions.list_functions(aws, region, versions_read)
            listed[region] = _group_listing(entries)
            if aliased:
                by_alias.add(region)
        else:
            listed[region] = _scoped_listing(aws, region, scope)
        log.info(
            "functions_listed",
            region=region,
            functions=len(listed[region]),
            versions=sum(len(f.versions) for f in listed[region].values()),
            versions_read="by-alias" if region in by_alias else "listed",
        )

    selected = _select(listed, function_patterns, wanted_regions)

    region_inventories = [
        _discover_region(
            aws,
            region,
            selected[region],
            need_tags=need_tags,
            tags_from="lambda" if scope is not None and not scope.vpcs else tags_from,
            tag_keys=tag_keys,
            listed_count=len(listed[region]),
            versions_by_alias=region in by_alias,
            dns_for_all_vpcs=dns_for_all_vpcs,
            say=say,
            owner=_OwnerReads(owner_views, account_id, endpoint_url, counter),
            needs_details=_rule_for(needs_details, account_id),
        )
        for region in wanted_regions
    ]
    inventory = Inventory(
        account_id=account_id,
        partition=partition,
        regions=tuple(sorted(region_inventories, key=lambda r: r.region)),
        api_calls=counter.counts,
    )
    log.info(
        "inventory_discovered",
        regions=len(inventory.regions),
        functions=sum(len(r.functions) for r in inventory.regions),
        api_calls=counter.total,
    )
    return inventory


def _quiet(_message: str) -> None:
    return None


@dataclass
class _Listed:
    """One function as ListFunctions(ALL) returned it: $LATEST and its versions
    (each entry reduced to the keys discovery reads, ``_LISTED_KEYS``)."""

    latest: FunctionConfigurationTypeDef
    versions: list[FunctionConfigurationTypeDef] = field(default_factory=list)
    _configs: list[VpcConfig] | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return str(self.latest["FunctionName"])

    @property
    def arn(self) -> str:
        return _unqualified_arn(str(self.latest.get("FunctionArn", "")))

    def vpc_configs(self) -> list[VpcConfig]:
        if self._configs is None:
            configs = [wire.vpc_config(e) for e in [self.latest, *self.versions]]
            self._configs = [c for c in configs if c is not None]
        return list(self._configs)

    def has_vpc_version(self) -> bool:
        return any(wire.vpc_config(v) is not None for v in self.versions)


def _unqualified_arn(arn: str) -> str:
    suffix = f":{LATEST}"
    return arn[: -len(suffix)] if arn.endswith(suffix) else arn


# What discovery reads from a ListFunctions entry; the rest of each entry
# (environment, layers, role, logging…) is dropped as the page is read.
_LISTED_KEYS = (
    "FunctionName",
    "FunctionArn",
    "Version",
    "VpcConfig",
    "CodeSha256",
    "RevisionId",
    "State",
    "LastUpdateStatus",
)


def _group_listing(entries: Iterable[Mapping[str, Any]]) -> dict[str, _Listed]:
    latest: dict[str, FunctionConfigurationTypeDef] = {}
    versions: dict[str, list[FunctionConfigurationTypeDef]] = defaultdict(list)
    for entry in entries:
        name = str(entry["FunctionName"])
        kept = cast(
            "FunctionConfigurationTypeDef", {k: entry[k] for k in _LISTED_KEYS if k in entry}
        )
        if entry.get("Version", LATEST) == LATEST:
            latest[name] = kept
        else:
            versions[name].append(kept)
    # A version without its $LATEST entry cannot happen in ListFunctions(ALL);
    # such an orphan is dropped rather than guessed into a function.
    return {
        name: _Listed(latest=latest[name], versions=versions.get(name, []))
        for name in sorted(latest)
    }


def _scoped_listing(aws: Aws, region: str, scope: Scope) -> dict[str, _Listed]:
    """The functions ``scope`` names or attaches to its VPCs, as ``_group_listing`` shapes them."""
    found: dict[str, _Listed] = {}
    if scope.vpcs:
        subnets = {
            str(s["SubnetId"])
            for s in filtered(aws, region, "describe_subnets", "Subnets", "vpc-id", scope.vpcs)
        }
        entries = aws.items("lambda", region, "list_functions", "Functions", FunctionVersion="ALL")
        for name, fn in _group_listing(entries).items():
            if any(set(c.subnet_ids) & subnets for c in fn.vpc_configs()):
                found[name] = fn
    for name in scope.functions:
        try:
            latest = aws.call("lambda", region, "get_function_configuration", FunctionName=name)
        except errors.AwsAccessError as exc:
            if "ResourceNotFoundException" not in str(exc):
                raise
            log.info("function_gone", region=region, function=name)
            continue
        versions = [
            v
            for v in aws.items(
                "lambda", region, "list_versions_by_function", "Versions", FunctionName=name
            )
            if v.get("Version", LATEST) != LATEST
        ]
        found[str(latest["FunctionName"])] = next(
            iter(_group_listing([latest, *versions]).values())
        )
    return dict(sorted(found.items()))


def _matches(pattern: str, listed: _Listed) -> bool:
    if pattern.startswith("arn:"):
        return fnmatch.fnmatchcase(listed.arn, pattern)
    return fnmatch.fnmatchcase(listed.name, pattern)


def _select(
    listed: Mapping[str, Mapping[str, _Listed]],
    patterns: Sequence[str],
    regions: Sequence[str],
) -> dict[str, list[_Listed]]:
    if not patterns:
        return {region: list(listed[region].values()) for region in regions}
    selected: dict[str, list[_Listed]] = {}
    matched: set[str] = set()
    for region in regions:
        selected[region] = []
        for fn in listed[region].values():
            hits = {p for p in patterns if _matches(p, fn)}
            if hits:
                matched |= hits
                selected[region].append(fn)
    unmatched = [p for p in dict.fromkeys(patterns) if p not in matched]
    if unmatched:
        where = ", ".join(regions)
        if len(unmatched) == 1:
            message = f"function '{unmatched[0]}' not found in {where}; check the name or region"
        else:
            names = ", ".join(f"'{p}'" for p in unmatched)
            message = f"functions {names} not found in {where}; check the names or regions"
        raise errors.BadInput(message)
    return selected


@dataclass(frozen=True)
class _OwnerReads:
    """What a region needs to read its shared VPCs' owners' views."""

    views: OwnerViews | None
    account_id: str = ""
    endpoint_url: str | None = None
    counter: CallCounter | None = None

    def extend(self, aws: Aws, region: str, network: Network) -> Network:
        if self.views is None or self.counter is None:
            return network
        counter, endpoint_url = self.counter, self.endpoint_url
        return self.views.extend(
            network,
            region=region,
            account_id=self.account_id,
            door=aws,
            door_for=lambda session: reader(session, endpoint_url, None, counter),
        )


_RegionRule = Callable[[RegionInventory], Callable[[Function], bool]]


def _rule_for(needs_details: NeedsDetails | None, account_id: str) -> _RegionRule | None:
    if needs_details is None:
        return None
    return lambda network: needs_details(account_id, network)


def _discover_region(
    aws: Aws,
    region: str,
    functions: Sequence[_Listed],
    *,
    need_tags: bool,
    dns_for_all_vpcs: bool,
    say: Progress,
    tags_from: str = "tagging-api",
    tag_keys: Sequence[str] = (),
    listed_count: int = 0,
    versions_by_alias: bool = False,
    owner: _OwnerReads | None = None,
    needs_details: _RegionRule | None = None,
) -> RegionInventory:
    read_aliases: dict[str, tuple[Alias, ...]] | None = None
    if versions_by_alias:
        functions, read_aliases = _read_by_alias(aws, region, functions, say)
    vpc_functions = [fn for fn in functions if fn.vpc_configs()]
    tags: dict[str, dict[str, str]] = {}
    if need_tags and vpc_functions:
        say(f"reading tags of {len(vpc_functions)} functions in {region}")
        if tags_from == "tagging-api":
            tagged = _tags_from_tagging_api(
                aws, region, tag_keys, max(listed_count, len(functions))
            )
            tags = {fn.name: tagged.get(fn.name, {}) for fn in vpc_functions}
        else:
            for fn in vpc_functions:
                response = aws.call("lambda", region, "list_tags", Resource=fn.arn)
                tags[fn.name] = {
                    str(k): str(v) for k, v in sorted(response.get("Tags", {}).items())
                }
        log.info(
            "function_tags_read", region=region, functions=len(vpc_functions), source=tags_from
        )

    configs = [c for fn in vpc_functions for c in fn.vpc_configs()]
    subnet_ids = {s for c in configs for s in c.subnet_ids}
    group_ids = {g for c in configs for g in c.security_group_ids}
    network = Network(RegionInventory(region=region))
    if subnet_ids:
        say(f"reading the network of {len(vpc_functions)} VPC functions in {region}")
        network = read_network(
            aws, region, subnet_ids, group_ids, dns_for_all_vpcs=dns_for_all_vpcs
        )
        if owner is not None:
            network = owner.extend(aws, region, network)

    if read_aliases is not None:
        built = [
            _function(fn, network, tags.get(fn.name, {}), _versions(fn), read_aliases[fn.name])
            for fn in functions
        ]
    else:
        built = _with_aliases(aws, region, functions, network, tags, needs_details, say)
    log.info(
        "region_discovered",
        region=region,
        functions=len(built),
        vpc_functions=len(vpc_functions),
        vpcs=len(network.ec2.vpcs),
        missing_subnets=len(network.ec2.missing_subnet_ids),
    )
    return RegionInventory(**{**dict(network.ec2), "functions": tuple(built)})


def _read_by_alias(
    aws: Aws, region: str, functions: Sequence[_Listed], say: Progress
) -> tuple[list[_Listed], dict[str, tuple[Alias, ...]]]:
    """``functions`` (``$LATEST`` entries only) with the versions their aliases
    run, and their aliases: ``versions.by_alias`` for each (see
    ``aws.versions``). Read before the network, so that the subnets of those
    versions are read with the others."""
    say(f"reading aliases and aliased versions of {len(functions)} functions in {region}")
    filled: list[_Listed] = []
    aliases: dict[str, tuple[Alias, ...]] = {}
    for fn in functions:
        raw, entries = versions.by_alias(aws, region, fn.name)
        kept = [
            cast("FunctionConfigurationTypeDef", {k: e[k] for k in _LISTED_KEYS if k in e})
            for e in entries
        ]
        filled.append(_Listed(latest=fn.latest, versions=kept))
        aliases[fn.name] = tuple(
            sorted(
                (wire.alias(cast("AliasConfigurationTypeDef", a)) for a in raw),
                key=lambda a: a.name,
            )
        )
    log.info("function_details_read", region=region, functions=len(functions), by_alias=True)
    return filled, aliases


def _function(
    fn: _Listed,
    network: Network,
    tags: dict[str, str],
    versions: tuple[FunctionVersion, ...] = (),
    aliases: tuple[Alias, ...] | None = None,
) -> Function:
    """``fn`` as the inventory holds it; ``aliases`` None: not read (no
    versions are kept either: ``_with_aliases`` adds both to the functions
    whose aliases it reads)."""
    latest_config = wire.vpc_config(fn.latest)
    return Function(
        name=fn.name,
        arn=fn.arn,
        vpc_config=latest_config,
        vpc_id=network.vpc_of(latest_config),
        code_sha256=str(fn.latest.get("CodeSha256", "")),
        revision_id=fn.latest.get("RevisionId"),
        state=fn.latest.get("State"),
        last_update_status=fn.latest.get("LastUpdateStatus"),
        tags=tags,
        versions=versions,
        aliases=aliases or (),
        details_loaded=aliases is not None,
    )


def _with_aliases(
    aws: Aws,
    region: str,
    listed: Sequence[_Listed],
    network: Network,
    tags: Mapping[str, dict[str, str]],
    needs_details: _RegionRule | None,
    say: Progress,
) -> list[Function]:
    """The functions of ``listed``, with versions and aliases for those that
    need them: a published version attached to a VPC, and ``needs_details``
    (asked with the versions filled, after the network was read) says so;
    without a rule, all of those. Only they get a ``ListAliases`` and
    ``details_loaded=True``; the others keep no versions and no aliases."""
    built = [_function(fn, network, tags.get(fn.name, {})) for fn in listed]
    candidates = [
        (i, _function(item, network, tags.get(item.name, {}), _versions(item)))
        for i, item in enumerate(listed)
        if item.has_vpc_version()
    ]
    if not candidates:
        return built
    needed = needs_details(network.ec2) if needs_details is not None else None
    chosen = [i for i, fn in candidates if needed is None or needed(fn)]
    if chosen:
        say(f"reading aliases of {len(chosen)} functions in {region}")
    for i in chosen:
        item = listed[i]
        raw = aws.items("lambda", region, "list_aliases", "Aliases", FunctionName=item.name)
        aliases = tuple(sorted((wire.alias(a) for a in raw), key=lambda a: a.name))
        built[i] = _function(item, network, tags.get(item.name, {}), _versions(item), aliases)
    log.info(
        "function_details_read",
        region=region,
        functions=len(chosen),
        skipped=len(candidates) - len(chosen),
    )
    return built


# GetResources' largest page.
_TAG_PAGE = 100


def tag_streams(keys: Sequence[str], functions: int) -> list[tuple[str, ...]]:
    """The ``GetResources`` listings that read the tags the policy matches on
    for a region of ``functions`` functions: each item is the tag keys of one
    listing's filter (``()``: no filter, every tagged function).

    One listing per key (a key-only ``TagFilter`` returns the functions that
    carry that key, whatever its value; several filters in one call would
    mean all of them) costs at least one page per key but reads only the
    tagged functions; the unfiltered listing costs a page per 100 tagged
    functions. The filtered form is chosen when it has fewer listings than
    the unfiltered one can have pages, so a region of a few functions keeps
    its single unfiltered page."""
    wanted = sorted(set(keys))
    if wanted and len(wanted) < -(-functions // _TAG_PAGE):
        return [(key,) for key in wanted]
    return [()]


def _tags_from_tagging_api(
    aws: Aws, region: str, keys: Sequence[str] = (), functions: int = 0
) -> dict[str, dict[str, str]]:
    """The tags of the region's functions, by name, from ``tag:GetResources``:
    100 functions a call instead of one ``ListTags`` each, and only the
    functions that carry one of ``keys`` (the keys the policy matches on)
    when that takes fewer calls (``tag_streams``). A function no listing
    returns has none of ``keys``. Only unqualified function ARNs count (tags
    belong to the function, not to a version or alias)."""
    found: dict[str, dict[str, str]] = {}
    for stream in tag_streams(keys, functions):
        extra: dict[str, Any] = {"TagFilters": [{"Key": k} for k in stream]} if stream else {}
        mappings: Iterator[ResourceTagMappingTypeDef] = aws.items(
            "resourcegroupstaggingapi",
            region,
            "get_resources",
            "ResourceTagMappingList",
            ResourceTypeFilters=["lambda:function"],
            ResourcesPerPage=_TAG_PAGE,
            **extra,
        )
        _collect_tags(mappings, found)
    return found


def _collect_tags(
    mappings: Iterable[ResourceTagMappingTypeDef], found: dict[str, dict[str, str]]
) -> None:
    for mapping in mappings:
        parts = str(mapping.get("ResourceARN", "")).split(":")
        if len(parts) != 7 or parts[5] != "function":
            continue
        found[parts[6]] = {
            str(t["Key"]): str(t.get("Value", ""))
            for t in sorted(mapping.get("Tags") or [], key=lambda t: str(t["Key"]))
        }


def _versions(fn: _Listed) -> tuple[FunctionVersion, ...]:
    versions = [
        FunctionVersion(
            version=str(v["Version"]),
            code_sha256=str(v.get("CodeSha256", "")),
            vpc_config=wire.vpc_config(v),
            revision_id=v.get("RevisionId"),
        )
        for v in fn.versions
    ]
    return tuple(sorted(versions, key=lambda v: wire.version_key(v.version)))
