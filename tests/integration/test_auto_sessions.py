"""Each target of `remediate auto` reads through its own clients, on its own
account's credentials: the role of each account is assumed once, whatever
its number of regions; no client is shared between targets; and a target's
clients are closed once the target is done (dry run and real run alike).

Driven as tests/integration/test_auto.py drives the engine: ``auto.run``
on in-process ``mock_aws``, two accounts x two regions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from remediator.aws import session as sessions
from remediator.run import auto
from tests.integration import test_auto as fleet_test


@pytest.fixture
def world() -> Iterator[None]:
    fleet_test._SESSIONS.clear()
    with mock_aws():
        fleet_test.seed_fleet()
        yield
    fleet_test._SESSIONS.clear()


@pytest.mark.parametrize("dry_run", [True, False])
def test_each_target_has_its_own_clients_on_its_accounts_credentials_closed_when_done(
    world: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    caches: dict[auto.Target, sessions.ClientCache] = {}
    made: dict[int, list[Any]] = {}
    closed: Counter[int] = Counter()
    assumed: list[str] = []

    real_session_for = auto._Fleet.session_for
    real_client = sessions.ClientCache.client
    real_close = sessions.ClientCache.close

    def session_for(self: auto._Fleet, target: auto.Target) -> sessions.ClientCache:
        cache = real_session_for(self, target)
        assert target not in caches, "one cache per target"
        caches[target] = cache
        return cache

    def client(self: sessions.ClientCache, service: str, **kwargs: Any) -> Any:
        out = real_client(self, service, **kwargs)
        made.setdefault(id(self), []).append(out)
        return out

    def close(self: sessions.ClientCache) -> None:
        closed[id(self)] += 1
        real_close(self)

    def count_assume(params: Any = None, **_: Any) -> None:
        assumed.append(params["RoleArn"])

    def hook(session: Any, target: auto.Target | None) -> None:
        if target is None:  # the runner's own session: where roles are assumed
            session.events.register("provide-client-params.sts.AssumeRole", count_assume)

    monkeypatch.setattr(auto._Fleet, "session_for", session_for)
    monkeypatch.setattr(sessions.ClientCache, "client", client)
    monkeypatch.setattr(sessions.ClientCache, "close", close)

    summary = auto.run(fleet_test.options(tmp_path, dry_run=dry_run), fleet_test.deps(hook))

    assert [t.error for t in summary.targets] == [None] * 4
    assert len(caches) == 4
    # the role of each account assumed once, for both of its regions
    assert sorted(assumed) == sorted(
        fleet_test.ROLE.format(account_id=a) for a in fleet_test.ACCOUNTS
    )
    # no client object serves two targets
    owners: dict[int, auto.Target] = {}
    for target, cache in caches.items():
        for c in made[id(cache)]:
            assert owners.setdefault(id(c), target) == target
    for target, cache in caches.items():
        # every target's clients closed once, and forgotten
        assert closed[id(cache)] == 1, target
        assert cache._clients == {}
        # what the target's session reaches is the target's own account
        sts = cache.client("sts", region_name=target.region)
        assert sts.get_caller_identity()["Account"] == target.account_id
