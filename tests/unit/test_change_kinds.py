"""The change kinds: one module each, one registry, a schema that names them.

Also invariant 1's plan-side half: a plan whose ``before`` disagrees with its
own fingerprint is refused when it is read, and rollback's ``before`` comes
from the state the journal recorded (``registry.restore_point``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import remediator
from remediator import planfile
from remediator.changes import base, ec2_nat_route, lambda_vpc_config, registry
from remediator.domain.canonical import fingerprint
from remediator.domain.errors import BadInput
from remediator.planfile import dumps, parse_plan
from remediator.planfile.digest import with_digest
from remediator.planfile.model import Plan
from tests import factories as fx
from tests.unit.test_planfile import sample_plan

PACKAGE = Path(remediator.__file__).parent


def _sources() -> dict[str, str]:
    return {
        str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8")
        for p in sorted(PACKAGE.rglob("*.py"))
    }


@pytest.mark.parametrize("name", sorted(registry.KINDS))
def test_a_kind_name_is_written_in_exactly_one_module_its_own(name: str) -> None:
    holders = [path for path, text in _sources().items() if f'"{name}"' in text]
    assert len(holders) == 1, holders
    assert holders[0].startswith("changes/") and holders[0] != "changes/registry.py"


@pytest.mark.parametrize("kind", list(registry.kinds()), ids=lambda k: k.name)
def test_every_kind_is_complete(kind: base.Kind) -> None:
    assert kind.permissions, "a kind must declare the IAM actions it needs"
    assert kind.summary.endswith(".")
    assert kind.handler.kind == kind.name
    assert registry.handler(kind.name) is kind.handler
    assert registry.spec(kind.name) is kind
    fields = kind.change.model_fields
    assert fields["kind"].annotation is not str
    for model in (kind.before, kind.after):
        if model is not None:
            assert model.model_config.get("frozen") and model.model_config.get("extra") == "forbid"


def test_kinds_are_listed_in_apply_order() -> None:
    phases = [k.phase for k in registry.kinds()]
    assert phases == sorted(phases)


def test_every_kind_of_a_plan_round_trips_to_the_same_json() -> None:
    plan = sample_plan()
    text = dumps(plan)
    data = json.loads(text)
    for change, raw in zip(plan.changes, data["changes"], strict=True):
        typed = registry.build(raw)
        assert type(typed) is registry.spec(raw["kind"]).change
        assert typed == change and typed.model_dump(mode="json") == raw
        assert registry.check_before(typed) is None
    assert dumps(parse_plan(text)) == text


# --------------------------------------------------------------------------
# The schema enumerates the kinds and pins format_version


def _schema() -> dict[str, Any]:
    return planfile.plan_schema()


def test_schema_pins_format_version() -> None:
    schema = _schema()
    assert schema["properties"]["format_version"]["const"] == 1
    assert "format_version" in schema["required"]


def test_schema_names_every_kind_with_typed_before_and_after() -> None:
    schema = _schema()
    mapping = schema["properties"]["changes"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == set(registry.KINDS)
    for name, ref in mapping.items():
        change = schema["$defs"][ref.rsplit("/", 1)[1]]
        assert change["properties"]["kind"]["const"] == name
        assert "$ref" in json.dumps(change["properties"]["after"])
        kind = registry.spec(name)
        if kind.before is None:
            assert change["properties"]["before"]["type"] == "null"


def _edited(mutate: Any) -> dict[str, Any]:
    data = json.loads(dumps(sample_plan()))
    mutate(data)
    return data


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d["changes"][0].update(kind="bogus"), id="bogus-kind"),
        pytest.param(lambda d: d.update(format_version=99), id="format-version-99"),
        pytest.param(lambda d: d.pop("format_version"), id="no-format-version"),
        pytest.param(lambda d: d["changes"][0]["after"].update(Surprise=1), id="extra-after-key"),
    ],
)
def test_the_schema_refuses(mutate: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _schema()
    jsonschema.validate(json.loads(dumps(sample_plan())), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_edited(mutate), schema)


def test_parse_plan_refuses_an_unknown_kind_in_one_line() -> None:
    data = _edited(lambda d: d["changes"][0].update(kind="bogus"))
    with pytest.raises(BadInput) as err:
        parse_plan(json.dumps(data), "plan.json")
    message = err.value.message
    assert "plan.json is not a valid plan: changes.0" in message and "'bogus'" in message
    assert "\n" not in message


def test_parse_plan_refuses_format_version_99_in_one_line() -> None:
    data = _edited(lambda d: d.update(format_version=99))
    with pytest.raises(BadInput, match="format_version 99") as err:
        parse_plan(json.dumps(data), "plan.json")
    assert "\n" not in err.value.message


# --------------------------------------------------------------------------
# before agrees with the fingerprint; rollback restores the journaled state


def _with(plan: Plan, kind: str, edit: Any) -> tuple[Plan, str]:
    """``plan`` with the first change of ``kind`` edited (JSON form), digest recomputed."""
    data = json.loads(dumps(plan))
    change = next(c for c in data["changes"] if c["kind"] == kind)
    edit(change)
    return with_digest(Plan.model_validate(data)), change["id"]


@pytest.mark.parametrize(
    ("kind", "edit"),
    [
        pytest.param(
            lambda_vpc_config.NAME,
            lambda c: c["before"].update(SecurityGroupIds=["sg-other"]),
            id="vpc-config-group",
        ),
        pytest.param(
            lambda_vpc_config.NAME,
            lambda c: c["before"].update(SubnetIds=c["before"]["SubnetIds"][:1]),
            id="vpc-config-subnets",
        ),
        pytest.param(
            registry.MOVE_ALIAS,
            lambda c: c["before"].update(FunctionVersion="7"),
            id="alias-version",
        ),
    ],
)
def test_a_before_that_disagrees_with_the_fingerprint_is_refused(kind: str, edit: Any) -> None:
    plan, change_id = _with(sample_plan(), kind, edit)
    with pytest.raises(BadInput) as err:
        parse_plan(dumps(plan), "plan.json")
    message = err.value.message
    assert message.startswith(f"plan.json is not a valid plan: change {change_id} ({kind}):")
    assert "fingerprint" in message and "\n" not in message


def test_a_before_in_another_order_than_the_fingerprint_is_accepted() -> None:
    # ``before`` keeps AWS's order, the fingerprint sorts: same state
    plan, _ = _with(
        sample_plan(),
        lambda_vpc_config.NAME,
        lambda c: c["before"].update(SubnetIds=c["before"]["SubnetIds"][::-1]),
    )
    assert parse_plan(dumps(plan)) == plan


def _vpc_change() -> Any:
    return next(c for c in sample_plan().changes if c.kind == lambda_vpc_config.NAME)


def test_restore_point_takes_before_from_the_journaled_state() -> None:
    change = _vpc_change()
    state = lambda_vpc_config.vpc_config_state(["subnet-b", "subnet-a"], ["sg-journaled"])
    restored = registry.restore_point(change, state)
    assert restored.before == {
        "SubnetIds": ["subnet-a", "subnet-b"],
        "SecurityGroupIds": ["sg-journaled"],
    }
    assert restored.model_copy(update={"before": change.before}) == change


def test_restore_point_keeps_the_plans_order_for_the_same_state() -> None:
    change = _vpc_change()
    assert registry.restore_point(change, change.fingerprint.state) is change
    assert registry.restore_point(change, None) is change


def test_restore_point_of_a_route_with_no_default_route_deletes_it() -> None:
    state = {"RouteTableId": "rtb-1", "DefaultRoute": None}
    change = registry.build(
        {
            "id": "c-r",
            "kind": ec2_nat_route.NAME,
            "region": "us-east-1",
            "target": "rtb-1",
            "before": {"DestinationCidrBlock": "0.0.0.0/0", "Target": "igw-1", "State": "active"},
            "after": {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"},
            "risk": "low",
            "reason": "r",
            "fingerprint": {"state_hash": "h", "state": state},
        }
    )
    assert registry.check_before(change) is not None
    assert registry.restore_point(change, state).before is None


def test_restore_point_refuses_a_journaled_state_of_another_shape() -> None:
    change = _vpc_change()
    with pytest.raises(BadInput, match=change.id):
        registry.restore_point(change, {"Target": change.target, "Missing": True})


# --------------------------------------------------------------------------
# ec2.put-nat-route: any IPv4 destination, the default route's bytes kept


def _route_change(dest: str, before_dest: str | None = None, **extra: Any) -> dict[str, Any]:
    rt = fx.route_table("rtb-1", "a", [fx.route(before_dest or dest, "nat-gone", "blackhole")])
    state = ec2_nat_route.route_state(rt, dest)
    return {
        "id": "c-r",
        "kind": ec2_nat_route.NAME,
        "region": "us-east-1",
        "target": "rtb-1",
        "before": {
            "DestinationCidrBlock": before_dest or dest,
            "Target": "nat-gone",
            "State": "blackhole",
        },
        "after": {"DestinationCidrBlock": dest, "NatGatewayId": "nat-1"},
        "risk": "medium",
        "reason": "r",
        "fingerprint": {"state_hash": "h", "state": state},
        **extra,
    }


def test_a_split_route_change_has_typed_before_and_after() -> None:
    change = registry.build(_route_change("0.0.0.0/1"))
    assert isinstance(change, ec2_nat_route.PutNatRouteChange)
    assert isinstance(change.before, ec2_nat_route.PutNatRouteBefore)
    assert change.before.DestinationCidrBlock == "0.0.0.0/1"
    assert change.after.DestinationCidrBlock == "0.0.0.0/1"
    assert change.fingerprint.state == {
        "RouteTableId": "rtb-1",
        "DestinationCidrBlock": "0.0.0.0/1",
        "Route": {"DestinationCidrBlock": "0.0.0.0/1", "Target": "nat-gone", "State": "blackhole"},
    }
    assert registry.check_before(change) is None
    assert registry.build(change.model_dump(mode="json")) == change
    handler = registry.handler(ec2_nat_route.NAME)
    assert handler.expected_after(change) == {
        "RouteTableId": "rtb-1",
        "DestinationCidrBlock": "0.0.0.0/1",
        "Route": {"DestinationCidrBlock": "0.0.0.0/1", "Target": "nat-1", "State": "active"},
    }
    # the state of the same table's other route is not this change's
    other = ec2_nat_route.route_state(
        fx.route_table("rtb-1", "a", [fx.route("128.0.0.0/1", "nat-gone", "blackhole")]),
        "128.0.0.0/1",
    )
    with pytest.raises(BadInput, match="c-r"):
        registry.restore_point(change, other)
    gone = ec2_nat_route.route_state(fx.route_table("rtb-1", "a", []), "0.0.0.0/1")
    assert registry.restore_point(change, gone).before is None


@pytest.mark.parametrize(
    ("dest", "before_dest"),
    [
        pytest.param("10.1.0.0/8", None, id="not-canonical"),
        pytest.param("::/0", None, id="ipv6"),
        pytest.param("0.0.0.0/33", None, id="prefix-too-long"),
        pytest.param("pl-123", None, id="prefix-list"),
        pytest.param("0.0.0.0/1", "128.0.0.0/1", id="before-names-another-route"),
    ],
)
def test_a_route_change_refuses_a_bad_destination(dest: str, before_dest: str | None) -> None:
    data = _route_change(dest, before_dest)
    data["fingerprint"]["state"] = {"RouteTableId": "rtb-1", "DefaultRoute": None}
    with pytest.raises(ValidationError):
        registry.build(data)


def test_the_default_route_fingerprint_is_what_it_has_always_been() -> None:
    rt = fx.route_table(
        "rtb-1", "a", [fx.default_route("nat-gone", "blackhole"), fx.route("0.0.0.0/1", "nat-x")]
    )
    state = ec2_nat_route.route_state(rt)
    assert state == ec2_nat_route.route_state(rt, "0.0.0.0/0")
    assert state == {
        "RouteTableId": "rtb-1",
        "DefaultRoute": {
            "DestinationCidrBlock": "0.0.0.0/0",
            "Target": "nat-gone",
            "State": "blackhole",
        },
    }
    # the hash remediator has always written for this table (plans stay fresh)
    assert fingerprint(state).state_hash == (
        "sha256:bb442d2ddcce335e52444a7402fe08f0e885a9b4f730c1cd20fcb6fca94e0124"
    )


def test_the_schema_types_a_route_destination_as_an_ipv4_cidr() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _schema()
    after = schema["$defs"]["PutNatRouteAfter"]["properties"]["DestinationCidrBlock"]
    assert after["type"] == "string" and "pattern" in after
    plan = json.loads(dumps(sample_plan()))
    jsonschema.validate(plan, schema)
