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
state), so the second sees the same world as the first.

With ``servers`` > 1 (``--auto-servers``), the accounts are spread over that
many moto servers, each in a process of its own, and the proxy keeps each
account on its server (``latency_proxy``: by the AssumeRole that reached
it). One moto process serves one request at a time under its interpreter
lock, so at concurrency 8 its answers slow down for every account at once
(10.6 ms a call alone, 27 ms with 8 streams): that measures moto, not the
runner. AWS serves each account from the same endpoint without that, and so
does a server per group of accounts. The target:
wall(C) <= 1.3 x sum(target seconds) / C (C capped at the number of
targets), peak < 500 MB. The wall time includes the process's start-up.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
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
    server_cpu: Callable[[], float] = lambda: 0.0,
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
    server_before, calls_before = _cpu_self() + server_cpu(), calls()
    usage = spawner.measure(cmd, env, stdout, ok=(0, 2))
    spent = _cpu_self() + server_cpu() - server_before
    api_calls = calls() - calls_before
    summary = json.loads(stdout.read_text().strip().splitlines()[-1])
    return {
        "seconds": usage["seconds"],
        "peak_mb": usage["peak_mb"],
        "client_cpu_seconds": usage.get("cpu_seconds"),
        "server_cpu_seconds": round(spent, 3),
        "api_calls": api_calls,
        "targets": len(summary["targets"]),
        "target_seconds": [t["seconds"] for t in summary["targets"]],
        "outcome": summary["outcome"],
    }


# a moto server in a process of its own; it seeds its accounts itself (the
# estate's functions are created through the in-process backend)
_SERVER = (
    "import json, sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from remediator import log, sandbox\n"
    "log.configure('warning')\n"
    "server, url = sandbox.run_server(0)\n"
    "print(url, flush=True)\n"
    "for line in sys.stdin:\n"
    "    job = json.loads(line)\n"
    "    from benchmarks import fleet\n"
    "    print(json.dumps(fleet.seed(url, job['accounts'], job['functions'])), flush=True)\n"
    "server.stop()\n"
)


class Servers:
    """``n`` moto servers, a process each (stopped by ``close``)."""

    def __init__(self, n: int) -> None:
        self._procs = [
            subprocess.Popen(
                [sys.executable, "-c", _SERVER, str(Path(__file__).resolve().parents[1])],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(n)
        ]
        self.urls = [str(p.stdout.readline()).strip() for p in self._procs if p.stdout]
        if len(self.urls) != n or not all(u.startswith("http") for u in self.urls):
            self.close()
            raise RuntimeError(f"moto servers did not start: {self.urls}")

    def seed(self, i: int, accounts: list[str], functions: int) -> dict[str, Any]:
        """``seed`` run by server ``i`` on itself."""
        proc = self._procs[i]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"accounts": accounts, "functions": functions}) + "\n")
        proc.stdin.flush()
        return dict(json.loads(proc.stdout.readline()))

    def cpu_seconds(self) -> float:
        """CPU time of the server processes so far (Linux: /proc)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for proc in self._procs:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def close(self) -> None:
        for proc in self._procs:
            if proc.stdin:
                proc.stdin.close()
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def server_of(accounts: list[str], servers: int) -> Callable[[str], int]:
    """Account -> server index: in turn, the runner's account on the first."""
    index = {account: i % servers for i, account in enumerate(accounts)}
    return lambda account: index.get(account, 0)


def seed_spread(servers: Servers, accounts: list[str], functions: int) -> dict[str, Any]:
    """``seed`` of each account on its server."""
    where = server_of(accounts, len(servers.urls))
    total = 0
    for i in range(len(servers.urls)):
        mine = [a for a in accounts if where(a) == i]
        if mine:
            total += servers.seed(i, mine, functions)["functions"]
    return {
        "accounts": len(accounts),
        "functions": total,
        "functions_per_account": functions,
        "servers": len(servers.urls),
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
    server_cpu: Callable[[], float] = lambda: 0.0,
    servers: int = 1,
) -> dict[str, Any]:
    accounts_file = scratch / "accounts.txt"
    accounts_file.write_text("\n".join(accounts) + "\n")
    one = _auto(spawner, remediate, env, scratch, accounts_file, 1, calls, server_cpu)
    many = _auto(spawner, remediate, env, scratch, accounts_file, concurrency, calls, server_cpu)
    serial = sum(one["target_seconds"])
    ideal = serial / min(concurrency, max(many["targets"], 1))
    return {
        "targets": many["targets"],
        "concurrency": concurrency,
        "servers": servers,
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
