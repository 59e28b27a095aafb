"""The embedded sandbox: a small, realistic account in moto that shows the problem.

``seed()`` builds the world through ordinary boto3 calls, so it works the same
inside moto's in-process ``mock_aws()`` and against a moto server reached via
``endpoint_url`` (``remediate sandbox``). ``snapshot()`` reads the whole world
back as deterministic, JSON-able data so tests can prove a dry run changed
nothing.

The world (region ``us-east-1``, account ``123456789012``):

* VPC ``shop`` 10.20.0.0/16 with an internet gateway: public subnets in 1a/1b
  (explicit table, ``0.0.0.0/0 -> igw``), a NAT gateway in public-a, private
  subnets in 1a/1b (each its own table, ``0.0.0.0/0 -> nat``), an isolated
  private subnet in 1c (own table, no default route), security group ``fn-sg``.
* VPC ``legacy`` 10.30.0.0/16 whose *main* table routes ``0.0.0.0/0`` to its
  own internet gateway; two subnets (1a/1b) use it implicitly.
* Functions: ``orders-api`` (mixed public/private, the seed case, alias
  ``live``), ``orders-fulfil`` (healthy), ``reports-nightly`` (all public),
  ``ledger-sync`` (isolated), ``payments-api`` (healthy ``$LATEST``, alias
  ``prod`` on a version published while public), ``legacy-cron`` (public, no
  private alternative), ``db-migrator`` (public, exempt by tag) and
  ``thumbnailer`` (no VPC).

moto is imported lazily: ``import remediator.sandbox`` costs nothing, and
only ``run_server()`` / ``mock_world()`` need the ``sandbox`` extra.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from remediator.domain.errors import BadInput

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
ROLE_NAME = "remediator-sandbox-lambda"
RUNTIME = "python3.12"
HANDLER = "index.handler"

# Keys whose values change on every call or with wall-clock time; a snapshot
# must not depend on them.
VOLATILE_KEYS = frozenset({"LastModified", "CreateTime", "CreationTimestamp", "ResponseMetadata"})

FUNCTION_NAMES: tuple[str, ...] = (
    "orders-fulfil",
    "orders-api",
    "reports-nightly",
    "ledger-sync",
    "payments-api",
    "legacy-cron",
    "db-migrator",
    "thumbnailer",
)

_MOTO_HINT = "pip install 'remediator[sandbox]'"


class ClientFactory(Protocol):
    """Anything that makes boto3 clients: a ``boto3.Session`` or the module."""

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any: ...


SessionOrClients = ClientFactory | Mapping[str, Any]


@dataclass(frozen=True)
class SeedInfo:
    """The ids ``seed()`` created, by role, so tests can name them.

    ``subnets`` keys: ``public-a``, ``public-b``, ``private-a``, ``private-b``,
    ``private-c`` (isolated), ``legacy-a``, ``legacy-b``.
    ``route_tables`` keys: ``public``, ``private-a``, ``private-b``,
    ``private-c``, ``shop-main``, ``legacy-main``.
    ``security_groups`` keys: ``fn-sg``, ``legacy-fn-sg``.
    """

    region: str
    account_id: str
    vpc_id: str
    legacy_vpc_id: str
    internet_gateway_id: str
    legacy_internet_gateway_id: str
    nat_gateway_id: str
    eip_allocation_id: str
    role_arn: str
    subnets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    route_tables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    security_groups: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    functions: tuple[str, ...] = FUNCTION_NAMES
    code_sha256: str = ""


# --------------------------------------------------------------------------- clients


def _clients(
    session_or_clients: SessionOrClients,
    region: str,
    services: tuple[str, ...],
    endpoint_url: str | None,
) -> dict[str, Any]:
    """Return ``{service: client}``, from a mapping of ready clients or a session."""
    if isinstance(session_or_clients, Mapping):
        missing = [s for s in services if s not in session_or_clients]
        if missing:
            raise BadInput(
                f"The sandbox needs clients for {', '.join(missing)}.",
                hint="Pass a boto3 Session or a mapping with those service names as keys.",
            )
        return {s: session_or_clients[s] for s in services}
    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return {s: session_or_clients.client(s, **kwargs) for s in services}


def _tags(name: str, **extra: str) -> list[dict[str, str]]:
    tags = {"Name": name, "remediator:sandbox": "true", **extra}
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _tag_spec(resource_type: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": _tags(name)}]


def function_zip() -> bytes:
    """A tiny, byte-for-byte reproducible deployment package (fixed timestamps)."""
    source = b"def handler(event, context):\n    return {'ok': True}\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("index.py", date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        zf.writestr(info, source)
    return buf.getvalue()


# --------------------------------------------------------------------------- seed


def seed(
    session_or_clients: SessionOrClients,
    region: str = REGION,
    *,
    endpoint_url: str | None = None,
) -> SeedInfo:
    """Build the sandbox world (see the module docstring) and return its ids.

    ``session_or_clients`` is a boto3 Session (clients are made for ``region``,
    at ``endpoint_url`` when given) or a mapping with ready ``ec2``, ``lambda``
    and ``iam`` clients. Call it once per fresh account: it does not look for
    what already exists.
    """
    c = _clients(session_or_clients, region, ("ec2", "lambda", "iam"), endpoint_url)
    ec2, lam = c["ec2"], c["lambda"]
    shop = _seed_shop(ec2, region)
    legacy = _seed_legacy(ec2, region)
    subnets = {**shop["subnets"], **legacy["subnets"]}
    role_arn = _seed_role(c["iam"])
    shas = _seed_functions(lam, role_arn, subnets, shop["fn_sg"], legacy["sg"])
    vpc_id, nat_id, allocation_id = shop["vpc_id"], shop["nat_id"], shop["allocation_id"]
    igw_id, legacy_vpc_id, legacy_main = shop["igw_id"], legacy["vpc_id"], legacy["main"]
    legacy_igw_id, fn_sg, legacy_sg = legacy["igw_id"], shop["fn_sg"], legacy["sg"]
    rtb_public, rtb_private_a = shop["public"], shop["private-a"]
    rtb_private_b, rtb_private_c = shop["private-b"], shop["private-c"]
    return SeedInfo(
        region=region,
        account_id=role_arn.split(":")[4] or ACCOUNT_ID,
        vpc_id=vpc_id,
        legacy_vpc_id=legacy_vpc_id,
        internet_gateway_id=igw_id,
        legacy_internet_gateway_id=legacy_igw_id,
        nat_gateway_id=nat_id,
        eip_allocation_id=allocation_id,
        role_arn=role_arn,
        subnets=MappingProxyType(dict(subnets)),
        route_tables=MappingProxyType(
            {
                "public": rtb_public,
                "private-a": rtb_private_a,
                "private-b": rtb_private_b,
                "private-c": rtb_private_c,
                "shop-main": _main_route_table(ec2, vpc_id),
                "legacy-main": legacy_main,
            }
        ),
        security_groups=MappingProxyType({"fn-sg": fn_sg, "legacy-fn-sg": legacy_sg}),
        functions=FUNCTION_NAMES,
        code_sha256=shas[0],
    )


def _subnet(ec2: Any, vpc: str, name: str, cidr: str, zone: str) -> str:
    return str(
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=cidr,
            AvailabilityZone=zone,
            TagSpecifications=_tag_spec("subnet", name),
        )["Subnet"]["SubnetId"]
    )


def _route_table(ec2: Any, vpc: str, name: str, subnet_ids: tuple[str, ...]) -> str:
    created = ec2.create_route_table(VpcId=vpc, TagSpecifications=_tag_spec("route-table", name))
    rtb = created["RouteTable"]["RouteTableId"]
    for sid in subnet_ids:
        ec2.associate_route_table(RouteTableId=rtb, SubnetId=sid)
    return str(rtb)


def _seed_shop(ec2: Any, region: str) -> dict[str, Any]:
    """VPC "shop": public subnets (IGW), NAT-routed private ones, an isolated one."""
    az = {s: f"{region}{s}" for s in "abc"}
    shop = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=_tag_spec("vpc", "shop"))
    vpc_id = shop["Vpc"]["VpcId"]
    igw_id = ec2.create_internet_gateway(
        TagSpecifications=_tag_spec("internet-gateway", "shop-igw")
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    subnets = {
        "public-a": _subnet(ec2, vpc_id, "shop-public-a", "10.20.0.0/24", az["a"]),
        "public-b": _subnet(ec2, vpc_id, "shop-public-b", "10.20.1.0/24", az["b"]),
        "private-a": _subnet(ec2, vpc_id, "shop-private-a", "10.20.10.0/24", az["a"]),
        "private-b": _subnet(ec2, vpc_id, "shop-private-b", "10.20.11.0/24", az["b"]),
        "private-c": _subnet(ec2, vpc_id, "shop-private-c", "10.20.12.0/24", az["c"]),
    }
    public = _route_table(ec2, vpc_id, "shop-public", (subnets["public-a"], subnets["public-b"]))
    ec2.create_route(RouteTableId=public, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    allocation_id = ec2.allocate_address(
        Domain="vpc", TagSpecifications=_tag_spec("elastic-ip", "shop-nat-eip")
    )["AllocationId"]
    nat_id = ec2.create_nat_gateway(
        SubnetId=subnets["public-a"],
        AllocationId=allocation_id,
        ConnectivityType="public",
        TagSpecifications=_tag_spec("natgateway", "shop-nat-a"),
    )["NatGateway"]["NatGatewayId"]
    private_a = _route_table(ec2, vpc_id, "shop-private-a", (subnets["private-a"],))
    private_b = _route_table(ec2, vpc_id, "shop-private-b", (subnets["private-b"],))
    for rtb in (private_a, private_b):
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    # Isolated: its own table with only the local route.
    private_c = _route_table(ec2, vpc_id, "shop-private-c", (subnets["private-c"],))
    fn_sg = ec2.create_security_group(
        GroupName="fn-sg",
        Description="Lambda functions in shop (egress all)",
        VpcId=vpc_id,
        TagSpecifications=_tag_spec("security-group", "fn-sg"),
    )["GroupId"]
    return {
        "vpc_id": vpc_id,
        "igw_id": igw_id,
        "subnets": subnets,
        "public": public,
        "allocation_id": allocation_id,
        "nat_id": nat_id,
        "private-a": private_a,
        "private-b": private_b,
        "private-c": private_c,
        "fn_sg": fn_sg,
    }


def _seed_legacy(ec2: Any, region: str) -> dict[str, Any]:
    """VPC "legacy": public through the MAIN route table."""
    legacy = ec2.create_vpc(CidrBlock="10.30.0.0/16", TagSpecifications=_tag_spec("vpc", "legacy"))
    vpc_id = legacy["Vpc"]["VpcId"]
    igw_id = ec2.create_internet_gateway(
        TagSpecifications=_tag_spec("internet-gateway", "legacy-igw")
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    main = _main_route_table(ec2, vpc_id)
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.create_tags(Resources=[main], Tags=_tags("legacy-main"))
    subnets = {
        "legacy-a": _subnet(ec2, vpc_id, "legacy-a", "10.30.0.0/24", f"{region}a"),
        "legacy-b": _subnet(ec2, vpc_id, "legacy-b", "10.30.1.0/24", f"{region}b"),
    }
    sg = ec2.create_security_group(
        GroupName="legacy-fn-sg",
        Description="Lambda functions in legacy (egress all)",
        VpcId=vpc_id,
        TagSpecifications=_tag_spec("security-group", "legacy-fn-sg"),
    )["GroupId"]
    return {"vpc_id": vpc_id, "igw_id": igw_id, "main": main, "subnets": subnets, "sg": sg}


def _seed_role(iam: Any) -> str:
    """The functions' execution role (IAM is global: a second region reuses it)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    try:
        role = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=ROLE_NAME)
    return str(role["Role"]["Arn"])


def _seed_functions(
    lam: Any, role_arn: str, subnets: dict[str, str], fn_sg: str, legacy_sg: str
) -> list[str]:
    """The sandbox's functions, in a fixed order; their code SHA-256s."""
    code = function_zip()
    shas: list[str] = []

    def vpc(names: tuple[str, ...], sg: str = fn_sg) -> dict[str, list[str]]:
        return {"SubnetIds": [subnets[n] for n in names], "SecurityGroupIds": [sg]}

    def function(
        name: str,
        team: str,
        vpc_config: dict[str, list[str]] | None,
        *,
        env: dict[str, str] | None = None,
        extra_tags: dict[str, str] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": RUNTIME,
            "Role": role_arn,
            "Handler": HANDLER,
            "Code": {"ZipFile": code},
            "Timeout": 10,
            "Tags": {"team": team, "remediator:sandbox": "true", **(extra_tags or {})},
        }
        if vpc_config is not None:
            kwargs["VpcConfig"] = vpc_config
        if env:
            kwargs["Environment"] = {"Variables": env}
        shas.append(lam.create_function(**kwargs)["CodeSha256"])

    private = ("private-a", "private-b")
    public = ("public-a", "public-b")
    function("orders-fulfil", "orders", vpc(private))
    function(
        "orders-api",
        "orders",
        vpc(("public-a", "private-a", "private-b")),
        env={"TARGET": "orders-fulfil"},
    )
    v = lam.publish_version(FunctionName="orders-api")["Version"]
    lam.create_alias(FunctionName="orders-api", Name="live", FunctionVersion=v)

    function("reports-nightly", "analytics", vpc(public))
    function("ledger-sync", "finance", vpc(("private-c",)))

    # payments-api: v1 published while public, then $LATEST moved to private.
    function("payments-api", "payments", vpc(public))
    v = lam.publish_version(FunctionName="payments-api")["Version"]
    lam.create_alias(FunctionName="payments-api", Name="prod", FunctionVersion=v)
    # moto replaces VpcConfig wholesale: always send both lists.
    lam.update_function_configuration(FunctionName="payments-api", VpcConfig=vpc(private))

    function("legacy-cron", "platform", vpc(("legacy-a", "legacy-b"), legacy_sg))
    function(
        "db-migrator",
        "payments",
        vpc(("public-a",)),
        extra_tags={"remediator:exempt": "true"},
    )
    function("thumbnailer", "media", None)
    return shas


def _main_route_table(ec2: Any, vpc_id: str) -> str:
    tables = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    if len(tables) != 1:
        raise RuntimeError(f"expected one main route table in {vpc_id}, found {len(tables)}")
    return str(tables[0]["RouteTableId"])


# --------------------------------------------------------------------------- snapshot


def _canonical(value: Any) -> Any:
    """Drop volatile keys, and sort lists of objects (their order carries no
    meaning in these APIs) by their canonical JSON. Lists of scalars keep
    their order: a reordered SubnetIds list is a change worth seeing."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items()) if k not in VOLATILE_KEYS}
    if isinstance(value, list | tuple):
        items = [_canonical(v) for v in value]
        if items and all(isinstance(i, dict) for i in items):
            items.sort(key=lambda i: json.dumps(i, sort_keys=True, default=str))
        return items
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # datetimes and the like


def _paginate(client: Any, op: str, key: str, **kwargs: Any) -> list[Any]:
    if client.can_paginate(op):
        out: list[Any] = []
        for page in client.get_paginator(op).paginate(**kwargs):
            out.extend(page.get(key, []))
        return out
    return list(getattr(client, op)(**kwargs).get(key, []))


def _by(key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda item: str(item.get(key, ""))


def snapshot(
    session_or_clients: SessionOrClients,
    region: str = REGION,
    *,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """Read the whole sandbox back as deterministic, JSON-able data.

    Two snapshots of an unchanged world are equal; any change to a function's
    configuration, versions, aliases or tags, or to VPCs (incl. DNS
    attributes), subnets, route tables (routes, associations), gateways,
    NAT gateways, endpoints, security groups, network ACLs or addresses shows
    up as a difference. Timestamps are dropped; ``RevisionId`` is kept.
    """
    c = _clients(session_or_clients, region, ("ec2", "lambda"), endpoint_url)
    ec2, lam = c["ec2"], c["lambda"]

    functions: list[dict[str, Any]] = []
    for fn in sorted(_paginate(lam, "list_functions", "Functions"), key=_by("FunctionName")):
        name = fn["FunctionName"]
        latest = lam.get_function_configuration(FunctionName=name)
        versions = [
            v
            for v in _paginate(lam, "list_versions_by_function", "Versions", FunctionName=name)
            if v.get("Version") != "$LATEST"
        ]
        versions.sort(key=lambda v: int(v["Version"]) if str(v["Version"]).isdigit() else -1)
        aliases = sorted(
            _paginate(lam, "list_aliases", "Aliases", FunctionName=name), key=_by("Name")
        )
        tags = lam.list_tags(Resource=latest["FunctionArn"]).get("Tags", {})
        functions.append(
            {
                "name": name,
                "configuration": _canonical(latest),
                "versions": [_canonical(v) for v in versions],
                "aliases": [_canonical(a) for a in aliases],
                "tags": _canonical(tags),
            }
        )

    vpcs = []
    for vpc in sorted(_paginate(ec2, "describe_vpcs", "Vpcs"), key=_by("VpcId")):
        item = dict(vpc)
        for attr, out_key in (
            ("enableDnsSupport", "EnableDnsSupport"),
            ("enableDnsHostnames", "EnableDnsHostnames"),
        ):
            resp = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attr)
            item[out_key] = bool(resp.get(out_key, {}).get("Value", False))
        vpcs.append(_canonical(item))

    def described(op: str, key: str, id_key: str) -> list[Any]:
        return [_canonical(i) for i in sorted(_paginate(ec2, op, key), key=_by(id_key))]

    return {
        "region": region,
        "functions": functions,
        "vpcs": vpcs,
        "subnets": described("describe_subnets", "Subnets", "SubnetId"),
        "route_tables": described("describe_route_tables", "RouteTables", "RouteTableId"),
        "internet_gateways": described(
            "describe_internet_gateways", "InternetGateways", "InternetGatewayId"
        ),
        "nat_gateways": described("describe_nat_gateways", "NatGateways", "NatGatewayId"),
        "vpc_endpoints": described("describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId"),
        "security_groups": described("describe_security_groups", "SecurityGroups", "GroupId"),
        "network_acls": described("describe_network_acls", "NetworkAcls", "NetworkAclId"),
        "addresses": described("describe_addresses", "Addresses", "AllocationId"),
    }


# --------------------------------------------------------------------------- moto


def _require_moto() -> None:
    try:
        import moto  # noqa: F401
    except ImportError as exc:
        raise BadInput("The sandbox needs moto.", hint=_MOTO_HINT) from exc


def _check_port(host: str, port: int) -> None:
    """``BadInput`` when ``host:port`` cannot be bound (in use, not this host)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise BadInput(
            f"Cannot serve the sandbox on {host}:{port}: {exc.strerror or exc}.",
            hint="Pick another --port (0: any free port), or stop what uses it.",
        ) from None


def run_server(
    port: int = 0, host: str = "127.0.0.1", *, quiet: bool = True
) -> tuple[ThreadedMotoServer, str]:
    """Start moto's ThreadedMotoServer on ``host`` (``port`` 0 picks a free
    port) and return it with its endpoint URL. The caller stops it
    (``server.stop()``). ``quiet`` silences werkzeug's per-request log."""
    _require_moto()
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # moto without the server extra
        raise BadInput("The sandbox server needs moto[server].", hint=_MOTO_HINT) from exc

    if not 0 <= port <= 65535:
        raise BadInput(f"--port {port} is not a TCP port (0-65535; 0: any free port).")

    class Server(ThreadedMotoServer):
        """moto's server, binding in its thread as moto does, but a bind that
        fails (a port in use, a host that is not this machine's) is reported
        to ``start`` instead of dying in the thread and leaving it waiting."""

        failed: BaseException | None = None

        def _server_entry(self) -> None:
            try:
                super()._server_entry()
            except BaseException as exc:
                self.failed = exc
                self._server_ready_event.set()

    if port:  # werkzeug would print its own lines and exit its thread on a port in use
        _check_port(host, port)
    # werkzeug binds port 0 to a free port; get_host_and_port() reports it.
    server = Server(ip_address=host, port=port, verbose=False)
    if quiet:
        # werkzeug logs every request to stderr; the sandbox's user wants the report.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server.start()
    if server.failed is not None:
        why = server.failed
        text = why.strerror if isinstance(why, OSError) and why.strerror else "it is in use"
        raise BadInput(
            f"Cannot serve the sandbox on {host}:{port}: {text}.",
            hint="Pick another --port (0: any free port), or stop what uses it.",
        )
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


def sandbox_env(endpoint_url: str, region: str = REGION) -> dict[str, str]:
    """Environment variables that point the AWS SDKs (and remediate) at the sandbox."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


@contextmanager
def mock_world(region: str = REGION) -> Iterator[None]:
    """Enter moto's in-process ``mock_aws()`` with fake credentials for
    ``region`` (for ``remediate demo``). The process environment is restored
    on exit; ``AWS_ENDPOINT_URL`` is cleared inside so calls stay in-process."""
    _require_moto()
    from moto import mock_aws

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
    cleared = ("AWS_ENDPOINT_URL", "AWS_PROFILE")
    saved = {k: os.environ.get(k) for k in (*env, *cleared)}
    os.environ.update(env)
    for k in cleared:
        os.environ.pop(k, None)
    try:
        with mock_aws():
            yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old
