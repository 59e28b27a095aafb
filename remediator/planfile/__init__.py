"""Reading and writing plan files.

A plan file is the plan's canonical JSON (sorted keys, two-space indent,
trailing newline). Writing is atomic (temporary file in the same folder,
fsync, rename) and owner-only (0600), so a crash never leaves half a plan
and other users of the machine cannot read account details. Reading refuses
what is not a plan, a ``format_version`` this version does not know, a
change of a kind it does not know, a digest that does not match the content
(a hand-edited plan), and a change whose ``before`` disagrees with its
fingerprint (an edited plan whose digest was recomputed).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from remediator.changes import registry
from remediator.domain.errors import BadInput
from remediator.domain.files import read_text
from remediator.domain.plan import FORMAT_VERSION
from remediator.planfile.digest import plan_digest
from remediator.planfile.encode import canonical_json
from remediator.planfile.model import Plan


def dumps(plan: Plan) -> str:
    return canonical_json(plan)


_WRITE_HINT = "Choose a path in a folder you can write, on a disk with free space."


def make_folder(folder: Path) -> None:
    """``folder`` and its parents; a path that is a file, or a folder that
    cannot be made, is ``BadInput`` naming it (one line, no traceback)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise BadInput(f"{folder} is a file, not a folder.", hint=_WRITE_HINT) from None
    except OSError as exc:
        raise BadInput(
            f"Cannot create folder {folder}: {exc.strerror or exc}.", hint=_WRITE_HINT
        ) from None


def atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole
    new one, never a part; the file is created with ``mode``. A path that
    cannot be written (a folder, a read-only or full file system) is
    ``BadInput`` naming it; nothing is left behind."""
    make_folder(path.parent)
    if path.is_dir():
        raise BadInput(f"{path} is a folder: name a file to write.", hint=_WRITE_HINT)
    try:
        _write(path, text, mode)
    except OSError as exc:
        raise BadInput(f"Cannot write {path}: {exc.strerror or exc}.", hint=_WRITE_HINT) from None
    _fsync_folder(path.parent)


def _write(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable: the new directory entry reaches the disk, so a
    power cut cannot bring back the old file (or none)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform that cannot open folders (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # a file system that refuses fsync on a folder
        pass
    finally:
        os.close(fd)


def write_plan(plan: Plan, path: Path) -> str:
    """Write the plan file; returns its text (the JSON report is that text)."""
    text = dumps(plan)
    atomic_write(path, text)
    return text


def parse_plan(text: str, source: str = "plan") -> Plan:
    try:
        return _parse_plan(text, source)
    except RecursionError:  # `[[[[…` deeper than the decoder (or the digest) can walk
        raise BadInput(
            f"{source} is not a plan file: it is nested too deeply.",
            hint="Pass a file written by `remediate plan --out`.",
        ) from None


def _parse_plan(text: str, source: str) -> Plan:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{source} is not a plan file: not JSON ({exc.msg} at line {exc.lineno}).",
            hint="Pass a file written by `remediate plan --out`.",
        ) from None
    if not isinstance(data, dict) or "format_version" not in data or "changes" not in data:
        raise BadInput(
            f"{source} is not a plan file (no format_version/changes).",
            hint="Pass a file written by `remediate plan --out`.",
        )
    version = data.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise BadInput(
            f"{source} has format_version {version!r}; this remediator reads version {FORMAT_VERSION}.",
            hint="Re-run `remediate plan` with this version, or use the version that wrote it.",
        )
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        if len(loc) > 2 and loc[0] == "changes" and loc[2] in registry.KINDS:
            loc = (*loc[:2], *loc[3:])  # the union's tag: the kind the change names
        where = ".".join(str(p) for p in loc)
        raise BadInput(
            f"{source} is not a valid plan: {where}: {first['msg']}.",
            hint="Re-run `remediate plan`; plan files must not be edited by hand.",
        ) from None
    if plan.digest != plan_digest(plan):
        raise BadInput(
            f"{source} does not match its digest: it was edited after `remediate plan` wrote it.",
            hint="Re-run `remediate plan` and review the new plan; edited plans are never applied.",
        )
    for change in plan.changes:
        # rollback restores ``before``: it must be the state the fingerprint
        # (and so the stale check at apply) holds the target to
        why = registry.check_before(change)
        if why is not None:
            raise BadInput(
                f"{source} is not a valid plan: change {change.id} ({change.kind}): {why}.",
                hint="Re-run `remediate plan`; plan files must not be edited by hand.",
            )
    return plan


def read_plan(path: Path) -> Plan:
    text = read_text(path, "Plan file", "Check the path, or run `remediate plan --out FILE`.")
    return parse_plan(text, str(path))


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of the plan file, generated from the models."""
    schema = Plan.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://remediator.dev/schemas/plan-v{FORMAT_VERSION}.json"
    return schema


def schema_text() -> str:
    return json.dumps(plan_schema(), indent=2, sort_keys=True) + "\n"
