"""Shared test helpers: recorded sample payloads under tests/samples/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import ROOT

SAMPLES = ROOT / "tests" / "samples"


def sample_path(dialect: str, event_type: str) -> Path:
    """Path of the recorded sample of ``event_type`` in ``dialect``."""
    return SAMPLES / dialect / f"{event_type}.json"


def sample_bytes(dialect: str, event_type: str) -> bytes:
    """The recorded sample as sent on the wire."""
    return sample_path(dialect, event_type).read_bytes()


def sample_json(dialect: str, event_type: str) -> Any:
    """The recorded sample, decoded."""
    return json.loads(sample_bytes(dialect, event_type))
