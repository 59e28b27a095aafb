"""What every value in remediator shares: frozen, strict models; and a GC pause for pure steps."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, ConfigDict


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a pure computation.

    Diagnosis, planning and rendering build tens of thousands of small,
    acyclic objects on top of a large inventory; every full collection would
    walk all of them again, which costs as much as the work itself at 10,000
    functions. Reference counting still frees everything; the collector is
    resumed on exit if it was running (nested use is harmless)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Frozen(BaseModel):
    """Base for every value that flows between modules: immutable, strict."""

    model_config = ConfigDict(frozen=True, extra="forbid")
