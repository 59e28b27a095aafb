"""Review artifacts written to a folder: Security Hub batches and the
Markdown report with its full-detail companion. Used by ``remediate show``
and by ``auto``, so both write the same files.

``OutDir`` is where a run's artifacts go: a local folder, or an S3 prefix
(``--out-dir s3://bucket/prefix``) staged in a local folder and uploaded
object by object (docs/operator.md, "Artifacts in S3")."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from remediator import planfile
from remediator.aws.artifact_store import S3Store
from remediator.domain.errors import RemediatorError
from remediator.planfile.model import Plan
from remediator.render import asff
from remediator.render import markdown as md

_BATCH = re.compile(r"asff-\d{4,}\.json")
log = structlog.get_logger(__name__)


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


# --------------------------------------------------------------------------
# Where a run's artifacts go: a folder, or S3 through a local staging folder

CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class ObjectStore(Protocol):
    """What the S3 side offers (``aws.artifact_store.S3Store``)."""

    @property
    def url(self) -> str: ...

    def put(self, relative: str, body: bytes, content_type: str = ...) -> str: ...

    def get(self, relative: str) -> bytes | None: ...

    def child(self, relative: str) -> ObjectStore: ...

    @property
    def leaf(self) -> str: ...

    def parent(self) -> ObjectStore | None: ...


@dataclass
class OutDir:
    """A run's ``--out-dir``. ``local`` is the folder every artifact is
    written to, exactly as without a store (plan files, reports, fsynced
    journals, the summary). With ``store`` (``s3://bucket/prefix``),
    ``local`` is a staging folder under the temporary directory (a Lambda
    has only ``/tmp``) and ``publish`` copies each file there to one object
    under the prefix, at the same relative key."""

    local: Path
    store: ObjectStore | None = None

    @property
    def url(self) -> str:
        return self.store.url if self.store is not None else str(self.local)

    def sub(self, relative: str) -> OutDir:
        """The out-dir of ``relative`` inside this one (an event run's folder)."""
        store = self.store.child(relative) if self.store is not None else None
        return OutDir(self.local / relative, store)

    def publish(self, under: Path | None = None) -> list[str]:
        """Upload every file under ``under`` (default: the whole folder) to the
        store; returns the relative keys (nothing without a store). Files in
        dot-folders (local locks) stay local."""
        if self.store is None:
            return []
        root = under or self.local
        if not root.is_dir():
            return []
        sent: list[str] = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(self.local)
            if any(part.startswith(".") for part in relative.parts):
                continue
            content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
            self.store.put(relative.as_posix(), path.read_bytes(), content_type)
            sent.append(relative.as_posix())
        return sent

    def read_text(self, relative: str) -> str | None:
        """A small file of the out-dir itself (not of the staging folder) or None."""
        if self.store is not None:
            data = self.store.get(relative)
            return None if data is None else data.decode("utf-8", "replace")
        path = self.local / relative
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write_text(self, relative: str, text: str) -> None:
        if self.store is not None:
            self.store.put(relative, text.encode("utf-8"))
            return
        path = self.local / relative
        planfile.make_folder(path.parent)
        planfile.atomic_write(path, text, 0o644)


# Beside an S3 run's prefix: which run was the last to publish there. Runs
# are named by id, not time, and listing a prefix that years of runs share
# costs a call per 1,000 objects, so the next run reads this one object
# instead of comparing its siblings' summaries as it does on a disk.
LATEST_RUN = "latest-run.json"


def mark_latest(sink: OutDir) -> None:
    """Record ``sink`` (published) as the latest run beside it. A failure is
    logged: the run's own artifacts are in place, only the next run will
    not close what this one found."""
    if sink.store is None:
        return
    parent = sink.store.parent()
    if parent is None:
        return
    body = json.dumps({"run": sink.store.leaf}, sort_keys=True).encode()
    try:
        parent.put(LATEST_RUN, body)
    except RemediatorError as exc:
        log.error("latest_run_not_recorded", url=parent.url, error=" ".join(str(exc).split()))


def previous_plan(
    sink: OutDir | None, out_dir: Path, target: str, summary: str = "summary.json"
) -> Plan | None:
    """The last plan of ``target`` in the most recent earlier run beside this
    one: on a disk, ``previous_run_plan``; under an S3 prefix, the run
    ``LATEST_RUN`` names. None when there is none or it cannot be read
    (then nothing is closed this time, and the run goes on)."""
    if sink is None or sink.store is None:
        return previous_run_plan(out_dir, target, summary)
    parent = sink.store.parent()
    if parent is None:
        return None
    try:
        return _previous_in_store(parent, sink.store.leaf, target)
    except RemediatorError as exc:
        log.warning("previous_run_not_read", url=parent.url, error=" ".join(str(exc).split()))
        return None


def _previous_in_store(parent: ObjectStore, this_run: str, target: str) -> Plan | None:
    raw = parent.get(LATEST_RUN)
    if raw is None:
        return None
    try:
        marker = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None
    run = marker.get("run") if isinstance(marker, dict) else None
    # a plain folder name of a sibling: nothing that climbs or points elsewhere
    if not isinstance(run, str) or not _RUN_NAME.fullmatch(run) or run == this_run:
        return None
    for name in ("review.json", "plan.json"):
        data = parent.get(f"{run}/{target}/{name}")
        if data is not None:
            try:
                return planfile.parse_plan(
                    data.decode("utf-8", "replace"), f"{run}/{target}/{name}"
                )
            except RemediatorError:
                return None  # the latest run that planned this target left no readable plan
    return None


_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")


def journal_mirror(sink: OutDir | None) -> Callable[[Path, bytes], None] | None:
    """For an S3 out-dir, the copy of each journal line: the journal's
    object, at its key under the prefix, rewritten whole (journals are a
    few KB) after each line, before the step goes on. None for a folder."""
    if sink is None or sink.store is None:
        return None
    store, local = sink.store, sink.local

    def copy(path: Path, data: bytes) -> None:
        store.put(path.relative_to(local).as_posix(), data, CONTENT_TYPES[".jsonl"])

    return copy


def staging_folder() -> Path:
    """A new, private folder under the temporary directory for an S3 run."""
    return Path(tempfile.mkdtemp(prefix="remediator-out-"))


def open_out_dir(
    text: str,
    session: Any,
    region: str,
    *,
    endpoint_url: str | None = None,
    kms_key_id: str | None = None,
) -> OutDir:
    """A folder as it is, or ``s3://bucket/prefix`` staged in a new local folder."""
    if not text.startswith("s3://"):
        return OutDir(Path(text))
    store = S3Store.open(session, text, region, endpoint_url=endpoint_url, kms_key_id=kms_key_id)
    return OutDir(staging_folder(), store)
