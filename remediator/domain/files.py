"""Reading a file the user named, with the one-line errors every reader gives."""

from __future__ import annotations

from pathlib import Path

from remediator.domain.errors import BadInput


def read_text(path: Path, what: str, hint: str) -> str:
    """The UTF-8 text of ``path``; a missing file names ``what`` and ``hint``,
    any other failure (a folder, no permission, not UTF-8) says why."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{what} {path} does not exist.", hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read {what.lower()} {path}: {exc}.") from None
