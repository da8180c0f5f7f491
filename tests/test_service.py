"""The collector settings of the long-running processes."""

from __future__ import annotations

import gc
import weakref

from callbacks import service


class Node:
    """A container that can be part of a reference cycle."""

    other: object


def test_tune_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    try:
        service.tune_gc()
        assert gc.get_freeze_count() > frozen_before
        assert gc.get_threshold() == (service.YOUNG_THRESHOLD, before[1], before[2])
        # Cyclic garbage made afterwards is still collected, without being asked: once as
        # many container objects as the threshold have piled up.
        first = Node()
        first.other = first
        collected = weakref.ref(first)
        del first
        for _ in range(service.YOUNG_THRESHOLD):
            node = Node()
            node.other = node
        del node
        assert collected() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
