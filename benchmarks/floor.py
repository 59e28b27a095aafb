"""The floor: the AWS reads a diagnosis needs, and nothing else.

A bare boto3 script, run by ``benchmarks/run.py`` as a subprocess next to
``remediate plan`` against the same endpoint (``AWS_ENDPOINT_URL``): the
same calls discovery makes, with no models, no diagnosis, no plan, no report.
Its wall time (interpreter start-up and ``import boto3`` included, as for
``remediate``) is what any tool has to pay to diagnose this estate.

    GetCallerIdentity
    ListFunctions(FunctionVersion=ALL), all pages
    ListTags           for each VPC function (only with --tags: the policy
                       matches on tags, as the built-in one does)
    GetResources       tagged functions, 100 a page (only with --tagging-api:
                       the policy reads tags from the Tagging API); with
                       --tag-key, one key-only TagFilter listing per key when
                       that is fewer listings than the region's pages
    DescribeSubnets    by the subnet ids in use, then by their VPCs
    DescribeVpcs, DescribeRouteTables, DescribeInternetGateways,
    DescribeNatGateways, DescribeVpcEndpoints    by those VPCs
    DescribeSecurityGroups   the groups of the functions and Lambda endpoints
    DescribeVpcAttribute x2  per VPC with a Lambda endpoint
    DescribeNetworkAcls, DescribeNetworkInterfaces   by those VPCs
    DescribeInstances  the instances routes point at (directly or by eni-)
    DescribeManagedPrefixLists, GetManagedPrefixListEntries (each list)
                       the lists routes or the functions' egress rules name
    ListAliases        then, for each function in a VPC with a published version
                       in a VPC, when $LATEST's or a published version's subnets
                       have no egress (``broken_subnets``)

Whether a subnet has egress is judged minimally, from what was read anyway:
its effective route table (its explicit association, else its VPC's main
table) must send 0.0.0.0/0 to an ``available`` NAT gateway whose own subnet's
effective table sends 0.0.0.0/0 to an internet gateway attached to the VPC.
That is not remediator's model (no endpoints, filters or NAT instances), but
on the benchmark estate every published configuration is NAT-routed or
public, where both agree, so the floor still makes exactly remediate's calls.

Lambda's calls are sent within its control-plane quota (15 a second per
account and Region, all APIs together), as remediate sends them
(``remediator.aws.pacing``): on AWS no client gets them faster, and the
benchmark's proxy keeps that quota as AWS does.

Prints one JSON line: the calls made by operation and a few counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import boto3

from remediator.aws.pacing import LambdaPacer

CHUNK = 200  # values per EC2 filter, as discovery does


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--tags", action="store_true", help="read tags of VPC functions")
    parser.add_argument(
        "--tagging-api",
        action="store_true",
        help="read tags of functions from the Resource Groups Tagging API (pages of 100)",
    )
    parser.add_argument(
        "--tag-key",
        action="append",
        default=[],
        help="a tag key the policy matches on (repeat); with --tagging-api",
    )
    args = parser.parse_args(argv)

    calls: Counter[str] = Counter()

    def count(model: Any = None, **_: Any) -> None:
        if model is not None:
            calls[f"{model.service_model.service_name}:{model.name}"] += 1

    session = boto3.Session(region_name=args.region)
    session.events.register("before-call.*.*", count)
    sts = session.client("sts")
    lam = LambdaPacer().attach(session.client("lambda"))
    ec2 = session.client("ec2")

    sts.get_caller_identity()

    entries: list[dict[str, Any]] = []
    for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL"):
        entries.extend(page.get("Functions", []))

    def subnets_of(entry: dict[str, Any]) -> list[str]:
        return list((entry.get("VpcConfig") or {}).get("SubnetIds") or [])

    vpc_entries = [e for e in entries if subnets_of(e)]
    if args.tags:
        arns = sorted(
            {
                str(e["FunctionArn"]).removesuffix(":$LATEST")
                for e in vpc_entries
                if e.get("Version", "$LATEST") == "$LATEST"
            }
            | {
                str(e["FunctionArn"]).rsplit(":", 1)[0]
                for e in vpc_entries
                if e.get("Version", "$LATEST") != "$LATEST"
            }
        )
        for arn in arns:
            lam.list_tags(Resource=arn)
    if args.tagging_api and vpc_entries:
        tagging = session.client("resourcegroupstaggingapi")
        functions = sum(1 for e in entries if e.get("Version", "$LATEST") == "$LATEST")
        keys = sorted(set(args.tag_key))
        streams = [[k] for k in keys] if keys and len(keys) < -(-functions // 100) else [[]]
        for stream in streams:
            extra = {"TagFilters": [{"Key": k} for k in stream]} if stream else {}
            for _page in tagging.get_paginator("get_resources").paginate(
                ResourceTypeFilters=["lambda:function"], ResourcesPerPage=100, **extra
            ):
                pass

    subnet_ids = sorted({s for e in vpc_entries for s in subnets_of(e)})
    group_ids = {
        g for e in vpc_entries for g in (e.get("VpcConfig") or {}).get("SecurityGroupIds") or []
    }

    def described(method: str, key: str, name: str, values: list[str], param: str = "Filters"):
        out: list[dict[str, Any]] = []
        paginate = ec2.can_paginate(method)
        for start in range(0, len(values), CHUNK):
            params = {param: [{"Name": name, "Values": values[start : start + CHUNK]}]}
            if paginate:
                for page in ec2.get_paginator(method).paginate(**params):
                    out.extend(page.get(key, []))
            else:
                out.extend(getattr(ec2, method)(**params).get(key, []))
        return out

    vpc_ids: list[str] = []
    endpoints: list[dict[str, Any]] = []
    broken: set[str] = set()
    if subnet_ids:
        used = described("describe_subnets", "Subnets", "subnet-id", subnet_ids)
        vpc_ids = sorted({s["VpcId"] for s in used})
    if vpc_ids:
        subnets = described("describe_subnets", "Subnets", "vpc-id", vpc_ids)
        described("describe_vpcs", "Vpcs", "vpc-id", vpc_ids)
        tables = described("describe_route_tables", "RouteTables", "vpc-id", vpc_ids)
        igws = described(
            "describe_internet_gateways", "InternetGateways", "attachment.vpc-id", vpc_ids
        )
        nats = described("describe_nat_gateways", "NatGateways", "vpc-id", vpc_ids, param="Filter")
        broken = broken_subnets(subnets, tables, igws, nats)
        endpoints = [
            e
            for e in described("describe_vpc_endpoints", "VpcEndpoints", "vpc-id", vpc_ids)
            if str(e.get("ServiceName", "")).endswith(".lambda")
        ]
        fn_groups = set(group_ids)
        group_ids |= {g["GroupId"] for e in endpoints for g in e.get("Groups") or []}
        groups = (
            described("describe_security_groups", "SecurityGroups", "group-id", sorted(group_ids))
            if group_ids
            else []
        )
        described("describe_network_acls", "NetworkAcls", "vpc-id", vpc_ids)
        enis = described("describe_network_interfaces", "NetworkInterfaces", "vpc-id", vpc_ids)
        routes = [r for t in tables for r in t.get("Routes") or []]
        eni_targets = {r["NetworkInterfaceId"] for r in routes if r.get("NetworkInterfaceId")}
        instance_ids = {r["InstanceId"] for r in routes if r.get("InstanceId")} | {
            e["Attachment"]["InstanceId"]
            for e in enis
            if e["NetworkInterfaceId"] in eni_targets
            and (e.get("Attachment") or {}).get("InstanceId")
        }
        if instance_ids:
            described("describe_instances", "Reservations", "instance-id", sorted(instance_ids))
        list_ids = {
            r["DestinationPrefixListId"] for r in routes if r.get("DestinationPrefixListId")
        } | {
            p["PrefixListId"]
            for g in groups
            if g["GroupId"] in fn_groups
            for perm in g.get("IpPermissionsEgress") or []
            for p in perm.get("PrefixListIds") or []
            if p.get("PrefixListId")
        }
        if list_ids:
            lists = described(
                "describe_managed_prefix_lists", "PrefixLists", "prefix-list-id", sorted(list_ids)
            )
            for pl in sorted({str(p["PrefixListId"]) for p in lists} & list_ids):
                paginator = ec2.get_paginator("get_managed_prefix_list_entries")
                for _page in paginator.paginate(PrefixListId=pl):
                    pass
        for vpc_id in sorted({e["VpcId"] for e in endpoints}):
            for attribute in ("enableDnsSupport", "enableDnsHostnames"):
                ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)

    by_name: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_name.setdefault(str(e["FunctionName"]), []).append(e)
    for name, versions in sorted(by_name.items()):
        latest = [e for e in versions if e.get("Version", "$LATEST") == "$LATEST"]
        published = [e for e in versions if e.get("Version", "$LATEST") != "$LATEST"]
        in_vpc = [e for e in published if subnets_of(e)]
        if not latest or not subnets_of(latest[0]) or not in_vpc:
            continue
        if any(set(subnets_of(e)) & broken for e in [latest[0], *in_vpc]):
            for _page in lam.get_paginator("list_aliases").paginate(FunctionName=name):
                pass

    json.dump(
        {
            "api_calls": dict(sorted(calls.items())),
            "entries": len(entries),
            "vpc_entries": len(vpc_entries),
            "subnets_in_use": len(subnet_ids),
            "vpcs": len(vpc_ids),
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


def broken_subnets(
    subnets: list[dict[str, Any]],
    tables: list[dict[str, Any]],
    igws: list[dict[str, Any]],
    nats: list[dict[str, Any]],
) -> set[str]:
    """The subnets without egress by the rule in the module docstring."""
    explicit = {
        a["SubnetId"]: t for t in tables for a in t.get("Associations") or [] if a.get("SubnetId")
    }
    main = {
        t["VpcId"]: t for t in tables if any(a.get("Main") for a in t.get("Associations") or [])
    }
    attached = {
        (a.get("VpcId"), g["InternetGatewayId"])
        for g in igws
        for a in g.get("Attachments") or []
        if a.get("State") in ("available", "attached")
    }
    nat_subnet = {n["NatGatewayId"]: n["SubnetId"] for n in nats if n.get("State") == "available"}
    vpc_of = {s["SubnetId"]: s["VpcId"] for s in subnets}

    def default_target(subnet_id: str, key: str) -> str:
        table = explicit.get(subnet_id) or main.get(vpc_of.get(subnet_id, ""))
        routes = (table or {}).get("Routes") or []
        default = [r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        return str(default[0].get(key) or "") if default else ""

    def egress(subnet_id: str) -> bool:
        nat = default_target(subnet_id, "NatGatewayId")
        if nat not in nat_subnet:
            return False
        igw = default_target(nat_subnet[nat], "GatewayId")
        return (vpc_of.get(subnet_id), igw) in attached

    return {s for s in vpc_of if not egress(s)}


if __name__ == "__main__":
    raise SystemExit(main())
