"""Discovery: read what exists in an account and return it as an ``Inventory``.

This is the only module that reads from AWS. It makes a small, predictable
number of calls:

* ``sts:GetCallerIdentity`` once, for the account id and partition;
* per region, ``lambda:ListFunctions`` (``FunctionVersion=ALL``, paginated),
  then ``lambda:ListAliases`` only for functions with a published version
  attached to a VPC, and ``lambda:ListTags`` only when tags are asked for;
* per region with VPC-attached functions, a fixed set of *batched* EC2
  describes scoped to the VPCs in use (filters of at most 200 values per
  call), so the number of EC2 calls does not grow with the number of
  functions. A region without VPC-attached functions gets no EC2 call.

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
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    ParamValidationError,
    ProfileNotFound,
)

from remediator import __version__
from remediator.domain import errors
from remediator.domain.inventory import (
    Alias,
    Function,
    FunctionVersion,
    InternetGateway,
    Inventory,
    NatGateway,
    RegionInventory,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Vpc,
    VpcConfig,
    VpcEndpoint,
)
from remediator.domain.policy import check_account

log = structlog.get_logger(__name__)

ClientFactory = Callable[[str, str], Any]
"""``(service, region) -> boto3 client``; lets tests inject stubbed clients."""

Progress = Callable[[str], None]

_T = TypeVar("_T")

MAX_ATTEMPTS = 10
CONNECT_ATTEMPTS = 2
CONNECT_TIMEOUT_SECONDS = 5
FILTER_CHUNK = 200
"""Most values one EC2 ``Filters`` entry accepts; longer lists are split."""

LATEST = "$LATEST"

READ_PERMISSIONS: tuple[str, ...] = (
    "sts:GetCallerIdentity",
    "lambda:ListFunctions",
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
)
"""The IAM actions discovery needs: ``remediate iam-policy`` builds the plan
policy from them, and tests/unit/test_iam.py fails when discovery sends an
operation that is not listed here."""

_ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
        "SignatureDoesNotMatch",
    }
)
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)

NO_CREDENTIALS_HINT = (
    "Configure credentials (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY), or run `remediate demo` to try remediator on a sandbox."
)

# Route targets in the order the brief fixes: the first one present wins.
_ROUTE_TARGET_KEYS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
)


# --------------------------------------------------------------------------
# Sessions, clients and call counting


def make_session(profile: str | None = None) -> boto3.session.Session:
    """A boto3 session on the standard credential chain (optionally a named profile).

    Raises ``errors.BadInput`` when the profile does not exist.
    """
    try:
        return boto3.session.Session(profile_name=profile)
    except ProfileNotFound as exc:
        raise _profile_not_found(exc, profile) from exc


def _profile_not_found(exc: ProfileNotFound, profile: str | None) -> errors.BadInput:
    name = profile or str(exc.kwargs.get("profile", ""))
    return errors.BadInput(
        f"AWS profile '{name}' not found.",
        hint="List the configured profiles with `aws configure list-profiles`.",
    )


def client_config() -> Config:
    """The botocore config every remediator client uses (see the module docstring)."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        user_agent_extra=f"remediator/{__version__}",
    )


# The first handler of ``before-call`` that returns a response ends the event
# (a botocore Stubber answers there, on ``before-call.*.*``). Handlers on a
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

    def attach_session(self, session: boto3.session.Session) -> None:
        """Count the calls of every client created from ``session`` from now on."""
        session.events.register_first(_BEFORE_CALL_EVENT, self._count, unique_id=self._unique_id)

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
    if isinstance(caught_exception, _UNREACHABLE) and attempts >= CONNECT_ATTEMPTS:
        raise caught_exception


def _install_fail_fast(client: Any) -> None:
    service_event = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(
        f"needs-retry.{service_event}",
        _stop_retrying_unreachable,
        unique_id="remediator-stop-retrying-unreachable",
    )


# --------------------------------------------------------------------------
# Error translation


def _one_line(text: str) -> str:
    return " ".join(text.split())


# botocore's service name -> the IAM action prefix, where they differ
_IAM_SERVICE = {"resourcegroupstaggingapi": "tag"}


def translate_error(
    exc: Exception, *, service: str, operation: str, region: str, endpoint_url: str | None
) -> errors.RemediatorError | None:
    """The remediator error for an AWS/botocore exception, or None if it is not one.

    ``operation`` is the API name (``DescribeRouteTables``); together with
    ``service`` it is the IAM action the caller needs.
    """
    action = f"{_IAM_SERVICE.get(service, service)}:{operation}"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = _one_line(str(err.get("Message", "")))
        if code in _ACCESS_DENIED_CODES:
            return errors.AwsAccessError(
                f"Access denied: missing IAM permission {action} in {region} ({code}).",
                hint="Grant that permission to the identity remediator runs as, then run again.",
            )
        if code in _CREDENTIAL_CODES:
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
    if isinstance(exc, _UNREACHABLE):
        url = str(exc.kwargs.get("endpoint_url") or endpoint_url or "the AWS endpoint")
        return errors.AwsAccessError(
            f"The AWS endpoint {url} cannot be reached (calling {action} in {region}).",
            hint="Check --endpoint-url / AWS_ENDPOINT_URL, the region name, "
            "and the network (proxy, VPN, firewall).",
        )
    if isinstance(exc, ProfileNotFound):
        return _profile_not_found(exc, None)
    if isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError):
        return errors.AwsAccessError(
            f"AWS call {action} in {region} failed: {_one_line(str(exc))}",
            hint="Check the credentials, the region and the network, then run again.",
        )
    return None


class _Aws:
    """The clients of one discovery run: cached per (service, region), counted,
    and with every call's failure translated into a remediator error."""

    def __init__(
        self,
        session: boto3.session.Session | None,
        endpoint_url: str | None,
        client_factory: ClientFactory | None,
        counter: CallCounter,
    ) -> None:
        if session is None and client_factory is None:
            raise ValueError("discover() needs a session or a client_factory")
        self._session = session
        self._endpoint_url = endpoint_url
        self._factory = client_factory
        self._counter = counter
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            if self._factory is not None:
                client = self._factory(service, region)
            else:
                assert self._session is not None
                try:
                    client = self._session.client(
                        service,  # type: ignore[call-overload]
                        region_name=region,
                        endpoint_url=self._endpoint_url,
                        config=client_config(),
                    )
                except InvalidRegionError as exc:
                    raise errors.BadInput(
                        f"'{region}' is not a valid AWS region name.",
                        hint="Pass a region such as us-east-1 (see `aws ec2 describe-regions`).",
                    ) from exc
                except ProfileNotFound as exc:
                    raise _profile_not_found(exc, None) from exc
                except BotoCoreError as exc:
                    raise errors.AwsAccessError(
                        f"Cannot create the AWS {service} client for {region}: "
                        f"{_one_line(str(exc))}",
                        hint="Check the AWS configuration (profile, region, endpoint URL).",
                    ) from exc
            _install_fail_fast(client)
            self._clients[key] = self._counter.attach(client)
        return self._clients[key]

    @contextmanager
    def _translated(self, client: Any, method: str, region: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            service = client.meta.service_model.service_name
            operation = client.meta.method_to_api_mapping.get(method, method)
            translated = translate_error(
                exc,
                service=service,
                operation=operation,
                region=region,
                endpoint_url=client.meta.endpoint_url,
            )
            if translated is None:
                raise
            log.warning(
                "aws_call_failed",
                action=f"{service}:{operation}",
                region=region,
                error=type(exc).__name__,
            )
            raise translated from exc

    def call(self, service: str, region: str, method: str, **params: Any) -> dict[str, Any]:
        client = self.client(service, region)
        with self._translated(client, method, region):
            response: dict[str, Any] = getattr(client, method)(**params)
        return response

    def items(
        self, service: str, region: str, method: str, key: str, **params: Any
    ) -> list[dict[str, Any]]:
        """All ``key`` items of an operation, following pagination when botocore can."""
        client = self.client(service, region)
        found: list[dict[str, Any]] = []
        with self._translated(client, method, region):
            if client.can_paginate(method):
                for page in client.get_paginator(method).paginate(**params):
                    found.extend(page.get(key, []))
            else:
                found.extend(getattr(client, method)(**params).get(key, []))
        return found

    def iter_items(
        self, service: str, region: str, method: str, key: str, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """``items``, one page at a time: a page can be dropped as soon as its
        items are consumed (ListFunctions pages are most of discovery's memory)."""
        client = self.client(service, region)
        with self._translated(client, method, region):
            for page in client.get_paginator(method).paginate(**params):
                yield from page.get(key, [])

    def filtered_items(
        self,
        region: str,
        method: str,
        key: str,
        filter_name: str,
        values: Iterable[str],
        *,
        filter_param: str = "Filters",
    ) -> list[dict[str, Any]]:
        """EC2 items matching ``filter_name`` in ``values``, in chunks of FILTER_CHUNK."""
        ordered = sorted(set(values))
        found: list[dict[str, Any]] = []
        for start in range(0, len(ordered), FILTER_CHUNK):
            chunk = ordered[start : start + FILTER_CHUNK]
            params = {filter_param: [{"Name": filter_name, "Values": chunk}]}
            found.extend(self.items("ec2", region, method, key, **params))
        return found


# --------------------------------------------------------------------------
# Discovery


def discover(
    session: boto3.session.Session | None,
    regions: Sequence[str],
    *,
    endpoint_url: str | None = None,
    function_patterns: Sequence[str] = (),
    need_tags: bool = False,
    tags_from: str = "lambda",
    dns_for_all_vpcs: bool = False,
    progress: Progress | None = None,
    client_factory: ClientFactory | None = None,
    allowed_account_ids: Sequence[str] = (),
) -> Inventory:
    """Read the functions of ``regions`` and the network they use.

    ``allowed_account_ids`` (the policy's guard) is checked right after
    ``GetCallerIdentity``: any other account is refused before anything else
    is read from it.

    ``function_patterns`` narrows the functions to those whose name matches
    one of the fnmatch globs (or exact names, or unqualified ARNs); a pattern
    matching nothing in any region is ``errors.BadInput``. ``need_tags``
    reads the tags of VPC-attached functions, from Lambda's ``ListTags`` (one
    call each) or, with ``tags_from="tagging-api"``, from the Resource Groups
    Tagging API (``GetResources``, 100 functions a page). ``dns_for_all_vpcs`` reads the
    DNS attributes of every VPC in use, not only of those with a Lambda
    endpoint. ``client_factory`` replaces client creation (tests); the
    session is then unused and may be None.
    """
    wanted_regions = list(dict.fromkeys(regions))
    if not wanted_regions:
        raise errors.BadInput(
            "No AWS region given.", hint="Pass --region or set AWS_REGION / AWS_DEFAULT_REGION."
        )
    say: Progress = progress or _quiet
    counter = CallCounter()
    aws = _Aws(session, endpoint_url, client_factory, counter)

    say("reading the caller identity")
    identity = aws.call("sts", wanted_regions[0], "get_caller_identity")
    account_id = str(identity["Account"])
    arn = str(identity.get("Arn", ""))
    partition = arn.split(":")[1] if arn.count(":") >= 2 and arn.split(":")[1] else "aws"
    log.info("caller_identified", account_id=account_id, partition=partition)
    check_account(allowed_account_ids, account_id)

    listed: dict[str, dict[str, _Listed]] = {}
    for region in wanted_regions:
        say(f"listing functions in {region}")
        entries = aws.iter_items(
            "lambda", region, "list_functions", "Functions", FunctionVersion="ALL"
        )
        listed[region] = _group_listing(entries)
        log.info(
            "functions_listed",
            region=region,
            functions=len(listed[region]),
            versions=sum(len(f.versions) for f in listed[region].values()),
        )

    selected = _select(listed, function_patterns, wanted_regions)

    region_inventories = [
        _discover_region(
            aws,
            region,
            selected[region],
            need_tags=need_tags,
            tags_from=tags_from,
            dns_for_all_vpcs=dns_for_all_vpcs,
            say=say,
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

    latest: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)
    _configs: list[VpcConfig] | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return str(self.latest["FunctionName"])

    @property
    def arn(self) -> str:
        return _unqualified_arn(str(self.latest.get("FunctionArn", "")))

    def vpc_configs(self) -> list[VpcConfig]:
        if self._configs is None:
            configs = [_vpc_config(e) for e in [self.latest, *self.versions]]
            self._configs = [c for c in configs if c is not None]
        return list(self._configs)

    def has_vpc_version(self) -> bool:
        return any(_vpc_config(v) is not None for v in self.versions)


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
    latest: dict[str, dict[str, Any]] = {}
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        name = str(entry["FunctionName"])
        kept = {k: entry[k] for k in _LISTED_KEYS if k in entry}
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


def _vpc_config(entry: Mapping[str, Any]) -> VpcConfig | None:
    raw = entry.get("VpcConfig") or {}
    # AWS's order is kept: rollback restores exactly what was there.
    subnets = tuple(raw.get("SubnetIds") or ())
    if not subnets:
        return None
    key = (
        subnets,
        tuple(raw.get("SecurityGroupIds") or ()),
        bool(raw.get("Ipv6AllowedForDualStack", False)),
    )
    config = _VPC_CONFIGS.get(key)
    if config is None:
        config = VpcConfig(
            subnet_ids=key[0], security_group_ids=key[1], ipv6_allowed_for_dual_stack=key[2]
        )
        if len(_VPC_CONFIGS) < 65536:
            _VPC_CONFIGS[key] = config
    return config


# Thousands of functions share a few hundred VpcConfigs; the models are frozen,
# so one object per distinct config serves them all (less time, less memory).
_VPC_CONFIGS: dict[tuple[tuple[str, ...], tuple[str, ...], bool], VpcConfig] = {}


def _version_key(version: str) -> tuple[int, int, str]:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _discover_region(
    aws: _Aws,
    region: str,
    functions: Sequence[_Listed],
    *,
    need_tags: bool,
    dns_for_all_vpcs: bool,
    say: Progress,
    tags_from: str = "lambda",
) -> RegionInventory:
    with_details = [fn for fn in functions if fn.has_vpc_version()]
    aliases: dict[str, tuple[Alias, ...]] = {}
    if with_details:
        say(f"reading aliases of {len(with_details)} functions in {region}")
        for fn in with_details:
            raw_aliases = aws.items(
                "lambda", region, "list_aliases", "Aliases", FunctionName=fn.name
            )
            aliases[fn.name] = tuple(sorted((_alias(a) for a in raw_aliases), key=lambda a: a.name))
        log.info("function_details_read", region=region, functions=len(with_details))

    vpc_functions = [fn for fn in functions if fn.vpc_configs()]
    tags: dict[str, dict[str, str]] = {}
    if need_tags and vpc_functions:
        say(f"reading tags of {len(vpc_functions)} functions in {region}")
        if tags_from == "tagging-api":
            tagged = _tags_from_tagging_api(aws, region)
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
    network = _Network()
    if subnet_ids:
        say(f"reading the network of {len(vpc_functions)} VPC functions in {region}")
        network = _read_network(
            aws, region, subnet_ids, group_ids, dns_for_all_vpcs=dns_for_all_vpcs
        )

    built: list[Function] = []
    for fn in functions:
        latest_config = _vpc_config(fn.latest)
        built.append(
            Function(
                name=fn.name,
                arn=fn.arn,
                vpc_config=latest_config,
                vpc_id=network.vpc_of(latest_config),
                code_sha256=str(fn.latest.get("CodeSha256", "")),
                revision_id=fn.latest.get("RevisionId"),
                state=fn.latest.get("State"),
                last_update_status=fn.latest.get("LastUpdateStatus"),
                tags=tags.get(fn.name, {}),
                versions=_versions(fn) if fn.name in aliases else (),
                aliases=aliases.get(fn.name, ()),
                details_loaded=fn.name in aliases,
            )
        )
    log.info(
        "region_discovered",
        region=region,
        functions=len(built),
        vpc_functions=len(vpc_functions),
        vpcs=len(network.vpcs),
        missing_subnets=len(network.missing_subnet_ids),
    )
    return RegionInventory(
        region=region,
        functions=tuple(built),
        vpcs=network.vpcs,
        subnets=network.subnets,
        route_tables=network.route_tables,
        nat_gateways=network.nat_gateways,
        internet_gateways=network.internet_gateways,
        vpc_endpoints=network.vpc_endpoints,
        security_groups=network.security_groups,
        missing_subnet_ids=network.missing_subnet_ids,
    )


def _tags_from_tagging_api(aws: _Aws, region: str) -> dict[str, dict[str, str]]:
    """The tags of every tagged (or once tagged) function of the region, by
    name, from ``tag:GetResources``: 100 functions a call instead of one
    ``ListTags`` each. A function it does not list has no tags. Only
    unqualified function ARNs count (tags belong to the function, not to a
    version or alias)."""
    found: dict[str, dict[str, str]] = {}
    for mapping in aws.iter_items(
        "resourcegroupstaggingapi",
        region,
        "get_resources",
        "ResourceTagMappingList",
        ResourceTypeFilters=["lambda:function"],
        ResourcesPerPage=100,
    ):
        parts = str(mapping.get("ResourceARN", "")).split(":")
        if len(parts) != 7 or parts[5] != "function":
            continue
        found[parts[6]] = {
            str(t["Key"]): str(t.get("Value", ""))
            for t in sorted(mapping.get("Tags") or [], key=lambda t: str(t["Key"]))
        }
    return found


def _versions(fn: _Listed) -> tuple[FunctionVersion, ...]:
    versions = [
        FunctionVersion(
            version=str(v["Version"]),
            code_sha256=str(v.get("CodeSha256", "")),
            vpc_config=_vpc_config(v),
            revision_id=v.get("RevisionId"),
        )
        for v in fn.versions
    ]
    return tuple(sorted(versions, key=lambda v: _version_key(v.version)))


def _alias(raw: Mapping[str, Any]) -> Alias:
    weights = (raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return Alias(
        name=str(raw["Name"]),
        function_version=str(raw["FunctionVersion"]),
        additional_versions=tuple(sorted((str(k) for k in weights), key=_version_key)),
        revision_id=raw.get("RevisionId"),
    )


# --------------------------------------------------------------------------
# The network of one region


@dataclass
class _Network:
    """The EC2 side of a region, already converted and sorted."""

    vpcs: tuple[Vpc, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    nat_gateways: tuple[NatGateway, ...] = ()
    internet_gateways: tuple[InternetGateway, ...] = ()
    vpc_endpoints: tuple[VpcEndpoint, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    missing_subnet_ids: tuple[str, ...] = ()
    subnet_vpcs: dict[str, str] = field(default_factory=dict)

    def vpc_of(self, config: VpcConfig | None) -> str | None:
        """The VPC of a config's subnets (the first subnet that exists decides)."""
        if config is None:
            return None
        for subnet_id in config.subnet_ids:
            if subnet_id in self.subnet_vpcs:
                return self.subnet_vpcs[subnet_id]
        return None


def _read_network(
    aws: _Aws,
    region: str,
    subnet_ids: set[str],
    function_group_ids: set[str],
    *,
    dns_for_all_vpcs: bool,
) -> _Network:
    used = aws.filtered_items(region, "describe_subnets", "Subnets", "subnet-id", subnet_ids)
    found_ids = {str(s["SubnetId"]) for s in used}
    missing = tuple(sorted(subnet_ids - found_ids))
    vpc_ids = sorted({str(s["VpcId"]) for s in used})
    if not vpc_ids:
        return _Network(missing_subnet_ids=missing)

    raw_subnets = aws.filtered_items(region, "describe_subnets", "Subnets", "vpc-id", vpc_ids)
    raw_vpcs = aws.filtered_items(region, "describe_vpcs", "Vpcs", "vpc-id", vpc_ids)
    raw_tables = aws.filtered_items(
        region, "describe_route_tables", "RouteTables", "vpc-id", vpc_ids
    )
    raw_igws = aws.filtered_items(
        region, "describe_internet_gateways", "InternetGateways", "attachment.vpc-id", vpc_ids
    )
    raw_nats = aws.filtered_items(
        region, "describe_nat_gateways", "NatGateways", "vpc-id", vpc_ids, filter_param="Filter"
    )
    raw_endpoints = aws.filtered_items(
        region, "describe_vpc_endpoints", "VpcEndpoints", "vpc-id", vpc_ids
    )
    endpoints = tuple(
        sorted(
            (
                _endpoint(e)
                for e in raw_endpoints
                if str(e.get("ServiceName", "")).endswith(".lambda")
            ),
            key=lambda e: e.vpc_endpoint_id,
        )
    )
    group_ids = function_group_ids | {g for e in endpoints for g in e.security_group_ids}
    raw_groups = (
        aws.filtered_items(
            region, "describe_security_groups", "SecurityGroups", "group-id", group_ids
        )
        if group_ids
        else []
    )

    dns_vpcs = vpc_ids if dns_for_all_vpcs else sorted({e.vpc_id for e in endpoints})
    dns: dict[str, tuple[bool, bool]] = {}
    for vpc_id in dns_vpcs:
        support = aws.call(
            "ec2", region, "describe_vpc_attribute", VpcId=vpc_id, Attribute="enableDnsSupport"
        )
        hostnames = aws.call(
            "ec2", region, "describe_vpc_attribute", VpcId=vpc_id, Attribute="enableDnsHostnames"
        )
        dns[vpc_id] = (
            bool((support.get("EnableDnsSupport") or {}).get("Value", False)),
            bool((hostnames.get("EnableDnsHostnames") or {}).get("Value", False)),
        )

    network = _Network(
        vpcs=_unique((_vpc(v, dns.get(str(v["VpcId"]))) for v in raw_vpcs), lambda v: v.vpc_id),
        subnets=_unique((_subnet(s) for s in raw_subnets), lambda s: s.subnet_id),
        route_tables=_unique((_route_table(t) for t in raw_tables), lambda t: t.route_table_id),
        nat_gateways=_unique((_nat_gateway(n) for n in raw_nats), lambda n: n.nat_gateway_id),
        internet_gateways=_unique(
            (_internet_gateway(g) for g in raw_igws), lambda g: g.internet_gateway_id
        ),
        vpc_endpoints=endpoints,
        security_groups=_unique((_security_group(g) for g in raw_groups), lambda g: g.group_id),
        missing_subnet_ids=missing,
        subnet_vpcs={str(s["SubnetId"]): str(s["VpcId"]) for s in used},
    )
    log.info(
        "network_read",
        region=region,
        vpcs=len(network.vpcs),
        subnets=len(network.subnets),
        route_tables=len(network.route_tables),
        nat_gateways=len(network.nat_gateways),
        lambda_endpoints=len(network.vpc_endpoints),
        security_groups=len(network.security_groups),
        dns_vpcs=len(dns),
    )
    return network


def _unique(items: Iterable[_T], key: Callable[[_T], str]) -> tuple[_T, ...]:
    """Sorted by id, one per id (chunked filters never overlap, but be sure)."""
    by_id: dict[str, _T] = {}
    for item in items:
        by_id.setdefault(key(item), item)
    return tuple(by_id[k] for k in sorted(by_id))


def _vpc(raw: Mapping[str, Any], dns: tuple[bool, bool] | None) -> Vpc:
    return Vpc(
        vpc_id=str(raw["VpcId"]),
        cidr_block=str(raw.get("CidrBlock", "")),
        is_default=bool(raw.get("IsDefault", False)),
        enable_dns_support=dns[0] if dns else None,
        enable_dns_hostnames=dns[1] if dns else None,
    )


def _subnet(raw: Mapping[str, Any]) -> Subnet:
    return Subnet(
        subnet_id=str(raw["SubnetId"]),
        vpc_id=str(raw["VpcId"]),
        availability_zone=str(raw.get("AvailabilityZone", "")),
        cidr_block=str(raw.get("CidrBlock", "")),
        available_ip_address_count=int(raw.get("AvailableIpAddressCount", 0)),
        map_public_ip_on_launch=bool(raw.get("MapPublicIpOnLaunch", False)),
    )


_GONE_ASSOCIATION_STATES = frozenset({"disassociated", "failed"})


def _route_table(raw: Mapping[str, Any]) -> RouteTable:
    main = False
    subnet_ids: set[str] = set()
    for assoc in raw.get("Associations") or ():
        state = str((assoc.get("AssociationState") or {}).get("State", "associated"))
        if state in _GONE_ASSOCIATION_STATES:
            continue
        if assoc.get("Main"):
            main = True
        if assoc.get("SubnetId"):
            subnet_ids.add(str(assoc["SubnetId"]))
    routes = sorted(
        (_route(r) for r in raw.get("Routes") or ()), key=lambda r: (r.destination, r.target)
    )
    return RouteTable(
        route_table_id=str(raw["RouteTableId"]),
        vpc_id=str(raw["VpcId"]),
        main=main,
        subnet_ids=tuple(sorted(subnet_ids)),
        routes=tuple(routes),
    )


def _route(raw: Mapping[str, Any]) -> Route:
    destination = (
        raw.get("DestinationCidrBlock")
        or raw.get("DestinationIpv6CidrBlock")
        or raw.get("DestinationPrefixListId")
        or ""
    )
    target = next((str(raw[k]) for k in _ROUTE_TARGET_KEYS if raw.get(k)), "unknown")
    return Route(
        destination=str(destination),
        target=target,
        state=str(raw.get("State", "active")),
        origin=str(raw.get("Origin", "")),
    )


def _nat_gateway(raw: Mapping[str, Any]) -> NatGateway:
    addresses = raw.get("NatGatewayAddresses") or ()
    return NatGateway(
        nat_gateway_id=str(raw["NatGatewayId"]),
        vpc_id=str(raw.get("VpcId", "")),
        subnet_id=str(raw.get("SubnetId", "")),
        state=str(raw.get("State", "")),
        connectivity_type=str(raw.get("ConnectivityType") or "public"),
        public_ips=tuple(sorted(str(a["PublicIp"]) for a in addresses if a.get("PublicIp"))),
    )


def _internet_gateway(raw: Mapping[str, Any]) -> InternetGateway:
    attached = {
        str(a["VpcId"])
        for a in raw.get("Attachments") or ()
        if a.get("VpcId") and a.get("State") != "detached"
    }
    return InternetGateway(
        internet_gateway_id=str(raw["InternetGatewayId"]), attached_vpc_ids=tuple(sorted(attached))
    )


def _endpoint(raw: Mapping[str, Any]) -> VpcEndpoint:
    return VpcEndpoint(
        vpc_endpoint_id=str(raw["VpcEndpointId"]),
        vpc_id=str(raw["VpcId"]),
        service_name=str(raw["ServiceName"]),
        endpoint_type=str(raw.get("VpcEndpointType", "")),
        state=str(raw.get("State", "")).lower(),
        private_dns_enabled=bool(raw.get("PrivateDnsEnabled", False)),
        subnet_ids=tuple(sorted(str(s) for s in raw.get("SubnetIds") or ())),
        security_group_ids=tuple(sorted(str(g["GroupId"]) for g in raw.get("Groups") or ())),
    )


def _security_group(raw: Mapping[str, Any]) -> SecurityGroup:
    return SecurityGroup(
        group_id=str(raw["GroupId"]),
        vpc_id=str(raw.get("VpcId", "")),
        group_name=str(raw.get("GroupName", "")),
        ingress=_rules(raw.get("IpPermissions") or ()),
        egress=_rules(raw.get("IpPermissionsEgress") or ()),
    )


def _rules(permissions: Iterable[Mapping[str, Any]]) -> tuple[SecurityGroupRule, ...]:
    rules = [
        SecurityGroupRule(
            protocol=str(p.get("IpProtocol", "-1")),
            from_port=p.get("FromPort"),
            to_port=p.get("ToPort"),
            cidrs=tuple(
                sorted(
                    [str(r["CidrIp"]) for r in p.get("IpRanges") or () if r.get("CidrIp")]
                    + [str(r["CidrIpv6"]) for r in p.get("Ipv6Ranges") or () if r.get("CidrIpv6")]
                )
            ),
            group_ids=tuple(
                sorted(
                    str(g["GroupId"]) for g in p.get("UserIdGroupPairs") or () if g.get("GroupId")
                )
            ),
        )
        for p in permissions
    ]
    return tuple(
        sorted(
            rules,
            key=lambda r: (
                r.protocol,
                -1 if r.from_port is None else r.from_port,
                -1 if r.to_port is None else r.to_port,
                r.cidrs,
                r.group_ids,
            ),
        )
    )
