"""The collector settings of the long-running processes."""

from __future__ import annotations

import gc

from callbacks import gc_tuning


def test_tune_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    try:
        gc_tuning.tune()
        assert gc.get_freeze_count() > frozen_before
        assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, before[1], before[2])
        # Cyclic garbage made afterwards is still collected.
        class Node:
            other: object

        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
