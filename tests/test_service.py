"""The composition root: what the service is built with, and the collector settings."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from callbacks import service
from callbacks.cli import build_parser
from callbacks.config import ServeConfig
from callbacks.errors import ConfigError
from callbacks.plugins.loader import load_enabled
from callbacks.server.metrics import Metrics


def serve_config(*argv: str) -> ServeConfig:
    """The configuration ``callbacks serve ARGV`` runs with (no environment)."""
    return ServeConfig.from_args(build_parser().parse_args(["serve", *argv]), environ={})


def test_the_handler_timeout_reaches_the_dispatcher(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    plugins = load_enabled([], None)
    default = service.build_dispatcher(
        serve_config("--auth", "none", "--store", store), plugins, Metrics(), None, None
    )
    assert default.config.handler_timeout == 300
    given = service.build_dispatcher(
        serve_config("--auth", "none", "--store", store, "--handler-timeout", "2.5"),
        plugins, Metrics(), None, None,
    )
    assert given.config.handler_timeout == 2.5
    with pytest.raises(ConfigError, match=r"^--handler-timeout: must be a positive number"):
        serve_config("--auth", "none", "--handler-timeout", "0")


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
