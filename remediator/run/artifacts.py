"""Review artifacts written to a folder: Security Hub batches and the
Markdown report with its full-detail companion. Used by ``remediate show``
and by ``auto``, so both write the same files.

``OutDir`` is where a run's artifacts go: a local folder, or an S3 prefix
(``--out-dir s3://bucket/prefix``) staged in a local folder and uploaded
object by object (docs/operator.md, "Artifacts in S3")."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from remediator import planfile
from remediator.aws.artifact_store import S3Store
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
