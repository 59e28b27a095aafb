"""``remediate``: the Typer app with every command registered, and ``main``.

The one module that imports every command module; they import only
``remediator.cli.app`` (the shared options and the error map), so the
command modules never import each other's registrations and there is no
cycle. The order below is the order of ``remediate --help``.
"""

from __future__ import annotations

import os
import sys

from remediator.cli import apply, auto, dev, event, iac, plan
from remediator.cli.app import app
from remediator.cli.deploy import deploy_template
from remediator.domain.outcomes import EXIT_ERROR

app.command()(plan.plan)
app.command()(plan.show)
app.command()(dev.demo)
app.command(name="sandbox")(dev.sandbox_cmd)
app.command()(apply.apply)
app.command()(apply.approve)
app.command()(apply.rollback)
app.command()(apply.unlock)
app.command()(dev.schema)
app.command(name="auto")(auto.auto)
app.command(name="event")(event.event)
app.command(name="iam-policy")(auto.iam_policy)
app.command(name="iac-patch")(iac.iac_patch)
app.command(name="deploy-template")(deploy_template)

__all__ = ["app", "main"]

# The cyclic garbage collector's default first threshold (700 allocations)
# makes it run ~750 times during a plan of 5,000 functions, walking the
# growing inventory again on every older-generation pass: 0.4-0.5 s of a
# 3-4 s run. Discovery, planning and rendering make mostly acyclic data, so
# collecting every 50,000 allocations costs a few MB of peak memory at most
# (measured: +0-4 MB at 5,000 functions) and most of that time.
GC_THRESHOLDS = (50_000, 20, 20)


def main() -> None:
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    try:
        try:
            app()
        finally:
            sys.stdout.flush()  # here, not at exit, where a failure is a traceback
            # The process ends next: what is alive or garbage now is left to the
            # OS, not walked by the interpreter's last collection (`auto` over
            # 50 accounts: 350 botocore clients, 1-2 s of teardown).
            gc.freeze()
    except OSError as exc:  # stdout on a full disk or a closed pipe (e.g. `--help` > /dev/full)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # what is left in the buffer goes nowhere
        sys.stderr.write(f"Error: cannot write the output: {exc.strerror or exc}.\n")
        sys.exit(EXIT_ERROR)
