"""Outcomes of apply, rollback and auto, and the one table of exit codes.

Every outcome is a ``Literal``: a value outside these lists is a bug that
mypy finds. The exit code of a run is looked up in ``EXIT_CODES`` and
nowhere else (docs/apply.md, docs/auto.md):

  0 ok                   success, or nothing to do
  1 error                bad input, an AWS error, a refused approval, a failed verification kept
  2 changes              changes present (``plan --detailed-exitcode``) or left for review (auto)
  3 stale                the live state no longer matches the plan; nothing left changed
  4 rolled-back          apply failed and every change it made was undone
  5 rollback-incomplete  apply failed and some change is still in effect (the list says which)
  6 fixed                auto fixed everything it found

and one code outside the verdicts, for ``remediate event`` only:

 75 retry                the event came before its change settled: deliver it again later
                         (``EX_TEMPFAIL`` of sysexits.h, what mail and job queues retry on)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

StepOutcome = Literal[
    "ok",  # the change was applied, settled and re-read: it is in effect, journaled "done"
    "would-apply",  # dry run: the target is fresh and the change passed its read-only checks
    "stale",  # the target is not as planned: the change was not sent
    "invalid",  # dry run: the change would fail against the live state (a read-only check)
    "failed",  # the change's call failed; whether any of it is in effect is journaled
    "already",  # done by an earlier run of the same journal (resume): not sent again
    "undone",  # a change (or the part of it in effect) was taken back
    "undo-failed",  # taking the change back failed: it is still in effect
    "undo-skipped",  # the target moved since the run: left as it is, never overwritten
    "never-applied",  # rollback: the change's target is as planned, nothing to undo
]
"""What happened to one change in one run; one line of the report each."""

RunOutcome = Literal[
    "applied",  # every selected change is in effect (verification is judged after)
    "stale",  # a target was not as planned; nothing of the run is left in effect
    "rolled-back",  # the run failed and every change it made was undone
    "rollback-incomplete",  # the run failed and a change it made is still in effect
    "failed-kept",  # the run failed and kept its changes (``--no-rollback``)
    "verify-failed",  # applied, but verification failed; the changes are kept
    "error",  # the run stopped before changing anything (see the journal's error)
]
"""How a run ended: the ``finished`` line of its journal."""

TargetOutcome = Literal[
    "clean",  # nothing to do for the account-region
    "fixed",  # every finding that could be fixed was, and verified
    "review",  # changes are left for a person (``review.json``)
    "stale",  # the world changed during the run; nothing left changed
    "error",  # the target failed (its one-line error says why)
    "rolled-back",  # a change (or the verification) failed and was rolled back
    "rollback-incomplete",  # rollback is incomplete: the journal says what is left
]
"""What ``remediate auto`` did to one account-region."""

Verdict = Literal["ok", "error", "changes", "stale", "rolled-back", "rollback-incomplete", "fixed"]
"""What a command's exit code says; the keys of ``EXIT_CODES``."""

EXIT_CODES: Final[Mapping[Verdict, int]] = {
    "ok": 0,
    "error": 1,
    "changes": 2,
    "stale": 3,
    "rolled-back": 4,
    "rollback-incomplete": 5,
    "fixed": 6,
}
"""The one table of exit codes."""

WORST_FIRST: Final[tuple[Verdict, ...]] = (
    "rollback-incomplete",
    "rolled-back",
    "error",
    "stale",
    "changes",
    "fixed",
    "ok",
)
"""Verdicts from worst to best: of several, the worst one wins (a person is
needed most where something is left half done)."""

RUN_VERDICT: Final[Mapping[RunOutcome, Verdict]] = {
    "applied": "ok",
    "stale": "stale",
    "rolled-back": "rolled-back",
    "rollback-incomplete": "rollback-incomplete",
    "failed-kept": "error",
    "verify-failed": "error",
    "error": "error",
}

TARGET_VERDICT: Final[Mapping[TargetOutcome, Verdict]] = {
    "clean": "ok",
    "fixed": "fixed",
    "review": "changes",
    "stale": "stale",
    "error": "error",
    "rolled-back": "rolled-back",
    "rollback-incomplete": "rollback-incomplete",
}

# Named codes for the places that exit with one fixed verdict (tests, the CLI).
EXIT_OK: Final = EXIT_CODES["ok"]
EXIT_ERROR: Final = EXIT_CODES["error"]
EXIT_CHANGES: Final = EXIT_CODES["changes"]
EXIT_STALE: Final = EXIT_CODES["stale"]
EXIT_ROLLED_BACK: Final = EXIT_CODES["rolled-back"]
EXIT_ROLLBACK_INCOMPLETE: Final = EXIT_CODES["rollback-incomplete"]
EXIT_FIXED: Final = EXIT_CODES["fixed"]
EXIT_RETRY: Final = 75
"""``remediate event``: one event that came before its change settled (a function
``Pending`` or ``InProgress``); nothing was judged, deliver it again later."""


def exit_code(verdict: Verdict) -> int:
    return EXIT_CODES[verdict]
