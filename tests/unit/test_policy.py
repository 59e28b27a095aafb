"""Policy: defaults, rule matching and precedence, validation errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.domain.errors import BadInput
from remediator.domain.policy import (
    DEFAULT_STRATEGIES,
    EXEMPT_TAG,
    Policy,
    Rule,
    Settings,
    default_policy,
    load_policy,
    parse_policy,
)
from tests import factories as fx

REPO = Path(__file__).resolve().parents[2]


def fn(name: str = "api", **tags: str) -> fx.Function:
    return fx.function(name, [fx.natsub("a", "a")], tags=tags)


# -------------------------------------------------------------------- defaults


def test_settings_defaults() -> None:
    s = Settings()
    assert (
        s.strategies
        == DEFAULT_STRATEGIES
        == (
            "keep-private-subnets",
            "add-nat-route",
            "lambda-endpoint",
        )
    )
    assert s.min_azs == 2
    assert s.exempt is False and s.exempt_reason == ""
    assert s.allow_shared_route_table_changes is False
    assert s.allow_endpoint_creation is False
    assert s.move_aliases is True


def test_policy_defaults() -> None:
    p = Policy()
    assert p.defaults == Settings()
    assert p.rules == ()
    assert p.max_changes == 100
    assert p.allowed_account_ids == ()
    assert p.settings_for(fn()) == Settings()


def test_empty_file_is_the_defaults() -> None:
    assert parse_policy("") == Policy()


def test_default_policy_exempts_the_tag_only_when_true() -> None:
    p = default_policy()
    assert p.settings_for(fn(**{EXEMPT_TAG: "true"})).exempt is True
    assert "remediator:exempt" in p.settings_for(fn(**{EXEMPT_TAG: "true"})).exempt_reason
    assert p.settings_for(fn(**{EXEMPT_TAG: "false"})).exempt is False
    assert p.settings_for(fn()).exempt is False
    assert p.uses_tags


def test_load_policy_none_is_the_built_in_policy() -> None:
    assert load_policy(None) == default_policy()


# ----------------------------------------------------------------------- rules


def test_rule_by_name_glob() -> None:
    p = parse_policy(
        """
        [[rules]]
        match_names = ["pay-*", "billing"]
        min_azs = 3
        """
    )
    assert p.settings_for(fn("pay-api")).min_azs == 3
    assert p.settings_for(fn("billing")).min_azs == 3
    assert p.settings_for(fn("billing-2")).min_azs == 2
    assert p.settings_for(fn("api-pay")).min_azs == 2


def test_name_glob_is_case_sensitive() -> None:
    p = Policy(rules=(Rule(match_names=("Pay-*",), min_azs=3),))
    assert p.settings_for(fn("pay-api")).min_azs == 2


def test_rule_by_tag_with_glob_value() -> None:
    p = parse_policy(
        """
        [[rules]]
        match_tags = { team = "pay*", env = "prod" }
        allow_endpoint_creation = true
        """
    )
    assert p.settings_for(fn(team="payments", env="prod")).allow_endpoint_creation is True
    # every tag pair must match
    assert p.settings_for(fn(team="payments")).allow_endpoint_creation is False
    assert p.settings_for(fn(team="search", env="prod")).allow_endpoint_creation is False
    assert p.uses_tags
    assert p.may_create_endpoints


def test_rule_with_names_and_tags_needs_both() -> None:
    p = Policy(rules=(Rule(match_names=("pay-*",), match_tags={"env": "prod"}, min_azs=3),))
    assert p.settings_for(fn("pay-api", env="prod")).min_azs == 3
    assert p.settings_for(fn("pay-api")).min_azs == 2
    assert p.settings_for(fn("api", env="prod")).min_azs == 2


def test_later_rule_wins_per_key() -> None:
    p = parse_policy(
        """
        [defaults]
        min_azs = 2
        [[rules]]
        match_names = ["*"]
        min_azs = 3
        move_aliases = false
        [[rules]]
        match_names = ["api"]
        min_azs = 1
        """
    )
    s = p.settings_for(fn("api"))
    assert s.min_azs == 1
    assert s.move_aliases is False  # not overridden by the later rule
    assert p.settings_for(fn("other")).min_azs == 3


def test_rule_strategies_override() -> None:
    p = parse_policy(
        """
        [[rules]]
        match_names = ["api"]
        strategies = ["add-nat-route"]
        """
    )
    assert p.settings_for(fn("api")).strategies == ("add-nat-route",)
    assert p.settings_for(fn("other")).strategies == DEFAULT_STRATEGIES


def test_exempt_reason_names_the_rule() -> None:
    p = parse_policy(
        """
        [[rules]]
        name = "databases"
        match_names = ["db-*"]
        exempt = true
        """
    )
    s = p.settings_for(fn("db-writer"))
    assert s.exempt is True
    assert "databases" in s.exempt_reason


def test_explicit_exempt_reason_is_kept() -> None:
    p = Policy(rules=(Rule(match_names=("db",), exempt=True, exempt_reason="VPC only"),))
    assert p.settings_for(fn("db")).exempt_reason == "VPC only"


def test_later_rule_can_unexempt() -> None:
    p = Policy(
        rules=(
            Rule(match_names=("*",), exempt=True),
            Rule(match_names=("api",), exempt=False),
        )
    )
    assert p.settings_for(fn("api")).exempt is False
    assert p.settings_for(fn("db")).exempt is True


def test_policy_digest_is_stable_and_content_sensitive() -> None:
    text = "[defaults]\nmin_azs = 3\n"
    assert parse_policy(text).digest() == parse_policy(text).digest()
    assert parse_policy(text).digest() != parse_policy("").digest()
    assert parse_policy(text).digest().startswith("sha256:")


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("[defaults]\ncolour = 'blue'\n", "defaults.colour", id="unknown-default-key"),
        pytest.param(
            "[[rules]]\nmatch_names = ['x']\nbogus = 1\n", "rules.0.bogus", id="unknown-rule-key"
        ),
        pytest.param(
            "[[rules]]\nmatch_names = ['x']\n[[rules]]\nmatch_names = ['y']\nmin_azs = 0\n",
            "rules.1.min_azs",
            id="second-rule-bad-min-azs",
        ),
        pytest.param("colour = 'blue'\n", "colour", id="unknown-top-level-key"),
        pytest.param("[defaults]\nmin_azs = 0\n", "defaults.min_azs", id="min-azs-zero"),
        pytest.param("[defaults]\nmin_azs = 17\n", "defaults.min_azs", id="min-azs-17"),
        pytest.param("[defaults]\nmin_azs = 'two'\n", "defaults.min_azs", id="min-azs-str"),
        pytest.param(
            "[defaults]\nstrategies = ['nope']\n", "defaults.strategies", id="unknown-strategy"
        ),
        pytest.param(
            "[defaults]\nstrategies = ['add-nat-route', 'add-nat-route']\n",
            "defaults",
            id="repeated-strategy",
        ),
        pytest.param(
            "[[rules]]\nmatch_names = ['x']\nstrategies = ['nope']\n",
            "rules.0.strategies",
            id="rule-unknown-strategy",
        ),
        pytest.param("max_changes = 0\n", "max_changes", id="max-changes-zero"),
        pytest.param("[[rules]]\nmin_azs = 3\n", "rules.0", id="rule-without-matcher"),
        pytest.param(
            "[[rules]]\nname = 'r'\nmatch_names = []\nmatch_tags = {}\n",
            "rules.0",
            id="rule-with-empty-matchers",
        ),
    ],
)
def test_bad_policy_names_the_key(text: str, key: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_policy(text, "policy.toml")
    message = err.value.message
    assert message.startswith("policy.toml: ")
    assert key in message, message


def test_unknown_key_says_unknown_key() -> None:
    with pytest.raises(BadInput, match=r"defaults\.colour: unknown key"):
        parse_policy("[defaults]\ncolour = 'blue'\n")


def test_rule_without_matcher_says_why() -> None:
    with pytest.raises(BadInput, match="match_names or match_tags"):
        parse_policy("[[rules]]\nmin_azs = 3\n")


def test_rule_without_matcher_is_rejected_in_python_too() -> None:
    with pytest.raises(ValueError, match="match_names or match_tags"):
        Rule(min_azs=3)


def test_invalid_toml() -> None:
    with pytest.raises(BadInput, match="not valid TOML") as err:
        parse_policy("[defaults\nmin_azs = 2", "broken.toml")
    assert "broken.toml" in err.value.message
    assert err.value.hint


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(BadInput, match="does not exist") as err:
        load_policy(missing)
    assert str(missing) in err.value.message


def test_load_policy_from_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[defaults]\nmin_azs = 3\n", encoding="utf-8")
    assert load_policy(path).defaults.min_azs == 3


def test_load_policy_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[defaults]\nmin_azs = 0\n", encoding="utf-8")
    with pytest.raises(BadInput) as err:
        load_policy(path)
    assert str(path) in err.value.message and "defaults.min_azs" in err.value.message


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(BadInput, match="Cannot read"):
        load_policy(path)


def test_repeated_strategy_in_a_rule_is_rejected() -> None:
    with pytest.raises(BadInput, match=r"rules\.0"):
        parse_policy(
            "[[rules]]\nmatch_names = ['x']\nstrategies = ['add-nat-route', 'add-nat-route']\n"
        )


# ------------------------------------------------------- shipped example files

EXAMPLES = sorted((REPO / "plans").glob("*.toml"))


@pytest.mark.skipif(not EXAMPLES, reason="no example policies under plans/")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_shipped_example_policies_parse(path: Path) -> None:
    p = load_policy(path)
    assert p.max_changes >= 1
    # every example keeps the exempt-tag rule of the built-in policy
    assert p.settings_for(fn(**{EXEMPT_TAG: "true"})).exempt is True
    assert p.settings_for(fn()).exempt is False
