"""Topology worlds: declarative specs of real VPC designs, and a builder that
creates them on moto through the AWS API (test-only).

Each ``World`` is one row of a table. ``build`` creates the topology with a
``Builder`` (every resource gets a short name; expectations use the names);
the rest of the row is the *human-written oracle*: what AWS would do with the
function's packets, never computed by remediator's model:

- ``functions``: per function, its status before (``affected`` / ``healthy``
  / ``egress-unknown``), its finding codes, whether the plan may touch it,
  and its status after apply and re-plan;
- ``kinds``: the change kinds the plan holds (exactly), or ``blocked``: a
  fragment of the manual step of a blocked finding;
- ``post``: facts read back from moto after apply (a function lists exactly
  these subnets, a route table sends a destination to a target...);
- ``simulated``: what moto cannot show and the ``Views`` rewrite fakes.

Where moto lacks a state AWS shows (a ``blackhole`` route, a ``failed`` NAT,
a shared VPC seen by a participant), ``Views`` rewrites the describe
responses with a botocore ``after-call`` hook, so remediator's discovery
and executor run unchanged and see what they would see on AWS.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.moto_worlds import function_zip

REGION = "us-east-1"
OWNER = "111122223333"
"""The account that owns a shared VPC (the participant is moto's 123456789012)."""

ALLOW_ENDPOINTS = """
[defaults]
allow_endpoint_creation = true
"""
NAT_ROUTE_ONLY = """
[defaults]
strategies = ["add-nat-route"]
min_azs = 1
"""
ROUTE_REPAIR = """
[defaults]
strategies = ["add-nat-route"]
"""
ENDPOINT_ONLY = """
[defaults]
strategies = ["lambda-endpoint"]
allow_endpoint_creation = true
"""

# --------------------------------------------------------------------------
# Response rewrites: what AWS shows and moto does not


@dataclass
class Views:
    """Rewrites of EC2 describe answers for the world being run.

    - ``blackholes``: targets (NAT ids, IGW ids) whose routes AWS shows as
      ``blackhole`` (the NAT was deleted, the IGW detached); moto keeps them
      ``active``.
    - ``nat_states``: a NAT gateway's state as AWS would report it
      (``failed``); moto's NATs are ``available`` at once.
    - ``igw_states``: an internet gateway's attachment state as AWS words it
      (``available`` for an attached IGW; moto says ``attached``).
    - ``shared``: VPC id -> owner account. The participant (moto's account)
      sees that VPC's subnets, VPC and route tables with the owner's
      ``OwnerId`` and none of the owner's NAT gateways.
    """

    blackholes: set[str] = field(default_factory=set)
    nat_states: dict[str, str] = field(default_factory=dict)
    shared: dict[str, str] = field(default_factory=dict)
    igw_states: dict[str, str] = field(default_factory=dict)
    dual_stack: set[str] = field(default_factory=set)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def before_update(self, params: dict[str, Any], **_: Any) -> None:
        """Records each UpdateFunctionConfiguration sent; the dual-stack flag
        is sticky (AWS keeps it when the request leaves it out)."""
        self.updates.append(dict(params))
        flag = (params.get("VpcConfig") or {}).get("Ipv6AllowedForDualStack")
        if flag is not None:
            name = str(params["FunctionName"]).rsplit(":", 1)[-1]
            (self.dual_stack.add if flag else self.dual_stack.discard)(name)

    def after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        op = model.name
        if model.service_model.service_name == "lambda":
            self._lambda(parsed)
        elif op == "DescribeRouteTables":
            for table in parsed.get("RouteTables") or ():
                self._routes(table)
        elif op == "DescribeNatGateways":
            nats = parsed.get("NatGateways") or []
            parsed["NatGateways"] = [
                {**n, "State": self.nat_states.get(n["NatGatewayId"], n["State"])}
                for n in nats
                if n.get("VpcId") not in self.shared
            ]
        elif op == "DescribeInternetGateways":
            for igw in parsed.get("InternetGateways") or ():
                state = self.igw_states.get(igw["InternetGatewayId"])
                for attachment in igw.get("Attachments") or () if state else ():
                    attachment["State"] = state
        elif op in ("DescribeSubnets", "DescribeVpcs"):
            for item in parsed.get("Subnets") or parsed.get("Vpcs") or ():
                if item.get("VpcId") in self.shared:
                    item["OwnerId"] = self.shared[item["VpcId"]]

    def _lambda(self, parsed: dict[str, Any]) -> None:
        """moto drops ``Ipv6AllowedForDualStack``: put it back where AWS shows it."""
        configs = [parsed, parsed.get("Configuration") or {}, *(parsed.get("Functions") or ())]
        for config in configs:
            vpc = config.get("VpcConfig")
            if vpc and config.get("FunctionName") in self.dual_stack:
                vpc["Ipv6AllowedForDualStack"] = True

    def _routes(self, table: dict[str, Any]) -> None:
        if table.get("VpcId") in self.shared:
            table["OwnerId"] = self.shared[table["VpcId"]]
        for route in table.get("Routes") or ():
            target = route.get("NatGatewayId") or route.get("GatewayId")
            if target in self.blackholes:
                route["State"] = "blackhole"


class Dispatch:
    """One ``after-call`` handler on the module's botocore session, forwarding
    to the ``Views`` of the world being run (clients copy the session's
    handlers when created, so it is registered once, before any client)."""

    def __init__(self) -> None:
        self.views = Views()

    def __call__(self, **kwargs: Any) -> None:
        self.views.after_call(**kwargs)

    def before_update(self, **kwargs: Any) -> None:
        self.views.before_update(**kwargs)


# --------------------------------------------------------------------------
# The builder


_TARGET_PARAM = {
    "igw-": "GatewayId",
    "vgw-": "GatewayId",
    "vpce-": "VpcEndpointId",
    "nat-": "NatGatewayId",
    "tgw-": "TransitGatewayId",
    "pcx-": "VpcPeeringConnectionId",
    "i-": "InstanceId",
    "eni-": "NetworkInterfaceId",
    "eigw-": "EgressOnlyInternetGatewayId",
    "cagw-": "CarrierGatewayId",
}


@dataclass
class Builder:
    """Creates named resources through boto3 clients (inside ``mock_aws``)."""

    ec2: Any
    lam: Any
    iam: Any
    views: Views
    ids: dict[str, str] = field(default_factory=dict)
    _role: str | None = None
    _vpcs: int = 0
    _subnets: dict[str, int] = field(default_factory=dict)

    def id(self, name: str) -> str:
        return self.ids[name]

    def _name(self, name: str, value: str) -> str:
        assert name not in self.ids, f"name {name} used twice"
        self.ids[name] = value
        return value

    # -- VPCs, subnets, gateways

    def vpc(self, name: str, *, ipv6: bool = False, dns: bool = False) -> str:
        """VPC 10.n.0.0/16; its main table is ``<name>.main``; ``dns`` turns on
        both DNS attributes (hostnames are off by default outside the default VPC)."""
        self._vpcs += 1
        kwargs: dict[str, Any] = {"CidrBlock": f"10.{self._vpcs}.0.0/16"}
        if ipv6:
            kwargs["AmazonProvidedIpv6CidrBlock"] = True
        vpc = self.ec2.create_vpc(**kwargs)["Vpc"]["VpcId"]
        if dns:
            self.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
            self.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        main = self.ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"][0]["RouteTableId"]
        self._name(f"{name}.main", main)
        self._subnets[vpc] = 0
        return self._name(name, vpc)

    def cidr(self, vpc: str) -> str:
        return str(self.ec2.describe_vpcs(VpcIds=[self.id(vpc)])["Vpcs"][0]["CidrBlock"])

    def subnet(self, name: str, vpc: str, az: str = "a") -> str:
        vpc_id = self.id(vpc)
        n = self._subnets[vpc_id]
        self._subnets[vpc_id] = n + 1
        second = self.cidr(vpc).split(".")[1]
        kwargs: dict[str, Any] = {
            "VpcId": vpc_id,
            "CidrBlock": f"10.{second}.{n}.0/24",
            "AvailabilityZone": f"{REGION}{az}",
        }
        v6 = self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0].get("Ipv6CidrBlockAssociationSet")
        if v6:
            net = ipaddress.ip_network(v6[0]["Ipv6CidrBlock"])
            kwargs["Ipv6CidrBlock"] = str(list(net.subnets(new_prefix=64))[n])
        return self._name(name, self.ec2.create_subnet(**kwargs)["Subnet"]["SubnetId"])

    def igw(self, name: str, vpc: str) -> str:
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=self.id(vpc))
        return self._name(name, igw)

    def nat(self, name: str, subnet: str, *, private: bool = False) -> str:
        kwargs: dict[str, Any] = {"SubnetId": self.id(subnet)}
        if private:
            kwargs["ConnectivityType"] = "private"
        else:
            kwargs["AllocationId"] = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = self.ec2.create_nat_gateway(**kwargs)["NatGateway"]["NatGatewayId"]
        return self._name(name, nat)

    def table(self, name: str, vpc: str, subnets: list[str], routes: dict[str, str]) -> str:
        """A route table for ``subnets`` with ``routes`` (destination -> target
        name). A destination ``pl:<name>`` is a prefix-list route; one with a
        ``:`` an IPv6 route."""
        rt = self.ec2.create_route_table(VpcId=self.id(vpc))["RouteTable"]["RouteTableId"]
        self._name(name, rt)
        for destination, target in routes.items():
            self.route(name, destination, target)
        for subnet in subnets:
            self.ec2.associate_route_table(RouteTableId=rt, SubnetId=self.id(subnet))
        return str(rt)

    def route(self, table: str, destination: str, target: str) -> None:
        target_id = self.id(target)
        param = next(p for prefix, p in _TARGET_PARAM.items() if target_id.startswith(prefix))
        kwargs: dict[str, Any] = {"RouteTableId": self.id(table), param: target_id}
        if destination.startswith("pl:"):
            kwargs["DestinationPrefixListId"] = self.id(destination[3:])
        elif ":" in destination:
            kwargs["DestinationIpv6CidrBlock"] = destination
        else:
            kwargs["DestinationCidrBlock"] = destination
        self.ec2.create_route(**kwargs)

    def tgw(self, name: str, vpc: str, subnet: str) -> str:
        tgw = self.ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
        self.ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=self.id(vpc), SubnetIds=[self.id(subnet)]
        )
        return self._name(name, tgw)

    def carrier_gateway(self, name: str, vpc: str) -> str:
        cagw = self.ec2.create_carrier_gateway(VpcId=self.id(vpc))["CarrierGateway"]
        return self._name(name, cagw["CarrierGatewayId"])

    def vgw(self, name: str, vpc: str) -> str:
        vgw = self.ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
        self.ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=self.id(vpc))
        return self._name(name, vgw)

    def peering(self, name: str, vpc: str, peer: str) -> str:
        pcx = self.ec2.create_vpc_peering_connection(VpcId=self.id(vpc), PeerVpcId=self.id(peer))
        return self._name(name, pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"])

    def eigw(self, name: str, vpc: str) -> str:
        eigw = self.ec2.create_egress_only_internet_gateway(VpcId=self.id(vpc))
        return self._name(name, eigw["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"])

    def prefix_list(self, name: str, cidrs: list[str]) -> str:
        pl = self.ec2.create_managed_prefix_list(
            PrefixListName=name,
            MaxEntries=len(cidrs),
            AddressFamily="IPv4",
            Entries=[{"Cidr": c} for c in cidrs],
        )
        return self._name(name, pl["PrefixList"]["PrefixListId"])

    def firewall_endpoint(self, name: str, vpc: str, subnet: str) -> str:
        """A Gateway Load Balancer endpoint (what Network Firewall puts in a VPC)."""
        endpoint = self.ec2.create_vpc_endpoint(
            VpcId=self.id(vpc),
            VpcEndpointType="GatewayLoadBalancer",
            ServiceName=f"com.amazonaws.vpce.{REGION}.vpce-svc-0firewall",
            SubnetIds=[self.id(subnet)],
        )["VpcEndpoint"]["VpcEndpointId"]
        return self._name(name, endpoint)

    def gateway_endpoint(self, name: str, vpc: str, service: str, tables: list[str]) -> str:
        """A gateway endpoint (S3, DynamoDB): AWS adds ``pl-`` -> ``vpce-`` routes."""
        endpoint = self.ec2.create_vpc_endpoint(
            VpcId=self.id(vpc),
            VpcEndpointType="Gateway",
            ServiceName=f"com.amazonaws.{REGION}.{service}",
            RouteTableIds=[self.id(t) for t in tables],
        )["VpcEndpoint"]["VpcEndpointId"]
        return self._name(name, endpoint)

    def lambda_endpoint(self, name: str, vpc: str, subnets: list[str], sg: str) -> str:
        """An interface endpoint for the Lambda API with private DNS."""
        endpoint = self.ec2.create_vpc_endpoint(
            VpcEndpointType="Interface",
            VpcId=self.id(vpc),
            ServiceName=f"com.amazonaws.{REGION}.lambda",
            SubnetIds=[self.id(s) for s in subnets],
            SecurityGroupIds=[self.id(sg)],
            PrivateDnsEnabled=True,
        )["VpcEndpoint"]["VpcEndpointId"]
        return self._name(name, endpoint)

    def nat_instance(
        self,
        name: str,
        subnet: str,
        *,
        source_dest_check: bool = False,
        public_ip: bool = True,
        running: bool = True,
        group: str = "",
    ) -> str:
        """A NAT instance; the route target is its network interface ``<name>.eni``.
        ``group``: its security group (default: the VPC's default group)."""
        extra: dict[str, Any] = {"SecurityGroupIds": [self.id(group)]} if group else {}
        instance = self.ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=self.id(subnet), **extra
        )["Instances"][0]
        instance_id = instance["InstanceId"]
        eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
        # AWS keeps the two in step (one attribute of the primary interface);
        # moto does not, so both are set.
        self.ec2.modify_instance_attribute(
            InstanceId=instance_id, SourceDestCheck={"Value": source_dest_check}
        )
        self.ec2.modify_network_interface_attribute(
            NetworkInterfaceId=eni, SourceDestCheck={"Value": source_dest_check}
        )
        if public_ip:
            allocation = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
            self.ec2.associate_address(InstanceId=instance_id, AllocationId=allocation)
        if not running:
            self.ec2.stop_instances(InstanceIds=[instance_id])
        self._name(f"{name}.eni", eni)
        return self._name(name, instance_id)

    def nat_group(self, name: str, vpc: str) -> str:
        """A NAT instance's group as fck-nat and the AWS NAT-instance guide set
        it up: all traffic in from the VPC CIDR, AWS's default egress (all)."""
        group = self.sg(name, vpc)
        self.ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": self.cidr(vpc)}]}],
        )
        return group

    def static_eni_nat(self, name: str, subnet: str, group: str = "") -> str:
        """fck-nat's design: an instance plus a static interface ``<name>.eni``
        (source/dest check off, its own Elastic IP) attached at device index 1;
        routes target the interface. The primary interface keeps the check on."""
        instance_id = self.ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=self.id(subnet)
        )["Instances"][0]["InstanceId"]
        groups = {"Groups": [self.id(group)]} if group else {}
        eni = self.ec2.create_network_interface(SubnetId=self.id(subnet), **groups)[
            "NetworkInterface"
        ]["NetworkInterfaceId"]
        self.ec2.modify_network_interface_attribute(
            NetworkInterfaceId=eni, SourceDestCheck={"Value": False}
        )
        self.ec2.attach_network_interface(
            NetworkInterfaceId=eni, InstanceId=instance_id, DeviceIndex=1
        )
        allocation = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        self.ec2.associate_address(NetworkInterfaceId=eni, AllocationId=allocation)
        self._name(f"{name}.eni", eni)
        return self._name(name, instance_id)

    def edge_table(self, name: str, vpc: str, igw: str, routes: dict[str, str]) -> str:
        """An ingress route table associated with the internet gateway (edge association)."""
        rt = self.table(name, vpc, [], routes)
        self.ec2.associate_route_table(RouteTableId=rt, GatewayId=self.id(igw))
        return rt

    # -- security groups and network ACLs

    def sg(self, name: str, vpc: str, egress: str = "all", *, ingress_from: str = "") -> str:
        """A security group. ``egress``: ``all`` (AWS's default rule), ``vpc``
        (only TCP 443 to the VPC CIDR), ``http`` (only TCP 80 anywhere),
        ``443`` (only TCP 443 anywhere), ``pl:<name>`` (only TCP 443 to that
        prefix list), ``none`` (no egress rule at all).
        ``ingress_from``: allow TCP 443 from that group (an endpoint's group)."""
        group = self.ec2.create_security_group(
            GroupName=name, Description=name, VpcId=self.id(vpc)
        )["GroupId"]
        self._name(name, group)
        if egress != "all":
            self.ec2.revoke_security_group_egress(
                GroupId=group,
                IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
            )
        if egress not in ("all", "none"):
            port = 80 if egress == "http" else 443
            rule: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
            if egress.startswith("pl:"):
                rule["PrefixListIds"] = [{"PrefixListId": self.id(egress[3:])}]
            else:
                cidr = self.cidr(vpc) if egress == "vpc" else "0.0.0.0/0"
                rule["IpRanges"] = [{"CidrIp": cidr}]
            self.ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[rule])
        if ingress_from:
            self.ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "UserIdGroupPairs": [{"GroupId": self.id(ingress_from)}],
                    }
                ],
            )
        return str(group)

    def nacl(self, name: str, vpc: str, subnets: list[str], rules: list[NaclRule]) -> str:
        """A network ACL for ``subnets`` with ``rules`` (and AWS's final ``*`` deny)."""
        acl = self.ec2.create_network_acl(VpcId=self.id(vpc))["NetworkAcl"]["NetworkAclId"]
        for rule in rules:
            entry: dict[str, Any] = {
                "NetworkAclId": acl,
                "RuleNumber": rule.number,
                "Protocol": rule.protocol,
                "RuleAction": rule.action,
                "Egress": rule.egress,
                "CidrBlock": rule.cidr,
            }
            if rule.protocol != "-1":
                entry["PortRange"] = {"From": rule.ports[0], "To": rule.ports[1]}
            self.ec2.create_network_acl_entry(**entry)
        wanted = {self.id(s) for s in subnets}
        for existing in self.ec2.describe_network_acls(
            Filters=[{"Name": "vpc-id", "Values": [self.id(vpc)]}]
        )["NetworkAcls"]:
            for association in existing.get("Associations") or ():
                if association["SubnetId"] in wanted:
                    self.ec2.replace_network_acl_association(
                        AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl
                    )
        return self._name(name, acl)

    # -- functions

    @property
    def role(self) -> str:
        if self._role is None:
            self._role = str(
                self.iam.create_role(
                    RoleName="lambda-role",
                    AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
                )["Role"]["Arn"]
            )
        return self._role

    def function(self, name: str, subnets: list[str], sgs: list[str], *, ipv6: bool = False) -> str:
        vpc_config: dict[str, Any] = {
            "SubnetIds": [self.id(s) for s in subnets],
            "SecurityGroupIds": [self.id(g) for g in sgs],
        }
        if ipv6:
            vpc_config["Ipv6AllowedForDualStack"] = True
            self.views.dual_stack.add(name)
        arn = self.lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role,
            Handler="h.h",
            Code={"ZipFile": function_zip()},
            VpcConfig=vpc_config,
        )["FunctionArn"]
        return self._name(name, str(arn))

    # -- states AWS shows and moto does not

    def delete_nat(self, nat: str) -> None:
        """Delete a NAT gateway; AWS then shows its routes as ``blackhole``."""
        self.ec2.delete_nat_gateway(NatGatewayId=self.id(nat))
        self.views.blackholes.add(self.id(nat))

    def detach_igw(self, igw: str, vpc: str) -> None:
        """Detach an internet gateway; AWS then shows its routes as ``blackhole``."""
        self.ec2.detach_internet_gateway(InternetGatewayId=self.id(igw), VpcId=self.id(vpc))
        self.views.blackholes.add(self.id(igw))

    def igw_state(self, igw: str, state: str) -> None:
        self.views.igw_states[self.id(igw)] = state

    def nat_state(self, nat: str, state: str) -> None:
        self.views.nat_states[self.id(nat)] = state

    def share(self, vpc: str, owner: str = OWNER) -> None:
        """The VPC is owned by ``owner`` and shared with this account (RAM)."""
        self.views.shared[self.id(vpc)] = owner


@dataclass(frozen=True)
class NaclRule:
    number: int
    egress: bool
    ports: tuple[int, int] = (0, 0)
    action: str = "allow"
    cidr: str = "0.0.0.0/0"
    protocol: str = "6"


ALL_IN = NaclRule(100, egress=False, protocol="-1")
ALL_OUT = NaclRule(100, egress=True, protocol="-1")


def shop(b: Builder, *, dns: bool = False, ipv6: bool = False) -> None:
    """The textbook VPC ``v``: ``igw``; public ``pub-a``/``pub-b`` (``rt-pub``:
    0.0.0.0/0 -> igw); ``nat`` in pub-a; private ``priv-a``/``priv-b`` with a
    table each (``rt-priv-a``/``rt-priv-b``: 0.0.0.0/0 -> nat); group ``sg``
    (AWS's default egress: all)."""
    b.vpc("v", dns=dns, ipv6=ipv6)
    b.igw("igw", "v")
    b.subnet("pub-a", "v", "a")
    b.subnet("pub-b", "v", "b")
    b.table("rt-pub", "v", ["pub-a", "pub-b"], {"0.0.0.0/0": "igw"})
    b.nat("nat", "pub-a")
    b.subnet("priv-a", "v", "a")
    b.subnet("priv-b", "v", "b")
    b.table("rt-priv-a", "v", ["priv-a"], {"0.0.0.0/0": "nat"})
    b.table("rt-priv-b", "v", ["priv-b"], {"0.0.0.0/0": "nat"})
    b.sg("sg", "v")


def bystander(b: Builder) -> None:
    """``ok``: a healthy function in the shop's private subnets (must stay untouched)."""
    b.function("ok", ["priv-a", "priv-b"], ["sg"])


# --------------------------------------------------------------------------
# The oracle


@dataclass(frozen=True)
class Fn:
    """What AWS does with one function's packets, declared by hand."""

    before: str
    codes: frozenset[str] = frozenset()
    touch: bool = False
    after: str | None = None  # None: same as before


@dataclass(frozen=True)
class Subnets:
    """After apply, ``function`` lists exactly these subnets."""

    function: str
    subnets: frozenset[str]


@dataclass(frozen=True)
class Route:
    """After apply, ``table`` sends ``destination`` to ``target`` (``None``: no such route)."""

    table: str
    destination: str
    target: str | None


@dataclass(frozen=True)
class LambdaEndpoint:
    """After apply, ``vpc`` has a Lambda interface endpoint with private DNS."""

    vpc: str


@dataclass(frozen=True)
class DualStack:
    """After apply, ``function`` still has ``Ipv6AllowedForDualStack`` on: the
    executor's updates never sent it off (moto drops the flag; ``Views`` keeps
    it as AWS does)."""

    function: str


Fact = Subnets | Route | LambdaEndpoint | DualStack


@dataclass(frozen=True)
class World:
    family: str
    name: str
    build: Callable[[Builder], None]
    functions: dict[str, Fn]
    kinds: frozenset[str] = frozenset()
    blocked: str = ""
    post: tuple[Fact, ...] = ()
    policy: str = ""
    asserted: str = ""
    simulated: str = ""
    xfail: str = ""

    @property
    def id(self) -> str:
        return f"{self.family}/{self.name}"


def codes(*names: str) -> frozenset[str]:
    return frozenset(names)


# --------------------------------------------------------------------------
# The worlds

MOVE = frozenset({"lambda.update-vpc-config"})
NAT_ROUTE = frozenset({"ec2.put-nat-route"})
ENDPOINT_KINDS = frozenset(
    {"ec2.enable-vpc-dns", "ec2.create-endpoint-security-group", "ec2.create-lambda-endpoint"}
)
PRIVATE = frozenset({"priv-a", "priv-b"})
HEALTHY = Fn("healthy")
OK_UNTOUCHED = {"ok": HEALTHY}
V6 = "ipv6-dual-stack-egress"  # the info note every dual-stack function carries
HEALTHY_V6 = Fn("healthy", codes(V6))


def _extra(b: Builder, routes: dict[str, str], *, azs: str = "ab", table: str = "rt-x") -> None:
    """Subnets ``x-<az>`` of the shop's VPC on one table ``rt-x`` with ``routes``."""
    for az in azs:
        b.subnet(f"x-{az}", "v", az)
    b.table(table, "v", [f"x-{az}" for az in azs], routes)


def _fn_x(b: Builder, *, with_private: bool = False, sg: str = "sg", ipv6: bool = False) -> None:
    """``fn`` in the ``x-`` subnets (and the shop's private ones)."""
    subnets = sorted(k for k in b.ids if k.startswith("x-"))
    b.function("fn", subnets + (["priv-a", "priv-b"] if with_private else []), [sg], ipv6=ipv6)


def w_textbook(b: Builder) -> None:
    shop(b)
    b.function("fn", ["priv-a", "priv-b"], ["sg"])


def w_public_only(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.function("fn", ["pub-a", "pub-b"], ["sg"])


def w_public_no_nat(b: Builder) -> None:
    b.vpc("v")
    b.igw("igw", "v")
    b.subnet("pub-a", "v", "a")
    b.subnet("pub-b", "v", "b")
    b.table("rt-pub", "v", ["pub-a", "pub-b"], {"0.0.0.0/0": "igw"})
    b.sg("sg", "v")
    b.function("fn", ["pub-a", "pub-b"], ["sg"])


def w_mix(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.function("fn", ["pub-a", "priv-a", "priv-b"], ["sg"])


def w_isolated(b: Builder) -> None:
    shop(b)
    bystander(b)
    _extra(b, {})
    _fn_x(b)


def w_isolated_one(b: Builder) -> None:
    shop(b)
    bystander(b)
    _extra(b, {}, azs="a")
    _fn_x(b)


def w_isolated_endpoint(b: Builder) -> None:
    b.vpc("v", dns=True)
    b.subnet("iso-a", "v", "a")
    b.subnet("iso-b", "v", "b")
    b.sg("sg", "v")
    b.sg("ep", "v", ingress_from="sg")
    b.lambda_endpoint("lep", "v", ["iso-a", "iso-b"], "ep")
    b.function("fn", ["iso-a", "iso-b"], ["sg"])


def w_isolated_create_endpoint(b: Builder) -> None:
    b.vpc("v")
    b.subnet("iso-a", "v", "a")
    b.subnet("iso-b", "v", "b")
    b.sg("sg", "v")
    b.function("fn", ["iso-a", "iso-b"], ["sg"])


def w_nat_in_private(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.subnet("hid-b", "v", "b")
    b.table("rt-hid", "v", ["hid-b"], {})
    b.nat("nat-hid", "hid-b")
    _extra(b, {"0.0.0.0/0": "nat-hid"})
    _fn_x(b)


def _dead_nat(b: Builder, *, split: bool = False) -> None:
    shop(b)
    bystander(b)
    b.nat("nat-old", "pub-b")
    routes = (
        {"0.0.0.0/1": "nat-old", "128.0.0.0/1": "nat-old"} if split else {"0.0.0.0/0": "nat-old"}
    )
    _extra(b, routes)
    _fn_x(b)


def w_nat_deleted(b: Builder) -> None:
    _dead_nat(b)
    b.delete_nat("nat-old")


def w_nat_failed(b: Builder) -> None:
    _dead_nat(b)
    b.nat_state("nat-old", "failed")


def w_split_broken_nat(b: Builder) -> None:
    _dead_nat(b, split=True)
    b.delete_nat("nat-old")


def _private_nat(b: Builder, onward: str) -> None:
    shop(b)
    bystander(b)
    b.subnet("pn-a", "v", "a")
    if onward == "tgw":
        b.tgw("tgw", "v", "pn-a")
    b.table("rt-pn", "v", ["pn-a"], {"0.0.0.0/0": onward})
    b.nat("pnat", "pn-a", private=True)
    _extra(b, {"0.0.0.0/0": "pnat"})
    _fn_x(b)


def w_private_nat_tgw(b: Builder) -> None:
    _private_nat(b, "tgw")


def w_private_nat_igw(b: Builder) -> None:
    _private_nat(b, "igw")


def w_split_nat(b: Builder) -> None:
    shop(b)
    _extra(b, {"0.0.0.0/1": "nat", "128.0.0.0/1": "nat"})
    _fn_x(b)


def w_split_igw(b: Builder) -> None:
    shop(b)
    bystander(b)
    _extra(b, {"0.0.0.0/0": "nat", "0.0.0.0/1": "igw", "128.0.0.0/1": "igw"})
    _fn_x(b, with_private=True)


def w_split_igw_alone(b: Builder) -> None:
    shop(b)
    bystander(b)
    _extra(b, {"0.0.0.0/0": "nat", "0.0.0.0/1": "igw", "128.0.0.0/1": "igw"}, azs="a")
    _fn_x(b)


def w_more_specific(b: Builder) -> None:
    shop(b)
    bystander(b)
    _extra(b, {"0.0.0.0/0": "nat", "52.0.0.0/8": "igw"})
    _fn_x(b, with_private=True)


def w_prefix_list_igw(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.prefix_list("pl-half", ["0.0.0.0/1", "128.0.0.0/1"])
    _extra(b, {"0.0.0.0/0": "nat", "pl:pl-half": "igw"})
    _fn_x(b, with_private=True)


def w_prefix_list_nat(b: Builder) -> None:
    shop(b)
    b.prefix_list("pl-half", ["0.0.0.0/1", "128.0.0.0/1"])
    _extra(b, {"pl:pl-half": "nat"})
    _fn_x(b)


def w_igw_detached(b: Builder) -> None:
    b.vpc("v")
    b.igw("igw", "v")
    b.subnet("x-a", "v", "a")
    b.subnet("x-b", "v", "b")
    b.table("rt-x", "v", ["x-a", "x-b"], {"0.0.0.0/0": "igw"})
    b.sg("sg", "v")
    b.detach_igw("igw", "v")
    _fn_x(b)


def w_tgw(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.tgw("tgw", "v", "priv-a")
    _extra(b, {"0.0.0.0/0": "tgw"})
    _fn_x(b)


def w_vgw(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.vgw("vgw", "v")
    _extra(b, {"0.0.0.0/0": "vgw"})
    _fn_x(b)


def w_peering(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.vpc("peer")
    b.peering("pcx", "v", "peer")
    _extra(b, {"0.0.0.0/0": "pcx"})
    _fn_x(b, with_private=True)


def _nat_instance(b: Builder, *, open_group: bool = True, **kwargs: bool) -> None:
    shop(b)
    bystander(b)
    group = b.nat_group("nat-sg", "v") if open_group else ""
    b.nat_instance("nati", "pub-b", group=group and "nat-sg", **kwargs)
    _extra(b, {"0.0.0.0/0": "nati.eni"})


def w_nat_instance_good(b: Builder) -> None:
    _nat_instance(b)
    _fn_x(b)


def w_nat_instance_default_group(b: Builder) -> None:
    _nat_instance(b, open_group=False)
    _fn_x(b, with_private=True)


def w_nat_instance_check_on(b: Builder) -> None:
    _nat_instance(b, source_dest_check=True)
    _fn_x(b, with_private=True)


def w_nat_instance_stopped(b: Builder) -> None:
    _nat_instance(b, running=False)
    _fn_x(b, with_private=True)


def w_nat_instance_no_ip(b: Builder) -> None:
    _nat_instance(b, public_ip=False)
    _fn_x(b, with_private=True)


def _firewall(b: Builder, onward: str) -> None:
    shop(b)
    bystander(b)
    b.subnet("fw-a", "v", "a")
    b.table("rt-fw", "v", ["fw-a"], {"0.0.0.0/0": onward})
    b.firewall_endpoint("fw", "v", "fw-a")
    _extra(b, {"0.0.0.0/0": "fw"})
    _fn_x(b)


def w_firewall_nat(b: Builder) -> None:
    _firewall(b, "nat")


def w_firewall_igw(b: Builder) -> None:
    _firewall(b, "igw")


def w_sg_vpc_endpoint(b: Builder) -> None:
    shop(b, dns=True)
    b.sg("vpconly", "v", "vpc")
    b.sg("ep", "v", ingress_from="vpconly")
    b.lambda_endpoint("lep", "v", ["priv-a", "priv-b"], "ep")
    b.function("fn", ["priv-a", "priv-b"], ["vpconly"])


def w_sg_vpc_only(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.sg("vpconly", "v", "vpc")
    b.function("fn", ["priv-a", "priv-b"], ["vpconly"])


def w_sg_no_443(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.sg("http", "v", "http")
    b.function("fn", ["priv-a", "priv-b"], ["http"])


def _nacl_world(b: Builder, where: list[str], rules: list[NaclRule]) -> None:
    shop(b)
    _extra(b, {"0.0.0.0/0": "nat"})
    b.nacl("acl", "v", where, rules)
    _fn_x(b)


def w_nacl_out_443(b: Builder) -> None:
    deny = NaclRule(90, egress=True, ports=(443, 443), action="deny")
    _nacl_world(b, ["x-a", "x-b"], [ALL_IN, deny, ALL_OUT])


def w_nacl_no_ephemeral(b: Builder) -> None:
    ssh_only = NaclRule(100, egress=False, ports=(22, 22))
    _nacl_world(b, ["x-a", "x-b"], [ssh_only, ALL_OUT])


def w_nacl_nat_subnet(b: Builder) -> None:
    deny = NaclRule(90, egress=True, ports=(443, 443), action="deny")
    _nacl_world(b, ["pub-a", "pub-b"], [ALL_IN, deny, ALL_OUT])


def w_shared(b: Builder) -> None:
    shop(b)
    b.function("inner", ["priv-a", "priv-b"], ["sg"])
    b.function("edge", ["pub-a", "priv-a", "priv-b"], ["sg"])
    b.share("v")


def w_shared_isolated(b: Builder) -> None:
    shop(b)
    _extra(b, {}, azs="a")
    _fn_x(b)
    b.share("v")


def w_dual_stack(b: Builder) -> None:
    shop(b, ipv6=True)
    b.eigw("eigw", "v")
    b.route("rt-priv-a", "::/0", "eigw")
    b.route("rt-priv-b", "::/0", "eigw")
    b.function("fn", ["priv-a", "priv-b"], ["sg"], ipv6=True)


def w_dual_stack_mix(b: Builder) -> None:
    shop(b, ipv6=True)
    b.eigw("eigw", "v")
    b.function("fn", ["pub-a", "priv-a", "priv-b"], ["sg"], ipv6=True)


def w_ipv6_only_egress(b: Builder) -> None:
    shop(b, ipv6=True)
    b.eigw("eigw", "v")
    _extra(b, {"::/0": "eigw"})
    _fn_x(b, ipv6=True)


def w_main_table_igw(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.route("v.main", "0.0.0.0/0", "igw")
    b.subnet("x-a", "v", "a")
    b.subnet("x-b", "v", "b")
    _fn_x(b)


def w_s3_gateway(b: Builder) -> None:
    shop(b)
    b.gateway_endpoint("s3", "v", "s3", ["rt-priv-a", "rt-priv-b"])
    b.function("fn", ["priv-a", "priv-b"], ["sg"])


def w_hub_spoke(b: Builder) -> None:
    shop(b)
    b.tgw("tgw", "v", "priv-a")
    b.route("rt-priv-a", "10.0.0.0/8", "tgw")
    b.route("rt-priv-b", "10.0.0.0/8", "tgw")
    b.function("fn", ["priv-a", "priv-b"], ["sg"])


def w_peer_cidr_only(b: Builder) -> None:
    shop(b)
    b.vpc("peer")
    b.peering("pcx", "v", "peer")
    b.route("rt-priv-a", b.cidr("peer"), "pcx")
    b.route("rt-priv-b", b.cidr("peer"), "pcx")
    b.function("fn", ["priv-a", "priv-b"], ["sg"])


def w_more_specific_blackhole(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.nat("nat-old", "pub-b")
    _extra(b, {"0.0.0.0/0": "nat", "104.16.0.0/12": "nat-old"})
    b.delete_nat("nat-old")
    _fn_x(b, with_private=True)


def w_private_nat_vgw(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.vgw("vgw", "v")
    b.subnet("pn-a", "v", "a")
    b.table("rt-pn", "v", ["pn-a"], {"0.0.0.0/0": "vgw"})
    b.nat("pnat", "pn-a", private=True)
    _extra(b, {"0.0.0.0/0": "pnat"})
    _fn_x(b)


def w_nat_instance_by_id(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.nat_group("nat-sg", "v")
    b.nat_instance("nati", "pub-b", group="nat-sg")
    _extra(b, {"0.0.0.0/0": "nati"})
    _fn_x(b)


def w_firewall_dead_end(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.subnet("fw-a", "v", "a")
    b.table("rt-fw", "v", ["fw-a"], {})
    b.firewall_endpoint("fw", "v", "fw-a")
    _extra(b, {"0.0.0.0/0": "fw"})
    _fn_x(b, with_private=True)


def w_isolated_mixed_endpoint(b: Builder) -> None:
    shop(b, dns=True)
    b.sg("ep", "v", ingress_from="sg")
    b.subnet("iso-a", "v", "a")
    b.table("rt-iso", "v", ["iso-a"], {})
    b.lambda_endpoint("lep", "v", ["priv-a", "priv-b"], "ep")
    b.function("ok", ["priv-a", "priv-b"], ["sg"])
    b.function("fn", ["iso-a", "priv-b"], ["sg"])


def w_nacl_deny_after_allow(b: Builder) -> None:
    late_deny = NaclRule(200, egress=True, ports=(443, 443), action="deny")
    _nacl_world(b, ["x-a", "x-b"], [ALL_IN, ALL_OUT, late_deny])


def w_nacl_partial_ephemeral(b: Builder) -> None:
    narrow = NaclRule(100, egress=False, ports=(1024, 2048))
    _nacl_world(b, ["x-a", "x-b"], [narrow, ALL_OUT])


def w_nat_subnet_main_table(b: Builder) -> None:
    b.vpc("v")
    b.igw("igw", "v")
    b.route("v.main", "0.0.0.0/0", "igw")
    b.subnet("pub-a", "v", "a")  # on the main table: public by implicit association
    b.nat("nat", "pub-a")
    _extra(b, {"0.0.0.0/0": "nat"})
    b.sg("sg", "v")
    _fn_x(b)


def w_nat_subnet_split(b: Builder) -> None:
    b.vpc("v")
    b.igw("igw", "v")
    b.subnet("pub-a", "v", "a")
    b.table("rt-pub", "v", ["pub-a"], {"0.0.0.0/1": "igw", "128.0.0.0/1": "igw"})
    b.nat("nat", "pub-a")
    _extra(b, {"0.0.0.0/0": "nat"})
    b.sg("sg", "v")
    _fn_x(b)


def w_dual_stack_v6_igw(b: Builder) -> None:
    shop(b, ipv6=True)
    b.route("rt-priv-a", "::/0", "igw")
    b.route("rt-priv-b", "::/0", "igw")
    b.function("fn", ["priv-a", "priv-b"], ["sg"], ipv6=True)


def w_endpoint_vpc_dns_off(b: Builder) -> None:
    b.vpc("v")
    b.subnet("iso-a", "v", "a")
    b.subnet("iso-b", "v", "b")
    b.sg("sg", "v")
    b.sg("ep", "v", ingress_from="sg")
    b.lambda_endpoint("lep", "v", ["iso-a", "iso-b"], "ep")
    b.function("fn", ["iso-a", "iso-b"], ["sg"])


def _nat_behind_firewall(b: Builder) -> None:
    """AWS Network Firewall, distributed model: the NAT's subnet ``pub-a``
    sends its traffic through firewall endpoint ``fw`` (subnet ``fw-a``),
    whose subnet reaches the IGW."""
    b.vpc("v")
    b.igw("igw", "v")
    b.subnet("fw-a", "v", "a")
    b.table("rt-fw", "v", ["fw-a"], {"0.0.0.0/0": "igw"})
    b.firewall_endpoint("fw", "v", "fw-a")
    b.subnet("pub-a", "v", "a")
    b.table("rt-pub", "v", ["pub-a"], {"0.0.0.0/0": "fw"})
    b.nat("nat", "pub-a")
    b.sg("sg", "v")


def w_nat_then_firewall(b: Builder) -> None:
    _nat_behind_firewall(b)
    _extra(b, {"0.0.0.0/0": "nat"})
    _fn_x(b)


def w_firewall_both_sides(b: Builder) -> None:
    """Inspection before and after the NAT: fn -> fw1 -> NAT -> fw -> IGW."""
    _nat_behind_firewall(b)
    b.subnet("fw1-a", "v", "a")
    b.table("rt-fw1", "v", ["fw1-a"], {"0.0.0.0/0": "nat"})
    b.firewall_endpoint("fw1", "v", "fw1-a")
    _extra(b, {"0.0.0.0/0": "fw1"})
    _fn_x(b)


def w_firewall_loop(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.subnet("fw-a", "v", "a")
    b.table("rt-fw", "v", ["fw-a"], {})
    b.firewall_endpoint("fw", "v", "fw-a")
    b.route("rt-fw", "0.0.0.0/0", "fw")
    _extra(b, {"0.0.0.0/0": "fw"})
    _fn_x(b, with_private=True)


def w_pl_default_vs_cidr(b: Builder) -> None:
    shop(b)
    b.prefix_list("pl-all", ["0.0.0.0/0"])
    _extra(b, {"0.0.0.0/0": "nat", "pl:pl-all": "igw"})
    _fn_x(b)


def w_sg_443_only(b: Builder) -> None:
    shop(b)
    b.sg("web", "v", "443")
    b.function("fn", ["priv-a", "priv-b"], ["web"])


def w_sg_prefix_list(b: Builder) -> None:
    shop(b)
    b.prefix_list("pl-internet", ["0.0.0.0/1", "128.0.0.0/1"])
    b.sg("plsg", "v", "pl:pl-internet")
    b.function("fn", ["priv-a", "priv-b"], ["plsg"])


def w_sg_two_groups(b: Builder) -> None:
    shop(b)
    b.sg("closed", "v", "none")
    b.sg("web", "v", "443")
    b.function("fn", ["priv-a", "priv-b"], ["closed", "web"])


def w_sg_no_egress(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.sg("closed", "v", "none")
    b.function("fn", ["priv-a", "priv-b"], ["closed"])


def w_nacl_endpoint_subnet(b: Builder) -> None:
    b.vpc("v", dns=True)
    b.subnet("iso-a", "v", "a")
    b.subnet("iso-b", "v", "b")
    b.subnet("ep-a", "v", "a")
    b.subnet("ep-b", "v", "b")
    b.sg("sg", "v")
    b.sg("ep", "v", ingress_from="sg")
    b.lambda_endpoint("lep", "v", ["ep-a", "ep-b"], "ep")
    deny = NaclRule(90, egress=False, ports=(443, 443), action="deny")
    b.nacl("acl", "v", ["ep-a", "ep-b"], [deny, ALL_IN, ALL_OUT])
    b.function("fn", ["iso-a", "iso-b"], ["sg"])


def w_igw_available(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.igw_state("igw", "available")
    b.function("fn", ["pub-a", "priv-a", "priv-b"], ["sg"])


def w_tgw_and_public(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.tgw("tgw", "v", "priv-a")
    _extra(b, {"0.0.0.0/0": "tgw"})
    b.function("fn", ["pub-a", "x-a", "x-b"], ["sg"])


def w_split_over_blackhole(b: Builder) -> None:
    shop(b)
    b.nat("nat-old", "pub-b")
    _extra(b, {"0.0.0.0/0": "nat-old", "0.0.0.0/1": "nat", "128.0.0.0/1": "nat"})
    b.delete_nat("nat-old")
    _fn_x(b)


def w_shared_firewall(b: Builder) -> None:
    _firewall(b, "nat")
    b.share("v")


def w_fck_nat(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.nat_group("nat-sg", "v")
    b.static_eni_nat("fck", "pub-b", group="nat-sg")
    _extra(b, {"0.0.0.0/0": "fck.eni"})
    _fn_x(b)


def w_firewall_edge(b: Builder) -> None:
    """The NAT's subnet behind a firewall, and the IGW's ingress route table
    sending return traffic for it back through the firewall endpoint."""
    w_nat_then_firewall(b)
    b.edge_table("rt-edge", "v", "igw", {"10.1.1.0/24": "fw"})


def w_carrier_gateway(b: Builder) -> None:
    shop(b)
    bystander(b)
    b.carrier_gateway("cagw", "v")
    _extra(b, {"0.0.0.0/0": "cagw"})
    _fn_x(b)


def w_nat_routes_to_itself(b: Builder) -> None:
    """The NAT sits in the very subnets it serves: their table sends 0.0.0.0/0 to it."""
    shop(b)
    bystander(b)
    b.subnet("x-a", "v", "a")
    b.subnet("x-b", "v", "b")
    b.nat("nat-self", "x-a")
    b.table("rt-x", "v", ["x-a", "x-b"], {"0.0.0.0/0": "nat-self"})
    _fn_x(b, with_private=True)


BLACKHOLE = (
    "DescribeRouteTables rewritten: routes to the deleted NAT are `blackhole` (moto: active)"
)
FAILED = "DescribeNatGateways rewritten: State `failed` (moto: `available`)"


def _affected(*names: str, after: str = "healthy", touch: bool = True) -> Fn:
    return Fn("affected", codes(*names), touch=touch, after=after)


def _moved(subnets: frozenset[str] = PRIVATE) -> tuple[Fact, ...]:
    return (Subnets("fn", subnets), Subnets("ok", PRIVATE))


_ROWS: tuple[World, ...] = (
    World(
        "textbook",
        "private+nat",
        w_textbook,
        {"fn": HEALTHY},
        post=(Subnets("fn", PRIVATE), Route("rt-priv-a", "0.0.0.0/0", "nat")),
        asserted="two NAT-routed subnets in two AZs: healthy, no change",
    ),
    World(
        "public",
        "all-public",
        w_public_only,
        {"fn": _affected("public-subnets-all"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="moved to the NAT-routed subnets; bystander untouched",
    ),
    World(
        "public",
        "all-public-no-nat",
        w_public_no_nat,
        {"fn": _affected("public-subnets-all", after="affected", touch=False)},
        blocked="no NAT-routed subnet in the VPC to move the function to",
        asserted="nothing to move to: blocked with a manual step",
    ),
    World(
        "public",
        "public+private",
        w_mix,
        {"fn": _affected("public-subnets-mixed"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="the public subnet is dropped",
    ),
    World(
        "isolated",
        "no-endpoint-move",
        w_isolated,
        {"fn": _affected("isolated-no-endpoint"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="built-in strategies: moved to the NAT-routed subnets",
    ),
    World(
        "isolated",
        "no-endpoint-add-route",
        w_isolated_one,
        {"fn": _affected("isolated-no-endpoint"), **OK_UNTOUCHED},
        NAT_ROUTE,
        post=(Route("rt-x", "0.0.0.0/0", "nat"), Subnets("fn", frozenset({"x-a"}))),
        policy=NAT_ROUTE_ONLY,
        asserted="opt-in add-nat-route: 0.0.0.0/0 -> nat in its own table",
    ),
    World(
        "isolated",
        "lambda-endpoint",
        w_isolated_endpoint,
        {"fn": HEALTHY},
        asserted="usable Lambda endpoint (private DNS, SG allows 443): healthy",
    ),
    World(
        "isolated",
        "create-endpoint",
        w_isolated_create_endpoint,
        {"fn": _affected("isolated-no-endpoint")},
        ENDPOINT_KINDS,
        post=(LambdaEndpoint("v"), Subnets("fn", frozenset({"iso-a", "iso-b"}))),
        policy=ENDPOINT_ONLY,
        asserted="VPC DNS on, endpoint SG, Lambda endpoint created",
    ),
    World(
        "nat-placement",
        "nat-in-private-subnet",
        w_nat_in_private,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="NAT in a subnet without internet route: built-in strategies move the function",
    ),
    World(
        "nat-state",
        "nat-deleted",
        w_nat_deleted,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        simulated=BLACKHOLE,
        asserted="blackhole default route: built-in strategies move the function",
    ),
    World(
        "nat-state",
        "nat-failed",
        w_nat_failed,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        simulated=FAILED,
        asserted="route to a failed NAT: built-in strategies move the function",
    ),
    World(
        "private-nat",
        "onward-tgw",
        w_private_nat_tgw,
        {"fn": Fn("egress-unknown", codes("egress-unknown")), **OK_UNTOUCHED},
        asserted="private NAT -> transit gateway: egress-unknown (info), no change",
    ),
    World(
        "private-nat",
        "onward-igw",
        w_private_nat_igw,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="private NAT gives no internet: built-in strategies move the function",
    ),
    *(
        World(
            family,
            f"{name}-route-repair",
            build,
            {"fn": _affected("nat-route-broken", touch=False), **OK_UNTOUCHED},
            NAT_ROUTE,
            post=(Route("rt-x", "0.0.0.0/0", "nat"), Subnets("fn", frozenset({"x-a", "x-b"}))),
            policy=ROUTE_REPAIR,
            simulated=simulated,
            asserted="add-nat-route: the table (serving only the function's subnets) "
            "is repointed at the working NAT; the function is not touched",
        )
        for family, name, build, simulated in (
            ("nat-placement", "nat-in-private-subnet", w_nat_in_private, ""),
            ("nat-state", "nat-deleted", w_nat_deleted, BLACKHOLE),
            ("nat-state", "nat-failed", w_nat_failed, FAILED),
            ("private-nat", "onward-igw", w_private_nat_igw, ""),
        )
    ),
    World(
        "split-default",
        "split-to-nat",
        w_split_nat,
        {"fn": HEALTHY},
        post=(Route("rt-x", "0.0.0.0/1", "nat"), Route("rt-x", "0.0.0.0/0", None)),
        asserted="0/1 + 128/1 -> NAT: healthy, not moved, no 0.0.0.0/0 added",
    ),
    World(
        "split-default",
        "split-to-igw",
        w_split_igw,
        {"fn": _affected("public-subnets-mixed"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="split to IGW beats 0.0.0.0/0 -> nat: public, subnet dropped",
    ),
    World(
        "split-default",
        "split-to-igw-route-only",
        w_split_igw_alone,
        {"fn": _affected("public-subnets-all", after="affected", touch=False), **OK_UNTOUCHED},
        blocked="add-nat-route: public subnets keep their internet gateway route",
        policy=NAT_ROUTE_ONLY,
        asserted="route-only policy: no ignored 0.0.0.0/0 route planned, blocked",
    ),
    World(
        "split-default",
        "split-to-igw-manual-step",
        w_split_igw_alone,
        {"fn": _affected("public-subnets-all", after="affected", touch=False), **OK_UNTOUCHED},
        blocked="By hand: list only subnets whose route table sends internet traffic",
        policy=NAT_ROUTE_ONLY,
        asserted="route-only policy: blocked naming the winning /1 routes; by hand the "
        "function leaves the public subnets (no 'add a default route')",
    ),
    World(
        "split-default",
        "split-to-deleted-nat",
        w_split_broken_nat,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        NAT_ROUTE,
        post=(Route("rt-x", "0.0.0.0/1", "nat"), Route("rt-x", "128.0.0.0/1", "nat")),
        policy=NAT_ROUTE_ONLY,
        simulated=BLACKHOLE,
        asserted="both winning /1 routes replaced to the working NAT",
    ),
    World(
        "more-specific",
        "52/8-to-igw",
        w_more_specific,
        {"fn": _affected("public-subnets-mixed"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="52.0.0.0/8 -> igw beats 0.0.0.0/0 -> nat for the Lambda API: dropped",
    ),
    World(
        "prefix-list",
        "pl-to-igw",
        w_prefix_list_igw,
        {"fn": _affected("public-subnets-mixed"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="prefix list (0/1, 128/1) -> igw beats 0.0.0.0/0 -> nat: dropped",
    ),
    World(
        "prefix-list",
        "pl-to-nat",
        w_prefix_list_nat,
        {"fn": HEALTHY},
        asserted="prefix list (0/1, 128/1) -> nat, no 0.0.0.0/0: healthy",
    ),
    World(
        "igw",
        "igw-detached",
        w_igw_detached,
        {"fn": _affected("nat-route-broken", after="affected", touch=False)},
        blocked="no available public NAT gateway in <v>",
        simulated="DescribeRouteTables rewritten: routes to the detached IGW are `blackhole`",
        asserted="no egress; nothing to repair with: blocked",
    ),
    World(
        "outside-vpc",
        "default-to-tgw",
        w_tgw,
        {"fn": Fn("egress-unknown", codes("egress-unknown")), **OK_UNTOUCHED},
        asserted="egress-unknown (info, never high), no change",
    ),
    World(
        "outside-vpc",
        "default-to-vgw",
        w_vgw,
        {"fn": Fn("egress-unknown", codes("egress-unknown")), **OK_UNTOUCHED},
        asserted="egress-unknown (info, never high), no change",
    ),
    World(
        "peering",
        "default-to-pcx",
        w_peering,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="peering is not transitive: no egress; subnet dropped",
    ),
    World(
        "nat-instance",
        "good",
        w_nat_instance_good,
        {"fn": HEALTHY, **OK_UNTOUCHED},
        asserted="running, source/dest check off, EIP, public subnet: healthy",
    ),
    World(
        "nat-instance",
        "default-group",
        w_nat_instance_default_group,
        {"fn": _affected("nat-instance-sg-blocks", after="affected", touch=False), **OK_UNTOUCHED},
        blocked="an inbound rule: TCP 443 from",
        asserted="the instance keeps the VPC's default group (no inbound from the function's "
        "subnet): blocked with the rule to add",
    ),
    World(
        "nat-instance",
        "source-dest-check-on",
        w_nat_instance_check_on,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="does not forward: subnet dropped",
    ),
    World(
        "nat-instance",
        "stopped",
        w_nat_instance_stopped,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="stopped: subnet dropped",
    ),
    World(
        "nat-instance",
        "no-public-ip",
        w_nat_instance_no_ip,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="no public IP: subnet dropped",
    ),
    World(
        "firewall",
        "fw-then-nat",
        w_firewall_nat,
        {"fn": HEALTHY, **OK_UNTOUCHED},
        asserted="GWLB endpoint -> firewall subnet -> NAT: healthy",
    ),
    World(
        "firewall",
        "fw-then-igw",
        w_firewall_igw,
        {"fn": _affected("public-subnets-all"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="public subnet behind a firewall endpoint: moved to NAT-routed subnets",
    ),
    World(
        "security-group",
        "vpc-only-with-endpoint",
        w_sg_vpc_endpoint,
        {"fn": Fn("healthy", codes("security-group-egress-vpc-only"))},
        asserted="egress 443 to the VPC CIDR + usable endpoint: healthy (info note)",
    ),
    World(
        "security-group",
        "vpc-only-no-endpoint",
        w_sg_vpc_only,
        {
            "fn": _affected("security-group-egress-blocks", after="affected", touch=False),
            **OK_UNTOUCHED,
        },
        blocked="add to <vpconly> an egress rule: TCP 443 to 0.0.0.0/0 (or keep the VPC-only egress and create a Lambda interface endpoint",
        asserted="blocked with the rule to add",
    ),
    World(
        "security-group",
        "vpc-only-endpoint-path",
        w_sg_vpc_only,
        {
            "fn": Fn("affected", codes("security-group-egress-blocks"), after="healthy"),
            **OK_UNTOUCHED,
        },
        ENDPOINT_KINDS,
        post=(LambdaEndpoint("v"), Subnets("fn", PRIVATE), Subnets("ok", PRIVATE)),
        policy=ALLOW_ENDPOINTS,
        asserted="policy lists lambda-endpoint: the endpoint path is planned and applied; "
        "the bystander's Lambda calls (now through the endpoint) still work",
    ),
    World(
        "security-group",
        "no-443-egress",
        w_sg_no_443,
        {"fn": _affected("security-group-egress-blocks", after="affected", touch=False)},
        blocked="add to <http> an egress rule: TCP 443 to 0.0.0.0/0",
        asserted="blocked with the rule to add",
    ),
    World(
        "nacl",
        "outbound-443-denied",
        w_nacl_out_443,
        {"fn": _affected("nacl-blocks-egress", after="affected", touch=False)},
        blocked="add to <acl> an outbound rule before rule 90: allow TCP 443 to 0.0.0.0/0",
        asserted="blocked with the rule to add",
    ),
    World(
        "nacl",
        "no-inbound-ephemeral",
        w_nacl_no_ephemeral,
        {"fn": _affected("nacl-blocks-return-traffic", after="affected", touch=False)},
        blocked="add to <acl> an inbound rule before rule 32767: allow TCP 1024-65535 from 0.0.0.0/0",
        asserted="blocked with the rule to add",
    ),
    World(
        "nacl",
        "nat-subnet-blocks",
        w_nacl_nat_subnet,
        {"fn": _affected("nacl-blocks-egress", after="affected", touch=False)},
        blocked="add to <acl> an outbound rule before rule 90: allow TCP 443 to 0.0.0.0/0",
        asserted="the NAT's subnet NACL is judged: blocked",
    ),
    World(
        "shared-vpc",
        "participant-view",
        w_shared,
        {
            "inner": Fn("egress-unknown", codes("egress-unknown")),
            "edge": Fn(
                "affected",
                codes("public-subnets-mixed", "egress-unknown"),
                touch=True,
                after="egress-unknown",
            ),
        },
        MOVE,
        post=(Subnets("edge", PRIVATE), Subnets("inner", PRIVATE)),
        simulated="subnets/VPC/route tables carry the owner's OwnerId; owner's NATs not returned",
        asserted="NAT-routed = not verifiable; public subnet dropped by a Lambda change only",
    ),
    World(
        "shared-vpc",
        "participant-isolated-route-only",
        w_shared_isolated,
        {"fn": _affected("isolated-no-endpoint", after="affected", touch=False)},
        blocked="<v> is owned by account 111122223333 and shared with this one (AWS RAM)",
        policy=NAT_ROUTE_ONLY,
        simulated="subnets/VPC/route tables carry the owner's OwnerId; owner's NATs not returned",
        asserted="no route change planned in a VPC another account owns",
    ),
    World(
        "ipv6",
        "dual-stack-eigw",
        w_dual_stack,
        {"fn": HEALTHY_V6},
        post=(DualStack("fn"),),
        asserted="NAT for IPv4 + egress-only IGW for IPv6: healthy",
    ),
    World(
        "ipv6",
        "dual-stack-mix",
        w_dual_stack_mix,
        {"fn": _affected("public-subnets-mixed", V6)},
        MOVE,
        post=(Subnets("fn", PRIVATE), DualStack("fn")),
        asserted="moved; Ipv6AllowedForDualStack kept",
    ),
    World(
        "ipv6",
        "ipv6-only-egress",
        w_ipv6_only_egress,
        {"fn": _affected("isolated-no-endpoint", V6)},
        MOVE,
        post=(Subnets("fn", PRIVATE), DualStack("fn")),
        asserted="::/0 -> eigw does not serve IPv4 invoke: isolated, moved",
    ),
    World(
        "public",
        "main-table-igw",
        w_main_table_igw,
        {"fn": _affected("public-subnets-all"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="no explicit association: the VPC's main table (0.0.0.0/0 -> igw) decides",
    ),
    World(
        "isolated",
        "mixed-with-endpoint",
        w_isolated_mixed_endpoint,
        {"fn": _affected("isolated-subnets-mixed"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="endpoint serves Lambda, internet calls hang from iso-a: moved",
    ),
    World(
        "more-specific",
        "104.16/12-to-deleted-nat",
        w_more_specific_blackhole,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        simulated=BLACKHOLE,
        asserted="a blackhole more-specific route beats 0.0.0.0/0 -> nat: dropped",
    ),
    World(
        "aws-services",
        "s3-gateway-endpoint",
        w_s3_gateway,
        {"fn": HEALTHY},
        asserted="AWS-managed pl-s3 -> gateway endpoint next to 0.0.0.0/0 -> nat: healthy",
    ),
    World(
        "outside-vpc",
        "hub-spoke-10/8-to-tgw",
        w_hub_spoke,
        {"fn": HEALTHY},
        asserted="10.0.0.0/8 -> tgw covers no public destination: healthy",
    ),
    World(
        "peering",
        "peer-cidr-only",
        w_peer_cidr_only,
        {"fn": HEALTHY},
        asserted="peer CIDR -> pcx, 0.0.0.0/0 -> nat: healthy",
    ),
    World(
        "private-nat",
        "onward-vgw",
        w_private_nat_vgw,
        {"fn": Fn("egress-unknown", codes("egress-unknown")), **OK_UNTOUCHED},
        asserted="private NAT -> VGW: egress-unknown (info), no change",
    ),
    World(
        "nat-instance",
        "good-instance-route",
        w_nat_instance_by_id,
        {"fn": HEALTHY, **OK_UNTOUCHED},
        asserted="route to i-... (not eni-...): judged the same, healthy",
    ),
    World(
        "firewall",
        "fw-dead-end",
        w_firewall_dead_end,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="firewall subnet with no onward route: no egress, dropped",
    ),
    World(
        "nacl",
        "deny-after-allow",
        w_nacl_deny_after_allow,
        {"fn": HEALTHY},
        asserted="first match wins: allow-all at 100 before deny 443 at 200: healthy",
    ),
    World(
        "nacl",
        "partial-ephemeral",
        w_nacl_partial_ephemeral,
        {"fn": _affected("nacl-blocks-return-traffic", after="affected", touch=False)},
        blocked="allow TCP 1024-65535",
        asserted="inbound 1024-2048 then * deny drops most return traffic: blocked",
    ),
    World(
        "nat-placement",
        "nat-subnet-on-main-table",
        w_nat_subnet_main_table,
        {"fn": HEALTHY},
        asserted="the NAT's subnet is public by the main table: healthy",
    ),
    World(
        "split-default",
        "nat-subnet-split-to-igw",
        w_nat_subnet_split,
        {"fn": HEALTHY},
        asserted="the NAT's subnet reaches the IGW by 0/1 + 128/1 only: healthy",
    ),
    World(
        "ipv6",
        "dual-stack-v6-to-igw",
        w_dual_stack_v6_igw,
        {"fn": HEALTHY_V6},
        post=(DualStack("fn"),),
        asserted="0.0.0.0/0 -> nat and ::/0 -> igw: IPv4 via the NAT, healthy",
    ),
    World(
        "isolated",
        "endpoint-vpc-dns-off",
        w_endpoint_vpc_dns_off,
        {"fn": _affected("lambda-endpoint-vpc-dns-off", "isolated-no-endpoint", touch=False)},
        frozenset({"ec2.enable-vpc-dns"}),
        post=(Subnets("fn", frozenset({"iso-a", "iso-b"})),),
        asserted="endpoint with private DNS but VPC DNS off: the VPC attributes are turned on",
    ),
    World(
        "firewall",
        "nat-then-fw",
        w_nat_then_firewall,
        {"fn": HEALTHY},
        asserted="the NAT's subnet reaches the IGW through a firewall endpoint: healthy",
    ),
    World(
        "firewall",
        "fw-nat-fw",
        w_firewall_both_sides,
        {"fn": HEALTHY},
        asserted="fn -> firewall -> NAT -> firewall -> IGW (three hops): healthy",
    ),
    World(
        "firewall",
        "fw-loop",
        w_firewall_loop,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="the firewall subnet routes back to its own endpoint: no egress, dropped",
    ),
    World(
        "prefix-list",
        "pl-0/0-loses-to-cidr",
        w_pl_default_vs_cidr,
        {"fn": HEALTHY},
        asserted="a CIDR route beats a prefix-list route of the same length (0.0.0.0/0 -> nat "
        "over pl [0.0.0.0/0] -> igw): healthy",
    ),
    World(
        "security-group",
        "egress-443-only",
        w_sg_443_only,
        {"fn": HEALTHY},
        asserted="only TCP 443 to 0.0.0.0/0: healthy",
    ),
    World(
        "security-group",
        "egress-443-to-prefix-list",
        w_sg_prefix_list,
        {"fn": HEALTHY},
        asserted="TCP 443 to a prefix list of 0/1 + 128/1: healthy",
    ),
    World(
        "security-group",
        "two-groups-one-allows",
        w_sg_two_groups,
        {"fn": HEALTHY},
        asserted="a group with no egress next to one allowing 443: healthy (any group allows)",
    ),
    World(
        "security-group",
        "no-egress-rule",
        w_sg_no_egress,
        {
            "fn": _affected("security-group-egress-blocks", after="affected", touch=False),
            **OK_UNTOUCHED,
        },
        blocked="add to <closed> an egress rule: TCP 443 to 0.0.0.0/0",
        asserted="a group with no egress rules denies all egress: blocked",
    ),
    World(
        "nacl",
        "endpoint-subnet-blocks",
        w_nacl_endpoint_subnet,
        {"fn": _affected("nacl-blocks-egress", after="affected", touch=False)},
        blocked="add to <acl> an inbound rule before rule 90: allow TCP 443",
        asserted="the Lambda endpoint's subnets deny inbound 443: blocked",
    ),
    World(
        "igw",
        "attachment-state-available",
        w_igw_available,
        {"fn": _affected("public-subnets-mixed"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        simulated="DescribeInternetGateways rewritten: attachment State `available`, as AWS "
        "reports an attached IGW (moto: `attached`)",
        asserted="an attached IGW whatever the state word: public found, NAT behind it works",
    ),
    World(
        "outside-vpc",
        "tgw-and-public",
        w_tgw_and_public,
        {
            "fn": _affected("public-subnets-mixed", "egress-unknown", after="egress-unknown"),
            **OK_UNTOUCHED,
        },
        MOVE,
        post=(Subnets("fn", frozenset({"x-a", "x-b"})), Subnets("ok", PRIVATE)),
        asserted="the public subnet is dropped, the transit-gateway subnets kept (not judged)",
    ),
    World(
        "split-default",
        "split-to-nat-over-blackhole",
        w_split_over_blackhole,
        {"fn": HEALTHY},
        post=(Route("rt-x", "0.0.0.0/1", "nat"),),
        simulated="DescribeRouteTables rewritten: routes to the deleted NAT are `blackhole` "
        "(moto: active)",
        asserted="0/1 + 128/1 -> nat win over a blackhole 0.0.0.0/0: healthy, nothing planned",
    ),
    World(
        "shared-vpc",
        "participant-behind-firewall",
        w_shared_firewall,
        {
            "fn": Fn("egress-unknown", codes("egress-unknown")),
            "ok": Fn("egress-unknown", codes("egress-unknown")),
        },
        simulated="subnets/VPC/route tables carry the owner's OwnerId; owner's NATs not returned",
        asserted="firewall endpoint -> owner's NAT (not visible): not verifiable, no change",
    ),
    World(
        "nat-instance",
        "fck-nat-static-eni",
        w_fck_nat,
        {"fn": HEALTHY, **OK_UNTOUCHED},
        asserted="route to a secondary interface (check off, own EIP) of a running instance "
        "in a public subnet: healthy",
    ),
    World(
        "firewall",
        "nat-then-fw-edge-association",
        w_firewall_edge,
        {"fn": HEALTHY},
        asserted="an IGW ingress route table (edge association) is not a subnet's table: healthy",
    ),
    World(
        "outside-vpc",
        "default-to-carrier-gateway",
        w_carrier_gateway,
        {"fn": Fn("egress-unknown", codes("egress-unknown")), **OK_UNTOUCHED},
        asserted="Wavelength carrier gateway: decided outside the VPC, egress-unknown (info)",
    ),
    World(
        "nat-placement",
        "nat-routes-to-itself",
        w_nat_routes_to_itself,
        {"fn": _affected("nat-route-broken"), **OK_UNTOUCHED},
        MOVE,
        post=_moved(),
        asserted="the NAT's own subnet routes back to it (a loop): no egress, dropped",
    ),
)

# What moto cannot show for a whole family (added to each row's own note).
FAMILY_NOTES = {
    "nat-instance": "moto does not copy an instance's SourceDestCheck to its interface "
    "(AWS does): both are set",
    "firewall": "moto has no Network Firewall: a GatewayLoadBalancer endpoint of a made-up "
    "service stands for it (only its routes are judged)",
    "ipv6": "moto drops Ipv6AllowedForDualStack: Lambda answers rewritten to carry it "
    "(sticky, as on AWS); the executor's updates are checked never to turn it off",
}


def _noted(world: World) -> World:
    note = FAMILY_NOTES.get(world.family, "")
    both = "; ".join(n for n in (world.simulated, note) if n)
    return dataclasses.replace(world, simulated=both)


WORLDS: tuple[World, ...] = tuple(_noted(w) for w in _ROWS)


def _describe(fact: Fact) -> str:
    if isinstance(fact, Subnets):
        return f"{fact.function} lists exactly {{{', '.join(sorted(fact.subnets))}}}"
    if isinstance(fact, Route):
        return f"{fact.table} {fact.destination} -> {fact.target or 'none'}"
    if isinstance(fact, LambdaEndpoint):
        return f"{fact.vpc} has a Lambda endpoint with private DNS"
    return f"{fact.function} keeps Ipv6AllowedForDualStack"


def docs_table() -> str:
    """The "Topologies tested" table of docs/findings.md, from the rows."""
    lines = [
        "| family | world | what is asserted | simulated (moto cannot show it) |",
        "|---|---|---|---|",
    ]
    first = {w.family: i for i, w in reversed(list(enumerate(WORLDS)))}
    for w in sorted(WORLDS, key=lambda w: first[w.family]):
        statuses = ", ".join(
            f"{name}: {fn.before}"
            + (f" ({', '.join(f'`{c}`' for c in sorted(fn.codes))})" if fn.codes else "")
            + (f" -> {fn.after}" if fn.after and fn.after != fn.before else "")
            for name, fn in w.functions.items()
        )
        if w.kinds:
            plan = "plan: " + ", ".join(f"`{k}`" for k in sorted(w.kinds))
        elif w.blocked:
            plan = "blocked"
        else:
            plan = "no change"
        status = f" **xfail**: {w.xfail}." if w.xfail else ""
        if w.post:
            plan += "; after apply: " + "; ".join(_describe(f) for f in w.post)
        lines.append(
            f"| {w.family} | {w.name} | {statuses}; {plan}. {w.asserted}.{status} "
            f"| {w.simulated or '-'} |"
        )
    return "\n".join(lines) + "\n"
