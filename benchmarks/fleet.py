"""`remediate auto` over many account-regions, for the fleet targets.

Seeds ``accounts`` accounts (one region each, the first being the runner's
own) with a small estate each (benchmarks/estate.py: 1 VPC, ``functions``
functions), reached through AssumeRole as `auto` reaches member accounts
(moto hands out credentials of the role's account). Then, through the same
latency proxy as the plan figures:

* ``remediate auto --concurrency 1`` over all of them: its summary gives each
  target's own seconds; their sum is what the fleet costs one target at a
  time;
* ``remediate auto --concurrency C`` over all of them: wall time and peak
  RSS of the whole process.

Both runs are ``--dry-run`` (plan, then check each change against the live
state), so the second sees the same world as the first. The target:
wall(C) <= 1.3 x sum(target seconds) / C (C capped at the number of
targets), peak < 500 MB. The wall time includes the process's start-up.
"""

from __future__ import annotations

import json
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from benchmarks import estate

ROLE = "arn:aws:iam::{account_id}:role/remediator-bench"


class _Measures(Protocol):
    def measure(
        self, cmd: list[str], env: dict[str, str], stdout: Path, ok: tuple[int, ...] = ...
    ) -> dict[str, Any]: ...


def account_ids(n: int) -> list[str]:
    """The runner's account first, then ``n - 1`` member accounts."""
    return [estate.ACCOUNT_ID, *(f"{200000000000 + i:012d}" for i in range(1, n))]


def seed(url: str, accounts: list[str], functions: int) -> dict[str, Any]:
    """The estate in each account (through an assumed role for the members)."""
    import boto3

    home = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=estate.REGION
    )
    total = 0
    for account in accounts:
        session = home
        if account != estate.ACCOUNT_ID:
            creds = home.client("sts", endpoint_url=url).assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=estate.REGION,
            )
        network = estate.seed_network(session.client("ec2", endpoint_url=url), 1)
        specs = estate.function_specs(network, functions)
        estate.seed_functions(session.client("iam", endpoint_url=url), specs, account)
        total += len(specs)
    return {"accounts": len(accounts), "functions": total, "functions_per_account": functions}


def _auto(
    spawner: _Measures,
    remediate: list[str],
    env: dict[str, str],
    scratch: Path,
    accounts_file: Path,
    concurrency: int,
    calls: Callable[[], int],
) -> dict[str, Any]:
    out_dir = scratch / f"auto-c{concurrency}"
    cmd = [
        *remediate,
        "auto",
        "--accounts-file",
        str(accounts_file),
        "--role-arn",
        ROLE,
        "--region",
        estate.REGION,
        "--concurrency",
        str(concurrency),
        "--max-changes",
        "10000",
        "--dry-run",
        "--lock-dir",
        str(scratch / "locks"),
        "--out-dir",
        str(out_dir),
        "--log-level",
        "error",
    ]
    stdout = scratch / f"auto-c{concurrency}.out"
    # 0 nothing to do, 2 changes left for review (a dry run applies nothing)
    # this process hosts the moto server and the latency proxy: its CPU time
    # is the server side's, the child's is the client's
    server_before, calls_before = _cpu_self(), calls()
    usage = spawner.measure(cmd, env, stdout, ok=(0, 2))
    server_cpu, api_calls = _cpu_self() - server_before, calls() - calls_before
    summary = json.loads(stdout.read_text().strip().splitlines()[-1])
    return {
        "seconds": usage["seconds"],
        "peak_mb": usage["peak_mb"],
        "client_cpu_seconds": usage.get("cpu_seconds"),
        "server_cpu_seconds": round(server_cpu, 3),
        "api_calls": api_calls,
        "targets": len(summary["targets"]),
        "target_seconds": [t["seconds"] for t in summary["targets"]],
        "outcome": summary["outcome"],
    }


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(
    spawner: _Measures,
    remediate: list[str],
    env: dict[str, str],
    scratch: Path,
    accounts: list[str],
    concurrency: int,
    calls: Callable[[], int] = lambda: 0,
) -> dict[str, Any]:
    accounts_file = scratch / "accounts.txt"
    accounts_file.write_text("\n".join(accounts) + "\n")
    one = _auto(spawner, remediate, env, scratch, accounts_file, 1, calls)
    many = _auto(spawner, remediate, env, scratch, accounts_file, concurrency, calls)
    serial = sum(one["target_seconds"])
    ideal = serial / min(concurrency, max(many["targets"], 1))
    return {
        "targets": many["targets"],
        "concurrency": concurrency,
        "serial_wall_seconds": one["seconds"],
        "sum_target_seconds": round(serial, 3),
        "wall_seconds": many["seconds"],
        "ideal_seconds": round(ideal, 3),
        "ratio_to_ideal": round(many["seconds"] / ideal, 3) if ideal else None,
        "peak_mb": many["peak_mb"],
        "outcome": many["outcome"],
        # where the time goes: CPU of remediate (client) and of the moto
        # server + proxy (server), API calls through the proxy, per run
        "serial": {k: one[k] for k in ("client_cpu_seconds", "server_cpu_seconds", "api_calls")},
        "concurrent": {
            k: many[k] for k in ("client_cpu_seconds", "server_cpu_seconds", "api_calls")
        },
    }
