"""The remediator benchmark: how close `remediate plan` is to the floor.

    .venv/bin/python benchmarks/run.py                      # 1,000, 5,000, 10,000 functions
    .venv/bin/python benchmarks/run.py --sizes 50 --out /tmp/smoke.json

For each size it resets a local moto server (started in this process with
``remediator.sandbox.run_server``), seeds a synthetic estate (benchmarks/
estate.py: 10 VPCs, 220 subnets, 90 route tables, 40 NAT gateways, a Lambda
endpoint, and N functions in a realistic mix with versions and aliases),
then measures, for each policy variant:

* ``remediate plan`` as a subprocess (the console script, default text
  report to a file): wall time and peak RSS of the whole process;
* the floor, ``benchmarks/floor.py``: a bare boto3 script making only the
  calls a diagnosis needs, run the same way right after; plan/floor ratio;
* the API calls by operation, from the plan file's ``metadata.api_calls``
  (and the floor's own count, which must be the same);
* the pure core, ``benchmarks/core.py``: diagnose + build_plan on the same
  inventory in memory, best of 3, in a fresh process.

Every client (remediate, the floor, Cloud Custodian) reaches the server
through ``benchmarks/latency_proxy.py``, which adds ``--latency-ms`` (default
30) to every call, as a real endpoint costs; a bare moto server would make
per-call costs look free. ``--latency-ms 0`` measures the bare server.
With ``--custodian PATH`` (benchmarks/custodian.py), Cloud Custodian's
Lambda ``subnet`` detection runs on the same estate right after, and the
plan/Custodian ratio is reported.

With ``--auto-targets N`` (benchmarks/fleet.py), `remediate auto` runs over
N accounts (one region each, members through AssumeRole) once one target at
a time and once with ``--auto-concurrency`` targets at a time.

Once per run: CLI start-up (``remediate --help``, best of 5) and apply
throughput (benchmarks/apply_stub.py). It prints a table and writes the
figures as JSON (``--out``, default benchmarks/results.json).

Variants: ``default`` is ``remediate plan`` with the built-in policy, whose
exempt-tag rule makes discovery read tags from the Tagging API (GetResources,
100 functions a page: the floor reads them too); ``listtags`` is the same
rule with ``tags_from = "lambda"`` (one ListTags per VPC function,
benchmarks/policy-listtags.toml); ``no-tags`` uses
benchmarks/policy-no-tags.toml, which has no tag rule, so the floor is
ListFunctions, ListAliases and the EC2 describes; ``no-tags-json`` is the same
with ``--format json`` (the report a pipeline reads instead of the text
tables).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import apply_stub, custodian, estate, fleet, versions  # noqa: E402
from benchmarks.latency_proxy import LatencyProxy  # noqa: E402

REGION = estate.REGION
NO_TAGS = HERE / "policy-no-tags.toml"
LISTTAGS = HERE / "policy-listtags.toml"
# variant -> (policy file or None for the built-in policy, report format)
VARIANTS: dict[str, tuple[Path | None, str]] = {
    "default": (None, "text"),
    "listtags": (LISTTAGS, "text"),
    "no-tags": (NO_TAGS, "text"),
    "no-tags-json": (NO_TAGS, "json"),
}
# the floor makes the tag reads the variant's policy makes
FLOOR_FLAGS: dict[str, list[str]] = {
    "default": ["--tagging-api", "--tag-key", "remediator:exempt"],
    "listtags": ["--tags"],
}
TARGETS = {
    "plan_floor_ratio": 1.2,
    "plan_custodian_ratio": 0.6,
    "core_seconds_at_10000": 1.0,
    "peak_mb_at_10000": 250.0,
    "help_seconds": 0.4,
    "auto_ratio_to_ideal": 1.3,
    "auto_peak_mb": 500.0,
    "apply_rps_min": 13.5,
}


# --------------------------------------------------------------------------- processes


def _remediate() -> list[str]:
    script = Path(sys.executable).with_name("remediate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "remediator"]


_SPAWNER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    with open(job["stdout"], "wb") as out, open(job["stderr"], "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(job["cmd"], env=job["env"], stdout=out, stderr=err, cwd=job["cwd"])
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    print(json.dumps({"seconds": seconds, "maxrss_kb": usage.ru_maxrss, "rc": proc.returncode,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime}), flush=True)
"""


class Spawner:
    """Runs the measured commands from a small helper process.

    A child's peak RSS (``ru_maxrss`` from ``wait4``) includes what it held
    between ``fork`` and ``exec``: a copy of its parent. Forked from this
    process, which hosts the moto server and its N functions, every child
    would "peak" at this process's size. The helper is a bare interpreter
    started first, so its children start small and their peak is their own.
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SPAWNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def measure(
        self, cmd: list[str], env: dict[str, str], stdout: Path, ok: tuple[int, ...] = (0,)
    ) -> dict[str, Any]:
        """Run ``cmd``; its wall time and peak RSS (MB). An exit code not in
        ``ok`` is an error."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        job = {
            "cmd": cmd,
            "env": env,
            "stdout": str(stdout),
            "stderr": str(stdout.with_suffix(".stderr")),
            "cwd": str(ROOT),
        }
        self._proc.stdin.write(json.dumps(job) + "\n")
        self._proc.stdin.flush()
        done = json.loads(self._proc.stdout.readline())
        if done["rc"] not in ok:
            tail = stdout.with_suffix(".stderr").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(cmd)} exited {done['rc']}:\n{tail}")
        return {
            "seconds": round(done["seconds"], 3),
            "peak_mb": round(done["maxrss_kb"] / 1024, 1),
            "cpu_seconds": round(done["cpu_seconds"], 3),
        }

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


def _env(url: str, scratch: Path) -> dict[str, str]:
    from remediator.sandbox import sandbox_env

    empty = scratch / "aws-empty"
    empty.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(sandbox_env(url, REGION))
    env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty))
    env.pop("REMEDIATOR_DEBUG", None)
    return env


def _reset(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


# --------------------------------------------------------------------------- measures


def startup(spawner: Spawner, repeat: int, env: dict[str, str], scratch: Path) -> dict[str, Any]:
    times = [
        spawner.measure([*_remediate(), "--help"], env, scratch / "help.out")["seconds"]
        for _ in range(repeat)
    ]
    return {"best_seconds": min(times), "median_seconds": statistics.median(times), "runs": times}


def seed(url: str, size: int, vpcs: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import boto3

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    start = time.perf_counter()
    network = estate.seed_network(session.client("ec2", endpoint_url=url), vpcs)
    network_seconds = time.perf_counter() - start
    specs = estate.function_specs(network, size)
    start = time.perf_counter()
    versions = estate.seed_functions(session.client("iam", endpoint_url=url), specs)
    info = {
        "functions": size,
        "published_versions": versions,
        "vpcs": len(network.vpcs),
        "subnets": network.subnets,
        "route_tables": network.route_tables,
        "nat_gateways": network.nat_gateways,
        "lambda_endpoints": network.endpoints,
        "mix": dict(sorted(Counter(s["kind"] for s in specs).items())),
        "seed_network_seconds": round(network_seconds, 2),
        "seed_functions_seconds": round(time.perf_counter() - start, 2),
    }
    return info, specs


def core_inventory(url: str, specs: list[dict[str, Any]], path: Path) -> None:
    """The inventory ``remediate plan`` reads, built in memory for the pure core.

    Discovery runs in this process without ListTags (one call per function
    through the local server would double the run time); the tags it would
    read are those the estate seeded, filled in the same way discovery does
    (VPC functions only). The pure core's plan id must equal the CLI plan's:
    that checks the two inventories are the same.
    """
    import boto3

    from remediator.aws import discover

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    inventory = discover.discover(session, [REGION], endpoint_url=url, need_tags=False)
    tags = {s["name"]: s["tags"] for s in specs}
    regions = []
    for region in inventory.regions:
        functions = tuple(
            fn.model_copy(
                update={
                    "tags": dict(sorted(tags[fn.name].items()))
                    if fn.vpc_config is not None
                    or any(v.vpc_config is not None for v in fn.versions)
                    else {}
                }
            )
            for fn in region.functions
        )
        regions.append(region.model_copy(update={"functions": functions}))
    inventory = inventory.model_copy(update={"regions": tuple(regions)})
    path.write_bytes(pickle.dumps(inventory, protocol=pickle.HIGHEST_PROTOCOL))


def plan_and_floor(
    spawner: Spawner,
    variant: str,
    env: dict[str, str],
    scratch: Path,
    size: int,
    repeat: int,
    throttled: Any = lambda: 0,
) -> dict[str, Any]:
    policy, fmt = VARIANTS[variant]
    plan_file = scratch / f"plan-{size}-{variant}.json"
    plan_cmd = [*_remediate(), "plan", "--region", REGION, "--out", str(plan_file)]
    if policy is not None:
        plan_cmd += ["--policy", str(policy)]
    if fmt != "text":
        plan_cmd += ["--format", fmt]
    floor_cmd = [sys.executable, str(HERE / "floor.py"), "--region", REGION]
    floor_cmd += FLOOR_FLAGS.get(variant, [])
    plans, floors = [], []
    refused = {"plan": 0, "floor": 0}  # requests the proxy throttled, last run of each
    for _ in range(repeat):
        before = throttled()
        plans.append(spawner.measure(plan_cmd, env, scratch / f"plan-{size}-{variant}.out"))
        refused["plan"], before = throttled() - before, throttled()
        floors.append(spawner.measure(floor_cmd, env, scratch / f"floor-{size}-{variant}.out"))
        refused["floor"] = throttled() - before
    plan_doc = json.loads(plan_file.read_text())
    floor_doc = json.loads((scratch / f"floor-{size}-{variant}.out").read_text())
    api_calls = plan_doc["metadata"]["api_calls"]
    plan_s = min(p["seconds"] for p in plans)
    floor_s = min(f["seconds"] for f in floors)
    return {
        "plan_seconds": plan_s,
        "plan_peak_mb": max(p["peak_mb"] for p in plans),
        "floor_seconds": floor_s,
        "floor_peak_mb": max(f["peak_mb"] for f in floors),
        "ratio": round(plan_s / floor_s, 3),
        "plan_runs": [p["seconds"] for p in plans],
        "floor_runs": [f["seconds"] for f in floors],
        "api_calls": api_calls,
        "ec2_calls": sum(v for k, v in api_calls.items() if k.startswith("ec2:")),
        "lambda_calls": sum(v for k, v in api_calls.items() if k.startswith("lambda:")),
        "total_calls": sum(api_calls.values()),
        "floor_api_calls": floor_doc["api_calls"],
        "floor_calls_match": floor_doc["api_calls"] == api_calls,
        "throttled": refused,
        "plan_id": plan_doc["plan_id"],
        "summary": plan_doc["summary"],
        "plan_file_bytes": plan_file.stat().st_size,
        "report_bytes": (scratch / f"plan-{size}-{variant}.out").stat().st_size,
    }


def core(spawner: Spawner, inventory: Path, variant: str, scratch: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "core.py"), str(inventory)]
    policy, _ = VARIANTS[variant]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    out = scratch / f"core-{variant}.out"
    usage = spawner.measure(cmd, os.environ.copy(), out)
    result: dict[str, Any] = json.loads(out.read_text())
    result["process_peak_mb"] = usage["peak_mb"]
    return result


def apply_figures(sizes: list[int], real: int, contended: int) -> list[dict[str, Any]]:
    rows = [apply_stub.run(n) for n in sizes]
    if contended:
        rows.append(apply_stub.run(contended, neighbour_rate=3.0))
    if real:
        rows.append(apply_stub.run(real, clock="real"))
    return rows


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    import boto3
    import moto
    import pydantic

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    mem_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gb = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "moto": moto.__version__,
        "pydantic": pydantic.VERSION,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def evaluate(doc: dict[str, Any]) -> dict[str, Any]:
    """Each target: the figure, the limit and whether it is met (None: not measured)."""
    rows = {(r["size"], r["variant"]): r for r in doc["results"]}
    out: dict[str, Any] = {}
    for variant in doc["variants"]:
        ec2 = {r["size"]: r["ec2_calls"] for r in doc["results"] if r["variant"] == variant}
        out[f"ec2_calls_constant[{variant}]"] = {
            "figure": ec2,
            "met": len(set(ec2.values())) == 1 if len(ec2) > 1 else None,
        }
        for size in (2000, 5000):
            r = rows.get((size, variant))
            out[f"plan_floor_ratio_at_{size}[{variant}]"] = {
                "figure": r["ratio"] if r else None,
                "limit": TARGETS["plan_floor_ratio"],
                "met": r["ratio"] <= TARGETS["plan_floor_ratio"] if r else None,
            }
            c = (r or {}).get("custodian")
            ratio = round(r["plan_seconds"] / c["seconds"], 3) if r and c else None
            out[f"plan_custodian_ratio_at_{size}[{variant}]"] = {
                "figure": ratio,
                "limit": TARGETS["plan_custodian_ratio"],
                "met": ratio <= TARGETS["plan_custodian_ratio"] if ratio is not None else None,
            }
            # whether that ratio can be met at all: the Lambda calls the plan
            # needs, at the quota the proxy keeps, against the time allowed
            if r and c and doc.get("lambda_rate"):
                bound = round(r["lambda_calls"] / doc["lambda_rate"], 2)
                allowed = round(TARGETS["plan_custodian_ratio"] * c["seconds"], 2)
                out[f"plan_custodian_ratio_reachable_at_{size}[{variant}]"] = {
                    "figure": bound,
                    "limit": allowed,
                    "met": bound <= allowed,
                }
        r = rows.get((10000, variant))
        # "on one core": the CPU time of the single-threaded core process (its
        # wall time, also recorded, includes waiting for a busy machine's CPU)
        out[f"core_cpu_seconds_at_10000[{variant}]"] = {
            "figure": r["core"]["plan_cpu_seconds"] if r else None,
            "limit": TARGETS["core_seconds_at_10000"],
            "met": r["core"]["plan_cpu_seconds"] < TARGETS["core_seconds_at_10000"] if r else None,
        }
        out[f"peak_mb_at_10000[{variant}]"] = {
            "figure": r["plan_peak_mb"] if r else None,
            "limit": TARGETS["peak_mb_at_10000"],
            "met": r["plan_peak_mb"] < TARGETS["peak_mb_at_10000"] if r else None,
        }
    a = doc.get("auto")
    out["auto_ratio_to_ideal"] = {
        "figure": a["ratio_to_ideal"] if a else None,
        "limit": TARGETS["auto_ratio_to_ideal"],
        "met": a["ratio_to_ideal"] <= TARGETS["auto_ratio_to_ideal"] if a else None,
    }
    out["auto_peak_mb"] = {
        "figure": a["peak_mb"] if a else None,
        "limit": TARGETS["auto_peak_mb"],
        "met": a["peak_mb"] < TARGETS["auto_peak_mb"] if a else None,
    }
    out["help_seconds"] = {
        "figure": doc["startup"]["best_seconds"],
        "limit": TARGETS["help_seconds"],
        "met": doc["startup"]["best_seconds"] < TARGETS["help_seconds"],
    }
    headline = [a for a in doc["apply"] if a["clock"] == "simulated" and not a["neighbour_rate"]]
    out["apply_rps"] = {
        "figure": [a["requests_per_second"] for a in headline],
        "limit": TARGETS["apply_rps_min"],
        "met": all(
            a["requests_per_second"] >= TARGETS["apply_rps_min"] and a["failures"] == 0
            for a in headline
        )
        if headline
        else None,
    }
    real = [a for a in doc["apply"] if a["clock"] == "real" and not a["neighbour_rate"]]
    out["apply_rps_real_clock"] = {
        "figure": [a["requests_per_second"] for a in real],
        "limit": TARGETS["apply_rps_min"],
        "met": all(a["requests_per_second"] >= TARGETS["apply_rps_min"] for a in real)
        if real
        else None,
    }
    out["apply_no_failures"] = {
        "figure": [a["failures"] for a in doc["apply"]],
        "met": all(a["failures"] == 0 for a in doc["apply"]) if doc["apply"] else None,
    }
    return out


def table(doc: dict[str, Any]) -> str:
    latency = doc.get("latency_ms")
    lines = [
        f"Per-call latency added in front of moto: {latency} ms"
        + (
            f"; Lambda's control-plane quota kept at {doc['lambda_rate']:g} requests/s per account"
            if doc.get("lambda_rate")
            else "; no Lambda quota"
        )
        if latency is not None
        else "Per-call latency: none (bare moto server)",
        "",
        "| functions | policy | plan s | floor s | plan/floor | plan peak MB | floor peak MB "
        "| API calls (EC2) | ListTags | ListAliases | core s wall / CPU (diagnose CPU) "
        "| findings | changes |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["results"]:
        calls = r["api_calls"]
        lines.append(
            f"| {r['size']:,} | {r['variant']} | {r['plan_seconds']:.2f} | {r['floor_seconds']:.2f} "
            f"| {r['ratio']:.2f} | {r['plan_peak_mb']:.0f} | {r['floor_peak_mb']:.0f} "
            f"| {r['total_calls']:,} ({r['ec2_calls']}) | {calls.get('lambda:ListTags', 0):,} "
            f"| {calls.get('lambda:ListAliases', 0):,} "
            f"| {r['core']['plan_seconds']:.3f} / {r['core']['plan_cpu_seconds']:.3f} "
            f"({r['core']['diagnose_cpu_seconds']:.3f}) "
            f"| {r['summary']['findings']:,} | {r['summary']['changes']} |"
        )
    with_custodian = [r for r in doc["results"] if r.get("custodian")]
    if with_custodian:
        lines += [
            "",
            "| functions | policy | plan s | Cloud Custodian s | plan/Custodian | plan calls "
            "(Lambda, throttled) | Custodian calls (Lambda, throttled) | Lambda calls at the "
            "quota: plan s / Custodian s |",
            "|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        rate = doc.get("lambda_rate") or 15.0
        for r in with_custodian:
            c = r["custodian"]
            mine = r.get("throttled", {}).get("plan", 0)
            lines.append(
                f"| {r['size']:,} | {r['variant']} | {r['plan_seconds']:.2f} | {c['seconds']:.2f} "
                f"| {r['plan_seconds'] / c['seconds']:.2f} "
                f"| {r['total_calls']:,} ({r['lambda_calls']}, {mine}) "
                f"| {c['api_calls']:,} ({c.get('lambda_calls', '-')}, {c.get('throttled', '-')}) "
                f"| {r['lambda_calls'] / rate:.1f} / "
                f"{(c.get('lambda_calls') or 0) / rate:.1f} |"
            )
    a = doc.get("auto")
    if a:
        lines += [
            "",
            "| auto: targets | concurrency | sum of target s | ideal s (sum / C) | wall s | wall / ideal | peak MB |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {a['targets']} | {a['concurrency']} | {a['sum_target_seconds']:.1f} "
            f"| {a['ideal_seconds']:.1f} | {a['wall_seconds']:.1f} | {a['ratio_to_ideal']:.2f} "
            f"| {a['peak_mb']:.0f} |",
        ]
    v = doc.get("versions")
    if v:
        e = doc["versions_estate"]
        lines += [
            "",
            f"| {e['functions']} functions x {e['versions_per_function']} versions: read | plan s "
            "| Lambda calls | ListFunctions | ListAliases | GetFunctionConfiguration | peak MB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for read, row in v["rows"].items():
            c = row["api_calls"]
            lines.append(
                f"| {read} | {row['seconds']:.2f} | {row['lambda_calls']:,} "
                f"| {c.get('lambda:ListFunctions', 0):,} | {c.get('lambda:ListAliases', 0):,} "
                f"| {c.get('lambda:GetFunctionConfiguration', 0):,} | {row['peak_mb']:.0f} |"
            )
        lines.append(f"Same findings either way: {'yes' if v['same_findings'] else 'NO'}")
    s = doc["startup"]
    lines += ["", f"`remediate --help`: best {s['best_seconds']:.3f} s of {len(s['runs'])}", ""]
    lines += [
        "| apply: updates | clock | other client | seconds | N/15 s | req/s | throttled | retried | failed |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in doc["apply"]:
        lines.append(
            f"| {a['updates']:,} | {a['clock']} | {a['neighbour_rate'] or '-'} req/s "
            f"| {a['seconds']:.1f} | {a['ideal_seconds']:.1f} | {a['requests_per_second']:.2f} "
            f"| {a['throttled']} | {a['retries']} | {a['failures']} |"
        )
    lines += ["", "| target | figure | limit | met |", "|---|---|---:|---|"]
    for name, t in doc["targets"].items():
        met = {True: "yes", False: "NO", None: "not measured"}[t["met"]]
        lines.append(f"| {name} | {t['figure']} | {t.get('limit', '')} | {met} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def run(
    sizes: list[int],
    variants: list[str],
    out: Path | None,
    *,
    repeat: int = 1,
    help_repeat: int = 5,
    apply_real: int = 90,
    apply_contended: int = 1000,
    vpcs: int = estate.VPCS,
    latency_ms: float = 30.0,
    lambda_rate: float = 15.0,
    custodian_exe: str | None = None,
    auto_targets: int = 0,
    auto_functions: int = 40,
    auto_concurrency: int = 8,
    auto_servers: int = 1,
    versions_estate: tuple[int, int] | None = None,
    say: Any = print,
) -> dict[str, Any]:
    spawner = Spawner()  # first, while this process is small
    import structlog

    from remediator import log, sandbox

    saved_logging = structlog.get_config()
    log.configure("warning")
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "sizes": sizes,
        "variants": variants,
        "results": [],
        "estates": {},
        "latency_ms": latency_ms or None,
        "lambda_rate": lambda_rate or None,
        "custodian": custodian_exe,
    }
    try:
        server, url = sandbox.run_server(0)
    except BaseException:
        spawner.close()
        raise
    proxy = (
        LatencyProxy(url, latency_ms / 1000, lambda_rate=lambda_rate).start()
        if latency_ms
        else None
    )
    try:
        with tempfile.TemporaryDirectory(prefix="remediator-bench-") as tmp:
            scratch = Path(tmp)
            env = _env(proxy.url if proxy is not None else url, scratch)
            doc["startup"] = startup(spawner, help_repeat, env, scratch)
            say(f"remediate --help: {doc['startup']['best_seconds']:.3f} s")
            for size in sizes:
                _reset(url)
                info, specs = seed(url, size, vpcs)
                doc["estates"][str(size)] = info
                say(
                    f"[{size}] seeded in {info['seed_network_seconds'] + info['seed_functions_seconds']:.1f} s"
                )
                inventory = scratch / f"inventory-{size}.pickle"
                core_inventory(url, specs, inventory)
                cores: dict[Path | None, dict[str, Any]] = {}  # one per policy
                for variant in variants:
                    row = {"size": size, "variant": variant}
                    row.update(
                        plan_and_floor(
                            spawner,
                            variant,
                            env,
                            scratch,
                            size,
                            repeat,
                            lambda: proxy.throttled if proxy is not None else 0,
                        )
                    )
                    policy = VARIANTS[variant][0]
                    if policy not in cores:
                        cores[policy] = core(spawner, inventory, variant, scratch)
                    row["core"] = cores[policy]
                    row["core_matches_cli_plan"] = row["core"]["plan_id"] == row["plan_id"]
                    if custodian_exe and proxy is not None and variant == variants[0]:
                        row["custodian"] = custodian.run(
                            spawner,
                            custodian_exe,
                            env,
                            scratch,
                            REGION,
                            lambda: proxy.calls,
                            repeat,
                            lambda: proxy.throttled,
                            lambda: proxy.quota_calls,
                        )
                    doc["results"].append(row)
                    say(
                        f"[{size}] {variant}: plan {row['plan_seconds']:.2f} s, floor "
                        f"{row['floor_seconds']:.2f} s, {row['plan_peak_mb']:.0f} MB, core "
                        f"{row['core']['plan_seconds']:.3f} s"
                    )
            if auto_targets:
                _reset(url)
                doc["auto_estate"], doc["auto"] = _fleet_figures(
                    spawner,
                    scratch,
                    url,
                    proxy,
                    env,
                    auto_targets,
                    auto_functions,
                    auto_concurrency,
                    auto_servers,
                    latency_ms,
                    lambda_rate,
                )
                say(
                    f"auto over {auto_targets} targets: {doc['auto']['wall_seconds']:.1f} s at "
                    f"concurrency {auto_concurrency}, ideal {doc['auto']['ideal_seconds']:.1f} s"
                )
            if versions_estate:
                _reset(url)
                doc["versions_estate"] = versions.seed(url, *versions_estate)
                doc["versions"] = versions.run(spawner, _remediate(), env, scratch, REGION)
                rows = doc["versions"]["rows"]
                say(
                    f"versions {versions_estate[0]}x{versions_estate[1]}: listed "
                    f"{rows['listed']['seconds']:.1f} s ({rows['listed']['lambda_calls']} Lambda "
                    f"calls), auto {rows['auto']['seconds']:.1f} s "
                    f"({rows['auto']['lambda_calls']})"
                )
        doc["apply"] = apply_figures(sizes, apply_real, apply_contended)
    finally:
        # leave moto's (process-wide) backends empty and logging as it was
        try:
            _reset(url)
        finally:
            if proxy is not None:
                proxy.stop()
            server.stop()
            spawner.close()
            structlog.configure(**saved_logging)
    doc["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["seconds"] = round(time.perf_counter() - started, 1)
    doc["benchmark_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    doc["targets"] = evaluate(doc)
    doc["table"] = table(doc)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return doc


def _fleet_figures(
    spawner: Spawner,
    scratch: Path,
    url: str,
    proxy: LatencyProxy | None,
    env: dict[str, str],
    targets: int,
    functions: int,
    concurrency: int,
    servers: int,
    latency_ms: float,
    lambda_rate: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fleet estate and figures: on the run's server, or spread over
    ``servers`` moto processes behind a proxy of their own (benchmarks/fleet.py)."""
    accounts = fleet.account_ids(targets)
    if servers <= 1 or not latency_ms:
        estate_info = fleet.seed(url, accounts, functions)
        calls = (lambda: proxy.calls) if proxy is not None else (lambda: 0)
        return estate_info, fleet.run(
            spawner, _remediate(), env, scratch, accounts, concurrency, calls
        )
    group = fleet.Servers(servers)
    spread: LatencyProxy | None = None
    try:
        spread = LatencyProxy(
            group.urls,
            latency_ms / 1000,
            lambda_rate=lambda_rate,
            account_server=fleet.server_of(accounts, servers),
        ).start()
        estate_info = fleet.seed_spread(group, accounts, functions)
        figures = fleet.run(
            spawner,
            _remediate(),
            _env(spread.url, scratch),
            scratch,
            accounts,
            concurrency,
            lambda: spread.calls if spread is not None else 0,
            group.cpu_seconds,
            servers,
        )
        return estate_info, figures
    finally:
        if spread is not None:
            spread.stop()
        group.close()


def _pair(text: str) -> tuple[int, int] | None:
    if text.strip() in ("", "0"):
        return None
    functions, _, per = text.partition(":")
    return int(functions), int(per or 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark remediate plan against the floor on a local moto server."
    )
    parser.add_argument("--sizes", default="1000,5000,10000", help="function counts (comma list)")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"variants (policy and report format): {', '.join(VARIANTS)}",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="JSON results")
    parser.add_argument("--repeat", type=int, default=1, help="plan/floor runs per size (best)")
    parser.add_argument("--help-repeat", type=int, default=5, help="`remediate --help` runs")
    parser.add_argument(
        "--apply-real", type=int, default=90, help="updates in the real-clock apply run (0: skip)"
    )
    parser.add_argument(
        "--apply-contended",
        type=int,
        default=1000,
        help="updates with another client using 3 req/s of the quota (0: skip)",
    )
    parser.add_argument(
        "--vpcs", type=int, default=estate.VPCS, help="VPCs in the estate (22 subnets each)"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=30.0,
        help="latency the proxy adds to every AWS call (0: the bare moto server)",
    )
    parser.add_argument(
        "--lambda-rate",
        type=float,
        default=15.0,
        help="Lambda control-plane requests a second the proxy lets through per account, "
        "as AWS does (0: no quota)",
    )
    parser.add_argument(
        "--custodian",
        metavar="PATH",
        help="Cloud Custodian's `custodian` executable, for the comparison (default: on PATH)",
    )
    parser.add_argument(
        "--auto-targets",
        type=int,
        default=50,
        help="accounts `remediate auto` runs over (0: skip the fleet figures)",
    )
    parser.add_argument(
        "--auto-functions", type=int, default=40, help="functions per account in the fleet"
    )
    parser.add_argument("--auto-concurrency", type=int, default=8, help="auto's --concurrency")
    parser.add_argument(
        "--auto-servers",
        type=int,
        default=1,
        help="moto servers (a process each) the fleet's accounts are spread over (1: the run's)",
    )
    parser.add_argument(
        "--versions-estate",
        default="100:300",
        metavar="F:V",
        help="F functions with V published versions each, read listed and by alias (0: skip)",
    )
    parser.add_argument(
        "--only-auto",
        action="store_true",
        help="only the fleet figures (no plan sizes, apply or versions runs; one --help run)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS",
        help="only print the table (targets re-evaluated) of a results file",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        saved = json.loads(args.render.read_text())
        saved["targets"] = evaluate(saved)
        print(table(saved))
        return 0
    if args.only_auto:
        args.sizes, args.apply_real, args.apply_contended = "", 0, 0
        args.versions_estate, args.help_repeat = "0", 1
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(unknown)}")
    doc = run(
        sizes,
        variants,
        args.out,
        repeat=args.repeat,
        help_repeat=args.help_repeat,
        apply_real=args.apply_real,
        apply_contended=args.apply_contended,
        vpcs=args.vpcs,
        latency_ms=args.latency_ms,
        lambda_rate=args.lambda_rate,
        custodian_exe=custodian.find(args.custodian),
        auto_targets=args.auto_targets,
        auto_functions=args.auto_functions,
        auto_concurrency=args.auto_concurrency,
        auto_servers=args.auto_servers,
        versions_estate=_pair(args.versions_estate),
        say=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(doc["table"])
    print(f"\nFigures written to {args.out} ({doc['seconds']:.0f} s).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
