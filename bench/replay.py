"""Replay benchmark: a dry run of logged events through a handler that makes one REST call each.

    python bench/replay.py [--events 100000] [--small 10000] [--json results.json]

Builds two SQLite logs (``--small`` and ``--events`` GA ``PlayCompleted`` events over 1 000
calls, appended in batches of 5 000), then runs the real ``callbacks replay --dry-run --quiet
--json`` on each with this module's ``router`` (one ``ctx.call.play_media`` per event, so one
recorded REST call). Reported per log: events/s as the replay measures it (source read, parse,
handler, dry-run client, results recorded in the log), the wall and CPU time of the whole
command (process start and imports included), and its peak RSS (``/usr/bin/time``). Flat memory
means the peak RSS of the large log is close to that of the small one. The replay is one
thread's work: on a busy machine compare CPU seconds, which other processes do not inflate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callbacks import FileSource, Router  # noqa: E402 - after the path set-up, for `python bench/replay.py`
from callbacks.context import Context  # noqa: E402
from callbacks.events import Event, parse_events  # noqa: E402
from callbacks.store import open_store  # noqa: E402

router = Router()
CALLS = 1000
BATCH = 5000
PLUGIN = "bench.replay:router"


@router.on("PlayCompleted")
async def play_again(event: Event, ctx: Context) -> None:
    """One REST call per event: play a prompt on the event's call."""
    await ctx.call.play_media(
        FileSource("https://example.com/prompt.wav"), operation_context="bench"
    )


def _element(n: int) -> str:
    call = f"bench-call-{n % CALLS:04d}"
    return json.dumps({
        "id": f"bench-{n}", "source": f"calling/callConnections/{call}",
        "type": "Microsoft.Communication.PlayCompleted", "specversion": "1.0",
        "time": "2024-03-01T12:00:00.123456Z", "subject": f"calling/callConnections/{call}",
        "datacontenttype": "application/json",
        "data": {
            "callConnectionId": call, "serverCallId": "aHR0cHM6Ly9hcGk",
            "correlationId": "b1c0e6a2-1111-4222-8333-444455556666",
            "operationContext": f"prompt-{n}",
            "resultInformation": {"code": 200, "subCode": 0, "message": "Action completed."},
        },
    })


async def build_log(path: Path, count: int) -> float:
    """A log of ``count`` events; seconds it took."""
    started = time.perf_counter()
    async with open_store(f"sqlite:///{path}") as store:
        for start in range(0, count, BATCH):
            body = "[" + ",".join(_element(n) for n in range(start, min(count, start + BATCH)))
            await store.append(parse_events((body + "]").encode()), None)
    return time.perf_counter() - started


def run_replay(path: Path) -> dict[str, Any]:
    """Run the real command on the log; its summary, wall time and peak RSS."""
    command = [
        str(Path(sys.executable).parent / "callbacks"), "replay", "--dry-run", "--quiet",
        "--json", "--store", f"sqlite:///{path}", "--handlers", PLUGIN,
    ]
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", *command], cwd=ROOT, capture_output=True, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"replay failed ({done.returncode}):\n{done.stderr}")
    peak_kib, user, system = done.stderr.strip().splitlines()[-1].split()
    summary = json.loads(done.stdout.strip().splitlines()[-1])["summary"]
    return {
        "summary": summary,
        "wall_s": round(wall, 2),
        "cpu_s": round(float(user) + float(system), 2),
        "peak_rss_mib": round(int(peak_kib) / 1024, 1),
    }


def main() -> None:
    """Build the logs, replay each, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, Any] = {"command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory(prefix="callbacks-replay-bench-") as tmp:
        for label, count in (("small", args.small), ("large", args.events)):
            path = Path(tmp) / f"{label}.db"
            built = asyncio.run(build_log(path, count))
            outcome = run_replay(path)
            summary = outcome["summary"]
            assert summary["events"] == count and summary["rest_calls"] == count, summary
            results[label] = {"events": count, "log_built_s": round(built, 2), **outcome}
            print(
                f"{count:>7} events: {summary['events_per_second']:>8,.0f} events/s "
                f"(replay {summary['elapsed']:.2f} s; whole command {outcome['wall_s']:.2f} s "
                f"wall, {outcome['cpu_s']:.2f} s CPU), {summary['rest_calls']} REST calls "
                f"recorded, {summary['recorded']} results kept, "
                f"peak RSS {outcome['peak_rss_mib']} MiB"
            )
    small, large = results["small"], results["large"]
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    print(f"peak RSS {large['events']} vs {small['events']} events: x{ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
