"""The journal: an append-only JSON-lines record of an apply run.

Every line is written, flushed and fsynced before the step it describes
goes on, so a killed process leaves a true record: an ``intent`` line
without its ``done``/``failed`` line means "this change may or may not have
happened", and rollback/resume re-read the live state to find out.

Events: ``run`` (header: plan id, digest and path, account, regions),
``intent``, ``progress`` (what a multi-call change has made so far),
``done``, ``failed``, ``skipped``, ``undo-intent``, ``undone``,
``undo-failed``, ``undo-skipped``, ``verified``, ``finished``. Only the
engine (``remediator.run.engine``) writes them.

The file is opened without following a symbolic link, and never in a folder
that other users may write (they could swap the file for one that makes
rollback undo what it should not): both are refused before anything changes.

With a ``mirror`` (``auto``/``event`` with ``--out-dir s3://…``), each line
is also copied off the machine before the step goes on: the whole file is
handed to the mirror after the fsync, and a mirror that fails fails the
write (``MirrorFailed``, an ``OSError`` like a full disk). A Lambda stopped
by its timeout mid-run loses its ``/tmp``, not the record of what it did.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from remediator.domain.errors import BadInput


class MirrorFailed(OSError):
    """The copy of the journal off the machine could not be written."""


class Journal:
    """Appends events to a journal file (created 0600), and with ``mirror``
    hands the whole file to it after each line."""

    def __init__(
        self, path: Path, clock: Any = None, mirror: Callable[[bytes], None] | None = None
    ) -> None:
        self.path = path
        self._clock = clock
        self._mirror = mirror
        # a folder made here is never writable by others, whatever the umask
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        check_folder(path.parent)
        fd = _open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        torn = False
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)
            torn = os.read(fd, 1) != b"\n"
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        if torn:
            # a kill mid-write left half a line: end it and say so, so the next
            # entry starts on its own line and the reader knows the torn line
            # is a kill's trace, not a corruption
            self._file.write("\n")
            self.write("torn-line-closed")

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        entry = {"event": event, **fields}
        if self._clock is not None:
            entry["at"] = self._clock()
        self._file.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
        self._file.flush()
        fd = self._file.fileno()
        os.fsync(fd)
        if self._mirror is not None:
            # the file as this run holds it open (never the path again: it
            # could have been swapped since)
            data = os.pread(fd, os.fstat(fd).st_size, 0)
            try:
                self._mirror(data)
            except Exception as exc:
                raise MirrorFailed(f"the journal's copy was not written: {exc}") from exc
        return entry

    def change(self, event: str, change: Any, **fields: Any) -> dict[str, Any]:
        """An event about one change (anything with id, kind, target, region)."""
        return self.write(
            event,
            change_id=change.id,
            kind=change.kind,
            target=change.target,
            region=change.region,
            **fields,
        )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def check_folder(folder: Path) -> None:
    """Refuse a folder that every user may write (unless it is sticky, like
    /tmp, where others cannot replace a file they do not own). A folder only
    its group may write is accepted: a shared team folder is a choice."""
    mode = folder.stat().st_mode
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise BadInput(
            f"Folder {folder} is writable by others (mode {stat.filemode(mode)}): its journal cannot be trusted.",
            hint=f"Restrict it (chmod go-w {folder}) or keep plans and journals in a private folder.",
        )


def _open(path: Path, flags: int) -> int:
    """``os.open`` without following a symbolic link; a file of another user is refused."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadInput(
                f"Journal {path} is a symbolic link; remediator does not follow it.",
                hint="Pass the journal file itself.",
            ) from None
        raise
    owner = os.fstat(fd).st_uid
    if owner != os.geteuid():
        os.close(fd)
        raise BadInput(f"Journal {path} belongs to another user (uid {owner}); not using it.")
    return fd


RecordState = Literal[
    "pending",  # no line about the change yet
    "intent",  # may be in effect: an intent without outcome, or a failed call that went through
    "done",  # in effect, with its result and the state it left
    "failed",  # its call failed and nothing of it is in effect
    "skipped",  # not sent: the target was stale
    "undone",  # taken back
    "undo-failed",  # taking it back failed: still in effect
    "undo-skipped",  # the target moved since: left alone (still in effect)
]


@dataclass
class ChangeRecord:
    """What the journal says about one change."""

    change_id: str
    kind: str = ""
    target: str = ""
    region: str = ""
    state: RecordState = "pending"
    state_before: dict[str, Any] | None = None
    state_after: dict[str, Any] | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class JournalView:
    header: dict[str, Any]
    records: dict[str, ChangeRecord]
    order: list[str]
    finished: dict[str, Any] | None
    truncated: bool = False

    def applied(self) -> list[ChangeRecord]:
        """Changes that took effect (or may have: an intent without outcome), in apply order."""
        return [
            self.records[c]
            for c in self.order
            if self.records[c].state in ("done", "intent", "undo-failed")
        ]


def read_journal(path: Path) -> JournalView:
    try:
        fd = _open(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            lines = f.read().decode("utf-8").splitlines()
    except FileNotFoundError:
        raise BadInput(
            f"Journal {path} does not exist.",
            hint="Pass the journal an apply run wrote (default: beside the plan).",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read journal {path}: {exc}.") from None
    header: dict[str, Any] | None = None
    records: dict[str, ChangeRecord] = {}
    order: list[str] = []
    finished: dict[str, Any] | None = None
    truncated = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except RecursionError:
            raise BadInput(
                f"Journal {path} line {number} is nested too deeply to be a journal entry.",
                hint="Journals are written by remediate apply; do not edit them.",
            ) from None
        except json.JSONDecodeError:
            # a kill mid-write tears at most the line being written: the last
            # line, or one a later run closed with a torn-line-closed entry
            closed = number < len(lines) and '"event": "torn-line-closed"' in lines[number]
            if number == len(lines) or closed:
                truncated = True
                continue
            raise BadInput(
                f"Journal {path} line {number} is not JSON.",
                hint="Journals are written by remediate apply; do not edit them.",
            ) from None
        if not isinstance(entry, dict) or "event" not in entry:
            raise BadInput(f"Journal {path} line {number} is not a journal entry.")
        event = entry["event"]
        if event == "run":
            header = header or entry
            continue
        if event == "finished":
            finished = entry
            continue
        if event == "torn-line-closed":
            continue
        cid = entry.get("change_id")
        if not isinstance(cid, str):
            continue
        rec = records.get(cid)
        if rec is None:
            rec = records[cid] = ChangeRecord(cid)
            order.append(cid)
        rec.kind = entry.get("kind", rec.kind)
        rec.target = entry.get("target", rec.target)
        rec.region = entry.get("region", rec.region)
        if event == "intent":
            rec.state = "intent"
            rec.state_before = entry.get("state_before")
        elif event == "progress":
            # part of a multi-call change is in effect: keep what it made
            rec.result = entry.get("result") or {}
        elif event == "done":
            rec.state = "done"
            rec.state_after = entry.get("state_after")
            rec.result = entry.get("result") or {}
        elif event == "failed" and entry.get("applied"):
            # the call went through but the change did not settle: it may be in effect
            rec.state = "intent"
            rec.result = entry.get("result") or {}
            rec.error = entry.get("error")
        elif event in ("failed", "skipped", "undone", "undo-failed", "undo-skipped"):
            if event == "undo-skipped" and rec.state in ("done", "intent"):
                rec.error = entry.get("error")
                continue  # still applied: someone changed the target since
            rec.state = event
            rec.error = entry.get("error")
    if header is None:
        raise BadInput(
            f"{path} is not a remediator journal (no run header).",
            hint="Pass the journal an apply run wrote.",
        )
    return JournalView(header, records, order, finished, truncated)
