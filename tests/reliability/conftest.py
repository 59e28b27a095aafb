"""Worlds for the reliability suite: moto in-process, made AWS-like
(tests/reliability/awslike.py), with a fault injector on every client the
executor and discovery use, a fake clock, and builders for plans of 1, 5
and 50 changes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import structlog
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from moto import mock_aws

from remediator import planfile, planner, sandbox
from remediator.aws import discover, door
from remediator.domain.policy import Policy, parse_policy
from remediator.planfile.model import Plan
from tests.moto_worlds import function_zip, seed_ec2_part
from tests.reliability.awslike import AwsLike

REGION = sandbox.REGION
NOW = "2026-01-01T00:00:00Z"
READS = ("Describe", "Get", "List")

# Endpoints may be created and shared tables changed; the exempt tag still
# exempts (as in the built-in policy). The iso-* functions of the EC2 part
# get the NAT-route and endpoint strategies.
ALLOW_ALL = """
[defaults]
allow_endpoint_creation = true
allow_shared_route_table_changes = true

[[rules]]
name = "exempt-tag"
match_tags = { "remediator:exempt" = "true" }
exempt = true

[[rules]]
match_names = ["iso-nat"]
strategies = ["add-nat-route"]

[[rules]]
match_names = ["iso-api"]
strategies = ["lambda-endpoint"]
"""


def is_read(operation: str) -> bool:
    return operation.startswith(READS)


# --------------------------------------------------------------------------
# Faults


def _url(service: str) -> str:
    return f"https://{service}.{REGION}.amazonaws.com/"


def connect_timeout(service: str, operation: str) -> BaseException:
    """A fault maker: the call never reached AWS."""
    return ConnectTimeoutError(endpoint_url=_url(service))


def read_timeout(service: str, operation: str) -> BaseException:
    """A fault maker: with ``phase="after"``, AWS did the call and the answer was lost."""
    return ReadTimeoutError(endpoint_url=_url(service))


def kill(service: str, operation: str) -> BaseException:
    """A fault maker: the process dies (Ctrl-C) at this call."""
    return KeyboardInterrupt()


@dataclass
class Fault:
    """Fail the ``start``-th mutating call (and the ``times - 1`` calls after
    it: a retry loop's next attempts). ``phase`` "before": the call never
    reaches AWS; "after": AWS did it, the client sees the failure."""

    make: Callable[[str, str], BaseException]  # (service, operation) -> exception
    start: int
    times: int = 1
    phase: str = "before"


@dataclass
class Recorder:
    """Registered first on every client: records each operation and raises
    the armed faults. Side reads of the AwsLike fixture are not seen."""

    operations: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    mutating: int = 0
    injected: int = 0
    armed: bool = True
    before_hooks: list[Callable[[str], None]] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        client.meta.events.register_first("before-call", self._before)
        client.meta.events.register_last("after-call", self._after)
        return client

    def mutations(self) -> list[str]:
        return [o for o in self.operations if not is_read(o.split(":", 1)[1])]

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        service, op = model.service_model.service_name, model.name
        self.operations.append(f"{service}:{op}")
        for hook in self.before_hooks:
            hook(op)
        if is_read(op):
            return
        self.mutating += 1
        context["recorder_n"] = self.mutating
        if not self.armed:
            return
        for fault in self.faults:
            if fault.phase == "before" and fault.start <= self.mutating < fault.start + fault.times:
                self.injected += 1
                raise fault.make(service, op)

    def _after(self, model: Any, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        n = context.get("recorder_n")
        if n is None or not self.armed or http_response is None:
            return
        if http_response.status_code >= 300:
            return
        service, op = model.service_model.service_name, model.name
        for fault in self.faults:
            if fault.phase == "after" and fault.start <= n < fault.start + fault.times:
                self.injected += 1
                raise fault.make(service, op)


def client_error(code: str, operation: str, status: int = 400, message: str = "") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message or f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        },
        operation,
    )


# --------------------------------------------------------------------------
# The world


@dataclass
class World:
    session: boto3.session.Session
    tmp: Path
    info: sandbox.SeedInfo | None = None
    awslike: AwsLike = field(init=False)
    recorder: Recorder = field(default_factory=Recorder)
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    _raw: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.awslike = AwsLike(raw=self.raw)

    def raw(self, service: str, region: str = REGION) -> Any:
        """An unhooked client (setup, snapshots, hand edits)."""
        key = (service, region)
        if key not in self._raw:
            self._raw[key] = self.session.client(service, region_name=region)  # type: ignore[call-overload]
        return self._raw[key]

    def factory(self, service: str, region: str) -> Any:
        """What the executor and discovery get: recorded, faultable, AWS-like."""
        client = self.session.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            config=door.executor_config(),
        )
        self.recorder.attach(client)
        return self.awslike.attach(client)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def aws(self, *, dry_run: bool = False) -> door.Aws:
        settings = door.Settings(
            clock=self.clock, sleep=self.sleep, settle_timeout=600, poll_interval=5
        )
        return door.Aws(self.factory, settings=settings, dry_run=dry_run)

    def snapshot(self) -> dict[str, Any]:
        return comparable(sandbox.snapshot({"ec2": self.raw("ec2"), "lambda": self.raw("lambda")}))

    def plan(
        self,
        policy: Policy | None = None,
        functions: tuple[str, ...] = (),
        name: str = "p.json",
    ) -> tuple[Plan, Path]:
        """discover (through the AWS-like clients) -> build_plan -> file -> read back."""
        policy = policy or parse_policy(ALLOW_ALL)
        armed, self.recorder.armed = self.recorder.armed, False
        try:
            inventory = discover.discover(
                None,
                [REGION],
                function_patterns=functions,
                need_tags=policy.uses_tags,
                dns_for_all_vpcs=policy.may_create_endpoints,
                client_factory=self.factory,
            )
        finally:
            self.recorder.armed = armed
        plan = planner.build_plan(inventory, policy, NOW)
        path = self.tmp / name
        planfile.write_plan(plan, path)
        return planfile.read_plan(path), path


# Fields that legitimately differ between a world and the same world after
# apply + rollback: a VPC endpoint that remediator created and deleted stays
# listed with State "deleted" (AWS lists deleted endpoints for a while, too).
# Nothing else is excluded (timestamps and ResponseMetadata are already
# dropped by sandbox.snapshot).
def comparable(snap: dict[str, Any]) -> dict[str, Any]:
    return {
        **snap,
        "vpc_endpoints": [e for e in snap["vpc_endpoints"] if e.get("State") != "deleted"],
    }


SNAPSHOT_IDS = {
    "functions": "name",
    "vpcs": "VpcId",
    "subnets": "SubnetId",
    "route_tables": "RouteTableId",
    "internet_gateways": "InternetGatewayId",
    "nat_gateways": "NatGatewayId",
    "vpc_endpoints": "VpcEndpointId",
    "security_groups": "GroupId",
    "network_acls": "NetworkAclId",
    "addresses": "AllocationId",
}


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The resources that differ (one entry per changed, added or removed
    item); a section that differs in any other way is named whole."""
    out: list[str] = []
    for section in sorted(set(before) | set(after)):
        a, b = before.get(section), after.get(section)
        if a == b:
            continue
        id_key = SNAPSHOT_IDS.get(section)
        if id_key is None or not (isinstance(a, list) and isinstance(b, list)):
            out.append(section)
            continue
        left = {str(i.get(id_key)): i for i in a}
        right = {str(i.get(id_key)): i for i in b}
        found = [
            f"{section}/{k}" for k in sorted(set(left) | set(right)) if left.get(k) != right.get(k)
        ]
        out += found or [section]
    return out


# --------------------------------------------------------------------------
# Builders


def add_extra_functions(
    world: World, count: int, *, env: dict[str, str] | None = None, prefix: str = "extra"
) -> list[str]:
    """``count`` functions like orders-api (one public subnet among private
    ones): each gets one lambda.update-vpc-config change."""
    assert world.info is not None
    info = world.info
    lam = world.raw("lambda")
    names = []
    code = function_zip()
    for i in range(count):
        name = f"{prefix}-{i:03d}"
        kwargs: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": info.role_arn,
            "Handler": "h.h",
            "Code": {"ZipFile": code},
            "VpcConfig": {
                "SubnetIds": [
                    info.subnets["public-a"],
                    info.subnets["private-a"],
                    info.subnets["private-b"],
                ],
                "SecurityGroupIds": [info.security_groups["fn-sg"]],
            },
        }
        if env:
            kwargs["Environment"] = {"Variables": env}
        lam.create_function(**kwargs)
        names.append(name)
    return names


def add_ec2_part(world: World, *, endpoint_vpc: bool = False) -> None:
    """``moto_worlds.seed_ec2_part``: ``iso-nat`` -> two ec2.put-nat-route;
    ``iso-api`` -> enable-vpc-dns, endpoint security group, Lambda endpoint."""
    assert world.info is not None
    seed_ec2_part(
        world.raw("ec2"), world.raw("lambda"), world.info.role_arn, endpoint_vpc=endpoint_vpc
    )


@pytest.fixture(scope="session")
def botocore_session() -> botocore.session.Session:
    """One botocore session: service models are parsed once."""
    return botocore.session.get_session()


@contextmanager
def open_world(
    tmp: Path,
    botocore_session: botocore.session.Session,
    *,
    ec2_part: bool = False,
    endpoint_vpc: bool = False,
    extra: int = 0,
    env: dict[str, str] | None = None,
) -> Iterator[World]:
    """A fresh moto account with the sandbox seeded (+ the EC2 part, + extra functions)."""
    with mock_aws():
        session = boto3.Session(botocore_session=botocore_session, region_name=REGION)
        world = World(session=session, tmp=tmp)
        world.info = sandbox.seed(session, REGION)
        if ec2_part or endpoint_vpc:
            add_ec2_part(world, endpoint_vpc=endpoint_vpc)
        if extra:
            add_extra_functions(world, extra, env=env)
        yield world


@pytest.fixture
def world(tmp_path: Path, botocore_session: botocore.session.Session) -> Iterator[World]:
    with open_world(tmp_path, botocore_session) as w:
        yield w


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """The CLI points structlog at the runner's captured stderr; do not leak it."""
    yield
    structlog.reset_defaults()


def outcome_text(outcome: Any) -> str:
    return "\n".join(outcome.lines)


def count(items: list[str]) -> Counter[str]:
    return Counter(items)
