"""Garbage-collector settings for the long-running processes (``callbacks serve`` and its child).

With CPython's defaults a collection of the youngest generation starts once allocations outrun
deallocations by 700 objects. Sixty-four requests in flight, each with its coroutines, futures,
dicts and parsed event, cross that hundreds of times a second, and every tenth of those
collections examines the next generation, every hundredth nearly everything start-up created
(modules, pydantic validators, plugins): measured in ``callbacks serve`` under ``wrk -t2 -c64``,
about 10 % of the receiving process's CPU time went to collecting, almost all of it finding
nothing, since requests free their objects by reference counting.

:func:`tune` moves what exists at start-up out of the collector's sight (``gc.freeze``) and raises
the first threshold. Memory stays bounded: cyclic garbage still counts as allocations, so a
collection still starts once 10 000 such objects have piled up.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net allocations of container objects that start a collection of the youngest generation."""


def tune() -> None:
    """Collect once, freeze the survivors, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)

