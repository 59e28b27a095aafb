"""Commands for unattended runs (`remediate auto`, `remediate iam-policy`).

Registered on the main Typer app by ``remediator.cli``; heavy modules are
imported inside the commands.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
