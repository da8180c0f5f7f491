"""Alternating runs: a few servers of the ingest benchmark, one after the other, several rounds.

    python bench/pairs.py [--servers bare,ours] [--rounds 4] [--duration 8] [--batch 1]

On a noisy machine one long run of each server compares two moments as much as two servers; runs
taken in turns, each ratio computed within its round, show whether a difference survives the
noise. The servers are those of ``bench/ingest.py`` (same commands, ports and event bodies;
needs wrk), ours with serve's defaults, its default log level included. Each round starts every
server afresh on an empty log, warms it up for 2 s, then runs ``wrk -t1 -c64`` for
``--duration`` seconds. Printed per run: requests/s, ack p99, and the CPU
time per request of each of the server's processes (for ``ours``: the receiver, then the
dispatching child) and of wrk; then, per server, the runs and their ratios to the first server's
run of the same round.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import NAMES, servers, wrk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="bare,ours",
                        help=f"comma-separated, the first is the reference; of {', '.join(NAMES)}")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--batch", type=int, default=1, help="events per request")
    parser.add_argument("--log-level", default="info",
                        help="of our servers (default: serve's own, info)")
    args = parser.parse_args()
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in names if name not in NAMES]
    if unknown or not names:
        parser.error(f"unknown server {', '.join(unknown) or '(none)'}; "
                     f"choose of {', '.join(NAMES)}")
    if args.rounds < 1 or args.duration < 1 or args.batch < 1:
        parser.error("--rounds, --duration and --batch must be at least 1")
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    runs: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            workdir = Path(tmp) / str(round_)
            workdir.mkdir()
            round_servers = servers(workdir, args.log_level)  # new ports every round
            for name in names:
                server = round_servers[name]
                try:
                    server.start()
                    wrk(server, 2, args.batch)  # warm-up
                    pids = server.pids()
                    before = server.cpu_by_process(pids)
                    stats = wrk(server, args.duration, args.batch)
                    requests = max(stats["requests"], 1)
                    per_process = [
                        f"{(after - cpu) / requests * 1e6:.0f}"
                        for after, cpu in zip(server.cpu_by_process(pids), before, strict=True)
                    ]
                finally:
                    server.stop()
                runs[name].append(stats["rps"])
                print(f"round {round_ + 1} {name:>14}: {stats['rps']:8.0f} req/s, "
                      f"ack p99 {stats['p99_ms']:.1f} ms, CPU µs/req {' + '.join(per_process)}"
                      f" (wrk {stats['wrk_cpu_us']:.0f}), errors {stats['errors']}", flush=True)
    reference = names[0]
    for name in names:
        line = f"{name:>14}: " + " ".join(f"{rps:.0f}" for rps in runs[name])
        if name != reference:
            ratios = [rps / ref for rps, ref in zip(runs[name], runs[reference], strict=True)]
            line += (f"; / {reference}: " + " ".join(f"{x:.2f}" for x in ratios)
                     + f" (median {statistics.median(ratios):.2f})")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
