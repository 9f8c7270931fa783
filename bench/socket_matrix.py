"""Socket matrix: SessionHub against a plain Flask-SocketIO baseline, cell by cell, side by side.

Why: fan-out throughput, join speed, memory per client and drain time only mean something next
to what the simplest server speaking the same contract does on the same machine. For each cell
(N clients in rooms of R) and each server, alternating servers so drift hits both, this starts a
fresh server pinned to core 1, has the Node load generator on core 0 connect and join all N,
reads RSS per 1000 idle clients, searches the saturation rate of deliveries/s, and drains.

Saturation is the highest rate at which two 10 s runs both keep delivery p99 <= 100 ms with no
lost delivery and no failed ack: single runs ramp up (by a factor chosen from the server's CPU
use) until one fails, one bisect step narrows the gap, then the highest passing rate is run
again right away and counts only if it passes a second time; if that confirm fails, a rate
1.25x lower must pass two runs in a row, or the cell reports no saturation.

    .venv/bin/python -m bench.socket_matrix            # 4 cells x 2 servers, about 18 minutes
    .venv/bin/python -m bench.socket_matrix --quick    # 200x10 only, 5 s runs, about 2 minutes
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.loadgen_process import Loadgen, LoadgenError
from bench.matrix_report import markdown
from bench.servers import SERVER_NAMES, RunningServer, lag_summary, running

P99_LIMIT_MS = 100.0
IDLE_SECS = 2.0
DRAIN_POLL_SECS = 0.02
DRAIN_TIMEOUT = 30.0
DRAIN_POLL_TIMEOUT = 2.0
SETUP_TIMEOUT = 300.0
DEFAULT_CELLS = "200x10,200x50,2000x10,2000x50"
# First rate tried (deliveries/s) by client count: low enough to pass on a slow build, and the
# ramp's CPU-guided factor reaches the top in a few steps from there.
START_RATE = {200: 400.0, 2000: 200.0}


@dataclass(frozen=True)
class Plan:
    """How long each run is and how many runs one server may spend on a cell."""

    run_secs: float
    max_runs: int
    bisect: bool


def parse_cells(text: str) -> list[tuple[int, int]]:
    cells = []
    for item in text.split(","):
        clients, room = item.lower().split("x")
        cells.append((int(clients), int(room)))
    return cells


def run_step(loadgen: Loadgen, server: RunningServer, cell: tuple[int, int], rate: float,
             plan: Plan) -> dict[str, Any]:  # fmt: skip
    """One run at `rate` deliveries/s, with the server's CPU and event-loop lag during it."""
    clients, room = cell
    rooms = math.ceil(clients / room)
    per_sender = rate / (rooms * (room - 1))
    lag_before, cpu_before, wall_before = server.lag_buckets(), server.cpu_seconds(), time.time()
    waited_before = server.runqueue_wait_seconds()
    result = loadgen.call(
        {"cmd": "run", "rate": per_sender, "seconds": plan.run_secs}, timeout=plan.run_secs + 30
    )
    wall = time.time() - wall_before
    result["target_deliveries_per_s"] = round(rate, 1)
    result["server_cpu_pct"] = round(100 * (server.cpu_seconds() - cpu_before) / wall, 1)
    waited = server.runqueue_wait_seconds() - waited_before
    result["server_runqueue_wait_pct"] = round(100 * waited / wall, 1)
    result["lag"] = lag_summary(lag_before, server.lag_buckets())
    result["passed"] = (
        result["lost"] == 0
        and result["acks_error"] == 0
        and result["acks_missing"] == 0
        and (result["delivery_ms"]["p99_ms"] or 0) <= P99_LIMIT_MS
    )
    print(
        f"    {rate:9.0f}/s  p99 {result['delivery_ms']['p99_ms']} ms  lost {result['lost']}  "
        f"server {result['server_cpu_pct']}% (waited {result['server_runqueue_wait_pct']}%)  "
        f"gen {result['loadgen']['cpu_pct']}%  "
        f"lag max {result['lag']['max_le_ms']} ms  {'pass' if result['passed'] else 'FAIL'}",
        flush=True,
    )
    return result


def next_rate(rate: float, step: dict[str, Any]) -> float:
    """Ramp factor from CPU headroom: far below saturation jump far, close to it step 1.25x."""
    cpu = max(step["server_cpu_pct"], 1.0)
    factor = min(max(0.85 * 100 / cpu, 1.25), 3.0)
    if (step["delivery_ms"]["p99_ms"] or 0) > P99_LIMIT_MS / 2:
        factor = min(factor, 1.5)  # already queueing: approach the limit carefully
    return rate * factor


def saturation_search(loadgen: Loadgen, server: RunningServer, cell: tuple[int, int],
                      start: float, plan: Plan) -> dict[str, Any]:  # fmt: skip
    """Ramp, bisect once, confirm: see the module docstring for the rule."""
    runs: list[dict[str, Any]] = []

    def attempt(rate: float) -> bool:
        runs.append(run_step(loadgen, server, cell, rate, plan))
        return runs[-1]["passed"]

    passed, failed, rate = None, None, start
    while len(runs) < plan.max_runs - 2 and failed is None:
        if attempt(rate):
            passed, rate = rate, next_rate(rate, runs[-1])
        elif passed is None and len(runs) < 3:
            rate /= 2  # even the first rate failed: look lower
        else:
            failed = rate
    if plan.bisect and passed and failed and failed / passed > 1.3 and len(runs) < plan.max_runs:
        middle = math.sqrt(passed * failed)
        if attempt(middle):
            passed = middle
        else:
            failed = middle
    saturation = passed if passed and attempt(passed) else None
    if passed and saturation is None and len(runs) < plan.max_runs + 1:
        lower = passed / 1.25  # the confirm failed: one lower rate, which must pass twice
        saturation = lower if attempt(lower) and attempt(lower) else None
    return {
        "saturation_deliveries_per_s": round(saturation, 1) if saturation else None,
        "highest_single_pass_deliveries_per_s": round(passed, 1) if passed else None,
        "lower_bound": failed is None,  # the run budget ended before any rate failed
        "first_failure_deliveries_per_s": round(failed, 1) if failed else None,
        "runs": runs,
    }


def drain(loadgen: Loadgen, server: RunningServer) -> dict[str, Any]:
    """All clients disconnect at once; time until the server counts 0 connected clients."""
    started = time.perf_counter()
    loadgen.send({"cmd": "drain"})
    deadline = started + DRAIN_TIMEOUT
    seen, slow_polls = None, 0
    while time.perf_counter() < deadline:
        try:
            seen = server.connected_clients(timeout=DRAIN_POLL_TIMEOUT)
        except requests.RequestException:
            slow_polls += 1  # the server is too busy to answer REST: keep waiting, count it
            continue
        if seen == 0:
            break
        time.sleep(DRAIN_POLL_SECS)
    elapsed = time.perf_counter() - started
    generator = loadgen.answer(timeout=15)
    return {
        "drain_s": round(elapsed, 3) if seen == 0 else None,
        "left": seen,
        "unanswered_polls": slow_polls,
        **generator,
    }


def measure(name: str, cell: tuple[int, int], plan: Plan, args: argparse.Namespace,
            directory: Path) -> dict[str, Any]:  # fmt: skip
    """One server on one cell: joins, idle memory, saturation, drain."""
    clients, room = cell
    print(f"  {name} {clients}x{room}", flush=True)
    with running(name, directory, args.async_mode) as server:
        with Loadgen(directory / f"loadgen-{name}-{clients}x{room}.log") as loadgen:
            rss_before = server.rss_kib()
            setup = loadgen.call(
                {
                    "cmd": "setup",
                    "url": server.url,
                    "clients": clients,
                    "room_size": room,
                    **server.setup_options,
                },
                timeout=SETUP_TIMEOUT,
            )
            print(f"    joined {setup['joined']} at {setup['joins_per_s']}/s", flush=True)
            time.sleep(IDLE_SECS)
            rss_per_1000 = (server.rss_kib() - rss_before) * 1000 / clients / 1024
            start = args.start or START_RATE.get(clients, 200.0)
            search = saturation_search(loadgen, server, cell, start, plan)
            return {
                "server": name,
                "clients": clients,
                "room_size": room,
                "setup": setup,
                "rss_mib_per_1000_clients": round(rss_per_1000, 2),
                **search,
                "drain": drain(loadgen, server),
            }


def measure_or_error(name: str, cell: tuple[int, int], plan: Plan, args: argparse.Namespace,
                     directory: Path) -> dict[str, Any]:  # fmt: skip
    """A failed cell is reported with its error; the rest of the matrix still runs."""
    try:
        return measure(name, cell, plan, args, directory)
    except (LoadgenError, RuntimeError, OSError, requests.RequestException) as error:
        print(f"    ERROR: {error}", flush=True)
        return {"server": name, "clients": cell[0], "room_size": cell[1], "error": str(error)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200x10, 5 s runs, few steps")
    parser.add_argument("--cells", default=None, help=f"NxR list (default {DEFAULT_CELLS})")
    parser.add_argument("--servers", default=",".join(SERVER_NAMES))
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument("--start", type=float, default=None, help="first rate, deliveries/s")
    parser.add_argument("--out", type=Path, default=Path("bench/results/socket_matrix.json"))
    args = parser.parse_args()
    cells = parse_cells(args.cells or ("200x10" if args.quick else DEFAULT_CELLS))
    plan = Plan(5.0, 6, False) if args.quick else Plan(10.0, 7, True)
    os.sched_setaffinity(0, {0})  # the harness shares the generator's core, not the server's
    started, load_average = time.time(), os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="socket-matrix-") as tmp:
        for cell in cells:
            for name in args.servers.split(","):
                results.append(measure_or_error(name, cell, plan, args, Path(tmp)))
    report = {
        "async_mode": args.async_mode,
        "plan": plan.__dict__,
        "wall_s": round(time.time() - started, 1),
        "load_average_1m_at_start": load_average,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
