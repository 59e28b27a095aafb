"""How each kind of change is read, checked, applied, settled and undone."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from remediator.aws.discover import _route_table, _rules
from remediator.aws.door import Aws
from remediator.changes import kinds
from remediator.changes.state import route_state, vpc_config_state
from remediator.domain.canonical import state_hash
from remediator.domain.errors import AwsCallFailed, ChangeFailed
from remediator.domain.findings import DEAD_ENDPOINT_STATES
from remediator.domain.plan import Change

log = structlog.get_logger(__name__)

NOT_FOUND_SUFFIXES = ("NotFound", "NotFoundException")


def _alias_parts(target: str) -> tuple[str, str]:
    function_arn, _, alias = target.rpartition(":")
    return function_arn, alias


def _target_param(target: str) -> dict[str, str]:
    for prefix, key in (
        ("igw-", "GatewayId"),
        ("vgw-", "GatewayId"),
        ("nat-", "NatGatewayId"),
        ("tgw-", "TransitGatewayId"),
        ("pcx-", "VpcPeeringConnectionId"),
        ("eni-", "NetworkInterfaceId"),
        ("i-", "InstanceId"),
        ("eigw-", "EgressOnlyInternetGatewayId"),
        ("lgw-", "LocalGatewayId"),
    ):
        if target.startswith(prefix):
            return {key: target}
    return {"GatewayId": target}


@dataclass
class Live:
    """A target's live state as the planner's fingerprint would see it."""

    state: dict[str, Any]
    revision_id: str | None = None

    @property
    def hash(self) -> str:
        return state_hash(self.state)


class Handler:
    """How to read, check, apply, settle and undo one kind of change."""

    kind: str = ""

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        raise NotImplementedError

    def check(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> list[str]:
        """Problems that would make the change fail, found with reads only."""
        return []

    def describe(self, change: Change) -> str:
        return change.reason

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def settle(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        return None

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        raise NotImplementedError

    def expected_after(self, change: Change) -> dict[str, Any] | None:
        """The state the change leaves, when it can be known without its result
        (used to recognise a change an interrupted run already made)."""
        return None

    def read_after(
        self, aws: Aws, change: Change, result: dict[str, Any], results: dict[str, dict[str, Any]]
    ) -> Live:
        """The state this change leaves (rollback compares against it)."""
        return self.read(aws, change, {**results, change.id: result})

    def own_work(self, aws: Aws, change: Change, live: Live) -> OwnWork | None:
        """For a change an interrupted run started (an ``intent`` line without
        outcome or progress) whose target is neither as planned nor as the
        change leaves it: what of the target is recognisably this change's own
        work (its name and ``remediator:change-id`` tag, or a state only its
        own calls produce), or None when nothing is."""
        return None


@dataclass
class OwnWork:
    """What an interrupted attempt of a change left in effect.

    ``result`` is what ``undo`` needs to take it back. ``complete``: the change
    is wholly in effect (settle it and take it as done); otherwise it is a part
    of the change, to take back before the change is applied afresh."""

    result: dict[str, Any]
    complete: bool = False


def client_token(aws: Aws, change: Change) -> str:
    """The idempotency token of a create: the same for the retries of one
    run's call (and for a resumed run), another for every other run."""
    token = f"{aws.run_id or aws.plan_id}-{change.id}"
    if len(token) > 64:  # EC2's limit; keep it unique rather than cut the change id off
        token = hashlib.sha256(token.encode()).hexdigest()[:64]
    return token


def _has_tag(tags: Iterable[dict[str, Any]] | None, key: str, value: str) -> bool:
    return any(t.get("Key") == key and t.get("Value") == value for t in tags or ())


def safe_read(h: Handler, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
    """``h.read``, with a target that no longer exists read as ``Missing``
    (so the stale check reports it instead of the run crashing)."""
    try:
        return h.read(aws, change, results)
    except AwsCallFailed as exc:
        code = exc.code
        if code.endswith(NOT_FOUND_SUFFIXES) or code.startswith("InvalidVpcEndpointId"):
            return Live({"Target": change.target, "Missing": True})
        raise


def _poll(
    aws: Aws,
    what: str,
    probe: Callable[[], str | None],
    ready: Iterable[str | None],
    failed: Iterable[str | None] = (),
) -> None:
    """Poll ``probe`` until it returns a ``ready`` state (None = gone)."""
    s = aws.settings
    deadline = s.clock() + s.settle_timeout
    ready_set, failed_set = set(ready), set(failed)
    while True:
        state = probe()
        if state in ready_set:
            return
        if state in failed_set:
            raise ChangeFailed(f"{what} is {state}.")
        if s.clock() >= deadline:
            raise ChangeFailed(
                f"{what} did not settle within {s.settle_timeout:.0f} s (last state {state})."
            )
        s.sleep(s.poll_interval)


class UpdateVpcConfig(Handler):
    kind = kinds.UPDATE_VPC_CONFIG

    def expected_after(self, change: Change) -> dict[str, Any] | None:
        return vpc_config_state(change.after["SubnetIds"], change.after["SecurityGroupIds"])

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        cfg = aws.call(
            "lambda", change.region, "get_function_configuration", FunctionName=change.target
        )
        vpc = cfg.get("VpcConfig") or {}
        return Live(
            vpc_config_state(vpc.get("SubnetIds", []), vpc.get("SecurityGroupIds", [])),
            cfg.get("RevisionId"),
        )

    def check(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> list[str]:
        subnets = list(change.after["SubnetIds"])
        groups = list(change.after["SecurityGroupIds"])
        problems = []
        if not subnets:
            problems.append("the new VpcConfig has no subnet")
        if len(subnets) > 16:
            problems.append(f"{len(subnets)} subnets (Lambda allows 16)")
        if len(groups) > 5:
            problems.append(f"{len(groups)} security groups (Lambda allows 5)")
        found = aws.call(
            "ec2",
            change.region,
            "describe_subnets",
            Filters=[{"Name": "subnet-id", "Values": subnets}],
        ).get("Subnets", [])
        by_id = {s["SubnetId"]: s for s in found}
        missing = sorted(set(subnets) - set(by_id))
        if missing:
            problems.append(f"subnets not found: {', '.join(missing)}")
        vpcs = {s["VpcId"] for s in found}
        current = list(change.before["SubnetIds"]) if change.before else []
        if current:
            old = aws.call(
                "ec2",
                change.region,
                "describe_subnets",
                Filters=[{"Name": "subnet-id", "Values": current}],
            ).get("Subnets", [])
            old_vpcs = {s["VpcId"] for s in old}
            if old_vpcs and vpcs and old_vpcs != vpcs:
                problems.append(
                    f"new subnets are in {', '.join(sorted(vpcs))}, the function is in {', '.join(sorted(old_vpcs))}"
                )
        if len(vpcs) > 1:
            problems.append(f"subnets span several VPCs: {', '.join(sorted(vpcs))}")
        for sid in sorted(set(subnets) - set(current)):
            if sid in by_id and int(by_id[sid].get("AvailableIpAddressCount", 0)) < 1:
                problems.append(f"{sid} has no free IP address")
        return problems

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "FunctionName": change.target,
            "VpcConfig": {
                "SubnetIds": list(change.after["SubnetIds"]),
                "SecurityGroupIds": list(change.after["SecurityGroupIds"]),
            },
        }
        if live.revision_id:
            params["RevisionId"] = live.revision_id
        out = aws.call("lambda", change.region, "update_function_configuration", **params)
        return {"RevisionId": out.get("RevisionId")}

    def settle(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        def probe() -> str | None:
            cfg = aws.call(
                "lambda", change.region, "get_function_configuration", FunctionName=change.target
            )
            status = cfg.get("LastUpdateStatus") or "Successful"
            if status == "Failed":
                return f"Failed ({cfg.get('LastUpdateStatusReasonCode', '')}: {cfg.get('LastUpdateStatusReason', '')})"
            return str(status)

        def checked() -> str | None:
            state = probe() or ""
            if state.startswith("Failed"):
                raise ChangeFailed(f"{change.target} update failed: {state}.")
            return state

        if checked() != "Successful":
            _poll(aws, f"update of {change.target}", checked, ready=["Successful"], failed=[])

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        assert change.before is not None
        aws.call(
            "lambda",
            change.region,
            "update_function_configuration",
            FunctionName=change.target,
            VpcConfig={
                "SubnetIds": list(change.before["SubnetIds"]),
                "SecurityGroupIds": list(change.before["SecurityGroupIds"]),
            },
        )
        self.settle(aws, change, result)


class PutNatRoute(Handler):
    kind = kinds.PUT_NAT_ROUTE

    def expected_after(self, change: Change) -> dict[str, Any] | None:
        route = {
            "DestinationCidrBlock": "0.0.0.0/0",
            "Target": change.after["NatGatewayId"],
            "State": "active",
        }
        return {"RouteTableId": change.target, "DefaultRoute": route}

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        out = aws.call("ec2", change.region, "describe_route_tables", RouteTableIds=[change.target])
        tables = out.get("RouteTables", [])
        if not tables:
            return Live({"RouteTableId": change.target, "Missing": True})
        return Live(route_state(_route_table(tables[0])))

    def check(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> list[str]:
        nat_id = change.after["NatGatewayId"]
        nats = aws.call("ec2", change.region, "describe_nat_gateways", NatGatewayIds=[nat_id]).get(
            "NatGateways", []
        )
        if not nats:
            return [f"{nat_id} not found"]
        if nats[0].get("State") != "available":
            return [f"{nat_id} is {nats[0].get('State')}, not available"]
        return []

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        op = "create_route" if change.before is None else "replace_route"
        aws.call(
            "ec2",
            change.region,
            op,
            RouteTableId=change.target,
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=change.after["NatGatewayId"],
        )
        return {"Operation": op}

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        if change.before is None:
            aws.call(
                "ec2",
                change.region,
                "delete_route",
                RouteTableId=change.target,
                DestinationCidrBlock="0.0.0.0/0",
            )
            return
        aws.call(
            "ec2",
            change.region,
            "replace_route",
            RouteTableId=change.target,
            DestinationCidrBlock="0.0.0.0/0",
            **_target_param(change.before["Target"]),
        )


class EnableVpcDns(Handler):
    kind = kinds.ENABLE_VPC_DNS

    def expected_after(self, change: Change) -> dict[str, Any] | None:
        return dict(change.after)

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        sup = aws.call(
            "ec2",
            change.region,
            "describe_vpc_attribute",
            VpcId=change.target,
            Attribute="enableDnsSupport",
        )
        host = aws.call(
            "ec2",
            change.region,
            "describe_vpc_attribute",
            VpcId=change.target,
            Attribute="enableDnsHostnames",
        )
        return Live(
            {
                "EnableDnsSupport": bool(sup.get("EnableDnsSupport", {}).get("Value")),
                "EnableDnsHostnames": bool(host.get("EnableDnsHostnames", {}).get("Value")),
            }
        )

    @staticmethod
    def _order(values: dict[str, Any]) -> list[str]:
        # hostnames need support: turn support on first, and off last
        return (
            ["EnableDnsSupport", "EnableDnsHostnames"]
            if values["EnableDnsSupport"]
            else ["EnableDnsHostnames", "EnableDnsSupport"]
        )

    def _set(
        self,
        aws: Aws,
        change: Change,
        values: dict[str, Any],
        on_step: Callable[[dict[str, Any] | None], None] | None = None,
    ) -> None:
        """Set both attributes to ``values``, in the order DNS allows. A failed
        call takes the earlier one back. ``on_step`` hears what is set so far
        (``None``: taken back, nothing of it is in effect)."""
        order = self._order(values)
        done: list[str] = []
        for key in order:
            try:
                self._modify(aws, change, key, bool(values[key]))
            except AwsCallFailed:
                for earlier in reversed(done):  # leave the VPC as it was
                    self._modify(aws, change, earlier, not bool(values[earlier]))
                if done and on_step is not None:
                    on_step(None)
                raise
            done.append(key)
            if on_step is not None and len(done) < len(order):
                # journaled before the next call: a kill between the two calls
                # leaves a record that part of the change is in effect
                on_step({"Set": list(done)})

    def _prefix_states(self, change: Change) -> list[dict[str, Any]]:
        """The states the change leaves when only its first call(s) went
        through: some attributes as planned, the rest as they were."""
        assert change.before is not None
        order = self._order(change.after)
        states = []
        for n in range(1, len(order)):
            state = {k: change.before[k] for k in order}
            state.update({k: change.after[k] for k in order[:n]})
            if state not in (dict(change.before), dict(change.after)):
                states.append(state)
        return states

    def _modify(self, aws: Aws, change: Change, key: str, value: bool) -> None:
        aws.call(
            "ec2",
            change.region,
            "modify_vpc_attribute",
            VpcId=change.target,
            **{key: {"Value": value}},
        )

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        self._set(aws, change, change.after, on_step=aws.progress)
        return {}

    def own_work(self, aws: Aws, change: Change, live: Live) -> OwnWork | None:
        # killed after the first call went through, before its progress line:
        # support on and hostnames as they were is this change's half
        if change.before is not None and live.state in self._prefix_states(change):
            return OwnWork({})
        return None

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        assert change.before is not None
        self._set(aws, change, change.before)


def _ingress(groups: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "UserIdGroupPairs": [{"GroupId": g} for g in sorted(groups)],
        }
    ]


def _allowed(rules: Iterable[Mapping[str, Any]]) -> set[tuple[Any, ...]]:
    """What a group's ingress rules allow, one (protocol, ports, source) per
    source: AWS merges rules of the same protocol and ports into one, so two
    states are compared by what they allow, not by how AWS groups it."""
    return {
        (r["protocol"], r["from_port"], r["to_port"], source)
        for r in rules
        for source in [*r["cidrs"], *r["group_ids"]]
    }


def _tcp443_from(groups: Iterable[str]) -> set[tuple[Any, ...]]:
    return {("tcp", 443, 443, g) for g in groups}


def _authorize_443(aws: Aws, change: Change, group_id: str, sources: Iterable[str]) -> None:
    """Allow 443 from ``sources`` into ``group_id``. AuthorizeSecurityGroupIngress
    takes no ClientToken: an attempt whose answer was lost (a read timeout
    after AWS added the rule) is retried and refused as a duplicate. The rule
    was not there when the change began (the stale check), so the duplicate
    is the first attempt's own rule: the change is done."""
    try:
        aws.call(
            "ec2",
            change.region,
            "authorize_security_group_ingress",
            GroupId=group_id,
            IpPermissions=_ingress(sources),
        )
    except AwsCallFailed as exc:
        if exc.code != "InvalidPermission.Duplicate":
            raise


def _tags(change: Change, plan_id: str) -> list[dict[str, str]]:
    return [
        {"Key": "remediator:change-id", "Value": change.id},
        {"Key": "remediator:plan-id", "Value": plan_id},
    ]


class CreateEndpointSecurityGroup(Handler):
    kind = kinds.CREATE_ENDPOINT_SG

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        out = aws.call(
            "ec2",
            change.region,
            "describe_security_groups",
            Filters=[
                {"Name": "vpc-id", "Values": [change.target]},
                {"Name": "group-name", "Values": [change.after["GroupName"]]},
            ],
        )
        return Live(
            {
                "VpcId": change.target,
                "GroupName": change.after["GroupName"],
                "Exists": bool(out.get("SecurityGroups")),
            }
        )

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        try:
            out = aws.call(
                "ec2",
                change.region,
                "create_security_group",
                GroupName=change.after["GroupName"],
                Description=change.after["Description"],
                VpcId=change.target,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": _tags(change, aws.plan_id)}
                ],
            )
            group_id = str(out["GroupId"])
        except AwsCallFailed as exc:
            # CreateSecurityGroup takes no ClientToken: an attempt whose answer
            # was lost (a read timeout after AWS made the group) is retried and
            # refused as a duplicate. The target had no such group when this
            # change began (the stale check), so a group of this name carrying
            # this change's tag is the one the first attempt made: go on with it.
            if exc.code != "InvalidGroup.Duplicate":
                raise
            own = self._own_group(aws, change)
            if own is None:
                raise
            group_id = own
        aws.progress({"GroupId": group_id})
        try:
            _authorize_443(aws, change, group_id, change.after["IngressTcp443FromGroups"])
        except AwsCallFailed:
            # do not leave half a change behind: the group is ours and unused
            aws.call("ec2", change.region, "delete_security_group", GroupId=group_id)
            aws.progress(None)
            raise
        return {"GroupId": group_id}

    def own_work(self, aws: Aws, change: Change, live: Live) -> OwnWork | None:
        # killed right after CreateSecurityGroup, before its progress line: the
        # group (without its rule, or with it) is taken back and made afresh
        group_id = self._own_group(aws, change)
        return OwnWork({"GroupId": group_id}) if group_id else None

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        group_id = result.get("GroupId") or self._own_group(aws, change)
        if group_id:
            aws.call("ec2", change.region, "delete_security_group", GroupId=group_id)

    def _own_group(self, aws: Aws, change: Change) -> str | None:
        """The group this change made: its name in the VPC, carrying its
        ``remediator:change-id`` tag (a group of that name without the tag is
        someone else's)."""
        out = aws.call(
            "ec2",
            change.region,
            "describe_security_groups",
            Filters=[
                {"Name": "vpc-id", "Values": [change.target]},
                {"Name": "group-name", "Values": [change.after["GroupName"]]},
            ],
        )
        for group in out.get("SecurityGroups", []):
            if _has_tag(group.get("Tags"), "remediator:change-id", change.id):
                return str(group["GroupId"])
        return None


class AuthorizeEndpointIngress(Handler):
    kind = kinds.AUTHORIZE_ENDPOINT_INGRESS

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        out = aws.call("ec2", change.region, "describe_security_groups", GroupIds=[change.target])
        groups = out.get("SecurityGroups", [])
        rules = (
            [r.model_dump(mode="json") for r in _rules(groups[0].get("IpPermissions", []))]
            if groups
            else []
        )
        return Live({"GroupId": change.target, "Ingress": rules})

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        _authorize_443(aws, change, change.target, change.after["SourceSecurityGroupIds"])
        return {}

    def own_work(self, aws: Aws, change: Change, live: Live) -> OwnWork | None:
        # killed right after AuthorizeSecurityGroupIngress, before its done
        # line: the group allows exactly what it allowed at plan time plus
        # this change's sources; that is the whole change
        before = _allowed(change.fingerprint.state.get("Ingress", []))
        added = _tcp443_from(change.after["SourceSecurityGroupIds"])
        if added - before and _allowed(live.state.get("Ingress", [])) == before | added:
            return OwnWork({}, complete=True)
        return None

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        aws.call(
            "ec2",
            change.region,
            "revoke_security_group_ingress",
            GroupId=change.target,
            IpPermissions=_ingress(change.after["SourceSecurityGroupIds"]),
        )


class CreateLambdaEndpoint(Handler):
    kind = kinds.CREATE_LAMBDA_ENDPOINT

    def _lambda_endpoints(self, aws: Aws, change: Change) -> list[dict[str, Any]]:
        out = aws.call(
            "ec2",
            change.region,
            "describe_vpc_endpoints",
            Filters=[
                {"Name": "vpc-id", "Values": [change.target]},
                {"Name": "service-name", "Values": [change.after["ServiceName"]]},
            ],
        )
        return [
            e
            for e in out.get("VpcEndpoints", [])
            if str(e.get("State", "")).lower() not in DEAD_ENDPOINT_STATES
        ]

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        ids = sorted(e["VpcEndpointId"] for e in self._lambda_endpoints(aws, change))
        return Live({"VpcId": change.target, "LambdaEndpoints": ids})

    def check(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> list[str]:
        problems = []
        existing = self._lambda_endpoints(aws, change)
        if any(e.get("PrivateDnsEnabled") for e in existing):
            problems.append(
                "a Lambda endpoint with private DNS already exists in the VPC (conflicting DNS domain)"
            )
        subnets = list(change.after["SubnetIds"])
        found = aws.call(
            "ec2",
            change.region,
            "describe_subnets",
            Filters=[{"Name": "subnet-id", "Values": subnets}],
        ).get("Subnets", [])
        missing = sorted(set(subnets) - {s["SubnetId"] for s in found})
        if missing:
            problems.append(f"subnets not found: {', '.join(missing)}")
        azs = [s["AvailabilityZone"] for s in found]
        if len(azs) != len(set(azs)):
            problems.append("more than one subnet per AZ")
        return problems

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        sg_from = change.after.get("SecurityGroupFromChange")
        group_id = results.get(sg_from, {}).get("GroupId") if sg_from else None
        if sg_from and not group_id:
            raise ChangeFailed(f"the security group of change {sg_from} is not known")
        out = aws.call(
            "ec2",
            change.region,
            "create_vpc_endpoint",
            VpcEndpointType="Interface",
            VpcId=change.target,
            ServiceName=change.after["ServiceName"],
            SubnetIds=list(change.after["SubnetIds"]),
            SecurityGroupIds=[group_id] if group_id else [],
            PrivateDnsEnabled=bool(change.after.get("PrivateDnsEnabled", True)),
            ClientToken=client_token(aws, change),
            TagSpecifications=[
                {"ResourceType": "vpc-endpoint", "Tags": _tags(change, aws.plan_id)}
            ],
        )
        return {"VpcEndpointId": out["VpcEndpoint"]["VpcEndpointId"]}

    def _state(self, aws: Aws, change: Change, endpoint_id: str) -> str | None:
        out = aws.call(
            "ec2",
            change.region,
            "describe_vpc_endpoints",
            Filters=[{"Name": "vpc-endpoint-id", "Values": [endpoint_id]}],
        )
        eps = out.get("VpcEndpoints", [])
        return str(eps[0].get("State", "")).lower() if eps else None

    def settle(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        eid = result["VpcEndpointId"]
        _poll(
            aws,
            f"endpoint {eid}",
            lambda: self._state(aws, change, eid),
            ready=["available"],
            failed=["failed", "rejected", None],
        )

    def _own_endpoint(self, aws: Aws, change: Change) -> str | None:
        """The live endpoint this change made (its ``remediator:change-id`` tag)."""
        for e in self._lambda_endpoints(aws, change):
            if _has_tag(e.get("Tags"), "remediator:change-id", change.id):
                return str(e["VpcEndpointId"])
        return None

    def own_work(self, aws: Aws, change: Change, live: Live) -> OwnWork | None:
        # killed right after CreateVpcEndpoint, before its done line: the
        # endpoint is the whole change; it is complete once it settles, unless
        # the VPC also has an endpoint the plan did not see (then it is taken
        # back, and the stale check reports the other one)
        eid = self._own_endpoint(aws, change)
        if eid is None:
            return None
        others = sorted(set(live.state.get("LambdaEndpoints", [])) - {eid})
        planned = sorted(change.fingerprint.state.get("LambdaEndpoints", []))
        return OwnWork({"VpcEndpointId": eid}, complete=others == planned)

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        eid = result.get("VpcEndpointId") or self._own_endpoint(aws, change)
        if not eid:
            return
        aws.call("ec2", change.region, "delete_vpc_endpoints", VpcEndpointIds=[eid])
        _poll(
            aws,
            f"deletion of {eid}",
            lambda: self._state(aws, change, eid),
            ready=[None, "deleted"],
            failed=["failed"],
        )


class EnableEndpointPrivateDns(Handler):
    kind = kinds.ENABLE_ENDPOINT_PRIVATE_DNS

    def expected_after(self, change: Change) -> dict[str, Any] | None:
        return {"VpcEndpointId": change.target, "PrivateDnsEnabled": True}

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        out = aws.call(
            "ec2", change.region, "describe_vpc_endpoints", VpcEndpointIds=[change.target]
        )
        eps = out.get("VpcEndpoints", [])
        return Live(
            {
                "VpcEndpointId": change.target,
                "PrivateDnsEnabled": bool(eps[0].get("PrivateDnsEnabled")) if eps else None,
            }
        )

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        aws.call(
            "ec2",
            change.region,
            "modify_vpc_endpoint",
            VpcEndpointId=change.target,
            PrivateDnsEnabled=True,
        )
        return {}

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        aws.call(
            "ec2",
            change.region,
            "modify_vpc_endpoint",
            VpcEndpointId=change.target,
            PrivateDnsEnabled=False,
        )


class MoveAlias(Handler):
    kind = kinds.MOVE_ALIAS

    def read(self, aws: Aws, change: Change, results: dict[str, dict[str, Any]]) -> Live:
        function_arn, alias = _alias_parts(change.target)
        out = aws.call("lambda", change.region, "get_alias", FunctionName=function_arn, Name=alias)
        return Live(
            {"AliasArn": change.target, "FunctionVersion": out.get("FunctionVersion")},
            out.get("RevisionId"),
        )

    def check(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> list[str]:
        function_arn, _ = _alias_parts(change.target)
        cfg = aws.call(
            "lambda", change.region, "get_function_configuration", FunctionName=function_arn
        )
        if cfg.get("CodeSha256") != change.after["CodeSha256"]:
            return ["$LATEST code changed since the plan: publishing would ship other code"]
        return []

    def apply(
        self, aws: Aws, change: Change, live: Live, results: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        function_arn, alias = _alias_parts(change.target)
        # PublishVersion returns the existing last version when $LATEST has not
        # changed since it was published: only a version this change created
        # may be deleted on undo.
        existing = self._versions(aws, change, function_arn)
        # journaled before the publish: a kill right after it still lets
        # rollback find (and delete) the version this change made
        aws.progress({"KnownVersions": sorted(existing)})
        published = aws.call(
            "lambda",
            change.region,
            "publish_version",
            FunctionName=function_arn,
            CodeSha256=change.after["CodeSha256"],
            Description=f"remediator {change.id}",
        )
        # a version carrying this change's mark was made by it, even when an
        # interrupted attempt made it and this publish only returned it
        created = (
            str(published["Version"]) not in existing
            or published.get("Description") == f"remediator {change.id}"
        )
        aws.progress({"Version": published["Version"], "Created": created})
        params: dict[str, Any] = {
            "FunctionName": function_arn,
            "Name": alias,
            "FunctionVersion": published["Version"],
        }
        if live.revision_id:
            params["RevisionId"] = live.revision_id
        try:
            aws.call("lambda", change.region, "update_alias", **params)
        except AwsCallFailed:
            # the alias did not move: remove the version this change published
            if created:
                aws.call(
                    "lambda",
                    change.region,
                    "delete_function",
                    FunctionName=function_arn,
                    Qualifier=str(published["Version"]),
                )
            aws.progress(None)
            raise
        return {"Version": published["Version"], "Created": created}

    def _own_new_version(
        self, aws: Aws, change: Change, function_arn: str, known: set[str]
    ) -> str | None:
        name = function_arn.split(":")[6] if function_arn.count(":") >= 6 else function_arn
        page = aws.call("lambda", change.region, "list_versions_by_function", FunctionName=name)
        for v in page.get("Versions", []):
            if (
                str(v.get("Version")) not in known
                and v.get("Description") == f"remediator {change.id}"
            ):
                return str(v["Version"])
        return None

    def _versions(self, aws: Aws, change: Change, function_arn: str) -> set[str]:
        versions: set[str] = set()
        marker: str | None = None
        while True:
            # the function's name, not its ARN: same answer on AWS, and the
            # sandbox (moto) lists nothing for an ARN
            params: dict[str, Any] = {
                "FunctionName": function_arn.split(":")[6]
                if function_arn.count(":") >= 6
                else function_arn
            }
            if marker:
                params["Marker"] = marker
            page = aws.call("lambda", change.region, "list_versions_by_function", **params)
            versions |= {str(v.get("Version")) for v in page.get("Versions", [])}
            marker = page.get("NextMarker")
            if not marker:
                return versions

    def undo(self, aws: Aws, change: Change, result: dict[str, Any]) -> None:
        assert change.before is not None
        function_arn, alias = _alias_parts(change.target)
        aws.call(
            "lambda",
            change.region,
            "update_alias",
            FunctionName=function_arn,
            Name=alias,
            FunctionVersion=change.before["FunctionVersion"],
        )
        version = result.get("Version")
        if version is None and "KnownVersions" in result:
            # interrupted between the publish and its record: a version made by
            # this change is one that was not there before and carries its mark
            version = self._own_new_version(aws, change, function_arn, set(result["KnownVersions"]))
            result = {**result, "Created": version is not None}
        if version and result.get("Created"):
            # Published by this change, and nothing points at it any more:
            # delete it so the function is exactly as it was.
            aws.call(
                "lambda",
                change.region,
                "delete_function",
                FunctionName=function_arn,
                Qualifier=str(version),
            )


HANDLERS: dict[str, Handler] = {
    h.kind: h
    for h in (
        UpdateVpcConfig(),
        PutNatRoute(),
        EnableVpcDns(),
        CreateEndpointSecurityGroup(),
        AuthorizeEndpointIngress(),
        CreateLambdaEndpoint(),
        EnableEndpointPrivateDns(),
        MoveAlias(),
    )
}


def handler(kind: str) -> Handler:
    return HANDLERS[kind]
