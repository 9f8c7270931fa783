"""Where the server's CPU goes under the load generator: py-spy on the server process.

Why: measure where the time goes before changing a hot path. Starts one fresh server (ours
or the baseline), connects a cell of Node clients, and samples the server with py-spy while
every room's sender updates a node at a fixed rate. Writes a flame graph and the raw collapsed
stacks under bench/profiles/ (git-ignored) and prints the functions with the largest inclusive
share of samples.

    .venv/bin/python -m bench.profile_server --cell 200x10 --rate 1500 --seconds 20
    .venv/bin/python -m bench.profile_server --server baseline --cell 200x10 --rate 1500
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.loadgen_process import Loadgen
from bench.servers import SERVER_NAMES, running
from bench.socket_matrix import parse_cells

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "bench" / "profiles"
PY_SPY = Path(sys.executable).with_name("py-spy")
SAMPLE_RATE = 200  # per second


def top_functions(collapsed: Path, count: int) -> list[tuple[float, str]]:
    """Inclusive share of samples per function (a function counted once per stack)."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        total += int(samples)
        seen = set()
        for frame in stack.split(";"):
            name = frame.split(" (")[0]
            where = frame.split("(")[1].split(":")[0].rsplit("/", 1)[-1] if "(" in frame else ""
            key = f"{name} ({where})"
            if key not in seen:
                inclusive[key] += int(samples)
                seen.add(key)
    return [(100 * samples / max(total, 1), name) for name, samples in inclusive.most_common(count)]


def record(
    pid: int, seconds: int | None, output: Path, file_format: str
) -> subprocess.Popen[bytes]:
    """py-spy on `pid` for `seconds`, or until it is sent SIGINT (None)."""
    # --nonblocking: two recorders at once (ptrace allows one), and no pauses of the server.
    command = [
        str(PY_SPY),
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(SAMPLE_RATE),
        "--nonblocking",
    ]
    if seconds is not None:
        command += ["--duration", str(seconds)]
    command += ["--format", file_format, "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=SERVER_NAMES, default="sessionhub")
    parser.add_argument("--cell", default="200x10", help="N clients x R per room")
    parser.add_argument("--rate", type=float, default=1000.0, help="deliveries/s in all")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument(
        "--cpu-only", action="store_true", help="no py-spy: only the CPU per operation"
    )
    parser.add_argument(
        "--phase",
        choices=("operations", "joins"),
        default="operations",
        help="profile the rate run (default) or the connect + join of every client",
    )
    args = parser.parse_args()
    ((clients, room),) = parse_cells(args.cell)
    os.sched_setaffinity(0, {0})
    PROFILES.mkdir(parents=True, exist_ok=True)
    label = f"{args.rate:g}" if args.phase == "operations" else "joins"
    stem = PROFILES / f"{args.server}-{args.async_mode}-{clients}x{room}-{label}"
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        with running(args.server, directory, args.async_mode) as server:
            with Loadgen(directory / "loadgen.log") as loadgen:
                setup = {
                    "cmd": "setup",
                    "url": server.url,
                    "clients": clients,
                    "room_size": room,
                    **server.setup_options,
                }
                if args.phase == "joins":
                    return _profile_joins(args, server, loadgen, setup, stem)
                loadgen.call(setup, timeout=300)
                per_sender = args.rate / (math.ceil(clients / room) * (room - 1))
                cpu_before = server.cpu_seconds()
                # Both recorders sample the same run: py-spy writes one format per run.
                recorders = _recorders(args, server.pid, args.seconds, stem)
                run = {"cmd": "run", "rate": per_sender, "seconds": args.seconds}
                result = loadgen.call(run, timeout=args.seconds + 60)
                cpu = server.cpu_seconds() - cpu_before
                for recorder in recorders:
                    recorder.wait(timeout=60)
    operations = result.get("ops_sent") or 0
    print(f"{args.server} {clients}x{room} at {args.rate:g} deliveries/s for {args.seconds} s:")
    print(f"  server CPU {cpu:.1f} s, {1000 * cpu / max(operations, 1):.2f} ms per operation")
    print(f"  delivery {result.get('delivery_ms')} lost {result.get('lost')}")
    _print_profile(args, stem)
    return 0


def _recorders(
    args: argparse.Namespace, pid: int, seconds: int | None, stem: Path
) -> list[subprocess.Popen[bytes]]:
    if args.cpu_only:
        return []
    return [
        record(pid, seconds, stem.with_suffix(".svg"), "flamegraph"),
        record(pid, seconds, stem.with_suffix(".txt"), "raw"),
    ]


def _profile_joins(
    args: argparse.Namespace, server: Any, loadgen: Loadgen, setup: dict[str, Any], stem: Path
) -> int:
    """Sample the server while every client connects and joins, then stop py-spy."""
    cpu_before = server.cpu_seconds()
    recorders = _recorders(args, server.pid, None, stem)
    time.sleep(1)  # py-spy attaches
    result = loadgen.call(setup, timeout=300)
    cpu = server.cpu_seconds() - cpu_before
    for recorder in recorders:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)
    joined = result.get("joined") or 0
    print(f"{args.server}: {joined} clients connected and joined at {result.get('joins_per_s')}/s")
    print(f"  server CPU {cpu:.1f} s, {1000 * cpu / max(joined, 1):.2f} ms per connect + join")
    _print_profile(args, stem)
    return 0


def _print_profile(args: argparse.Namespace, stem: Path) -> None:
    if args.cpu_only:
        return
    print(f"  flame graph {stem.with_suffix('.svg')}")
    for share, name in top_functions(stem.with_suffix(".txt"), args.top):
        print(f"  {share:5.1f}%  {name}")


if __name__ == "__main__":
    sys.exit(main())
