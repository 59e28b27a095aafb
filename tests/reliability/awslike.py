"""Make the moto sandbox behave like AWS where it does not (test-only).

moto answers at once and says yes to almost everything. AWS does not, and
remediator's executor is written for AWS. ``AwsLike`` closes the gap from
the client side, with botocore event hooks on the clients a test's
``client_factory`` makes (``AwsLike.attach(client)``), so remediator's code
runs unchanged:

=====================================  ======================================
AWS behaviour                          how the hooks fake it
=====================================  ======================================
``ListFunctions`` pages of 50          ``before-call``: the whole list from an
(``NextMarker``)                       unhooked client, answered page by page
EC2 describes paginate                 same, ``NextToken``, ``ec2_page`` items
(``NextToken``)                        (``MaxResults`` honoured below that)
``LastUpdateStatus`` ``InProgress``    ``after-call``: an update answers
after an update                        ``InProgress``; the next
                                       ``update_polls`` reads of the function
                                       say ``InProgress`` too
``ResourceConflictException`` for a    ``before-call``: update / publish /
second update during one               code update of a function in progress
                                       is answered 409 (and "time passes")
``RevisionId`` on functions and        ``after-call`` synthesises RevisionIds
``PreconditionFailedException``        (new on every update, and whenever the
                                       configuration changed by any client);
                                       ``before-call`` answers 412 when the
                                       RevisionId sent is not the current one
                                       (functions and aliases)
NAT gateways / endpoints ``pending``   ``after-call``: created ones describe
before ``available``; deletions go     as ``pending`` (deleted ones as
through ``deleting``                   ``deleting``) for ``pending_polls``
                                       describes
``blackhole`` routes after a NAT       ``after-call`` of DescribeRouteTables:
gateway is deleted                     a route to a NAT that is deleted,
                                       deleting or gone is ``blackhole``
``DryRun=True`` answered with          ``before-call``: any EC2 call with
``DryRunOperation`` (412)              DryRun=True is answered, not executed
VpcConfig validation                   ``before-call`` of CreateFunction /
                                       UpdateFunctionConfiguration: at most 16
                                       subnets and 5 groups, subnets and groups
                                       exist, one VPC
a create repeated with the same         ``before-call``: CreateVpcEndpoint /
``ClientToken`` returns the first one   CreateNatGateway answer the resource
                                       the first call with that token made
DescribeVpcEndpoints' ``vpc-endpoint-  ``before-parameter-build``: moved to
id`` filter (moto lacks it)            ``VpcEndpointIds``
=====================================  ======================================

A fake answer is a ``(AWSResponse, parsed)`` pair returned from
``before-call``; botocore then emits ``after-call`` and raises the
ClientError for a status >= 300 exactly as for a real response, so retry
loops, error translation and test hooks see what they would see on AWS.

Side reads (the whole list to page, the current configuration to compare a
RevisionId with) go through *unhooked* clients of the same moto backend
(``raw``), so they are invisible to call recorders and fault injectors.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

RawFactory = Callable[[str, str], Any]

LAMBDA_PAGE = 50
EC2_PAGE = 1000  # AWS's own cap for most describes

# EC2 describes that page (botocore has paginators for them) and the key of their items.
EC2_PAGED = {
    "DescribeSubnets": ("describe_subnets", "Subnets"),
    "DescribeVpcs": ("describe_vpcs", "Vpcs"),
    "DescribeRouteTables": ("describe_route_tables", "RouteTables"),
    "DescribeInternetGateways": ("describe_internet_gateways", "InternetGateways"),
    "DescribeNatGateways": ("describe_nat_gateways", "NatGateways"),
    "DescribeVpcEndpoints": ("describe_vpc_endpoints", "VpcEndpoints"),
    "DescribeSecurityGroups": ("describe_security_groups", "SecurityGroups"),
    "DescribeNetworkAcls": ("describe_network_acls", "NetworkAcls"),
}
# Lambda writes that AWS refuses while an update of the function is in progress.
LAMBDA_WRITES = ("UpdateFunctionConfiguration", "UpdateFunctionCode", "PublishVersion")
# What a RevisionId covers: the configuration's content (the same in
# ListFunctions entries and GetFunctionConfiguration), not status or times.
_CONTENT = (
    "FunctionName",
    "Runtime",
    "Role",
    "Handler",
    "CodeSha256",
    "Description",
    "Timeout",
    "MemorySize",
    "Environment",
    "Layers",
)
_NS = uuid.UUID("6f1c1f3e-2b7a-4d7e-9a43-7e1d1b3a0c55")


def response(status: int, parsed: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """A ``before-call`` answer: botocore treats it as the service's response."""
    http = AWSResponse("https://awslike.invalid/", status, headers or {}, None)
    parsed = dict(parsed)
    parsed["ResponseMetadata"] = {
        "RequestId": "awslike",
        "HTTPStatusCode": status,
        "HTTPHeaders": dict(headers or {}),
        "RetryAttempts": 0,
    }
    return http, parsed


def error(status: int, code: str, message: str) -> Any:
    return response(status, {"Error": {"Code": code, "Message": message}})


def _as_response(exc: ClientError) -> Any:
    """A side read's error, answered as the hooked call's own response."""
    err = exc.response.get("Error", {})
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400)
    return error(status, str(err.get("Code", "")), str(err.get("Message", "")))


def function_name(value: str) -> tuple[str, str | None]:
    """``(name, qualifier)`` from a name, a partial or a full ARN."""
    if value.startswith("arn:"):
        parts = value.split(":")
        return parts[6], (parts[7] if len(parts) > 7 else None)
    if ":" in value:
        name, _, qualifier = value.partition(":")
        return name, qualifier
    return value, None


def _content_hash(config: dict[str, Any], *, publish: bool = False) -> str:
    """What a RevisionId covers; ``publish``: what PublishVersion compares
    (a version's description is its own, not the function's)."""
    body: dict[str, Any] = {
        k: config.get(k) for k in _CONTENT if not (publish and k in ("Description", "FunctionName"))
    }
    vpc = config.get("VpcConfig") or {}
    body["VpcConfig"] = [vpc.get("SubnetIds") or [], vpc.get("SecurityGroupIds") or []]
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class AwsLike:
    """The hooks; one instance per world (it keeps the in-progress updates,
    pending resources and revision generations)."""

    raw: RawFactory
    lambda_page: int = LAMBDA_PAGE
    ec2_page: int = EC2_PAGE
    update_polls: int = 2
    pending_polls: int = 2
    # what the fixture did, for tests and reports
    seen: Counter[str] = field(default_factory=Counter)
    _raw_clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _updating: dict[str, int] = field(default_factory=dict)
    _generation: Counter[str] = field(default_factory=Counter)
    _pending: dict[str, tuple[str, int]] = field(default_factory=dict)
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    # ------------------------------------------------------------------ wiring

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-parameter-build.ec2.DescribeVpcEndpoints", _moto_endpoint_id_filter)
        events.register_last("before-parameter-build", self._stash_params)
        events.register_last("before-call", self._before_call)
        events.register_first("after-call", self._after_call)
        return client

    def factory(self, make: RawFactory) -> RawFactory:
        """Wrap a client factory so every client it makes is AWS-like."""
        return lambda service, region: self.attach(make(service, region))

    def _raw(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._raw_clients:
            self._raw_clients[key] = self.raw(service, region)
        return self._raw_clients[key]

    @staticmethod
    def _stash_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["awslike_params"] = dict(params)

    # ------------------------------------------------------------- before-call

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        op = model.name
        service = model.service_model.service_name
        params = context.get("awslike_params", {})
        region = str(context.get("client_region") or "us-east-1")
        if service == "ec2":
            if params.get("DryRun"):
                self.seen["dry-run"] += 1
                return error(
                    412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."
                )
            if op in EC2_PAGED:
                return self._ec2_page(op, params, region)
            if op in ("CreateVpcEndpoint", "CreateNatGateway") and params.get("ClientToken"):
                return self._idempotent(op, params, region)
            return None
        if service != "lambda":
            return None
        if op == "ListFunctions":
            return self._lambda_page(params, region)
        if op in LAMBDA_WRITES:
            name, _ = function_name(str(params.get("FunctionName", "")))
            if self._updating.get(name, 0) > 0:
                self.seen["conflict"] += 1
                self._tick(name)  # time passes for the caller's backoff
                arn = self._arn(name, region)
                return error(
                    409,
                    "ResourceConflictException",
                    f"The operation cannot be performed at this time. An update is in progress for resource: {arn}",
                )
            if params.get("RevisionId") is not None:
                current = self._current_revision(name, region)
                if current is not None and params["RevisionId"] != current:
                    self.seen["precondition-failed"] += 1
                    return error(
                        412,
                        "PreconditionFailedException",
                        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
                    )
        if op == "PublishVersion":
            self._publish_like_aws(str(params.get("FunctionName", "")), region)
        if op == "UpdateAlias" and params.get("RevisionId") is not None:
            name, _ = function_name(str(params.get("FunctionName", "")))
            try:
                alias = self._raw("lambda", region).get_alias(
                    FunctionName=name, Name=params.get("Name")
                )
            except ClientError:
                return None  # let moto answer "not found"
            if alias.get("RevisionId") != params["RevisionId"]:
                self.seen["precondition-failed"] += 1
                return error(
                    412,
                    "PreconditionFailedException",
                    "The Revision Id provided does not match the latest Revision Id.",
                )
        if op in ("CreateFunction", "UpdateFunctionConfiguration") and "VpcConfig" in params:
            problem = self._vpc_config_problem(params["VpcConfig"] or {}, region)
            if problem is not None:
                self.seen["vpc-config-refused"] += 1
                return problem
        return None

    def _lambda_page(self, params: dict[str, Any], region: str) -> Any:
        marker = params.get("Marker")
        size = min(int(params.get("MaxItems") or self.lambda_page), self.lambda_page)
        rest = {k: v for k, v in params.items() if k not in ("Marker", "MaxItems")}
        try:
            items = self._raw("lambda", region).list_functions(**rest)["Functions"]
        except ClientError as exc:
            return _as_response(exc)
        start = self._offset(marker)
        if start is None or start > len(items):
            return error(400, "InvalidParameterValueException", f"Invalid Marker: {marker}")
        page = items[start : start + size]
        out: dict[str, Any] = {"Functions": page}
        if start + size < len(items):
            out["NextMarker"] = f"awslike-{start + size}"
        self.seen["lambda-page"] += 1
        return response(200, out)

    def _ec2_page(self, op: str, params: dict[str, Any], region: str) -> Any:
        method, key = EC2_PAGED[op]
        token = params.get("NextToken")
        size = self.ec2_page
        if params.get("MaxResults"):
            size = min(size, int(params["MaxResults"]))
        rest = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
        try:
            items = getattr(self._raw("ec2", region), method)(**rest).get(key, [])
        except ClientError as exc:
            return _as_response(exc)
        start = self._offset(token)
        if start is None or start > len(items):
            return error(400, "InvalidNextToken", f"The token '{token}' is invalid.")
        out: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            out["NextToken"] = f"awslike-{start + size}"
        self.seen["ec2-page"] += 1
        return response(200, out)

    @staticmethod
    def _offset(token: Any) -> int | None:
        if token is None:
            return 0
        text = str(token)
        if not text.startswith("awslike-") or not text[8:].isdigit():
            return None
        return int(text[8:])

    def forget_client_tokens(self) -> None:
        """As when AWS's idempotency window has passed (a day between two runs)."""
        self._tokens.clear()

    def _idempotent(self, op: str, params: dict[str, Any], region: str) -> Any:
        """AWS answers a create repeated with the same ClientToken with the
        resource the first call made (moto makes another one)."""
        key = (op, str(params["ClientToken"]))
        made = self._tokens.get(key)
        if made is None:
            return None  # the first call: moto makes it, after-call remembers it
        self.seen["idempotent-create"] += 1
        ec2 = self._raw("ec2", region)
        if op == "CreateVpcEndpoint":
            found = ec2.describe_vpc_endpoints(VpcEndpointIds=[made])["VpcEndpoints"]
            return response(200, {"VpcEndpoint": found[0], "ClientToken": params["ClientToken"]})
        found = ec2.describe_nat_gateways(NatGatewayIds=[made])["NatGateways"]
        return response(200, {"NatGateway": found[0], "ClientToken": params["ClientToken"]})

    def _publish_like_aws(self, function: str, region: str) -> None:
        """AWS publishes a new version unless $LATEST's code and configuration
        equal the last existing version's, in which case it returns that
        version. moto remembers only whether $LATEST changed since its last
        publish, and forgets that the version may have been deleted since:
        tell it what AWS would compare."""
        name, _ = function_name(function)
        lam = self._raw("lambda", region)
        try:
            latest = lam.get_function_configuration(FunctionName=name)
            versions = [
                v
                for page in lam.get_paginator("list_versions_by_function").paginate(
                    FunctionName=name
                )
                for v in page["Versions"]
                if str(v.get("Version", "")).isdigit()
            ]
        except ClientError:
            return
        if not versions:
            return
        last = max(versions, key=lambda v: int(v["Version"]))
        changed = _content_hash(latest, publish=True) != _content_hash(last, publish=True)
        from moto.awslambda.models import lambda_backends

        backend = lambda_backends[str(latest["FunctionArn"]).split(":")[4]][region]
        backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(
            name
        ).code_or_config_updated = changed
        self.seen["publish-compared"] += 1

    def _vpc_config_problem(self, vpc: dict[str, Any], region: str) -> Any:
        subnets = list(vpc.get("SubnetIds") or [])
        groups = list(vpc.get("SecurityGroupIds") or [])
        if len(subnets) > 16:
            return error(
                400,
                "ValidationException",
                f"1 validation error detected: Value '{subnets}' at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length less than or equal to 16",
            )
        if len(groups) > 5:
            return error(
                400,
                "ValidationException",
                f"1 validation error detected: Value '{groups}' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have length less than or equal to 5",
            )
        if not subnets and not groups:
            return None  # detaching from the VPC
        ec2 = self._raw("ec2", region)
        found = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": subnets}])["Subnets"]
        missing = sorted(set(subnets) - {s["SubnetId"] for s in found})
        if missing:
            return error(
                400,
                "InvalidParameterValueException",
                f"Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. EC2 Error Message: The subnet ID '{missing[0]}' does not exist",
            )
        vpcs = {s["VpcId"] for s in found}
        if len(vpcs) > 1:
            return error(
                400,
                "InvalidParameterValueException",
                f"The provided subnets are in different VPCs: {', '.join(sorted(vpcs))}.",
            )
        sgs = (
            ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": groups}])[
                "SecurityGroups"
            ]
            if groups
            else []
        )
        missing = sorted(set(groups) - {g["GroupId"] for g in sgs})
        if missing:
            return error(
                400,
                "InvalidParameterValueException",
                f"Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroup.NotFound. EC2 Error Message: The security group '{missing[0]}' does not exist",
            )
        if any(g["VpcId"] not in vpcs for g in sgs):
            return error(
                400,
                "InvalidParameterValueException",
                "The provided security groups and subnets are in different VPCs.",
            )
        return None

    # -------------------------------------------------------------- after-call

    def _after_call(
        self, model: Any, parsed: dict[str, Any], http_response: Any, context: Any, **_: Any
    ) -> None:
        if http_response is None or http_response.status_code >= 300:
            return
        op = model.name
        service = model.service_model.service_name
        params = context.get("awslike_params", {}) if isinstance(context, dict) else {}
        if service == "lambda":
            self._after_lambda(op, params, parsed)
        elif service == "ec2":
            self._after_ec2(op, params, parsed, str(context.get("client_region") or "us-east-1"))

    def _after_lambda(self, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if op == "UpdateFunctionConfiguration" or op == "UpdateFunctionCode":
            name = str(parsed.get("FunctionName") or function_name(params["FunctionName"])[0])
            self._generation[name] += 1
            self._updating[name] = self.update_polls
            self.seen["update-in-progress"] += 1
            self._decorate(parsed, reading=False)
            parsed["LastUpdateStatus"] = "InProgress"
        elif op in ("GetFunctionConfiguration", "PublishVersion"):
            self._decorate(parsed, reading=op == "GetFunctionConfiguration")
        elif op == "GetFunction" and isinstance(parsed.get("Configuration"), dict):
            self._decorate(parsed["Configuration"], reading=True)
        elif op in ("ListFunctions", "ListVersionsByFunction"):
            for entry in parsed.get("Functions") or parsed.get("Versions") or []:
                self._decorate(entry, reading=False)

    def _decorate(self, config: dict[str, Any], *, reading: bool) -> None:
        """RevisionId always; ``InProgress`` for $LATEST while an update settles."""
        name = str(config.get("FunctionName", ""))
        version = str(config.get("Version") or "$LATEST")
        config["RevisionId"] = self._revision(name, version, config)
        if version == "$LATEST" and self._updating.get(name, 0) > 0:
            config["LastUpdateStatus"] = "InProgress"
            config["LastUpdateStatusReason"] = "The function is being updated."
            config["LastUpdateStatusReasonCode"] = ""
            if reading:
                self._tick(name)

    def _tick(self, name: str) -> None:
        left = self._updating.get(name, 0) - 1
        if left > 0:
            self._updating[name] = left
        else:
            self._updating.pop(name, None)

    def _revision(self, name: str, version: str, config: dict[str, Any]) -> str:
        generation = self._generation[name] if version == "$LATEST" else 0
        seed = f"{name}|{version}|{generation}|{_content_hash(config)}"
        return str(uuid.uuid5(_NS, seed))

    def _current_revision(self, name: str, region: str) -> str | None:
        try:
            cfg = dict(self._raw("lambda", region).get_function_configuration(FunctionName=name))
        except ClientError:
            return None  # moto answers the write with its own "not found"
        return self._revision(name, "$LATEST", cfg)

    def _arn(self, name: str, region: str) -> str:
        return f"arn:aws:lambda:{region}:123456789012:function:{name}"

    def _after_ec2(
        self, op: str, params: dict[str, Any], parsed: dict[str, Any], region: str
    ) -> None:
        if op in ("CreateVpcEndpoint", "CreateNatGateway") and params.get("ClientToken"):
            made = (parsed.get("VpcEndpoint") or parsed.get("NatGateway") or {}).get(
                "VpcEndpointId" if op == "CreateVpcEndpoint" else "NatGatewayId"
            )
            key = (op, str(params["ClientToken"]))
            if made and key in self._tokens:
                return  # the repeated create's answer: no new resource, nothing new pending
            if made:
                self._tokens[key] = made
        if op == "CreateNatGateway":
            nat = parsed.get("NatGateway") or {}
            if nat.get("NatGatewayId"):
                self._pending[nat["NatGatewayId"]] = ("pending", self.pending_polls)
                nat["State"] = "pending"
        elif op == "DeleteNatGateway":
            if parsed.get("NatGatewayId"):
                self._pending[parsed["NatGatewayId"]] = ("deleting", self.pending_polls)
        elif op == "CreateVpcEndpoint":
            ep = parsed.get("VpcEndpoint") or {}
            if ep.get("VpcEndpointId"):
                self._pending[ep["VpcEndpointId"]] = ("pending", self.pending_polls)
                ep["State"] = "pending"
        elif op == "DeleteVpcEndpoints":
            for eid in params.get("VpcEndpointIds", []):
                self._pending[eid] = ("deleting", self.pending_polls)
        elif op == "DescribeNatGateways":
            self._pending_states(parsed.get("NatGateways", []), "NatGatewayId")
        elif op == "DescribeVpcEndpoints":
            self._pending_states(parsed.get("VpcEndpoints", []), "VpcEndpointId")
        elif op == "DescribeRouteTables":
            self._blackholes(parsed.get("RouteTables", []), region)

    def _pending_states(self, items: list[dict[str, Any]], id_key: str) -> None:
        for item in items:
            rid = item.get(id_key)
            if rid not in self._pending:
                continue
            state, left = self._pending[rid]
            item["State"] = state
            self.seen[f"{state}-state"] += 1
            if left <= 1:
                del self._pending[rid]
            else:
                self._pending[rid] = (state, left - 1)

    def _blackholes(self, tables: list[dict[str, Any]], region: str) -> None:
        nat_ids = {
            r["NatGatewayId"] for t in tables for r in t.get("Routes", []) if r.get("NatGatewayId")
        }
        if not nat_ids:
            return
        nats = self._raw("ec2", region).describe_nat_gateways(
            Filter=[{"Name": "nat-gateway-id", "Values": sorted(nat_ids)}]
        )["NatGateways"]
        alive = {n["NatGatewayId"] for n in nats if n.get("State") in ("pending", "available")}
        alive -= {rid for rid, (state, _) in self._pending.items() if state == "deleting"}
        for table in tables:
            for route in table.get("Routes", []):
                if route.get("NatGatewayId") and route["NatGatewayId"] not in alive:
                    route["State"] = "blackhole"
                    self.seen["blackhole"] += 1


def _moto_endpoint_id_filter(params: dict[str, Any], **_: Any) -> None:
    """moto lacks DescribeVpcEndpoints' ``vpc-endpoint-id`` filter (AWS has it):
    use the ids parameter instead."""
    filters = params.get("Filters") or []
    ids = [v for f in filters if f.get("Name") == "vpc-endpoint-id" for v in f.get("Values", [])]
    if ids:
        params["Filters"] = [f for f in filters if f.get("Name") != "vpc-endpoint-id"]
        if not params["Filters"]:
            del params["Filters"]
        params["VpcEndpointIds"] = ids
