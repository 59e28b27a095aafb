"""The run's mode, set once per run: ``check`` reads and reports (dry-run),
``apply`` may write. The AWS door refuses every write in ``check`` mode."""

from __future__ import annotations

from typing import Literal

Mode = Literal["check", "apply"]


def mode_for(dry_run: bool) -> Mode:
    """The one place a ``--dry-run`` flag becomes the run's mode."""
    return "check" if dry_run else "apply"
