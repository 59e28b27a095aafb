"""The pure core alone: diagnose + build_plan on an in-memory inventory.

Run by ``benchmarks/run.py`` in a fresh single-threaded process (so the moto
server's heap and threads are not in the way):

    python benchmarks/core.py INVENTORY.pickle [--policy FILE] [--repeat 3]

Prints one JSON line: the best wall and CPU seconds of ``diagnose`` alone and
of ``build_plan`` (which runs diagnosis itself), the plan id, and counts.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inventory", type=Path)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from remediator.diagnose import diagnose
    from remediator.domain.policy import load_policy
    from remediator.planner import build_plan

    inventory = pickle.loads(args.inventory.read_bytes())
    policy = load_policy(args.policy)
    now = "2026-01-01T00:00:00Z"

    def best(fn: object) -> tuple[float, float, object]:
        wall, cpu, result = float("inf"), float("inf"), None
        for _ in range(args.repeat):
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            result = fn()  # type: ignore[operator]
            w1, c1 = time.perf_counter(), time.process_time()
            wall, cpu = min(wall, w1 - w0), min(cpu, c1 - c0)
        return wall, cpu, result

    d_wall, d_cpu, _ = best(lambda: diagnose(inventory, policy))
    p_wall, p_cpu, plan = best(lambda: build_plan(inventory, policy, now))
    json.dump(
        {
            "functions": sum(len(r.functions) for r in inventory.regions),
            "diagnose_seconds": round(d_wall, 4),
            "diagnose_cpu_seconds": round(d_cpu, 4),
            "plan_seconds": round(p_wall, 4),
            "plan_cpu_seconds": round(p_cpu, 4),
            "plan_id": plan.plan_id,  # type: ignore[attr-defined]
            "findings": len(plan.findings),  # type: ignore[attr-defined]
            "changes": len(plan.changes),  # type: ignore[attr-defined]
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
