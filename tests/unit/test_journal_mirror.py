"""The journal's copy off the machine (``Journal(mirror=…)``): the whole
file after every line, and a failed copy fails the write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator.run import engine
from remediator.run.journal import Journal, MirrorFailed


def test_the_mirror_gets_the_whole_file_after_each_line(tmp_path: Path) -> None:
    copies: list[bytes] = []
    path = tmp_path / "plan.journal.jsonl"
    with Journal(path, mirror=copies.append) as journal:
        journal.write("run", plan_id="p")
        journal.write("intent", change_id="c-1")
    assert len(copies) == 2
    assert copies[-1] == path.read_bytes()
    assert [json.loads(line)["event"] for line in copies[0].splitlines()] == ["run"]


def test_a_failed_copy_fails_the_write_as_a_full_disk_would(tmp_path: Path) -> None:
    def down(_: bytes) -> None:
        raise ConnectionError("S3 unreachable")

    with Journal(tmp_path / "j.jsonl", mirror=down) as journal, pytest.raises(MirrorFailed) as e:
        journal.write("intent", change_id="c-1")
    assert isinstance(e.value, OSError) and "S3 unreachable" in str(e.value)


def test_the_recorder_refuses_a_strict_line_and_notes_a_best_effort_one(tmp_path: Path) -> None:
    calls: list[Path] = []

    def flaky(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) > 1:
            raise TimeoutError("slow S3")

    path = tmp_path / "j.jsonl"
    with engine.recording(path, lambda: "t", {"plan_id": "p"}, flaky) as rec:
        with pytest.raises(OSError):
            rec.write("intent", change_id="c-1")  # a step does not go on
        rec.write("finished", best_effort=True, outcome="failed")  # an ending is never stopped
        assert rec.error is not None and "slow S3" in rec.error
    assert calls[0] == path
