"""Shared VPCs judged from the owner's view (pure parts): how a path reads
with and without an ``OwnerView``, the merge of the owner's answers, the
network role template (option and policy key), and the IAM policies of both
sides."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.aws.owner_view import OWNER_READS, _merge, _Raw, foreign_vpcs
from remediator.diagnose import RegionIndex
from remediator.domain.errors import BadInput
from remediator.domain.inventory import OwnerView, RegionInventory, Subnet, Vpc
from remediator.domain.policy import (
    Policy,
    check_network_role,
    default_policy,
    network_role_for,
    parse_policy,
)
from remediator.render import iam
from tests import factories as fx

A = "a"
ACCOUNT = fx.ACCOUNT
OWNER = "111122223333"
ROLE = f"arn:aws:iam::{OWNER}:role/net-read"
TEMPLATE = "arn:aws:iam::{account}:role/net-read"


def _participant(*, nat_state: str | None = "available", view: OwnerView | None = None) -> Any:
    """The owner's VPC as the participant holds it: ``subnet-x`` (shared,
    owned by OWNER) routes to ``nat-o``, which sits in the owner's public
    subnet. ``nat_state`` ``None``: the NAT is not in the inventory."""
    world = fx.vpc_world(A, "a", private=False, isolated=False)
    vpcs = [v.model_copy(update={"owner_id": OWNER}) for v in world.vpcs]
    shared = Subnet(
        subnet_id="subnet-x", vpc_id=fx.vpc_id(A), availability_zone=fx.az("a"), owner_id=OWNER
    )
    world = fx.add(
        world, *vpcs, shared, fx.route_table("rtb-x", A, [fx.default_route("nat-o")], ["subnet-x"])
    )
    world = fx.remove(world, *(n.nat_gateway_id for n in world.nat_gateways))
    if nat_state is not None:
        world = fx.add(world, fx.nat("nat-o", A, fx.pub(A, "a"), state=nat_state))
    if view is not None:
        world = world.model_copy(update={"owner_views": (view,)})
    return world


READ = OwnerView(account_id=OWNER, role_arn=ROLE, vpc_ids=(fx.vpc_id(A),))
REFUSED = READ.model_copy(update={"error": "Cannot assume it: AccessDenied"})

# id, NAT state in the inventory (None: absent), owner view, egress, detail fragments
PATHS = [
    ("no-view-nat-hidden", None, None, "other", ("not verifiable", f"owned by {OWNER})")),
    (
        "view-refused",
        None,
        REFUSED,
        "other",
        ("not verifiable", "could not be read", "AccessDenied"),
    ),
    ("view-read-nat-healthy", "available", READ, "nat", (f"account {OWNER}, role {ROLE}",)),
    ("view-read-nat-missing", None, READ, "nat-broken", ("NAT gateway not found (read from",)),
    ("view-read-nat-deleted", "deleted", READ, "nat-broken", ("is deleted", f"role {ROLE}")),
    ("own-view-nat-healthy", "available", None, "nat", ()),
]


@pytest.mark.parametrize(
    ("nat_state", "view", "egress", "fragments"),
    [c[1:] for c in PATHS],
    ids=[c[0] for c in PATHS],
)
def test_a_shared_path_is_judged_from_what_the_owner_view_gave(
    nat_state: str | None,
    view: OwnerView | None,
    egress: str,
    fragments: tuple[str, ...],
) -> None:
    result = RegionIndex(_participant(nat_state=nat_state, view=view), ACCOUNT).classify("subnet-x")
    assert result.egress == egress, result.detail
    for fragment in fragments:
        assert fragment in result.detail
    if view is None or view.error:
        assert "read from the VPC owner's view" not in result.detail


def test_subnets_only_the_owner_sees_are_judged_but_never_offered_to_functions() -> None:
    view = READ.model_copy(update={"owner_only_subnet_ids": (fx.pub(A, "a"),)})
    index = RegionIndex(_participant(view=view), ACCOUNT)
    assert fx.pub(A, "a") in index.subnets
    usable = {s.subnet_id for s in index.subnets_by_vpc[fx.vpc_id(A)]}
    assert fx.pub(A, "a") not in usable and "subnet-x" in usable


def test_foreign_vpcs_are_grouped_by_owner_and_the_own_are_left_out() -> None:
    world = RegionInventory(
        region=fx.REGION,
        vpcs=(
            Vpc(vpc_id="vpc-1", owner_id=OWNER),
            Vpc(vpc_id="vpc-2", owner_id=ACCOUNT),
            Vpc(vpc_id="vpc-3", owner_id=""),
        ),
        subnets=(
            Subnet(subnet_id="subnet-3", vpc_id="vpc-3", availability_zone="a", owner_id=OWNER),
            Subnet(subnet_id="subnet-4", vpc_id="vpc-4", availability_zone="a", owner_id="2" * 12),
        ),
    )
    assert foreign_vpcs(world, ACCOUNT) == {OWNER: ["vpc-1", "vpc-3"], "2" * 12: ["vpc-4"]}


def test_the_merge_adds_what_the_owner_sees_and_records_it() -> None:
    theirs = _participant(nat_state="available")
    ours = fx.remove(theirs, "nat-o", fx.pub(A, "a"))
    raw = _Raw()
    raw.subnets = list(theirs.subnets)
    raw.nat_gateways = list(theirs.nat_gateways)
    raw.route_tables = list(theirs.route_tables)
    merged, view = _merge(ours, READ, raw)
    assert [n.nat_gateway_id for n in merged.nat_gateways] == ["nat-o"]
    assert {s.subnet_id for s in merged.subnets} == {s.subnet_id for s in theirs.subnets}
    assert view.owner_only_subnet_ids == (fx.pub(A, "a"),)
    assert "nat-o" in view.resource_ids
    # every id once, sorted: the inventory stays canonical
    ids = [s.subnet_id for s in merged.subnets]
    assert ids == sorted(set(ids))


# --------------------------------------------------------------------------
# the role template: the option and the policy key


TEMPLATES = [
    ("account", TEMPLATE, None),
    ("account-id-spelling", "arn:aws:iam::{account_id}:role/path/net-read", None),
    ("gov-partition", "arn:aws-us-gov:iam::{account}:role/net", None),
    ("not-an-arn", "net-read", "is not an IAM role ARN"),
    ("a-user", "arn:aws:iam::{account}:user/net", "is not an IAM role ARN"),
    ("fixed-account", ROLE, "has no {account}"),
    ("other-placeholder", "arn:aws:iam::{owner}:role/net", "is not an IAM role ARN"),
]


@pytest.mark.parametrize(
    ("template", "problem"), [c[1:] for c in TEMPLATES], ids=[c[0] for c in TEMPLATES]
)
def test_the_network_role_template_is_checked(template: str, problem: str | None) -> None:
    if problem is None:
        assert check_network_role(template) == template
        assert parse_policy(f'network_role_arn = "{template}"').network_role_arn == template
        assert OWNER in network_role_for(template, OWNER)
        assert "{" not in network_role_for(template, OWNER)
        return
    with pytest.raises(BadInput, match="--network-role-arn") as err:
        check_network_role(template)
    assert problem in str(err.value)
    with pytest.raises(BadInput, match="network_role_arn") as err:
        parse_policy(f'network_role_arn = "{template}"', "p.toml")
    assert problem in str(err.value)


def test_an_unset_network_role_keeps_the_policy_digest_of_older_versions() -> None:
    assert Policy().digest() == Policy(network_role_arn=None).digest()
    # the digest of the built-in policy before the key existed
    from remediator.domain.policy import _ADDED_KEYS

    body = default_policy().model_dump(mode="json")
    for key in _ADDED_KEYS:  # network_role_arn, versions_read, ...
        body.pop(key)
    # nor the ownership keys added since (unset, they stay out of the digest too)
    body.pop("iac")
    body["defaults"].pop("owned_functions")
    for rule in body["rules"]:
        rule.pop("owned_functions")
    import hashlib
    import json

    old = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert default_policy().digest() == "sha256:" + old
    assert Policy(network_role_arn=TEMPLATE).digest() != Policy().digest()
    assert Policy(versions_read="listed").digest() != Policy().digest()


# --------------------------------------------------------------------------
# IAM: the owner's role and the participant's side


def test_the_owner_side_policy_is_the_owner_views_describes_and_nothing_else() -> None:
    doc = iam.policy_document(iam.PolicyOptions(mode="network-owner"))
    (statement,) = doc["Statement"]
    assert statement["Action"] == sorted(OWNER_READS)
    assert all(a.startswith("ec2:Describe") for a in statement["Action"])


@pytest.mark.parametrize("mode", ["plan", "apply", "auto"])
def test_the_participant_side_may_assume_the_template_role(mode: str) -> None:
    doc = iam.policy_document(iam.PolicyOptions(mode=mode, network_role_arn=TEMPLATE))
    (statement,) = [s for s in doc["Statement"] if s["Sid"] == "AssumeNetworkOwnerRoles"]
    assert statement["Action"] == ["sts:AssumeRole"]
    assert statement["Resource"] == "arn:aws:iam::*:role/net-read"
    assert iam.uncovered(["sts:AssumeRole"], doc) == []
    without = iam.policy_document(iam.PolicyOptions(mode=mode))
    assert "AssumeNetworkOwnerRoles" not in {s["Sid"] for s in without["Statement"]}


REFUSED_OPTIONS = [
    (
        "owner-with-template",
        {"mode": "network-owner", "network_role_arn": TEMPLATE},
        "no other option",
    ),
    ("owner-with-lock", {"mode": "network-owner", "lock_table": "t"}, "no other option"),
    ("bad-template", {"mode": "plan", "network_role_arn": ROLE}, "has no {account}"),
]


@pytest.mark.parametrize(
    ("kw", "message"), [c[1:] for c in REFUSED_OPTIONS], ids=[c[0] for c in REFUSED_OPTIONS]
)
def test_iam_options_that_do_not_fit_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput) as err:
        iam.policy_document(iam.PolicyOptions(**kw))
    assert message in str(err.value)


# --------------------------------------------------------------------------
# cost and failures of OwnerViews.extend, on a fake door


class _FakeDoor:
    """Records every read; answers nothing (or refuses one operation)."""

    def __init__(self, calls: list[tuple[str, str]], refuse: str = "") -> None:
        self.calls, self.refuse = calls, refuse

    def items(self, service: str, region: str, method: str, key: str, **_: Any) -> list[Any]:
        self.calls.append((region, method))
        if method == self.refuse:
            raise BadInput(f"refused {method}")
        return []


def _two_owners() -> Any:
    from remediator.aws.network import Network

    world = RegionInventory(
        region=fx.REGION,
        vpcs=(
            Vpc(vpc_id="vpc-1", owner_id=OWNER),
            Vpc(vpc_id="vpc-2", owner_id=OWNER),
            Vpc(vpc_id="vpc-3", owner_id="2" * 12),
            Vpc(vpc_id="vpc-4", owner_id=ACCOUNT),
        ),
    )
    return Network(world)


def test_extend_reads_each_owner_once_per_region_with_a_bounded_set_of_calls() -> None:
    from remediator.aws.owner_view import OwnerViews

    assumed: list[str] = []
    calls: list[tuple[str, str]] = []

    def assume(role: str, door: Any, region: str) -> Any:
        assumed.append(role)
        return role

    views = OwnerViews(assume, template=TEMPLATE)
    for region in ("us-east-1", "eu-west-1"):
        out = views.extend(
            _two_owners(),
            region=region,
            account_id=ACCOUNT,
            door=None,  # type: ignore[arg-type]
            door_for=lambda session: _FakeDoor(calls),  # type: ignore[arg-type,return-value]
        )
        assert [(v.account_id, v.vpc_ids, v.error) for v in out.ec2.owner_views] == [
            (OWNER, ("vpc-1", "vpc-2"), ""),
            ("2" * 12, ("vpc-3",), ""),
        ]
    assert sorted(set(assumed)) == sorted(
        {network_role_for(TEMPLATE, o) for o in (OWNER, "2" * 12)}
    )
    # five VPC-scoped describes per owner and region (no route names an ENI or instance)
    assert len(calls) == 2 * 2 * 5
    assert {m for _, m in calls} == {
        "describe_subnets",
        "describe_route_tables",
        "describe_nat_gateways",
        "describe_network_acls",
        "describe_vpc_endpoints",
    }


def test_a_refused_role_is_not_tried_again_in_the_run_and_a_refused_read_merges_nothing() -> None:
    from remediator.aws.owner_view import OwnerViews
    from remediator.domain.errors import AwsAccessError

    tries: list[str] = []

    def assume(role: str, door: Any, region: str) -> Any:
        tries.append(role)
        if OWNER in role:
            raise AwsAccessError("AccessDenied on sts:AssumeRole.")
        return role

    calls: list[tuple[str, str]] = []
    views = OwnerViews(assume, template=TEMPLATE)
    for region in ("us-east-1", "eu-west-1"):
        out = views.extend(
            _two_owners(),
            region=region,
            account_id=ACCOUNT,
            door=None,  # type: ignore[arg-type]
            door_for=lambda s: _FakeDoor(calls, refuse="describe_nat_gateways"),  # type: ignore[arg-type,return-value]
        )
        errors = {v.account_id: v.error for v in out.ec2.owner_views}
        assert errors[OWNER] == "AccessDenied on sts:AssumeRole"
        assert errors["2" * 12].startswith("refused describe_nat_gateways")
        assert all(v.resource_ids == () for v in out.ec2.owner_views)
    assert tries.count(network_role_for(TEMPLATE, OWNER)) == 1
