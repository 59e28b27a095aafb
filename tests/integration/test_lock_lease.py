"""The DynamoDB lock is a lease (moto 5.2): ``expires_at`` renewed by a
heartbeat, an expired lease taken over with a conditional put, release and
renewal conditional on the run id, and a run that lost its lease stopping
before its next write."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator.aws import door
from remediator.aws.lock_table import EXPIRES_AT
from remediator.domain.lock import LockLost
from remediator.domain.outcomes import EXIT_CODES
from remediator.run.lock import DynamoLock, LockHeld, held, lock_for, lock_key, owner_info

REGION = "us-east-1"
TABLE = "remediator-locks"
KEY = lock_key("123456789012", [REGION])
T0 = 1_800_000_000.0
WRITES = (
    "UpdateFunctionConfiguration",
    "CreateRoute",
    "ReplaceRoute",
    "CreateVpcEndpoint",
    "ModifyVpcEndpoint",
    "CreateNatGateway",
    "AllocateAddress",
    "AuthorizeSecurityGroupEgress",
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES_AT},
        )
        yield dynamodb


def _item(client: Any) -> dict[str, Any]:
    item = client.get_item(TableName=TABLE, Key={"LockID": {"S": KEY}}, ConsistentRead=True)
    return {k: v.get("S", v.get("N")) for k, v in item.get("Item", {}).items()}


def _lock(client: Any, clock: Clock, lease: float = 300) -> DynamoLock:
    return DynamoLock(client, TABLE, lease_seconds=lease, clock=clock, heartbeat=False)


def test_the_item_carries_its_lease_as_a_ttl_number(client: Any) -> None:
    clock = Clock()
    _lock(client, clock).acquire(KEY, owner_info("run-a", "then"))
    raw = client.get_item(TableName=TABLE, Key={"LockID": {"S": KEY}})["Item"]
    assert raw[EXPIRES_AT] == {"N": str(int(T0 + 300))}
    assert raw["lease_seconds"] == {"N": "300"}
    assert raw["run_id"] == {"S": "run-a"}


@pytest.mark.parametrize(
    ("later", "taken"),
    [(0, False), (299, False), (300, False), (301, True), (10_000, True)],
)
def test_a_lease_is_taken_over_only_once_it_expired(client: Any, later: float, taken: bool) -> None:
    clock = Clock()
    first, second = _lock(client, clock), _lock(client, clock)
    first.acquire(KEY, owner_info("run-a", "then"))
    clock.now = T0 + later
    if taken:
        second.acquire(KEY, owner_info("run-b", "now"))
        assert _item(client)["run_id"] == "run-b"
        assert _item(client)[EXPIRES_AT] == str(int(T0 + later + 300))
        # the old holder: its renewal and release cannot touch the new lease
        assert first.renew(KEY) is False
        with pytest.raises(LockLost, match="took its lease over"):
            first.check(KEY)
        first.release(KEY, owner_info("run-a", "then"))
        assert _item(client)["run_id"] == "run-b"
    else:
        with pytest.raises(LockHeld, match=r"run-a.*lease until") as caught:
            second.acquire(KEY, owner_info("run-b", "now"))
        assert "--force" in str(caught.value)
        assert _item(client)["run_id"] == "run-a"


def test_renewal_extends_the_lease_and_keeps_others_out(client: Any) -> None:
    clock = Clock()
    mine, other = _lock(client, clock), _lock(client, clock)
    mine.acquire(KEY, owner_info("run-a", "then"))
    for step in range(1, 6):
        clock.now = T0 + step * 200  # past the first lease, renewed every 200 s
        assert mine.renew(KEY) is True
        assert _item(client)[EXPIRES_AT] == str(int(clock.now + 300))
        mine.check(KEY)
        with pytest.raises(LockHeld):
            other.acquire(KEY, owner_info("run-b", "now"))


def test_a_lease_not_renewed_in_time_counts_as_lost_before_it_ends(client: Any) -> None:
    clock = Clock()
    lock = _lock(client, clock)
    lock.acquire(KEY, owner_info("run-a", "then"))
    clock.now = T0 + 239
    lock.check(KEY)
    clock.now = T0 + 240  # its last fifth: no write is sent in it
    with pytest.raises(LockLost, match="not renewed in time"):
        lock.check(KEY)


def test_the_heartbeat_thread_renews_while_the_run_lives(client: Any) -> None:
    # real time: a 2 s lease renewed every 0.4 s counts as lost only after
    # 1.6 s without a renewal, a margin a loaded CI machine keeps
    lock = DynamoLock(client, TABLE, lease_seconds=2.0, clock=time.time)
    info = owner_info("run-a", "then")
    # lease threads of this key that other tests of this process left running
    # (the process runs other files first under pytest-xdist): not this lock's
    others = {t for t in threading.enumerate() if t.name == f"lease {KEY}"}
    lock.acquire(KEY, info)
    first = int(_item(client)[EXPIRES_AT])
    time.sleep(5.0)  # two and a half leases
    lock.check(KEY)  # never lost: renewed all along
    assert int(_item(client)[EXPIRES_AT]) >= first + 3
    lock.release(KEY, info)
    assert _item(client) == {}
    assert not [t for t in threading.enumerate() if t.name == f"lease {KEY}" and t not in others]


def test_two_contenders_one_wins(client: Any) -> None:
    clock = Clock()
    start = threading.Barrier(6)
    won: list[str] = []
    refused: list[str] = []

    def contend(n: int) -> None:
        lock = _lock(client, clock)
        start.wait()
        try:
            lock.acquire(KEY, owner_info(f"run-{n}", "now"))
        except LockHeld:
            refused.append(f"run-{n}")
        else:
            won.append(f"run-{n}")

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 5
    assert _item(client)["run_id"] == won[0]


def test_unlock_refuses_a_live_lease_and_breaks_an_expired_one(client: Any) -> None:
    clock = Clock()
    lock = _lock(client, clock)
    lock.acquire(KEY, owner_info("run-a", "then"))
    with pytest.raises(LockHeld, match="lease is live until"):
        lock.break_lock(KEY)
    clock.now = T0 + 301
    assert lock.break_lock(KEY) is True
    assert lock.break_lock(KEY) is False
    lock.acquire(KEY, owner_info("run-b", "now"))
    assert lock.break_lock(KEY, force=True) is True


def test_a_lock_from_before_leases_never_expires(client: Any) -> None:
    client.put_item(
        TableName=TABLE,
        Item={"LockID": {"S": KEY}, "run_id": {"S": "run-old"}, "owner": {"S": "x"}},
    )
    clock = Clock()
    clock.now = T0 + 10**6
    with pytest.raises(LockHeld, match=r"run-old.*no lease"):
        _lock(client, clock).acquire(KEY, owner_info("run-b", "now"))
    assert _lock(client, clock).break_lock(KEY) is True  # no lease: nothing says it lives


def test_a_run_that_lost_its_lease_stops_before_its_next_write(client: Any) -> None:
    clock = Clock()
    sent: list[str] = []

    def factory(service: str, region: str) -> Any:
        made = boto3.client(service, region_name=region)
        made.meta.events.register("before-call", lambda model, **_: sent.append(model.name))
        return made

    vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")
    vpc_id = vpc["Vpc"]["VpcId"]
    aws = door.Aws(factory)
    lock = lock_for(TABLE, Path("."), door.Aws(factory), REGION, clock=clock)
    assert isinstance(lock, DynamoLock)
    lock.heartbeat = False
    info = owner_info("run-a", "then")
    with held(lock, KEY, info, aws):
        aws.call(
            "ec2", REGION, "create_tags", Resources=[vpc_id], Tags=[{"Key": "a", "Value": "b"}]
        )
        clock.now = T0 + 301
        _lock(client, clock).acquire(KEY, owner_info("run-b", "now"))  # taken over
        assert lock.renew(KEY) is False
        sent.clear()
        with pytest.raises(LockLost, match="lost the lock"):
            aws.call(
                "ec2", REGION, "create_tags", Resources=[vpc_id], Tags=[{"Key": "c", "Value": "d"}]
            )
        assert sent == []  # refused before anything went out
        aws.call("ec2", REGION, "describe_vpcs")  # reads go on
    assert _item(client)["run_id"] == "run-b"  # its release left the new holder's lease


def test_an_apply_whose_lease_is_taken_over_stops_before_its_next_change(
    client: Any, tmp_path: Path
) -> None:
    """End to end on the sandbox: the lease is taken over after the first
    change's write; the run sends no further write (not even an undo), says
    so, and its journal records what is in effect for a later rollback."""
    import botocore.session

    from remediator import sandbox
    from remediator.domain.policy import parse_policy
    from remediator.run.apply import ApplyOptions, run_apply
    from remediator.run.journal import read_journal
    from tests.integration.test_apply_flow import ALLOW_ALL, World

    session = boto3.Session(botocore_session=botocore.session.get_session(), region_name=REGION)
    world = World(session=session, tmp=tmp_path)
    world.info = sandbox.seed(session, REGION)
    plan, path = world.plan(parse_policy(ALLOW_ALL))
    assert len(plan.changes) >= 2
    clock = Clock()
    lock = _lock(client, clock)
    writes: list[str] = []

    def first_write_done(parsed: dict[str, Any]) -> None:
        writes.append("x")
        if len(writes) == 1:  # the run stalls; its lease expires and another run takes it
            clock.now = T0 + 1000
            _lock(client, clock).acquire(
                lock_key(plan.account_id, plan.regions), owner_info("run-other", "now")
            )

    for operation in WRITES:
        world.hooks.after.append((operation, first_write_done))
    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", lock=lock))
    text = "\n".join(outcome.lines)
    assert "lost the lock" in text, text
    assert len(writes) == 1, world.hooks.mutating()  # nothing written once the lease was lost
    view = read_journal(path.parent / "p.journal.jsonl")
    states = [view.records[c.id].state for c in plan.changes if c.id in view.records]
    assert states == ["undo-failed", "failed"], text  # the first is in effect, for rollback
    assert outcome.exit_code == EXIT_CODES["rollback-incomplete"], text
    assert _item(client)["run_id"] == "run-other"
