"""apply / rollback end to end against moto (in-process ``mock_aws``).

Every test seeds a fresh world, plans it the way ``remediate plan`` does
(``discover.discover`` + ``planner.build_plan``), writes the plan file, reads
it back and hands it to ``apply.run_apply`` / ``apply.run_rollback`` with an
``door.Aws`` whose clients come from an injectable factory. The factory
adds a botocore ``before-call`` hook to every client: it records every
operation the executor sends and lets a test make the n-th call of an
operation fail (or do something else, such as a hand edit mid-run).

Nothing waits: ``Settings(sleep=...)`` records instead of sleeping.

moto differences the tests work around (not remediator bugs):

* ``DescribeVpcEndpoints`` with the ``vpc-endpoint-id`` *filter* is not
  implemented in moto (AWS documents it); a ``before-parameter-build`` hook
  moves such a filter to ``VpcEndpointIds``.
* moto keeps a deleted endpoint listed with ``State: deleted`` (AWS does so
  for a while, too): snapshots are compared without deleted endpoints where
  an endpoint was created and removed.
* moto's functions carry no ``RevisionId``, so the stale check relies on the
  state hash there (the RevisionId path is covered with Stubber in
  tests/unit/test_executor_stubber.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from remediator import planfile, planner, sandbox
from remediator.aws import discover, door
from remediator.changes import registry
from remediator.changes.registry import Change
from remediator.diagnose import diagnose
from remediator.domain.errors import ApprovalRefused, BadInput
from remediator.domain.outcomes import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_ROLLBACK_INCOMPLETE,
    EXIT_ROLLED_BACK,
    EXIT_STALE,
)
from remediator.domain.policy import Policy, parse_policy
from remediator.planfile.approval import write_approval
from remediator.planfile.digest import with_digest
from remediator.planfile.model import Plan
from remediator.run.apply import ApplyOptions, Outcome, run_apply, run_rollback
from remediator.run.journal import Journal, read_journal
from remediator.run.lock import DynamoLock, FileLock, LockHeld, lock_key, owner_info
from tests.moto_worlds import Ec2World, seed_ec2_part

REGION = sandbox.REGION
NOW = "2026-01-01T00:00:00Z"

# "Allow everything": endpoints may be created, shared tables changed; the
# exempt tag keeps db-migrator exempt (as in the built-in policy).
ALLOW_ALL = """
[defaults]
allow_endpoint_creation = true
allow_shared_route_table_changes = true

[[rules]]
name = "exempt-tag"
match_tags = { "remediator:exempt" = "true" }
exempt = true
"""

READS = ("Describe", "Get", "List")


# --------------------------------------------------------------------------
# Fault injection and call recording


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


@dataclass
class Hooks:
    """A ``before-call`` handler for every client the factory makes: records
    each operation sent (``service:Operation``) and runs the rules, which may
    raise (a failing call) or act (a hand edit between two calls)."""

    operations: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    rules: list[tuple[str, Callable[[int], bool], Callable[[str], None]]] = field(
        default_factory=list
    )
    after: list[tuple[str, Callable[[dict[str, Any]], None]]] = field(default_factory=list)

    def on(
        self, operation: str, when: Callable[[int], bool], action: Callable[[str], None]
    ) -> None:
        self.rules.append((operation, when, action))

    def fail(
        self,
        operation: str,
        when: Callable[[int], bool],
        code: str = "InvalidParameterValueException",
    ) -> None:
        def raise_it(op: str) -> None:
            raise client_error(code, op)

        self.on(operation, when, raise_it)

    def before_call(self, model: Any, **_: Any) -> None:
        name = model.name
        self.operations.append(f"{model.service_model.service_name}:{name}")
        self.counts[name] += 1
        for op, when, action in self.rules:
            if op == name and when(self.counts[name]):
                action(name)

    def after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        for op, mutate in self.after:
            if op == model.name:
                mutate(parsed)

    def mutating(self) -> list[str]:
        return [o for o in self.operations if not o.split(":", 1)[1].startswith(READS)]


def _moto_endpoint_id_filter(params: dict[str, Any], **_: Any) -> None:
    """moto lacks DescribeVpcEndpoints' ``vpc-endpoint-id`` filter: use the ids parameter."""
    filters = params.get("Filters") or []
    ids = [v for f in filters if f.get("Name") == "vpc-endpoint-id" for v in f.get("Values", [])]
    if ids:
        params["Filters"] = [f for f in filters if f.get("Name") != "vpc-endpoint-id"]
        params["VpcEndpointIds"] = ids


# --------------------------------------------------------------------------
# The world


@dataclass
class World:
    session: boto3.session.Session
    tmp: Path
    info: sandbox.SeedInfo | None = None
    hooks: Hooks = field(default_factory=Hooks)
    sleeps: list[float] = field(default_factory=list)
    now: float = 0.0  # the executor's fake clock
    _clients: dict[str, Any] = field(default_factory=dict)

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    @property
    def lam(self) -> Any:
        return self._client("lambda")

    @property
    def ec2(self) -> Any:
        return self._client("ec2")

    def factory(self, service: str, region: str) -> Any:
        client = self.session.client(service, region_name=region, config=door.executor_config())
        client.meta.events.register("before-call", self.hooks.before_call)
        client.meta.events.register("after-call", self.hooks.after_call)
        client.meta.events.register(
            "before-parameter-build.ec2.DescribeVpcEndpoints", _moto_endpoint_id_filter
        )
        return client

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Nothing waits: the fake clock jumps instead (a settle that never
        comes times out at once rather than spinning for real)."""
        self.sleeps.append(seconds)
        self.now += seconds

    def aws(self, *, dry_run: bool = False) -> door.Aws:
        settings = door.Settings(
            clock=self.clock, sleep=self.sleep, settle_timeout=60, poll_interval=1
        )
        return door.Aws(self.factory, settings=settings, dry_run=dry_run)

    def snapshot(self) -> dict[str, Any]:
        return sandbox.snapshot({"ec2": self.ec2, "lambda": self.lam}, REGION)

    def plan(
        self, policy: Policy | None = None, functions: tuple[str, ...] = (), name: str = "p.json"
    ) -> tuple[Plan, Path]:
        """discover -> build_plan -> plan file -> read back (as plan then apply do)."""
        policy = policy or parse_policy(ALLOW_ALL)
        inventory = discover.discover(
            self.session,
            [REGION],
            function_patterns=functions,
            need_tags=policy.uses_tags,
            dns_for_all_vpcs=policy.may_create_endpoints,
        )
        plan = planner.build_plan(inventory, policy, NOW)
        path = self.tmp / name
        planfile.write_plan(plan, path)
        return planfile.read_plan(path), path

    def config(self, name: str) -> dict[str, Any]:
        cfg = self.lam.get_function_configuration(FunctionName=name)
        cfg.pop("ResponseMetadata", None)
        return dict(cfg)

    def set_subnets(self, name: str, subnets: list[str]) -> None:
        cfg = self.config(name)
        self.lam.update_function_configuration(
            FunctionName=name,
            VpcConfig={
                "SubnetIds": subnets,
                "SecurityGroupIds": list(cfg["VpcConfig"]["SecurityGroupIds"]),
            },
        )


@pytest.fixture(scope="module")
def botocore_session() -> botocore.session.Session:
    """One botocore session for the module: its loader parses the (large)
    service models once instead of once per test."""
    return botocore.session.get_session()


@pytest.fixture
def moto_env() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def session(moto_env: None, botocore_session: botocore.session.Session) -> boto3.session.Session:
    return boto3.Session(botocore_session=botocore_session, region_name=REGION)


@pytest.fixture
def world(session: boto3.session.Session, tmp_path: Path) -> World:
    """The sandbox account, freshly seeded."""
    w = World(session=session, tmp=tmp_path)
    w.info = sandbox.seed(session, REGION)
    return w


def _verifier(session: boto3.session.Session, policy: Policy) -> Any:
    """What `remediate apply` verifies: the fixed findings are gone."""

    def verify(plan: Plan, applied: list[Change]) -> list[str]:
        fixed = {fid for c in applied for fid in c.fixes}
        inventory = discover.discover(
            session,
            list(plan.regions),
            need_tags=policy.uses_tags,
            dns_for_all_vpcs=policy.may_create_endpoints,
        )
        return [
            f"{f.function}:{f.qualifier} {f.code}"
            for f in diagnose(inventory, policy).findings
            if f.id in fixed
        ]

    return verify


def _change(plan: Plan, kind: str, target_suffix: str) -> Change:
    return next(c for c in plan.changes if c.kind == kind and c.target.endswith(target_suffix))


def _fn_change(plan: Plan, function: str) -> Change:
    return _change(plan, registry.UPDATE_VPC_CONFIG, f":function:{function}")


def _text(outcome: Outcome) -> str:
    return "\n".join(outcome.lines)


def _nth(*numbers: int) -> Callable[[int], bool]:
    return lambda n: n in numbers


def _from(first: int) -> Callable[[int], bool]:
    return lambda n: n >= first


def _without_deleted_endpoints(snap: dict[str, Any]) -> dict[str, Any]:
    return {
        **snap,
        "vpc_endpoints": [e for e in snap["vpc_endpoints"] if e.get("State") != "deleted"],
    }


# --------------------------------------------------------------------------
# The sandbox: apply everything, verify, roll back exactly


def test_apply_fixes_every_fixable_finding_and_rollback_restores_exactly(world: World) -> None:
    policy = parse_policy(ALLOW_ALL)
    plan, path = world.plan(policy)
    assert len(plan.changes) >= 4
    planned = {f.id for f in plan.findings if f.status == "planned"}
    assert planned
    untouched = ("orders-fulfil", "db-migrator", "thumbnailer")
    configs_before = {name: world.config(name) for name in untouched}
    before = world.snapshot()

    outcome = run_apply(
        plan,
        path,
        world.aws(),
        ApplyOptions(max_risk="high", now=lambda: NOW),
        _verifier(world.session, policy),
    )

    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert outcome.applied == [c.id for c in plan.changes]
    assert "verification passed" in _text(outcome)
    assert outcome.journal == path.parent / "p.journal.jsonl"
    assert not (
        path.parent
        / ".locks"
        / (lock_key(plan.account_id, plan.regions).replace("/", "_") + ".lock")
    ).exists()

    # Every planned finding is gone; planning again finds nothing to change.
    again, _ = world.plan(policy, name="again.json")
    assert again.changes == ()
    assert not planned & {f.id for f in again.findings}
    assert all(f.status in ("blocked", "info") for f in again.findings)
    # Healthy, exempt and non-VPC functions were not touched.
    assert {name: world.config(name) for name in untouched} == configs_before
    # orders-api's alias now runs the fixed configuration.
    live = world.lam.get_function_configuration(FunctionName="orders-api", Qualifier="live")
    assert world.info is not None
    assert world.info.subnets["public-a"] not in live["VpcConfig"]["SubnetIds"]

    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.finished == {"event": "finished", "outcome": "applied", "at": NOW}
    assert [view.records[c.id].state for c in plan.changes] == ["done"] * len(plan.changes)

    rolled = run_rollback(plan, path.parent / "p.journal.jsonl", world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert "Rollback complete." in rolled.lines
    assert world.snapshot() == before

    operations_before = len(world.hooks.mutating())
    second = run_rollback(plan, path.parent / "p.journal.jsonl", world.aws(), None, lambda: NOW)
    assert second.exit_code == EXIT_OK
    assert "Nothing to roll back" in _text(second)
    assert world.snapshot() == before
    assert len(world.hooks.mutating()) == operations_before


def test_dry_run_changes_nothing_and_sends_only_reads(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()

    outcome = run_apply(
        plan, path, world.aws(dry_run=True), ApplyOptions(dry_run=True, max_risk="high")
    )

    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert "would-apply" in _text(outcome)
    assert sum("would-apply" in line for line in outcome.lines) == len(plan.changes)
    assert world.snapshot() == before
    assert world.hooks.operations, "the dry run read nothing"
    assert world.hooks.mutating() == []
    assert not (path.parent / "p.journal.jsonl").exists()
    assert not (path.parent / ".locks").exists()


def test_dry_run_reports_a_stale_plan_with_exit_3(world: World) -> None:
    plan, path = world.plan()
    assert world.info is not None
    world.set_subnets("reports-nightly", [world.info.subnets["public-a"]])
    outcome = run_apply(
        plan, path, world.aws(dry_run=True), ApplyOptions(dry_run=True, max_risk="high")
    )
    assert outcome.exit_code == EXIT_STALE
    assert "stale" in _text(outcome)
    assert world.hooks.mutating() == []


def test_dry_run_reports_a_change_that_would_fail_with_exit_1(world: World) -> None:
    plan, path = world.plan()
    assert world.info is not None
    gone = world.info.subnets["private-b"]
    assert any(gone in c.after.get("SubnetIds", []) for c in plan.changes)
    tables = world.ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [gone]}]
    )["RouteTables"]
    for association in tables[0]["Associations"]:
        world.ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    world.ec2.delete_subnet(SubnetId=gone)

    outcome = run_apply(
        plan, path, world.aws(dry_run=True), ApplyOptions(dry_run=True, max_risk="high")
    )

    assert outcome.exit_code == EXIT_ERROR, _text(outcome)
    assert f"subnets not found: {gone}" in _text(outcome)
    assert "would fail against the live state" in outcome.lines[-1]
    assert world.hooks.mutating() == []


def test_a_plan_without_changes_applies_nothing(world: World) -> None:
    plan, path = world.plan(functions=("orders-fulfil", "thumbnailer"))
    assert plan.changes == ()
    outcome = run_apply(plan, path, world.aws(), ApplyOptions())
    assert outcome.exit_code == EXIT_OK
    assert "No changes. Nothing to apply." in outcome.lines
    assert world.hooks.mutating() == []
    assert not (path.parent / "p.journal.jsonl").exists()


# --------------------------------------------------------------------------
# The EC2 kinds: NAT routes, VPC DNS, endpoint security group, Lambda endpoint


EC2_POLICY = """
[[rules]]
match_names = ["iso-nat"]
strategies = ["add-nat-route"]

[[rules]]
match_names = ["iso-api"]
strategies = ["lambda-endpoint"]
allow_endpoint_creation = true
"""


@pytest.fixture
def ec2_world(session: boto3.session.Session, tmp_path: Path) -> tuple[World, Ec2World]:
    """``moto_worlds.seed_ec2_part``: iso-nat (NAT routes), iso-api (DNS,
    endpoint group, Lambda endpoint)."""
    ec2, lam, iam = session.client("ec2"), session.client("lambda"), session.client("iam")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return World(session=session, tmp=tmp_path), seed_ec2_part(ec2, lam, role)


def _dns(ec2: Any, vpc_id: str) -> tuple[bool, bool]:
    support = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    return support["EnableDnsSupport"]["Value"], hostnames["EnableDnsHostnames"]["Value"]


def test_ec2_kinds_apply_and_roll_back(ec2_world: tuple[World, Ec2World]) -> None:
    world, ids = ec2_world
    plan, path = world.plan(parse_policy(EC2_POLICY))
    by_kind = Counter(c.kind for c in plan.changes)
    assert by_kind == {
        registry.PUT_NAT_ROUTE: 2,
        registry.ENABLE_VPC_DNS: 1,
        registry.CREATE_ENDPOINT_SG: 1,
        registry.CREATE_LAMBDA_ENDPOINT: 1,
    }
    assert (
        sorted(c.target for c in plan.changes if c.kind == registry.PUT_NAT_ROUTE)
        == ids.isolated_tables
    )
    before = world.snapshot()

    # Dry run first: reads only, nothing changes.
    dry = run_apply(
        plan, path, world.aws(dry_run=True), ApplyOptions(dry_run=True, max_risk="high")
    )
    assert dry.exit_code == EXIT_OK, _text(dry)
    assert world.hooks.mutating() == []
    assert world.snapshot() == before

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert len(outcome.applied) == 5

    ec2 = world.ec2
    for table in ids.isolated_tables:
        routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
        default = [r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        assert [r.get("NatGatewayId") for r in default] == [ids.nat_id]
    assert _dns(ec2, ids.api_vpc) == (True, True)
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [ids.api_vpc]},
            {"Name": "group-name", "Values": [f"remediator-lambda-endpoint-{ids.api_vpc}"]},
        ]
    )["SecurityGroups"]
    assert len(groups) == 1
    ingress = groups[0]["IpPermissions"]
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in ingress] == [("tcp", 443, 443)]
    assert [g["GroupId"] for g in ingress[0]["UserIdGroupPairs"]] == [ids.api_sg]
    endpoints = [
        e
        for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
        if e["VpcId"] == ids.api_vpc and e["State"] != "deleted"
    ]
    assert len(endpoints) == 1
    endpoint = endpoints[0]
    assert endpoint["ServiceName"] == f"com.amazonaws.{REGION}.lambda"
    assert endpoint["VpcEndpointType"] == "Interface"
    assert endpoint["PrivateDnsEnabled"] is True
    assert sorted(endpoint["SubnetIds"]) == ids.api_subnets
    tags = {t["Key"]: t["Value"] for t in endpoint.get("Tags", [])}
    assert tags["remediator:plan-id"] == plan.plan_id

    # Planning again: nothing left to do for either function.
    again, _ = world.plan(parse_policy(EC2_POLICY), name="again.json")
    assert again.changes == ()

    rolled = run_rollback(plan, outcome.journal or path, world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert _dns(ec2, ids.api_vpc) == (False, False)
    assert _without_deleted_endpoints(world.snapshot()) == before


# --------------------------------------------------------------------------
# Refusals that change nothing


def test_stale_plan_is_refused_before_any_change(world: World) -> None:
    plan, path = world.plan()
    assert world.info is not None
    world.set_subnets("reports-nightly", [world.info.subnets["public-a"]])
    edited = world.snapshot()

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    assert outcome.exit_code == EXIT_STALE, _text(outcome)
    assert "stale" in _text(outcome)
    assert world.snapshot() == edited
    assert world.hooks.mutating() == []
    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.finished is not None and view.finished["outcome"] == "stale"
    stale_id = _fn_change(plan, "reports-nightly").id
    assert view.records[stale_id].state == "skipped"
    assert "changed since the plan" in (view.records[stale_id].error or "")
    assert view.applied() == []


def test_target_changed_during_the_run_rolls_back_and_exits_3(world: World) -> None:
    """The hand edit lands after the preflight check, while the run goes on."""
    plan, path = world.plan()
    assert world.info is not None
    info = world.info

    def edit_by_hand(_: str) -> None:
        world.set_subnets("reports-nightly", [info.subnets["public-a"]])  # no hooks on this client

    world.hooks.on("UpdateFunctionConfiguration", _nth(1), edit_by_hand)
    before = world.snapshot()

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    assert outcome.exit_code == EXIT_STALE, _text(outcome)
    after = world.snapshot()
    # Only the hand edit remains: the changes applied before it were undone.
    for fn_before, fn_after in zip(before["functions"], after["functions"], strict=True):
        if fn_before["name"] != "reports-nightly":
            assert fn_before == fn_after, fn_before["name"]
    assert world.config("reports-nightly")["VpcConfig"]["SubnetIds"] == [info.subnets["public-a"]]
    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.finished is not None and view.finished["outcome"] == "stale"


def test_plan_for_another_account_is_refused(world: World) -> None:
    plan, path = world.plan()
    other = with_digest(plan.model_copy(update={"account_id": "999999999999"}))
    before = world.snapshot()
    with pytest.raises(BadInput, match="999999999999"):
        run_apply(other, path, world.aws(), ApplyOptions(max_risk="high"))
    assert world.snapshot() == before
    assert not (path.parent / "p.journal.jsonl").exists()


def test_second_apply_of_the_same_plan_is_refused(world: World) -> None:
    plan, path = world.plan()
    first = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert first.exit_code == EXIT_OK
    applied = world.snapshot()
    with pytest.raises(BadInput, match="already applied"):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert world.snapshot() == applied


def test_max_risk_low_applies_only_low_risk_changes(world: World) -> None:
    plan, path = world.plan()
    low = [c.id for c in plan.changes if c.risk == "low"]
    others = [c for c in plan.changes if c.risk != "low"]
    assert low and others

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="low"))

    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert outcome.applied == low
    for change in others:
        assert any(
            line.strip().startswith("needs approval") and change.id in line
            for line in outcome.lines
        ), change.id
    assert f"{len(others)} change(s) were not applied: they need approval." in outcome.lines
    assert world.info is not None
    # reports-nightly (medium) untouched, orders-api (low) fixed.
    assert (
        world.info.subnets["public-a"] in world.config("reports-nightly")["VpcConfig"]["SubnetIds"]
    )
    assert (
        world.info.subnets["public-a"] not in world.config("orders-api")["VpcConfig"]["SubnetIds"]
    )


def test_nothing_within_max_risk_and_no_approval_is_refused(world: World) -> None:
    plan, path = world.plan(functions=("reports-nightly", "payments-api"))
    assert plan.changes and all(c.risk != "low" for c in plan.changes)
    before = world.snapshot()
    with pytest.raises(ApprovalRefused, match="approved"):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="low"))
    assert world.snapshot() == before
    assert world.hooks.mutating() == []
    assert not (path.parent / "p.journal.jsonl").exists()


def test_an_approval_file_lets_the_high_risk_changes_run(world: World) -> None:
    plan, path = world.plan(functions=("reports-nightly", "payments-api"))
    approval = write_approval(plan, path.with_name("p.approval.json"), by="ana", at=NOW)
    assert approval.plan_digest == plan.digest

    outcome = run_apply(
        plan,
        path,
        world.aws(),
        ApplyOptions(max_risk="low", approval=path.with_name("p.approval.json")),
    )

    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert sorted(outcome.applied) == sorted(c.id for c in plan.changes)
    assert {c.risk for c in plan.changes} >= {"high"}
    assert world.lam.get_alias(FunctionName="payments-api", Name="prod")["FunctionVersion"] != "1"


def test_an_approval_for_another_plan_is_refused(world: World) -> None:
    plan, path = world.plan(functions=("reports-nightly", "payments-api"))
    # Same plan id, other digest (another plan run of the same world).
    other = with_digest(plan.model_copy(update={"created_at": "2026-02-02T00:00:00Z"}))
    assert other.plan_id == plan.plan_id and other.digest != plan.digest
    write_approval(other, path.with_name("other.approval.json"), by="ana", at=NOW)
    before = world.snapshot()
    with pytest.raises(ApprovalRefused, match="not for"):
        run_apply(
            plan,
            path,
            world.aws(),
            ApplyOptions(max_risk="low", approval=path.with_name("other.approval.json")),
        )
    assert world.snapshot() == before


def test_interactive_no_changes_nothing(world: World) -> None:
    plan, path = world.plan()
    questions: list[str] = []

    def answer(question: str) -> bool:
        questions.append(question)
        return False

    before = world.snapshot()
    with pytest.raises(ApprovalRefused, match="cancelled"):
        run_apply(plan, path, world.aws(), ApplyOptions(confirm=answer))
    assert len(questions) == 1 and plan.account_id in questions[0]
    assert world.snapshot() == before
    assert world.hooks.mutating() == []


def test_confirm_each_skips_what_depends_on_a_declined_change(world: World) -> None:
    plan, path = world.plan()
    orders = _fn_change(plan, "orders-api")
    alias = _change(plan, registry.MOVE_ALIAS, ":orders-api:live")
    assert orders.id in alias.depends_on
    questions: list[str] = []

    def answer(question: str) -> bool:
        questions.append(question)
        return orders.target not in question

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(confirm=answer, confirm_each=True))

    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert orders.id not in outcome.applied and alias.id not in outcome.applied
    assert not any(alias.target in q for q in questions)
    assert len(outcome.applied) == len(plan.changes) - 2


# --------------------------------------------------------------------------
# Failures: rollback, incomplete rollback, --no-rollback


def test_a_failing_change_rolls_back_the_completed_ones(world: World) -> None:
    plan, path = world.plan()
    updates = [c for c in plan.changes if c.kind == registry.UPDATE_VPC_CONFIG]
    assert len(updates) >= 2
    world.hooks.fail("UpdateFunctionConfiguration", _nth(2))
    before = world.snapshot()

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert world.snapshot() == before
    text = _text(outcome)
    assert "InvalidParameterValueException" in text
    assert f"undone       {updates[0].id}" in text
    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.records[updates[0].id].state == "undone"
    assert view.records[updates[1].id].state == "failed"
    assert view.finished is not None and view.finished["outcome"] == "rolled-back"


def test_a_failing_undo_leaves_exit_5_naming_what_is_left(world: World) -> None:
    plan, path = world.plan()
    first = next(c for c in plan.changes if c.kind == registry.UPDATE_VPC_CONFIG)
    world.hooks.fail("UpdateFunctionConfiguration", _from(2))

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    assert outcome.exit_code == EXIT_ROLLBACK_INCOMPLETE, _text(outcome)
    assert f"left to undo by hand: {first.id}" in outcome.lines[-1]
    assert f"undo-failed  {first.id}" in _text(outcome)
    # The first change is still in place.
    name = first.target.rsplit(":", 1)[1]
    assert sorted(world.config(name)["VpcConfig"]["SubnetIds"]) == sorted(first.after["SubnetIds"])
    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.records[first.id].state == "undo-failed"
    assert [r.change_id for r in view.applied()] == [first.id]


def test_no_rollback_keeps_the_completed_change_and_rollback_restores_it(world: World) -> None:
    plan, path = world.plan()
    first = next(c for c in plan.changes if c.kind == registry.UPDATE_VPC_CONFIG)
    world.hooks.fail("UpdateFunctionConfiguration", _nth(2))
    before = world.snapshot()

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", rollback=False))

    assert outcome.exit_code == EXIT_ERROR, _text(outcome)
    assert "--no-rollback" in outcome.lines[-1] and first.id in outcome.lines[-1]
    name = first.target.rsplit(":", 1)[1]
    assert sorted(world.config(name)["VpcConfig"]["SubnetIds"]) == sorted(first.after["SubnetIds"])
    assert world.snapshot() != before

    rolled = run_rollback(plan, path.parent / "p.journal.jsonl", world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert world.snapshot() == before


def test_rollback_does_not_overwrite_a_hand_edit(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()
    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert outcome.exit_code == EXIT_OK
    assert world.info is not None
    hand = [world.info.subnets["private-b"]]
    world.set_subnets("reports-nightly", hand)
    edited = _fn_change(plan, "reports-nightly")

    rolled = run_rollback(plan, path.parent / "p.journal.jsonl", world.aws(), None, lambda: NOW)

    assert rolled.exit_code == EXIT_ROLLBACK_INCOMPLETE, _text(rolled)
    assert f"undo-skipped {edited.id}" in _text(rolled)
    assert edited.id in rolled.lines[-1]
    assert world.config("reports-nightly")["VpcConfig"]["SubnetIds"] == hand
    after = world.snapshot()
    for fn_before, fn_after in zip(before["functions"], after["functions"], strict=True):
        if fn_before["name"] != "reports-nightly":
            assert fn_before == fn_after, fn_before["name"]
    view = read_journal(path.parent / "p.journal.jsonl")
    assert [r.change_id for r in view.applied()] == [edited.id]


def test_failed_verification_keeps_the_changes_and_exits_1(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()

    outcome = run_apply(
        plan, path, world.aws(), ApplyOptions(max_risk="high"), lambda p, a: ["orders-api broken"]
    )

    assert outcome.exit_code == EXIT_ERROR, _text(outcome)
    assert "Verification failed:" in outcome.lines
    assert "  orders-api broken" in outcome.lines
    assert world.snapshot() != before
    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.finished is not None and view.finished["outcome"] == "verify-failed"
    with pytest.raises(BadInput, match="nothing to resume"):
        run_apply(
            plan,
            path,
            world.aws(),
            ApplyOptions(max_risk="high", resume=path.parent / "p.journal.jsonl"),
        )
    rolled = run_rollback(plan, path.parent / "p.journal.jsonl", world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert world.snapshot() == before


def test_failed_verification_rolls_back_when_asked(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()

    outcome = run_apply(
        plan,
        path,
        world.aws(),
        ApplyOptions(max_risk="high", rollback_on_verify_failure=True),
        lambda p, a: ["orders-api broken"],
    )

    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert world.snapshot() == before
    view = read_journal(path.parent / "p.journal.jsonl")
    assert view.finished is not None and view.finished["outcome"] == "rolled-back"
    assert view.applied() == []


def test_a_journal_of_another_plan_is_refused(world: World) -> None:
    plan, path = world.plan()
    other = with_digest(plan.model_copy(update={"created_at": "2026-02-02T00:00:00Z"}))
    outcome = run_apply(other, path, world.aws(), ApplyOptions(max_risk="high"))
    assert outcome.exit_code == EXIT_OK
    applied = world.snapshot()
    journal_path = path.parent / "p.journal.jsonl"
    with pytest.raises(BadInput, match="belongs to"):
        run_rollback(plan, journal_path, world.aws(), None, lambda: NOW)
    with pytest.raises(BadInput, match="belongs to another plan"):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal_path))
    with pytest.raises(BadInput, match="does not exist"):
        run_rollback(plan, path.parent / "missing.jsonl", world.aws(), None, lambda: NOW)
    assert world.snapshot() == applied


# --------------------------------------------------------------------------
# Resume after a kill


def test_resume_from_a_journal_cut_after_the_first_intent(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()
    journal_path = path.parent / "p.journal.jsonl"
    first = plan.changes[0]
    with Journal(journal_path) as journal:  # what a process killed mid-call leaves
        journal.write(
            "run",
            run_id="run-killed",
            plan_id=plan.plan_id,
            plan_digest=plan.digest,
            account_id=plan.account_id,
            regions=list(plan.regions),
            resume=False,
        )
        journal.write(
            "intent",
            change_id=first.id,
            kind=first.kind,
            target=first.target,
            region=first.region,
            state_before=first.fingerprint.state,
        )
    # Without --resume the interrupted run is pointed out, not repeated.
    with pytest.raises(BadInput, match="--resume"):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal_path))

    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert outcome.applied == [c.id for c in plan.changes]
    again, _ = world.plan(name="again.json")
    assert again.changes == ()
    rolled = run_rollback(plan, journal_path, world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert world.snapshot() == before


def test_resume_after_an_interrupt_at_the_second_change(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()
    journal_path = path.parent / "p.journal.jsonl"

    def die(_: str) -> None:
        raise KeyboardInterrupt

    world.hooks.on("UpdateFunctionConfiguration", _nth(2), die)
    with pytest.raises(KeyboardInterrupt):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    view = read_journal(journal_path)
    assert view.finished is None
    assert [view.records[c].state for c in view.order] == ["done", "intent"]

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal_path))

    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert f"already      {plan.changes[0].id}" in _text(outcome)
    again, _ = world.plan(name="again.json")
    assert again.changes == ()
    # A finished run is not resumed twice.
    with pytest.raises(BadInput, match="nothing to resume"):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal_path))
    rolled = run_rollback(plan, journal_path, world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert world.snapshot() == before


def test_resume_recognises_a_change_the_killed_run_made(world: World) -> None:
    """Killed after the second update went through, before its ``done`` line."""
    plan, path = world.plan()
    before = world.snapshot()
    journal_path = path.parent / "p.journal.jsonl"
    updates = [c for c in plan.changes if c.kind == registry.UPDATE_VPC_CONFIG]
    seen: list[int] = []

    def die_after_second(parsed: dict[str, Any]) -> None:
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt

    world.hooks.after.append(("UpdateFunctionConfiguration", die_after_second))
    with pytest.raises(KeyboardInterrupt):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    world.hooks.after.clear()
    name = updates[1].target.rsplit(":", 1)[1]
    assert sorted(world.config(name)["VpcConfig"]["SubnetIds"]) == sorted(
        updates[1].after["SubnetIds"]
    )
    assert read_journal(journal_path).records[updates[1].id].state == "intent"

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal_path))

    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert f"already      {updates[1].id}" in _text(outcome)
    assert world.hooks.counts["UpdateFunctionConfiguration"] == 2 + len(updates) - 2
    view = read_journal(journal_path)
    assert view.records[updates[1].id].state == "done"
    rolled = run_rollback(plan, journal_path, world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert world.snapshot() == before


def test_rollback_after_resuming_a_journal_torn_by_a_kill(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()
    journal_path = path.parent / "p.journal.jsonl"

    def die(_: str) -> None:
        raise KeyboardInterrupt

    world.hooks.on("UpdateFunctionConfiguration", _nth(2), die)
    with pytest.raises(KeyboardInterrupt):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    # The kill hit while the second intent line was being written.
    text = journal_path.read_text(encoding="utf-8")
    journal_path.write_text(
        text[: len(text) - len(text.splitlines()[-1]) // 2 - 1], encoding="utf-8"
    )
    assert read_journal(journal_path).truncated

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal_path))
    assert outcome.exit_code == EXIT_OK, _text(outcome)

    rolled = run_rollback(plan, journal_path, world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert world.snapshot() == before


# --------------------------------------------------------------------------
# Bugs found while writing these tests


def test_a_target_deleted_since_the_plan_is_stale(world: World) -> None:
    plan, path = world.plan()
    world.lam.delete_function(FunctionName="reports-nightly")
    edited = world.snapshot()
    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert outcome.exit_code == EXIT_STALE
    assert world.snapshot() == edited


def test_a_failed_alias_move_leaves_no_published_version(world: World) -> None:
    plan, path = world.plan()
    world.hooks.fail("UpdateAlias", _nth(1), code="AccessDeniedException")
    before = world.snapshot()
    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert world.snapshot() == before


def test_a_denied_call_names_the_missing_iam_action(world: World) -> None:
    plan, path = world.plan()
    world.hooks.fail("UpdateAlias", _nth(1), code="AccessDeniedException")
    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    failed = [line for line in outcome.lines if "Access denied" in line]
    assert failed, _text(outcome)
    assert "lambda:UpdateAlias" in failed[0]


def test_an_endpoint_that_fails_to_settle_is_removed_on_rollback(
    ec2_world: tuple[World, Ec2World],
) -> None:
    world, ids = ec2_world
    plan, path = world.plan(parse_policy(EC2_POLICY))
    created: list[bool] = []
    world.hooks.on("CreateVpcEndpoint", _nth(1), lambda _: created.append(True))

    def first_probe_fails(parsed: dict[str, Any]) -> None:
        if created == [True]:
            for endpoint in parsed.get("VpcEndpoints", []):
                endpoint["State"] = "failed"
            created.append(False)  # only the first probe after the create

    world.hooks.after.append(("DescribeVpcEndpoints", first_probe_fails))
    before = world.snapshot()

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))

    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert "is failed" in _text(outcome)
    live = [
        e
        for e in world.ec2.describe_vpc_endpoints()["VpcEndpoints"]
        if e["VpcId"] == ids.api_vpc and e["State"] != "deleted"
    ]
    assert live == []
    assert _without_deleted_endpoints(world.snapshot()) == before


def test_a_revision_id_conflict_at_write_time_is_stale(world: World) -> None:
    plan, path = world.plan()
    world.hooks.fail("UpdateFunctionConfiguration", _nth(2), code="PreconditionFailedException")
    before = world.snapshot()
    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert world.snapshot() == before
    assert outcome.exit_code == EXIT_STALE, _text(outcome)


def test_dry_run_of_an_applied_plan_says_already_applied(world: World) -> None:
    plan, path = world.plan()
    assert run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high")).exit_code == EXIT_OK
    with pytest.raises(BadInput, match="already applied"):
        run_apply(plan, path, world.aws(dry_run=True), ApplyOptions(dry_run=True, max_risk="high"))


# --------------------------------------------------------------------------
# Locks


def test_apply_refuses_while_another_run_holds_the_lock(world: World) -> None:
    plan, path = world.plan()
    lock = FileLock(path.parent / ".locks")
    key = lock_key(plan.account_id, plan.regions)
    lock.acquire(key, {"owner": "bob@ci", "pid": 4242, "run_id": "run-other", "since": NOW})
    before = world.snapshot()
    with pytest.raises(LockHeld, match="bob@ci") as caught:
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert "run-other" in str(caught.value)
    assert world.snapshot() == before
    assert world.hooks.mutating() == []
    assert not (path.parent / "p.journal.jsonl").exists()
    assert lock.path(key).exists(), "the other run's lock must stay"


def test_rollback_holds_the_apply_lock_and_refuses_while_another_run_has_it(world: World) -> None:
    plan, path = world.plan()
    before = world.snapshot()
    assert run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high")).exit_code == EXIT_OK
    applied = world.snapshot()
    journal = path.parent / "p.journal.jsonl"
    lock = FileLock(path.parent / ".locks")
    key = lock_key(plan.account_id, plan.regions)

    lock.acquire(key, {"owner": "bob@ci", "pid": 4242, "run_id": "run-resumed", "since": NOW})
    world.hooks.operations.clear()
    with pytest.raises(LockHeld, match="bob@ci"):
        run_rollback(plan, journal, world.aws(), None, lambda: NOW, lock=lock)
    assert world.snapshot() == applied
    assert world.hooks.mutating() == []
    assert lock.path(key).exists(), "the other run's lock must stay"
    lock.release(key, {"owner": "bob@ci", "pid": 4242, "run_id": "run-resumed", "since": NOW})

    seen: list[bool] = []
    for operation in ("GetFunctionConfiguration", "UpdateFunctionConfiguration"):
        world.hooks.on(operation, lambda _n: True, lambda _op: seen.append(lock.path(key).exists()))
    rolled = run_rollback(plan, journal, world.aws(), None, lambda: NOW, lock=lock)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert world.snapshot() == before
    assert seen and all(seen), "the rollback reads and writes under the lock"
    assert not lock.path(key).exists(), "the rollback releases its lock"


def _lock_table(session: boto3.session.Session) -> Any:
    client = session.client("dynamodb")
    client.create_table(
        TableName="remediator-locks",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def test_dynamo_lock(session: boto3.session.Session) -> None:
    client = _lock_table(session)
    lock = DynamoLock(client, "remediator-locks")
    key = lock_key("123456789012", ["us-east-1"])
    mine = {**owner_info("run-a", NOW), "owner": "ana@laptop"}
    theirs = {**owner_info("run-b", NOW), "owner": "bob@ci"}

    lock.acquire(key, mine)
    with pytest.raises(LockHeld, match="ana@laptop") as caught:
        lock.acquire(key, theirs)
    assert "run-a" in str(caught.value) and "remediator-locks" in str(caught.value)

    lock.release(key, theirs)  # not the owner: the lock stays
    assert client.get_item(TableName="remediator-locks", Key={"LockID": {"S": key}}).get("Item")
    lock.release(key, mine)
    assert not client.get_item(TableName="remediator-locks", Key={"LockID": {"S": key}}).get("Item")

    lock.acquire(key, theirs)
    with pytest.raises(LockHeld, match="lease is live"):
        lock.break_lock(key)  # a live lease: only with force
    assert lock.break_lock(key, force=True) is True
    assert lock.break_lock(key) is False
    lock.acquire(key, mine)  # free again
    lock.release(key, mine)


def test_apply_with_a_dynamo_lock_releases_it(world: World) -> None:
    client = _lock_table(world.session)
    plan, path = world.plan()
    lock = DynamoLock(client, "remediator-locks")
    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", lock=lock))
    assert outcome.exit_code == EXIT_OK, _text(outcome)
    assert client.scan(TableName="remediator-locks")["Count"] == 0
    assert not (path.parent / ".locks").exists()


def test_file_lock(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / ".locks")
    key = lock_key("123456789012", ["us-east-1", "eu-west-1"])
    mine = {"owner": "ana@laptop", "pid": 1, "run_id": "run-a", "since": NOW}
    theirs = {"owner": "bob@ci", "pid": 2, "run_id": "run-b", "since": NOW}
    lock.acquire(key, mine)
    with pytest.raises(LockHeld, match="ana@laptop"):
        lock.acquire(key, theirs)
    lock.release(key, theirs)
    assert lock.path(key).exists()
    lock.release(key, mine)
    assert not lock.path(key).exists()
    lock.acquire(key, theirs)
    assert json.loads(lock.path(key).read_text())["run_id"] == "run-b"
    with pytest.raises(LockHeld, match="held by a live run"):
        lock.break_lock(key)
    assert lock.break_lock(key, force=True) is True
    assert lock.break_lock(key) is False


# --------------------------------------------------------------------------
# Rollback restores what the journal recorded, never the plan's ``before``


def _plan_with_another_group_before(world: World, plan: Plan) -> tuple[Plan, Change, str]:
    """``plan`` with its first function change's ``before`` naming another
    security group of the function's VPC, and the digest recomputed: an edit
    that `remediate plan` never makes and the digest alone cannot catch."""
    change = _change(plan, registry.UPDATE_VPC_CONFIG, "")
    name = change.target.rsplit(":", 1)[1]
    vpc_id = world.config(name)["VpcConfig"]["VpcId"]
    other = world.ec2.create_security_group(
        GroupName="not-the-functions", Description="another group", VpcId=vpc_id
    )["GroupId"]
    data = json.loads(planfile.dumps(plan))
    for c in data["changes"]:
        if c["id"] == change.id:
            c["before"]["SecurityGroupIds"] = [other]
    return with_digest(type(plan).model_validate(data)), change, other


def test_a_plan_whose_before_disagrees_with_its_fingerprint_is_refused(world: World) -> None:
    plan, path = world.plan()
    edited, change, _ = _plan_with_another_group_before(world, plan)
    planfile.write_plan(edited, path)
    with pytest.raises(BadInput) as err:
        planfile.read_plan(path)
    assert change.id in err.value.message and "fingerprint" in err.value.message
    assert "\n" not in err.value.message


def _groups_of(world: World, change: Change) -> list[str]:
    name = change.target.rsplit(":", 1)[1]
    return sorted(world.config(name)["VpcConfig"]["SecurityGroupIds"])


def test_rollback_on_failure_restores_the_journaled_state_not_the_plans_before(
    world: World,
) -> None:
    plan, path = world.plan()
    edited, change, other = _plan_with_another_group_before(world, plan)
    groups = _groups_of(world, change)
    before = world.snapshot()
    world.hooks.fail("UpdateFunctionConfiguration", _nth(2))

    outcome = run_apply(edited, path, world.aws(), ApplyOptions(max_risk="high"))

    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert _groups_of(world, change) == groups != [other]
    assert world.snapshot() == before


def test_rollback_command_restores_the_journaled_state_not_the_plans_before(
    world: World,
) -> None:
    plan, path = world.plan()
    edited, change, other = _plan_with_another_group_before(world, plan)
    groups = _groups_of(world, change)
    before = world.snapshot()
    outcome = run_apply(edited, path, world.aws(), ApplyOptions(max_risk="high"))
    assert outcome.exit_code == EXIT_OK, _text(outcome)

    rolled = run_rollback(edited, path.parent / "p.journal.jsonl", world.aws(), None, lambda: NOW)

    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert _groups_of(world, change) == groups != [other]
    assert world.snapshot() == before


def test_rollback_after_failed_verification_restores_the_journaled_state(world: World) -> None:
    plan, path = world.plan()
    edited, change, other = _plan_with_another_group_before(world, plan)
    groups = _groups_of(world, change)
    before = world.snapshot()

    outcome = run_apply(
        edited,
        path,
        world.aws(),
        ApplyOptions(max_risk="high", rollback_on_verify_failure=True),
        lambda p, a: ["orders-api broken"],
    )

    assert outcome.exit_code == EXIT_ROLLED_BACK, _text(outcome)
    assert _groups_of(world, change) == groups != [other]
    assert world.snapshot() == before
