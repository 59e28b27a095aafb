"""Signed plans and approvals, and what apply re-derives from the live state,
end to end against moto (in-process ``mock_aws``), the way `remediate apply`
runs: a plan forged with a recomputed digest (and an approval written by
hand) is refused before anything changes when a signature is required, with
an HMAC key and with KMS keys (HMAC_256 through GenerateMac/VerifyMac, and an
ECC key through Sign/Verify); unsigned runs still work when nothing is
required; a risk lowered in the file still needs the approval of the real
risk; a change the findings do not justify is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from remediator import planfile, sandbox
from remediator.aws import door
from remediator.aws.kms import KmsKey
from remediator.changes import registry
from remediator.domain.errors import ApprovalRefused, BadInput, SignatureRefused
from remediator.domain.policy import parse_policy
from remediator.planfile.approval import write_approval
from remediator.planfile.digest import with_digest
from remediator.planfile.model import Plan
from remediator.planfile.signing import HmacKey, Signer, Trust, sign_plan
from remediator.run.apply import ApplyOptions, run_apply, run_rollback
from remediator.run.journal import read_journal
from tests.integration.test_apply_flow import (
    ALLOW_ALL,
    EC2_POLICY,
    NOW,
    REGION,
    World,
    _fn_change,
    _verifier,
)
from tests.moto_worlds import seed_ec2_part


@pytest.fixture(scope="module")
def botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


@pytest.fixture
def world(botocore_session: botocore.session.Session, tmp_path: Path) -> Iterator[World]:
    """The sandbox account, freshly seeded (as in test_apply_flow)."""
    with mock_aws():
        session = boto3.Session(botocore_session=botocore_session, region_name=REGION)
        w = World(session=session, tmp=tmp_path)
        w.info = sandbox.seed(session, REGION)
        yield w


SECRET = b"0123456789abcdef0123456789abcdef"
OTHER = b"fedcba9876543210fedcba9876543210"


def hmac(secret: bytes = SECRET) -> HmacKey:
    return HmacKey(secret, "test")


def kms_hmac(w: World) -> KmsKey:
    arn = w.session.client("kms").create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")[
        "KeyMetadata"
    ]["Arn"]
    return KmsKey(door.Aws(w.factory), arn, REGION)


def kms_ecc(w: World) -> KmsKey:
    key_id = w.session.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")[
        "KeyMetadata"
    ]["KeyId"]
    return KmsKey(door.Aws(w.factory), key_id, REGION)


KEYS = {"hmac": lambda w: hmac(), "kms-hmac": kms_hmac, "kms-ecc": kms_ecc}


def _signed_plan(w: World, signer: Signer) -> tuple[Plan, Path]:
    plan, path = w.plan(parse_policy(ALLOW_ALL))
    planfile.write_plan(sign_plan(plan, signer), path)
    return planfile.read_plan(path), path


def _forge(path: Path, edit: Any) -> Plan:
    """Edit the plan file as an attacker would: change it, recompute the
    digest, keep the signature, write it back (it reads back fine)."""
    plan = planfile.read_plan(path)
    forged = with_digest(edit(plan))
    planfile.write_plan(forged, path)
    return planfile.read_plan(path)


def _lower_all(plan: Plan) -> Plan:
    return plan.model_copy(
        update={"changes": tuple(c.model_copy(update={"risk": "low"}) for c in plan.changes)}
    )


def _opts(signer: Signer | None, required: bool, **kw: Any) -> ApplyOptions:
    return ApplyOptions(now=lambda: NOW, trust=Trust(signer, required), **kw)


@pytest.mark.parametrize("key", sorted(KEYS))
def test_a_signed_plan_and_approval_apply_and_a_forged_plan_is_refused(
    world: World, key: str
) -> None:
    signer = KEYS[key](world)
    plan, path = _signed_plan(world, signer)
    assert plan.signature is not None and plan.signature.key_id == signer.key_id
    approval = world.tmp / "p.approval.json"
    write_approval(
        plan,
        approval,
        by="Ana",
        at=NOW,
        max_risk="high",
        signer=signer,
        change_ids=tuple(c.id for c in plan.changes),
    )
    before = world.snapshot()

    forged = _forge(path, _lower_all)  # every change "low", digest recomputed
    assert forged.digest != plan.digest
    with pytest.raises(SignatureRefused, match="stale signature"):
        run_apply(forged, path, world.aws(), _opts(signer, True, max_risk="low"))
    assert world.hooks.mutating() == [] or all(m.startswith("kms:") for m in world.hooks.mutating())
    assert world.snapshot() == before

    planfile.write_plan(plan, path)  # the genuine file again
    outcome = run_apply(
        plan,
        path,
        world.aws(),
        _opts(signer, True, max_risk="low", approval=approval),
        _verifier(world.session, parse_policy(ALLOW_ALL)),
    )
    assert outcome.exit_code == 0, outcome.lines
    assert set(outcome.applied) == {c.id for c in plan.changes}
    header = read_journal(outcome.journal or path).header
    assert header["approval"] == {
        "via": "approval-file",
        "by": "Ana",
        "at": NOW,
        "max_risk": "high",
        "signature": "verified",
        "key_id": signer.key_id,
    }
    assert header["plan_signature"] == {"signature": "verified", "key_id": signer.key_id}
    rolled = run_rollback(
        plan, outcome.journal or path, world.aws(), None, lambda: NOW, trusted=Trust(signer, True)
    )
    assert rolled.exit_code == 0, rolled.lines


def test_an_unsigned_plan_is_refused_when_required_and_applies_when_not(world: World) -> None:
    plan, path = world.plan(parse_policy(ALLOW_ALL))
    before = world.snapshot()
    with pytest.raises(SignatureRefused, match="not signed"):
        run_apply(plan, path, world.aws(), _opts(hmac(), True, max_risk="high"))
    with pytest.raises(SignatureRefused, match="not signed"):
        run_rollback(
            plan,
            world.tmp / "none.jsonl",
            world.aws(),
            None,
            lambda: NOW,
            trusted=Trust(hmac(), True),
        )
    assert world.hooks.mutating() == [] and world.snapshot() == before
    # not required: unsigned use works as it always has (a key given or not)
    outcome = run_apply(
        plan,
        path,
        world.aws(),
        _opts(hmac(), False, max_risk="high"),
        _verifier(world.session, parse_policy(ALLOW_ALL)),
    )
    assert outcome.exit_code == 0, outcome.lines
    header = read_journal(outcome.journal or path).header
    assert header["plan_signature"] == {"signature": "unsigned", "key_id": None}
    assert header["approval"] == {"via": "max-risk", "max_risk": "high"}


@pytest.mark.parametrize("key", ["hmac", "kms-hmac"])
def test_a_plan_signed_with_another_key_is_refused(world: World, key: str) -> None:
    plan, path = _signed_plan(world, hmac(OTHER))
    signer = KEYS[key](world)
    with pytest.raises(SignatureRefused, match="was signed with key"):
        run_apply(plan, path, world.aws(), _opts(signer, True, max_risk="high"))
    assert world.hooks.mutating() == []


def test_a_kms_mac_made_by_another_key_does_not_verify(world: World) -> None:
    """A forger who copies our key's id but signs with a key of theirs."""
    ours, theirs = kms_hmac(world), kms_hmac(world)
    plan, path = _signed_plan(world, theirs)
    assert plan.signature is not None
    forged = plan.model_copy(
        update={
            "signature": plan.signature.model_copy(update={"key_id": ours.key_id, "alg": ours.alg})
        }
    )
    planfile.write_plan(forged, path)
    with pytest.raises(SignatureRefused, match="does not verify"):
        run_apply(forged, path, world.aws(), _opts(ours, True, max_risk="high"))


def test_a_hand_written_approval_is_refused_when_required(world: World) -> None:
    signer = hmac()
    plan, path = _signed_plan(world, signer)
    approval = world.tmp / "hand.approval.json"
    approval.write_text(
        json.dumps(
            {
                "kind": "remediator-approval",
                "plan_id": plan.plan_id,
                "plan_digest": plan.digest,
                "approved_by": "mallory",
                "approved_at": NOW,
                "max_risk": "high",
            }
        ),
        encoding="utf-8",
    )
    before = world.snapshot()
    with pytest.raises(SignatureRefused, match="not signed"):
        run_apply(plan, path, world.aws(), _opts(signer, True, approval=approval))
    assert world.snapshot() == before
    # not required, the same file approves (as before signatures existed)
    dry = run_apply(
        plan, path, world.aws(dry_run=True), _opts(signer, False, approval=approval, dry_run=True)
    )
    assert dry.exit_code == 0, dry.lines


def test_a_signed_approval_covers_only_the_changes_it_names(world: World) -> None:
    signer = hmac()
    plan, path = _signed_plan(world, signer)
    alias = next(c for c in plan.changes if c.kind == registry.MOVE_ALIAS)
    named = tuple(c.id for c in plan.changes if c.risk != "high")
    approval = world.tmp / "a.json"
    write_approval(
        plan, approval, by="Ana", at=NOW, max_risk="high", signer=signer, change_ids=named
    )
    dry = run_apply(
        plan, path, world.aws(dry_run=True), _opts(signer, True, approval=approval, dry_run=True)
    )
    text = "\n".join(dry.lines)
    assert f"needs approval {alias.id}" in text
    assert all(f"needs approval {cid}" not in text for cid in named)


def test_a_risk_lowered_in_the_file_still_needs_the_approval_of_the_real_risk(
    world: World,
) -> None:
    plan, path = world.plan(parse_policy(ALLOW_ALL))
    medium = _fn_change(plan, "ledger-sync")
    assert medium.risk == "medium"
    forged = _forge(path, _lower_all)  # unsigned, nothing required: the digest passes
    before = world.snapshot()
    dry = run_apply(
        forged,
        path,
        world.aws(dry_run=True),
        ApplyOptions(dry_run=True, max_risk="low", now=lambda: NOW),
    )
    text = "\n".join(dry.lines)
    assert f"needs approval {medium.id}" in text and "(the file says low)" in text
    for c in plan.changes:
        if c.risk != "low":
            assert f"needs approval {c.id}" in text
    # an approval up to medium lets the medium ones run, never the high ones
    approval = world.tmp / "a.json"
    write_approval(forged, approval, by="Ana", at=NOW, max_risk="medium")
    outcome = run_apply(
        forged,
        path,
        world.aws(),
        ApplyOptions(max_risk="low", approval=approval, now=lambda: NOW),
        _verifier(world.session, parse_policy(ALLOW_ALL)),
    )
    applied = set(outcome.applied)
    assert medium.id in applied
    assert not applied & {c.id for c in plan.changes if c.risk == "high"}
    assert world.snapshot() != before


def test_nothing_runs_when_only_a_lowered_risk_made_it_eligible(world: World) -> None:
    plan, path = world.plan(parse_policy(ALLOW_ALL), functions=("ledger-sync",))
    assert {c.risk for c in plan.changes} == {"medium"}
    forged = _forge(path, _lower_all)
    with pytest.raises(ApprovalRefused, match="need approval"):
        run_apply(forged, path, world.aws(), ApplyOptions(max_risk="low", now=lambda: NOW))
    assert world.hooks.mutating() == []


def _edit_change(plan: Plan, change_id: str, **update: Any) -> Plan:
    changes = []
    for c in plan.changes:
        if c.id == change_id:
            data = c.model_dump(mode="json")
            data.update(update)
            c = registry.build(data)
        changes.append(c)
    return plan.model_copy(update={"changes": tuple(changes)})


def test_a_before_that_disagrees_with_the_fingerprint_is_refused(world: World) -> None:
    plan, path = world.plan(parse_policy(ALLOW_ALL))
    c = _fn_change(plan, "orders-api")
    before = c.model_dump(mode="json")["before"]
    other = {**before, "SubnetIds": [*before["SubnetIds"], "subnet-0000000000000000"]}
    planfile.write_plan(with_digest(_edit_change(plan, c.id, before=other)), path)
    with pytest.raises(BadInput, match=f"change {c.id}.*disagrees with its fingerprint"):
        planfile.read_plan(path)


def test_a_change_the_findings_do_not_justify_is_refused_before_anything_changes(
    world: World,
) -> None:
    plan, path = world.plan(parse_policy(ALLOW_ALL))
    c = _fn_change(plan, "orders-api")
    # the change "moves" a healthy function: none of the plan's findings is for it
    forged = _forge(
        path, lambda p: _edit_change(p, c.id, target=c.target.replace("orders-api", "thumbnailer"))
    )
    before = world.snapshot()
    with pytest.raises(BadInput, match=f"Change {c.id} .*not justified.*not function orders-api"):
        run_apply(forged, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    assert world.hooks.mutating() == [] and world.snapshot() == before


def test_a_vpc_config_moving_a_function_into_another_vpc_is_refused(world: World) -> None:
    plan, path = world.plan(parse_policy(ALLOW_ALL))
    c = _fn_change(plan, "orders-api")
    vpc = next(e.vpc_id for f in plan.findings if f.id in c.fixes for e in f.evidence)
    foreign = [s["SubnetId"] for s in world.ec2.describe_subnets()["Subnets"] if s["VpcId"] != vpc]
    assert foreign
    after = c.model_dump(mode="json")["after"]
    forged = _forge(
        path,
        lambda p: _edit_change(
            p, c.id, after={**after, "SubnetIds": sorted({*after["SubnetIds"], foreign[0]})}
        ),
    )
    with pytest.raises(BadInput, match=f"Change {c.id} .*{foreign[0]} is in vpc-"):
        run_apply(
            forged,
            path,
            world.aws(dry_run=True),
            ApplyOptions(max_risk="high", dry_run=True, now=lambda: NOW),
        )


def test_a_route_table_shared_since_the_plan_needs_the_approval_of_high_risk(
    world: World,
) -> None:
    """The route's fingerprint holds the route alone, so a table that another
    subnet joined after planning is still fresh; its risk is read live."""
    ec2, lam, iam = world.ec2, world.lam, world.session.client("iam")
    role = iam.create_role(RoleName="fn-route", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ids = seed_ec2_part(ec2, lam, role)
    plan, path = world.plan(parse_policy(EC2_POLICY), functions=("iso-nat",))
    routes = [c for c in plan.changes if c.kind == registry.PUT_NAT_ROUTE]
    assert {c.risk for c in routes} == {"medium"} and len(routes) == 2
    joined = routes[0]
    extra = ec2.create_subnet(VpcId=ids.nat_vpc, CidrBlock="10.1.99.0/24")["Subnet"]["SubnetId"]
    ec2.associate_route_table(RouteTableId=joined.target, SubnetId=extra)

    dry = run_apply(
        plan,
        path,
        world.aws(dry_run=True),
        ApplyOptions(dry_run=True, max_risk="medium", now=lambda: NOW),
    )
    text = "\n".join(dry.lines)
    assert f"needs approval {joined.id}" in text and "risk high (the file says medium)" in text
    assert f"needs approval {routes[1].id}" not in text
    assert world.hooks.mutating() == []


def test_a_route_to_a_nat_gateway_of_another_vpc_is_refused(world: World) -> None:
    ec2, lam, iam = world.ec2, world.lam, world.session.client("iam")
    role = iam.create_role(RoleName="fn-route", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ids = seed_ec2_part(ec2, lam, role)
    plan, path = world.plan(parse_policy(EC2_POLICY), functions=("iso-nat",))
    route = next(c for c in plan.changes if c.kind == registry.PUT_NAT_ROUTE)
    subnet = ec2.create_subnet(VpcId=ids.api_vpc, CidrBlock="10.2.99.0/24")["Subnet"]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    foreign = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"][
        "NatGatewayId"
    ]
    after = route.model_dump(mode="json")["after"]
    forged = _forge(
        path, lambda p: _edit_change(p, route.id, after={**after, "NatGatewayId": foreign})
    )
    with pytest.raises(BadInput, match=f"Change {route.id} .*{foreign} is in {ids.api_vpc}"):
        run_apply(forged, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    assert world.hooks.mutating() == []
