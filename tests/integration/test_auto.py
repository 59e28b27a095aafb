"""`remediate auto` end to end on moto: two accounts x two regions, the
sandbox seeded in each, member roles assumed through STS (moto hands out
credentials of the role's account), every artifact written, exit codes.

The engine (``auto.run``) is driven directly with in-process ``mock_aws``;
tests/cli/test_auto_cli.py drives the command against a moto server. Faults
are injected per account-region through ``Deps.on_session``: a botocore
``before-call`` handler on that target's session only.

The pure helpers (shards, account lists, regions, outcome order) come first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
import structlog
from botocore.exceptions import ClientError
from moto import mock_aws
from structlog.testing import LogCapture

from remediator import planfile, sandbox
from remediator.aws import door, notify
from remediator.domain.errors import BadInput
from remediator.domain.policy import default_policy
from remediator.run import auto
from remediator.run.journal import read_journal
from remediator.run.verify import make_verifier

NOW = "2026-01-01T00:00:00Z"
HOME = sandbox.ACCOUNT_ID
OTHER = "222222222222"
ACCOUNTS = (HOME, OTHER)
REGIONS = ("eu-west-1", "us-east-1")
ROLE = "arn:aws:iam::{account_id}:role/remediator"


# --------------------------------------------------------------------------
# Pure helpers


def test_shards_split_the_pairs_exactly_once_and_stably() -> None:
    targets = [auto.Target(f"{i:012d}", r) for i in range(40) for r in REGIONS]
    shards = [auto.select_shard(targets, (i, 3)) for i in (1, 2, 3)]
    assert sorted(t for s in shards for t in s) == sorted(targets)
    assert all(shards), "a shard of 80 pairs in 3 is never empty"
    # Adding pairs never moves the existing ones to another shard.
    more = [*targets, auto.Target("999999999999", "ap-south-1")]
    for i in (1, 2, 3):
        assert set(shards[i - 1]) <= set(auto.select_shard(more, (i, 3)))
    assert auto.shard_of("123456789012:us-east-1", 3) == auto.shard_of("123456789012:us-east-1", 3)


@pytest.mark.parametrize(
    ("text", "expected"), [("1/1", (1, 1)), ("2/3", (2, 3)), (" 3 / 3", (3, 3))]
)
def test_shard_option_parses(text: str, expected: tuple[int, int]) -> None:
    assert auto.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "-1/2"])
def test_bad_shard_option_is_refused(text: str) -> None:
    with pytest.raises(BadInput, match="is not I/N"):
        auto.parse_shard(text)


def test_accounts_file_one_per_line_with_comments() -> None:
    text = "# prod\n222222222222  # payments\n\n123456789012\n222222222222\n"
    assert auto.parse_accounts(text) == ["123456789012", "222222222222"]
    with pytest.raises(BadInput, match="line 2: '12345' is not a 12-digit AWS account id"):
        auto.parse_accounts("123456789012\n12345\n", "accounts.txt")


def test_only_active_organization_accounts_are_taken() -> None:
    listed = [
        {"Id": "111111111111", "Status": "ACTIVE"},
        {"Id": "222222222222", "Status": "SUSPENDED"},
        {"Id": "333333333333", "Status": "ACTIVE", "State": "PENDING_CLOSURE"},
        {"Id": "444444444444", "State": "ACTIVE"},
    ]
    assert auto.active_accounts(listed) == ["111111111111", "444444444444"]


def test_all_regions_means_the_enabled_ones() -> None:
    described = [
        {"RegionName": "us-east-1", "OptInStatus": "opt-in-not-required"},
        {"RegionName": "af-south-1", "OptInStatus": "opted-in"},
        {"RegionName": "ap-east-1", "OptInStatus": "not-opted-in"},
        {"RegionName": "eu-west-1"},
    ]
    assert auto.enabled_regions(described) == ["af-south-1", "eu-west-1", "us-east-1"]


@pytest.mark.parametrize(
    ("template", "many", "message"),
    [
        ("arn:aws:iam::{account_id}:role/x", False, "contains {account_id} but no accounts"),
        ("arn:aws:iam::123456789012:role/x", True, "must contain {account_id}"),
        ("role/x", False, "is not an IAM role ARN"),
    ],
)
def test_role_template_must_fit_the_accounts(template: str, many: bool, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        auto.check_role_template(template, many=many)


def test_worst_outcome_wins_in_the_documented_order() -> None:
    assert auto.WORST_FIRST == (
        "rollback-incomplete",
        "rolled-back",
        "error",
        "stale",
        "review",
        "fixed",
        "clean",
    )
    assert [auto.EXIT_CODES[o] for o in auto.WORST_FIRST] == [5, 4, 1, 3, 2, 6, 0]
    assert auto.worst(["clean", "fixed"]) == "fixed"
    assert auto.worst(["fixed", "review", "clean"]) == "review"
    assert auto.worst(["review", "error", "rolled-back"]) == "rolled-back"
    assert auto.worst([]) == "clean"


def test_sns_message_fits_and_keeps_what_needs_a_person() -> None:
    def target(i: int, outcome: str) -> dict[str, Any]:
        return {
            "account_id": f"{i:012d}",
            "region": "us-east-1",
            "outcome": outcome,
            "pad": "x" * 400,
        }

    summary = {
        "outcome": "review",
        "exit_code": 2,
        "targets_total": 2000,
        "changes_applied": 3,
        "changes_left": 9,
        "targets": [target(i, "review" if i % 100 == 0 else "clean") for i in range(2000)],
    }
    message = notify.message_for(summary)
    assert len(message.encode()) <= notify.MAX_MESSAGE_BYTES
    sent = json.loads(message)
    assert sent["targets_truncated"] is True
    assert [t["outcome"] for t in sent["targets"]] == ["review"] * 20
    small = {**summary, "targets": summary["targets"][:3]}
    assert json.loads(notify.message_for(small)) == small
    subject = notify.subject_for({**summary, "outcome": "révision" * 20})
    assert len(subject) <= 100 and subject.isascii()
    with pytest.raises(BadInput, match="is not an SNS topic ARN"):
        notify.topic_region("arn:aws:sqs:us-east-1:123456789012:q")


# --------------------------------------------------------------------------
# The fleet on moto


class _IamOnce:
    """The sandbox creates its IAM role once per account; a second region of
    the same account reuses it."""

    def __init__(self, iam: Any) -> None:
        self._iam = iam

    def create_role(self, **kwargs: Any) -> Any:
        try:
            return self._iam.create_role(**kwargs)
        except self._iam.exceptions.EntityAlreadyExistsException:
            return self._iam.get_role(RoleName=kwargs["RoleName"])


_LOADER = botocore.loaders.create_loader()  # parse the service models once per module
_SESSIONS: dict[str, boto3.session.Session] = {}


def _session(**credentials: str) -> boto3.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, region_name=sandbox.REGION, **credentials)


def session_of(account: str) -> boto3.session.Session:
    """The test's own session into ``account`` (cached for the test)."""
    if account not in _SESSIONS:
        if account == HOME:
            _SESSIONS[account] = _session()
        else:
            creds = (
                session_of(HOME)
                .client("sts")
                .assume_role(RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed")[
                    "Credentials"
                ]
            )
            _SESSIONS[account] = _session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
    return _SESSIONS[account]


def seed_fleet(
    accounts: tuple[str, ...] = ACCOUNTS,
    regions: tuple[str, ...] = REGIONS,
    skip: tuple[tuple[str, str], ...] = (),
) -> dict[tuple[str, str], sandbox.SeedInfo]:
    """The sandbox in each account-region (but ``skip``: those stay empty)."""
    seeded = {}
    for account in accounts:
        session = session_of(account)
        iam = _IamOnce(session.client("iam"))
        for region in regions:
            if (account, region) in skip:
                continue
            clients = {
                "ec2": session.client("ec2", region_name=region),
                "lambda": session.client("lambda", region_name=region),
                "iam": iam,
            }
            seeded[(account, region)] = sandbox.seed(clients, region)
    return seeded


def subnets_of(account: str, region: str, function: str) -> list[str]:
    lam = session_of(account).client("lambda", region_name=region)
    return list(lam.get_function_configuration(FunctionName=function)["VpcConfig"]["SubnetIds"])


@pytest.fixture
def moto() -> Iterator[None]:
    _SESSIONS.clear()
    with mock_aws():
        yield
    _SESSIONS.clear()


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Every log line with the context variables merged in, as the CLI's
    configuration does."""
    capture = LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    yield capture
    structlog.reset_defaults()


Hook = Callable[[Any, auto.Target | None], None]


def options(tmp_path: Path, **kw: Any) -> auto.AutoOptions:
    base: dict[str, Any] = {
        "out_dir": tmp_path / "out",
        "policy": default_policy(),
        "regions": REGIONS,
        "accounts": ACCOUNTS,
        "role_arn": ROLE,
        "lock_dir": tmp_path / "locks",
    }
    base.update(kw)
    return auto.AutoOptions(**base)


def deps(on_session: Hook | None = None) -> auto.Deps:
    return auto.Deps(
        verifier=make_verifier,
        now=lambda: NOW,
        settings=door.Settings(sleep=lambda _: None, poll_interval=0, settle_timeout=5),
        on_session=on_session,
    )


def fail_on(target: tuple[str, str], operation: str, code: str = "InternalFailure") -> Hook:
    """A hook making every ``operation`` of one account-region fail."""

    def raise_it(model: Any = None, **_: Any) -> None:
        if model is not None and model.name == operation:
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)

    def hook(session: Any, t: auto.Target | None) -> None:
        if t is not None and (t.account_id, t.region) == target:
            session.events.register_first("before-call.*.*", raise_it)

    return hook


def test_two_accounts_two_regions_fix_low_risk_and_leave_the_rest_for_review(
    moto: None, tmp_path: Path, logs: LogCapture
) -> None:
    seeded = seed_fleet()
    out = tmp_path / "out"

    summary = auto.run(options(tmp_path), deps())

    assert summary.error is None
    assert summary.exit_code == 2 and summary.outcome == "review"
    data = summary.to_json()
    assert data["targets_total"] == 4
    assert data["counts"]["review"] == 4
    assert data["changes_applied"] == 4
    assert [(t.account_id, t.region) for t in summary.targets] == [
        (a, r) for a in ACCOUNTS for r in REGIONS
    ]
    for t in summary.targets:
        info = seeded[(t.account_id, t.region)]
        # The low-risk change (orders-api drops its public subnet) is applied...
        assert t.eligible == 1 and len(t.applied) == 1, t.to_json()
        assert info.subnets["public-a"] not in subnets_of(t.account_id, t.region, "orders-api")
        # ...the medium one is not, and the rest is a reviewable plan.
        assert info.subnets["public-a"] in subnets_of(t.account_id, t.region, "reports-nightly")
        folder = out / t.account_id / t.region
        for name in (
            "plan.json",
            "plan.md",
            "plan.asff/asff-0001.json",
            "plan.journal.jsonl",
            "apply.txt",
        ):
            assert (folder / name).is_file(), name
        assert t.review == f"{t.account_id}/{t.region}/review.json"
        review = planfile.read_plan(out / t.review)
        assert review.account_id == t.account_id and review.regions == (t.region,)
        assert {c.risk for c in review.changes} == {"medium", "high"}
        assert t.left == len(review.changes) == 4
        assert t.blocked == review.summary.blocked == 1  # legacy-cron needs a person
        assert not (folder / "review.journal.jsonl").exists()  # approvable as it is
        assert (folder / "review.md").read_text().startswith("#")
        asff = json.loads((folder / "plan.asff" / "asff-0001.json").read_text())
        assert {f["AwsAccountId"] for f in asff} == {t.account_id}
        # The plan file is what was applied.
        plan = planfile.read_plan(folder / "plan.json")
        view = read_journal(folder / "plan.journal.jsonl")
        assert view.header["plan_digest"] == plan.digest
        assert view.finished is not None and view.finished["outcome"] == "applied"
        assert "## Unattended run" in (folder / "plan.md").read_text()
    written = json.loads((out / "summary.json").read_text())
    assert written["targets"] == data["targets"] and written["exit_code"] == 2

    # Every line a worker logged carries the run, the account and the region;
    # from planning on, the plan id; each applied change has its line.
    workers = [e for e in logs.entries if "account" in e]
    assert workers and all(e["run_id"] == summary.run_id for e in logs.entries)
    assert all(e["region"] in REGIONS for e in workers)
    applied = [e for e in logs.entries if e["event"] == "change_applied"]
    assert len(applied) == 4
    for entry in applied:
        assert entry["plan_id"] and entry["outcome"] == "ok" and entry["seconds"] >= 0
        target = next(
            t
            for t in summary.targets
            if (t.account_id, t.region) == (entry["account"], entry["region"])
        )
        assert entry["plan_id"] == target.plan_id


def test_a_failing_discovery_leaves_the_other_account_regions_done(
    moto: None, tmp_path: Path
) -> None:
    broken = (OTHER, "eu-west-1")
    seed_fleet(skip=(broken,))  # its discovery fails before reading anything

    summary = auto.run(options(tmp_path), deps(fail_on(broken, "ListFunctions")))

    by_pair = {(t.account_id, t.region): t for t in summary.targets}
    assert len(by_pair) == 4
    failed = by_pair[broken]
    assert failed.outcome == "error" and failed.exit_code == 1
    assert failed.error is not None and "lambda:ListFunctions" in failed.error
    assert failed.plan_id is None
    assert not (tmp_path / "out" / OTHER / "eu-west-1" / "plan.json").exists()
    for pair, t in by_pair.items():
        if pair != broken:
            assert t.outcome == "review" and len(t.applied) == 1, t.to_json()
            assert (tmp_path / "out" / pair[0] / pair[1] / "review.json").is_file()
    assert summary.exit_code == 1  # error outranks review
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [t["outcome"] for t in written["targets"]].count("error") == 1
    assert written["counts"] == {
        "clean": 0,
        "fixed": 0,
        "review": 3,
        "stale": 0,
        "error": 1,
        "rolled-back": 0,
        "rollback-incomplete": 0,
    }


def test_a_failed_change_is_rolled_back_and_outranks_the_rest(moto: None, tmp_path: Path) -> None:
    broken = (HOME, "us-east-1")
    seed_fleet(regions=("us-east-1",), skip=((OTHER, "us-east-1"),))  # the other one is clean

    summary = auto.run(
        options(tmp_path, regions=("us-east-1",)),
        deps(fail_on(broken, "UpdateFunctionConfiguration", "InvalidParameterValueException")),
    )

    by_pair = {(t.account_id, t.region): t for t in summary.targets}
    assert by_pair[broken].outcome == "rolled-back"
    assert by_pair[broken].exit_code == 4
    assert by_pair[broken].applied == [] and by_pair[broken].review is None
    assert by_pair[(OTHER, "us-east-1")].outcome == "clean"
    assert summary.exit_code == 4
    journal = read_journal(tmp_path / "out" / HOME / "us-east-1" / "plan.journal.jsonl")
    assert journal.finished is not None and journal.finished["outcome"] == "rolled-back"


def test_a_stale_target_and_an_incomplete_rollback_map_to_3_and_5(
    moto: None, tmp_path: Path
) -> None:
    """Home: orders-api is edited by hand between plan and apply (stale, 3).
    Other: the second change fails and so does undoing the first (5)."""
    seeded = seed_fleet(regions=("us-east-1",))
    home_private_a = seeded[(HOME, "us-east-1")].subnets["private-a"]
    edited: list[str] = []
    updates: list[str] = []

    def hand_edit(model: Any = None, **_: Any) -> None:
        if model is not None and model.name == "GetFunctionConfiguration" and not edited:
            edited.append(model.name)  # the preflight read of apply: edit just before it
            lam = session_of(HOME).client("lambda", region_name="us-east-1")
            lam.update_function_configuration(
                FunctionName="orders-api",
                VpcConfig={
                    "SubnetIds": [home_private_a],
                    "SecurityGroupIds": [seeded[(HOME, "us-east-1")].security_groups["fn-sg"]],
                },
            )

    def second_update_fails(model: Any = None, **_: Any) -> None:
        if model is not None and model.name == "UpdateFunctionConfiguration":
            updates.append(model.name)
            if len(updates) >= 2:
                raise ClientError(
                    {"Error": {"Code": "InvalidParameterValueException", "Message": "injected"}},
                    model.name,
                )

    def hook(session: Any, t: auto.Target | None) -> None:
        if t is not None and t.account_id == HOME:
            session.events.register_first("before-call.*.*", hand_edit)
        elif t is not None:
            session.events.register_first("before-call.*.*", second_update_fails)

    summary = auto.run(options(tmp_path, regions=("us-east-1",), max_risk="medium"), deps(hook))

    home, other = summary.targets
    assert home.outcome == "stale" and home.exit_code == 3, home.to_json()
    assert home.applied == [] and home.review is None and "plan again" in (home.note or "")
    assert subnets_of(HOME, "us-east-1", "orders-api") == [home_private_a]  # the hand edit stays
    assert other.outcome == "rollback-incomplete" and other.exit_code == 5, other.to_json()
    assert "journal" in (other.note or "")
    assert len(updates) == 3  # the change, the failed one, the failed undo
    view = read_journal(tmp_path / "out" / OTHER / "us-east-1" / "plan.journal.jsonl")
    assert view.finished is not None and view.finished["outcome"] == "rollback-incomplete"
    assert summary.exit_code == 5 and summary.outcome == "rollback-incomplete"


def test_everything_fixed_exits_6_and_the_summary_reaches_sns(moto: None, tmp_path: Path) -> None:
    seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    base = session_of(HOME)
    topic = base.client("sns").create_topic(Name="remediator")["TopicArn"]
    sqs = base.client("sqs")
    queue = sqs.create_queue(QueueName="ops")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    base.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    summary = auto.run(
        options(
            tmp_path,
            regions=("us-east-1",),
            accounts=(),
            role_arn=None,
            functions=("orders-api",),
            max_risk="high",
            notify_sns=topic,
        ),
        deps(),
    )

    (target,) = summary.targets
    assert target.outcome == "fixed", target.to_json()
    assert summary.exit_code == auto.EXIT_FIXED == 6
    assert target.applied and target.left == 0 and target.review is None
    assert not (tmp_path / "out" / HOME / "us-east-1" / "review.json").exists()
    assert summary.notification is not None and summary.notification["error"] is None

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    (envelope,) = [json.loads(m["Body"]) for m in messages]
    assert envelope["Subject"].startswith("remediator fixed: 1 account-region(s)")
    published = json.loads(envelope["Message"])
    assert published["run_id"] == summary.run_id
    assert published["exit_code"] == 6 and published["outcome"] == "fixed"
    assert published["targets"][0]["applied"] == target.applied
    assert envelope["MessageAttributes"]["outcome"]["Value"] == "fixed"


def test_max_changes_is_never_exceeded_and_decided_in_target_order(
    moto: None, tmp_path: Path
) -> None:
    seed_fleet(regions=("us-east-1",))

    summary = auto.run(options(tmp_path, regions=("us-east-1",), max_changes=1), deps())

    first, second = summary.targets
    assert (first.account_id, second.account_id) == ACCOUNTS
    assert len(first.applied) == 1
    assert second.applied == [] and second.eligible == 1
    assert second.note is not None and "--max-changes 1" in second.note
    assert second.outcome == "review" and second.review == f"{OTHER}/us-east-1/review.json"
    assert summary.to_json()["changes_applied"] == 1
    assert "--max-changes 1" in (tmp_path / "out" / OTHER / "us-east-1" / "plan.md").read_text()


def test_dry_run_changes_nothing_and_nothing_to_do_exits_0(moto: None, tmp_path: Path) -> None:
    seeded = seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    info = seeded[(HOME, "us-east-1")]

    dry = auto.run(
        options(tmp_path, regions=("us-east-1",), accounts=(), role_arn=None, dry_run=True),
        deps(),
    )
    (target,) = dry.targets
    assert target.outcome == "review" and target.applied == [] and dry.exit_code == 2
    assert info.subnets["public-a"] in subnets_of(HOME, "us-east-1", "orders-api")
    assert not (tmp_path / "out" / HOME / "us-east-1" / "plan.journal.jsonl").exists()
    assert "would-apply" in (tmp_path / "out" / HOME / "us-east-1" / "apply.txt").read_text()

    clean = auto.run(
        options(
            tmp_path,
            out_dir=tmp_path / "clean",
            regions=("us-east-1",),
            accounts=(),
            role_arn=None,
            functions=("orders-fulfil", "thumbnailer"),
        ),
        deps(),
    )
    assert [t.outcome for t in clean.targets] == ["clean"] and clean.exit_code == 0


def test_a_used_out_dir_is_refused_and_all_regions_come_from_describe_regions(
    moto: None, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.json").write_text("{}")
    summary = auto.run(options(tmp_path, regions=("us-east-1",)), deps())
    assert summary.exit_code == 1 and summary.targets == []
    assert summary.error is not None and "earlier run" in summary.error

    fleet = auto._Fleet(options(tmp_path, regions=("all",)), deps(), "run-x")
    regions = fleet.regions()
    assert {"us-east-1", "eu-west-1"} <= set(regions)
    assert regions == sorted(regions)


def test_an_error_while_verifying_rolls_back_and_the_summary_says_what_was_undone(
    moto: None, tmp_path: Path
) -> None:
    from remediator.domain.errors import AwsAccessError

    seed_fleet(regions=("us-east-1",), skip=((OTHER, "us-east-1"),))
    before = subnets_of(HOME, "us-east-1", "orders-api")

    def verifier(session: Any, endpoint_url: str | None, policy: Any) -> Any:
        def verify(plan: Any, applied: Any) -> list[str]:
            raise AwsAccessError("AccessDenied: lambda:ListFunctions is not allowed.")

        return verify

    d = deps()
    d.verifier = verifier
    summary = auto.run(options(tmp_path, regions=("us-east-1",)), d)

    home = next(t for t in summary.targets if t.account_id == HOME)
    assert home.outcome == "rolled-back" and home.exit_code == 4, home.to_json()
    assert home.journal == f"{HOME}/us-east-1/plan.journal.jsonl"
    assert home.undone and "lambda:ListFunctions" in (home.note or "")
    assert summary.to_json()["targets"][0]["undone"] == home.undone
    assert subnets_of(HOME, "us-east-1", "orders-api") == before
    view = read_journal(tmp_path / "out" / HOME / "us-east-1" / "plan.journal.jsonl")
    assert view.finished is not None and view.finished["outcome"] == "rolled-back"
