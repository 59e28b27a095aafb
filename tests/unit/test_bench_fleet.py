"""The fleet figure (benchmarks/fleet.py) reports where the time goes: per
run, the client's CPU (remediate's), the server side's (this process: moto
and the latency proxy) and the API calls through the proxy, so the serial
and the concurrent run can be compared call for call."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import fleet  # noqa: E402


class _Spawner:
    """Writes the summary `remediate auto` would print; each run makes
    ``calls_per_run`` API calls and burns a little CPU here (the "server")."""

    def __init__(self, counter: list[int], calls_per_run: int) -> None:
        self.counter = counter
        self.calls_per_run = calls_per_run
        self.commands: list[list[str]] = []

    def measure(
        self, cmd: list[str], env: dict[str, str], stdout: Path, ok: tuple[int, ...] = (0,)
    ) -> dict[str, Any]:
        self.commands.append(cmd)
        concurrency = int(cmd[cmd.index("--concurrency") + 1])
        self.counter[0] += self.calls_per_run
        sum(i * i for i in range(200_000))  # server-side CPU of this run
        targets = [{"seconds": 2.0} for _ in range(4)]
        stdout.write_text(json.dumps({"targets": targets, "outcome": "review"}) + "\n")
        return {"seconds": 8.0 / concurrency + 0.5, "peak_mb": 100.0, "cpu_seconds": 1.25}


def test_both_runs_report_client_and_server_cpu_and_the_same_calls(tmp_path: Path) -> None:
    counter = [0]
    spawner = _Spawner(counter, calls_per_run=36 * 4)
    out = fleet.run(
        spawner, ["remediate"], {}, tmp_path, fleet.account_ids(4), 2, lambda: counter[0]
    )
    assert [c[c.index("--concurrency") + 1] for c in spawner.commands] == ["1", "2"]
    assert out["sum_target_seconds"] == 8.0 and out["ideal_seconds"] == 4.0
    assert out["ratio_to_ideal"] == round(4.5 / 4.0, 3)
    for run in ("serial", "concurrent"):
        assert out[run]["api_calls"] == 36 * 4  # each run's own calls, not the total so far
        assert out[run]["client_cpu_seconds"] == 1.25
        assert out[run]["server_cpu_seconds"] > 0
