"""Plan files: canonical JSON, digest check, format version, owner-only writes, schema."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediator import planfile
from remediator.domain.errors import BadInput
from remediator.domain.plan import FORMAT_VERSION
from remediator.planfile import dumps, parse_plan, read_plan, write_plan
from remediator.planfile.digest import plan_digest
from remediator.planfile.model import Plan
from remediator.planner import build_plan
from remediator.render import report
from tests import factories as fx

REPO = Path(__file__).resolve().parents[2]
A = "a"


def sample_plan() -> Plan:
    world = fx.vpc_world(
        A,
        "abc",
        functions=[
            fx.function("mixed", [fx.pub(A, "a"), fx.natsub(A, "b"), fx.natsub(A, "c")]),
            fx.function("iso", [fx.iso(A, "a"), fx.iso(A, "b")]),
            fx.function("blocked", ["subnet-gone", fx.natsub(A, "a")]),
            fx.function("plain", None),
            fx.function(
                "aliased",
                [fx.pub(A, "a"), fx.natsub(A, "b")],
                versions=[fx.version("1", [fx.pub(A, "a"), fx.natsub(A, "b")], [fx.fn_sg(A)])],
                aliases=[fx.alias("live", "1")],
            ),
        ],
    )
    world = fx.add(world, fx.security_group("sg-a-endpoint", A))
    world = fx.add(world, fx.endpoint(A, [fx.iso(A, "a")], ["sg-a-endpoint"]))
    return build_plan(fx.inventory(world), fx.policy(), fx.NOW)


def test_sample_plan_has_content() -> None:
    p = sample_plan()
    assert len(p.changes) >= 3
    assert {f.status for f in p.findings} >= {"planned", "blocked"}


def test_round_trip_equals_the_plan() -> None:
    p = sample_plan()
    text = dumps(p)
    assert parse_plan(text) == p
    assert dumps(parse_plan(text)) == text


def test_dumps_is_canonical() -> None:
    text = dumps(sample_plan())
    assert text.endswith("}\n")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert data["format_version"] == FORMAT_VERSION


def test_write_and_read(tmp_path: Path) -> None:
    p = sample_plan()
    path = tmp_path / "sub" / "plan.json"
    write_plan(p, path)
    assert read_plan(path) == p
    assert path.read_text(encoding="utf-8") == dumps(p)


def test_written_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_plan(sample_plan(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rewrite_keeps_owner_only_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    write_plan(sample_plan(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [x.name for x in tmp_path.iterdir()] == ["plan.json"]


def edit(text: str, change: callable) -> str:  # type: ignore[valid-type]
    data = json.loads(text)
    change(data)
    return json.dumps(data, indent=2, sort_keys=True)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(
            # the first change that has subnets: an edit the schema allows
            lambda d: next(c for c in d["changes"] if "SubnetIds" in c["after"])["after"].update(
                SubnetIds=["subnet-evil"]
            ),
            id="after",
        ),
        pytest.param(
            lambda d: d["changes"][0].update(
                risk="low" if d["changes"][0]["risk"] != "low" else "high"
            ),
            id="risk",
        ),
        pytest.param(lambda d: d["changes"].pop(), id="drop-change"),
        pytest.param(lambda d: d.update(account_id="999999999999"), id="account"),
        pytest.param(lambda d: d.update(created_at="2030-01-01T00:00:00Z"), id="created-at"),
        pytest.param(lambda d: d["findings"][0].update(status="info"), id="finding-status"),
    ],
)
def test_edited_plan_is_refused(mutate: callable) -> None:  # type: ignore[valid-type]
    text = edit(dumps(sample_plan()), mutate)
    with pytest.raises(BadInput, match="digest"):
        parse_plan(text, "plan.json")


def test_plan_with_recomputed_digest_is_accepted() -> None:
    p = sample_plan()
    edited = p.model_copy(update={"created_at": "2030-01-01T00:00:00Z"})
    edited = edited.model_copy(update={"digest": plan_digest(edited)})
    assert parse_plan(dumps(edited)) == edited


def test_whitespace_does_not_matter() -> None:
    p = sample_plan()
    compact = json.dumps(json.loads(dumps(p)), separators=(",", ":"))
    assert parse_plan(compact) == p


@pytest.mark.parametrize("version", [0, 2, "1", None, 1.5])
def test_unknown_format_version(version: object) -> None:
    data = json.loads(dumps(sample_plan()))
    data["format_version"] = version
    with pytest.raises(BadInput, match="format_version") as err:
        parse_plan(json.dumps(data), "plan.json")
    assert "plan.json" in err.value.message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("not json at all", id="text"),
        pytest.param("{", id="truncated"),
        pytest.param("[1, 2]", id="array"),
        pytest.param('"plan"', id="string"),
        pytest.param('{"changes": []}', id="no-format-version"),
        pytest.param('{"format_version": 1}', id="no-changes"),
    ],
)
def test_not_a_plan(text: str) -> None:
    with pytest.raises(BadInput, match="not a plan file"):
        parse_plan(text, "x.json")


def test_plan_shaped_but_invalid_names_the_field() -> None:
    data = json.loads(dumps(sample_plan()))
    data["changes"][0]["risk"] = "extreme"
    with pytest.raises(BadInput, match=r"changes\.0\.risk"):
        parse_plan(json.dumps(data))


def test_unknown_field_is_refused() -> None:
    data = json.loads(dumps(sample_plan()))
    data["surprise"] = True
    with pytest.raises(BadInput, match="surprise"):
        parse_plan(json.dumps(data))


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        read_plan(tmp_path / "missing.json")


def test_read_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BadInput):
        read_plan(path)


SCHEMA = REPO / "docs" / "plan.schema.json"


@pytest.mark.skipif(not SCHEMA.exists(), reason="docs/plan.schema.json not committed")
def test_committed_schema_matches_the_models() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == planfile.schema_text(), (
        "docs/plan.schema.json is stale: regenerate it with `remediate schema > docs/plan.schema.json`"
    )


def test_schema_describes_the_plan() -> None:
    schema = planfile.plan_schema()
    assert schema["$id"].endswith(f"plan-v{FORMAT_VERSION}.json")
    assert {"format_version", "changes", "findings", "digest"} <= set(schema["properties"])


def test_plan_validates_against_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(dumps(sample_plan())), planfile.plan_schema())


@pytest.mark.parametrize("version", [True, 1.0])
def test_format_version_must_be_the_integer(version: object) -> None:
    data = json.loads(dumps(sample_plan()))
    data["format_version"] = version
    with pytest.raises(BadInput, match="format_version"):
        parse_plan(json.dumps(data))


@given(
    share=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    text=st.text(max_size=40),
)
@settings(max_examples=60, deadline=None)
def test_plan_file_text_is_pythons_canonical_json(share: float, text: str) -> None:
    """The fast encoder prints what json.dumps(indent=2, sort_keys=True,
    ensure_ascii=False) prints, for any share (exponent floats included) and
    any text (quotes, control characters, non-ASCII)."""
    plan = sample_plan()
    finding = plan.findings[0].model_copy(update={"affected_share": share, "detail": text})
    change = plan.changes[0].model_copy(update={"reason": text})
    plan = plan.model_copy(
        update={"findings": (finding, *plan.findings[1:]), "changes": (change, *plan.changes[1:])}
    )
    expected = (
        json.dumps(plan.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    )
    assert dumps(plan) == expected
    assert report.render_json(plan) == expected


def test_write_plan_returns_the_file_text(tmp_path: Path) -> None:
    plan = sample_plan()
    path = tmp_path / "p.json"
    assert write_plan(plan, path) == path.read_text(encoding="utf-8")
