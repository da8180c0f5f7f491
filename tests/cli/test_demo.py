"""``callbacks demo`` through the console script: a confirmed reminder call, its timeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.servers import ROOT


def test_demo_places_a_reminder_call_and_prints_its_timeline() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "callbacks"), "demo"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    lines = [line.strip() for line in out.splitlines()]
    steps = [line.split(None, 1)[1] for line in lines if line.startswith("+")]
    # The reminder flow, in order: call, prompt, tone 1, cancel, confirmation, hang up.
    wanted = ["POST /calls ", "PlayAudio", "DtmfReceived", "CancelMediaProcessing",
              "reminder:closing", "Hangup", "Terminated"]
    positions = [next(i for i, step in enumerate(steps) if w in step) for w in wanted]
    assert positions == sorted(positions), steps
    assert "outcome   confirmed: +14255550100 confirmed" in out
    assert "secret=" not in out + result.stderr
    assert "accesskey" not in out + result.stderr
