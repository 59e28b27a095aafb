"""A VPC shared through AWS RAM, judged from the participant's account, on
moto with two accounts.

The shared VPC lives in the owner's account (111122223333, reached by
AssumeRole); the functions live in the participant's (moto's default
account). moto has no RAM visibility rules, so the participant's view is
simulated: its EC2 reads go to the owner's account (that is where a shared
VPC's resources are) and an ``after-call`` hook takes out what AWS hides from
a participant: every NAT gateway, and the owner's subnets (and their route
tables) that were not shared. What the subnets and the VPC say about their
owner (``OwnerId``) is what the owner's account says.

World: an internet gateway; public subnets ``pub-a`` and ``pub-b`` (not
shared) with a NAT gateway each; shared private subnets ``priv-a`` (-> nat-a),
``priv-b`` and ``priv-c`` (-> nat-b), one route table each. The functions use
``priv-a`` and ``priv-b``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from structlog.testing import capture_logs
from typer.testing import CliRunner

from remediator import planner
from remediator.aws import discover
from remediator.aws.owner_view import AssumedRoles, OwnerViews
from remediator.cli.main import app
from remediator.domain.inventory import Inventory
from remediator.domain.plan import Finding
from remediator.domain.policy import Policy, Settings, default_policy
from remediator.planfile.model import Plan
from tests.moto_worlds import create_function

REGION = "us-east-1"
NOW = "2026-01-01T00:00:00Z"
PARTICIPANT = "123456789012"
OWNER = "111122223333"
TEMPLATE = "arn:aws:iam::{account}:role/remediator-network-read"
OWNER_ROLE = f"arn:aws:iam::{OWNER}:role/remediator-network-read"


def _assumed(sts: Any, role: str) -> boto3.session.Session:
    creds = sts.assume_role(RoleArn=role, RoleSessionName="world")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


@dataclass
class Shared:
    """The shared VPC's ids, the owner's EC2 client, and the participant's view."""

    owner_ec2: Any
    participant_base: boto3.session.Session
    owner_session: boto3.session.Session
    vpc: str = ""
    subnets: dict[str, str] = field(default_factory=dict)
    nats: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)
    """Subnet and route-table ids the participant does not see."""
    sts_calls: list[str] = field(default_factory=list)
    deny_assume: bool = False
    rewrites: list[Callable[..., None]] = field(default_factory=list)
    """More after-call rewrites of the participant's EC2 answers."""

    # -- the participant's view

    def _hide(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "DescribeNatGateways":
            parsed["NatGateways"] = []
        elif model.name == "DescribeSubnets":
            parsed["Subnets"] = [s for s in parsed["Subnets"] if s["SubnetId"] not in self.hidden]
        elif model.name == "DescribeRouteTables":
            parsed["RouteTables"] = [
                t for t in parsed["RouteTables"] if t["RouteTableId"] not in self.hidden
            ]
        for rewrite in self.rewrites:
            rewrite(parsed=parsed, model=model)

    def _sts(self, model: Any, params: Any, **_: Any) -> Any:
        self.sts_calls.append(model.name)
        if model.name == "AssumeRole" and self.deny_assume:
            body = {
                "Error": {"Code": "AccessDenied", "Message": "not authorized to assume"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
            return AWSResponse("https://sts.amazonaws.com", 403, {}, None), body
        return None

    def client(self, service: str, **kwargs: Any) -> Any:
        """The participant's clients: EC2 sees the shared VPC the way AWS
        shows it to a participant; STS can be told to refuse AssumeRole."""
        if service == "ec2":
            made = self.owner_session.client("ec2", **kwargs)
            made.meta.events.register("after-call.ec2.*", self._hide)
            return made
        made = self.participant_base.client(service, **kwargs)
        if service == "sts":
            made.meta.events.register("before-call.sts.*", self._sts)
        return made

    @property
    def region_name(self) -> str:
        return REGION

    def owner_view_session(self) -> boto3.session.Session:
        """A session of its own on the owner's credentials (its hooks do not
        touch the participant's view)."""
        creds = self.owner_session.get_credentials()
        return boto3.session.Session(
            aws_access_key_id=creds.access_key,
            aws_secret_access_key=creds.secret_key,
            aws_session_token=creds.token,
            region_name=REGION,
        )


def _build(owner_ec2: Any, world: Shared) -> None:
    vpc = owner_ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    igw = owner_ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    owner_ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    world.vpc = vpc

    def subnet(name: str, cidr: str, az: str) -> str:
        sid = owner_ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{az}")
        world.subnets[name] = sid["Subnet"]["SubnetId"]
        return str(world.subnets[name])

    def table(name: str, subnet_id: str, **target: str) -> str:
        rt = owner_ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        owner_ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", **target)
        owner_ec2.associate_route_table(RouteTableId=rt, SubnetId=subnet_id)
        world.tables[name] = rt
        return str(rt)

    for az in "ab":
        pub = subnet(f"pub-{az}", f"10.7.{az == 'b':d}.0/24", az)
        world.hidden |= {pub, table(f"pub-{az}", pub, GatewayId=igw)}
        eip = owner_ec2.allocate_address(Domain="vpc")["AllocationId"]
        world.nats[az] = owner_ec2.create_nat_gateway(SubnetId=pub, AllocationId=eip)["NatGateway"][
            "NatGatewayId"
        ]
    for i, (az, nat) in enumerate((("a", "a"), ("b", "b"), ("c", "b"))):
        priv = subnet(f"priv-{az}", f"10.7.{10 + i}.0/24", az)
        table(f"priv-{az}", priv, NatGatewayId=world.nats[nat])


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """The command line points structlog at the runner's captured stderr; do not leak it."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def shared() -> Iterator[Shared]:
    with mock_aws():
        base = boto3.session.Session(region_name=REGION)
        owner_session = _assumed(base.client("sts"), f"arn:aws:iam::{OWNER}:role/builder")
        owner_ec2 = owner_session.client("ec2")
        world = Shared(owner_ec2=owner_ec2, participant_base=base, owner_session=owner_session)
        _build(owner_ec2, world)
        iam = base.client("iam")
        role = iam.create_role(
            RoleName="fn", AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}'
        )["Role"]["Arn"]
        group = owner_ec2.create_security_group(GroupName="fn", Description="fn", VpcId=world.vpc)[
            "GroupId"
        ]
        lam = base.client("lambda")
        for name in ("fn-1", "fn-2", "fn-3"):
            create_function(
                lam, name, role, [world.subnets["priv-a"], world.subnets["priv-b"]], [group]
            )
        yield world


# --------------------------------------------------------------------------
# helpers


def _discover(
    world: Shared, views: OwnerViews | None, functions: tuple[str, ...] = ()
) -> Inventory:
    return discover.discover(
        world,
        [REGION],
        function_patterns=functions,
        owner_views=views,
    )


def _plan(inventory: Inventory) -> Plan:
    return planner.build_plan(inventory, default_policy(), NOW)


def _status(plan: Plan, name: str = "fn-1") -> str:
    return next(s.status for s in plan.functions if s.name == name)


def _findings(plan: Plan, name: str = "fn-1") -> list[Finding]:
    return [f for f in plan.findings if f.function == name and f.qualifier == "$LATEST"]


def _views() -> OwnerViews:
    return OwnerViews(AssumedRoles(), template=TEMPLATE)


ROUTE_KINDS = {"ec2.put-nat-route", "ec2.create-lambda-endpoint"}


# --------------------------------------------------------------------------
# the participant's view is what AWS shows a participant


def test_the_participant_sees_the_owner_on_subnets_and_vpc_and_no_nat(shared: Shared) -> None:
    region = _discover(shared, None).regions[0]
    assert {v.owner_id for v in region.vpcs} == {OWNER}
    assert {s.owner_id for s in region.subnets} == {OWNER}
    assert region.nat_gateways == ()
    assert shared.subnets["pub-a"] not in {s.subnet_id for s in region.subnets}
    assert region.owner_views == ()


# --------------------------------------------------------------------------
# without / with the owner's view


def test_without_the_owner_view_egress_is_not_verifiable_and_no_route_is_planned(
    shared: Shared,
) -> None:
    plan = _plan(_discover(shared, None))
    assert _status(plan) == "egress-unknown"
    evidence = [e for f in _findings(plan) for e in f.evidence]
    assert evidence and all(
        f"egress not verifiable from this account (owned by {OWNER})" in e.detail for e in evidence
    )
    assert not [c for c in plan.changes if c.kind in ROUTE_KINDS]
    assert "AssumeRole" not in shared.sts_calls


def test_with_the_owner_view_the_owners_healthy_nat_makes_the_function_healthy(
    shared: Shared,
) -> None:
    inventory = _discover(shared, _views())
    region = inventory.regions[0]
    (view,) = region.owner_views
    assert (view.account_id, view.role_arn, view.error) == (OWNER, OWNER_ROLE, "")
    assert set(shared.nats.values()) <= set(view.resource_ids)
    assert {shared.subnets["pub-a"], shared.subnets["pub-b"]} == set(view.owner_only_subnet_ids)
    plan = _plan(inventory)
    assert {s.status for s in plan.functions} == {"healthy"}
    assert plan.changes == ()
    summary = next(s for s in plan.functions if s.name == "fn-1")
    assert all(s.egress == "nat" for s in summary.subnets)
    assert all(f"account {OWNER}, role {OWNER_ROLE}" in s.detail for s in summary.subnets)


def test_the_owners_nat_deleted_is_nat_broken_the_route_is_the_owners_the_move_is_planned(
    shared: Shared,
) -> None:
    shared.owner_ec2.delete_nat_gateway(NatGatewayId=shared.nats["a"])
    plan = _plan(_discover(shared, _views(), ("fn-1",)))
    assert _status(plan) == "affected"
    broken = next(f for f in _findings(plan) if f.code == "nat-route-broken")
    assert broken.severity == "high"
    assert broken.subnet_ids == (shared.subnets["priv-a"],)
    assert f"account {OWNER}" in broken.evidence[0].detail
    assert not [c for c in plan.changes if c.kind in ROUTE_KINDS]
    (move,) = [c for c in plan.changes if c.kind == "lambda.update-vpc-config"]
    after = {"subnet_ids": move.model_dump()["after"]["SubnetIds"]}
    assert sorted(after["subnet_ids"]) == sorted(
        [shared.subnets["priv-b"], shared.subnets["priv-c"]]
    )
    # the move never goes to a subnet only the owner sees
    assert not set(after["subnet_ids"]) & {shared.subnets["pub-a"], shared.subnets["pub-b"]}
    # with the route repair as the only strategy, it is blocked and names the owner
    routes_only = Policy(defaults=Settings(strategies=("add-nat-route",)))
    plan = planner.build_plan(_discover(shared, _views(), ("fn-1",)), routes_only, NOW)
    assert not [c for c in plan.changes if c.kind in ROUTE_KINDS]
    (blocked,) = [f for f in _findings(plan) if f.status == "blocked"]
    assert blocked.code == "nat-route-broken"
    assert f"the VPC owner {OWNER} must" in str(blocked.manual_step)


def test_a_nat_the_owner_view_does_not_return_is_really_missing(shared: Shared) -> None:
    """A route to a NAT gateway the owner's account does not know either
    (moto keeps no route to an unknown NAT: both views are rewritten)."""
    dead = "nat-0000000000000dead"

    def rewrite(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "DescribeRouteTables":
            for t in parsed["RouteTables"]:
                if t["RouteTableId"] == shared.tables["priv-a"]:
                    for r in t["Routes"]:
                        if r.get("DestinationCidrBlock") == "0.0.0.0/0":
                            r["NatGatewayId"] = dead

    shared.rewrites.append(rewrite)
    owner = shared.owner_view_session()
    owner.events.register("after-call.ec2.*", rewrite)
    views = OwnerViews(lambda role, door, region: owner, template=TEMPLATE)
    plan = _plan(_discover(shared, views, ("fn-1",)))
    broken = next(f for f in _findings(plan) if f.code == "nat-route-broken")
    assert broken.severity == "high"
    assert broken.subnet_ids == (shared.subnets["priv-a"],)
    assert "NAT gateway not found (read from the VPC owner's view" in broken.evidence[0].detail


# --------------------------------------------------------------------------
# failures: a warning, the VPC stays not verifiable


def test_assume_role_denied_is_a_warning_and_the_vpc_stays_not_verifiable(
    shared: Shared,
) -> None:
    shared.deny_assume = True
    with capture_logs() as logs:
        inventory = _discover(shared, _views())
    (view,) = inventory.regions[0].owner_views
    assert view.error and "AccessDenied" in view.error
    warnings = [e for e in logs if e["event"] == "owner_view_unavailable"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
    assert warnings[0]["owner"] == OWNER
    plan = _plan(inventory)
    assert _status(plan) == "egress-unknown"
    evidence = [e for f in _findings(plan) for e in f.evidence]
    assert all("not verifiable" in e.detail and "could not be read" in e.detail for e in evidence)
    (unknown,) = [f for f in _findings(plan) if f.code == "egress-unknown"]
    assert any(f"account {OWNER}, role {OWNER_ROLE}) could not be read" in n for n in unknown.notes)
    assert not [c for c in plan.changes if c.kind in ROUTE_KINDS]


def test_access_denied_on_an_owner_describe_is_a_warning_and_nothing_is_merged(
    shared: Shared,
) -> None:
    def denied(model: Any, **_: Any) -> Any:
        if model.name == "DescribeNatGateways":
            body = {
                "Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
            return AWSResponse("https://ec2.amazonaws.com", 403, {}, None), body
        return None

    owner = shared.owner_view_session()
    owner.events.register("before-call.ec2.*", denied)
    views = OwnerViews(lambda role, door, region: owner, template=TEMPLATE)
    with capture_logs() as logs:
        inventory = _discover(shared, views)
    region = inventory.regions[0]
    (view,) = region.owner_views
    assert "DescribeNatGateways" in view.error and view.resource_ids == ()
    assert region.nat_gateways == ()
    assert [e["event"] for e in logs if e["event"].startswith("owner_view")] == [
        "owner_view_unavailable"
    ]
    assert _status(_plan(inventory)) == "egress-unknown"


# --------------------------------------------------------------------------
# cost: bounded per owner and region, never per function


def _ec2_calls(inventory: Inventory) -> dict[str, int]:
    return {k: v for k, v in inventory.api_calls.items() if k.startswith("ec2:")}


def test_one_assume_role_per_owner_and_describes_per_owner_region(shared: Shared) -> None:
    views = _views()
    one = _discover(shared, views, ("fn-1",))
    three = _discover(shared, views, ("fn-*",))
    assert _ec2_calls(one) == _ec2_calls(three)
    assert one.api_calls["ec2:DescribeNatGateways"] == 2  # the participant's, the owner's
    # the role is assumed once per run, whatever the number of discoveries
    assert shared.sts_calls.count("AssumeRole") == 1
    assert one.api_calls.get("sts:AssumeRole") == 1
    assert "sts:AssumeRole" not in three.api_calls
    bare = _discover(shared, None, ("fn-*",))
    extra = {k: three.api_calls.get(k, 0) - bare.api_calls.get(k, 0) for k in three.api_calls}
    assert sum(extra.values()) <= 6  # subnets, tables, NATs, NACLs, endpoints (+ ENIs/instances)


def test_every_call_the_owner_view_sends_is_in_the_owner_side_policy(shared: Shared) -> None:
    from remediator.render import iam

    sent: list[str] = []

    def record(model: Any, **_: Any) -> None:
        sent.append(iam.iam_action(model.service_model.service_name, model.name))

    owner = shared.owner_view_session()
    owner.events.register("before-call.*.*", record)
    inventory = _discover(shared, OwnerViews(lambda role, door, region: owner, template=TEMPLATE))
    assert inventory.regions[0].owner_views[0].error == ""
    assert (
        sent
        and iam.uncovered(sent, iam.policy_document(iam.PolicyOptions(mode="network-owner"))) == []
    )


# --------------------------------------------------------------------------
# the command line


def _cli(shared: Shared, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setattr(discover, "make_session", lambda profile=None: shared)
    return CliRunner().invoke(app, ["plan", "--region", REGION, "--format", "json", *args])


def test_plan_network_role_arn_reads_the_owners_view(
    shared: Shared, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "p.json"
    result = _cli(shared, monkeypatch, "--network-role-arn", TEMPLATE, "-o", str(out))
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json(out.read_text())
    assert {s.status for s in plan.functions} == {"healthy"}


def test_the_policy_key_reads_the_owners_view(
    shared: Shared, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f'network_role_arn = "{TEMPLATE}"\n')
    out = tmp_path / "p.json"
    result = _cli(shared, monkeypatch, "--policy", str(policy), "-o", str(out))
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json(out.read_text())
    assert {s.status for s in plan.functions} == {"healthy"}


BAD_TEMPLATES = [
    ("not-an-arn", "nope", "is not an IAM role ARN"),
    ("user-not-role", "arn:aws:iam::{account}:user/x", "is not an IAM role ARN"),
    ("fixed-account", OWNER_ROLE, "has no {account}"),
]


@pytest.mark.parametrize(
    ("template", "message"), [c[1:] for c in BAD_TEMPLATES], ids=[c[0] for c in BAD_TEMPLATES]
)
def test_a_bad_template_is_one_error_line_before_any_call(
    shared: Shared, monkeypatch: pytest.MonkeyPatch, template: str, message: str
) -> None:
    result = _cli(shared, monkeypatch, "--network-role-arn", template)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --network-role-arn")
    assert message in lines[0]
    assert shared.sts_calls == []


# --------------------------------------------------------------------------
# remediate auto: an owner that is a target of the fleet is read with the
# fleet's role, without --network-role-arn

FLEET_ROLE = "arn:aws:iam::{account_id}:role/remediator"


def _auto(shared: Shared, tmp_path: Path, accounts: tuple[str, ...]) -> tuple[Any, list[str]]:
    from remediator.aws import door
    from remediator.run import auto
    from remediator.run.verify import make_verifier

    assumed: list[str] = []

    def count(params: Any = None, **_: Any) -> None:
        assumed.append(str((params or {}).get("RoleArn")))

    def on_session(session: Any, target: Any) -> None:
        if target is None:
            session.events.register("before-parameter-build.sts.AssumeRole", count)
        elif target.account_id == PARTICIPANT:
            own = session.client

            def client(service: str, **kwargs: Any) -> Any:
                return (
                    shared.client(service, **kwargs) if service == "ec2" else own(service, **kwargs)
                )

            session.client = client

    opts = auto.AutoOptions(
        out_dir=tmp_path / "out",
        policy=default_policy(),
        regions=(REGION,),
        accounts=accounts,
        role_arn=FLEET_ROLE,
        lock_dir=tmp_path / "locks",
        dry_run=True,
    )
    deps = auto.Deps(
        verifier=make_verifier,
        now=lambda: NOW,
        settings=door.Settings(sleep=lambda _: None, poll_interval=0, settle_timeout=5),
        on_session=on_session,
        make_session=lambda profile=None: shared.participant_base,
    )
    summary = auto.run(opts, deps)
    assert summary.error is None, summary.error
    return summary, assumed


def _target_plan(tmp_path: Path, account: str) -> Plan:
    return Plan.model_validate_json((tmp_path / "out" / account / REGION / "plan.json").read_text())


def test_auto_reads_an_owner_in_the_fleet_with_the_fleets_role(
    shared: Shared, tmp_path: Path
) -> None:
    summary, assumed = _auto(shared, tmp_path, (PARTICIPANT, OWNER))
    plan = _target_plan(tmp_path, PARTICIPANT)
    assert {s.status for s in plan.functions} == {"healthy"}
    owner_role = FLEET_ROLE.replace("{account_id}", OWNER)
    summaries = [s for s in plan.functions if s.name == "fn-1"]
    assert all(f"role {owner_role}" in e.detail for s in summaries for e in s.subnets)
    # the owner's role is assumed once in the run: for its own target and the view
    assert assumed.count(owner_role) == 1
    assert {t.account_id: t.outcome for t in summary.targets} == {
        PARTICIPANT: "clean",
        OWNER: "clean",
    }


def test_auto_without_the_owner_in_the_fleet_and_no_template_reads_nothing_more(
    shared: Shared, tmp_path: Path
) -> None:
    _, assumed = _auto(shared, tmp_path, (PARTICIPANT,))
    plan = _target_plan(tmp_path, PARTICIPANT)
    assert {s.status for s in plan.functions} == {"egress-unknown"}
    assert assumed == [FLEET_ROLE.replace("{account_id}", PARTICIPANT)]


def test_auto_refuses_a_bad_template_with_one_error_line_and_the_summary(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "auto",
            "--region",
            REGION,
            "--out-dir",
            str(tmp_path / "o"),
            "--network-role-arn",
            OWNER_ROLE,
        ],
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "has no {account}" in errors[0]
    assert '"outcome":"error"' in result.stdout.strip().splitlines()[-1]


def test_iam_policy_prints_the_owner_role() -> None:
    import json

    from remediator.aws.owner_view import OWNER_READS

    result = CliRunner().invoke(app, ["iam-policy", "--mode", "network-owner"])
    assert result.exit_code == 0, result.output
    (statement,) = json.loads(result.stdout)["Statement"]
    assert statement["Action"] == sorted(OWNER_READS)
    result = CliRunner().invoke(app, ["iam-policy", "--network-role-arn", TEMPLATE])
    sids = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert (
        sids["AssumeNetworkOwnerRoles"]["Resource"] == "arn:aws:iam::*:role/remediator-network-read"
    )
