"""Review artifacts written to a folder: Security Hub batches and the
Markdown report with its full-detail companion. Used by ``remediate show``
and by ``auto``, so both write the same files."""

from __future__ import annotations

import re
from pathlib import Path

from remediator import planfile
from remediator.domain.errors import RemediatorError
from remediator.planfile.model import Plan
from remediator.render import asff
from remediator.render import markdown as md

_BATCH = re.compile(r"asff-\d{4,}\.json")


def write_asff(folder: Path, plan: Plan, previous: Plan | None = None) -> list[Path]:
    """``folder/asff-0001.json`` … (at most ``asff.BATCH_SIZE`` findings
    each, findings ``previous`` had and ``plan`` has not as closed); batch
    files of an earlier write that this one does not rewrite are removed, so
    the folder holds exactly one import's worth."""
    planfile.make_folder(folder)
    written: list[Path] = []
    for name, text in asff.batches(plan, previous):
        path = folder / name
        planfile.atomic_write(path, text, 0o644)
        written.append(path)
    keep = {p.name for p in written}
    for stale in folder.iterdir():
        if _BATCH.fullmatch(stale.name) and stale.name not in keep:
            stale.unlink()
    return written


def write_markdown(path: Path, plan: Plan, *, extra: str = "") -> list[Path]:
    """The report that fits (``path``, with ``extra`` appended inside the
    limit) and, when it had to leave detail out, the full report beside it
    (``<stem>.full.md``), which the fitting one names. Returns what was
    written; a full report of an earlier write is removed when not needed."""
    full_path = path.with_name(f"{path.stem}.full.md")
    text = md.render_markdown(plan, limit=md.LIMIT - len(extra), full_detail_file=full_path.name)
    planfile.atomic_write(path, text + extra, 0o644)
    if md.LEFT_OUT_MARK not in text:
        full_path.unlink(missing_ok=True)
        return [path]
    planfile.atomic_write(full_path, md.render_markdown(plan, detail="full"), 0o644)
    return [path, full_path]


def read_previous(path: Path) -> Plan | None:
    """The plan a previous run left at ``path``, or None when there is none
    or it cannot be read (an unreadable old plan only means no finding is
    closed this time)."""
    if not path.exists():
        return None
    try:
        return planfile.read_plan(path)
    except RemediatorError:  # an unreadable old plan: nothing to close
        return None


def previous_run_plan(out_dir: Path, target: str, summary: str = "summary.json") -> Plan | None:
    """The last plan of ``target`` (``<account>/<region>``) in the most recent
    earlier run beside ``out_dir``: the sibling folders that hold a run
    summary, newest summary first; its ``review.json`` when it left one (the
    state after its apply), else its ``plan.json``. None when there is none."""
    parent = out_dir.parent
    if not parent.is_dir():
        return None
    runs = []
    for sibling in parent.iterdir():
        done = sibling / summary
        if sibling.resolve() != out_dir.resolve() and done.is_file():
            runs.append((done.stat().st_mtime_ns, sibling.name, sibling))
    for _, _, run in sorted(runs, reverse=True):
        folder = run / target
        for name in ("review.json", "plan.json"):
            found = read_previous(folder / name)
            if found is not None:
                return found
        if folder.is_dir():
            return None  # the latest run that planned this target left no readable plan
    return None
