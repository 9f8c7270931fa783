"""`make bench`: the socket matrix, then REST at scale, then docs/benchmarks.md re-rendered.

Why one entry point: the numbers in the docs must come from one run on a quiet machine, with
the facts that explain them (machine, versions, commit) recorded at its start. This refuses to
start on a busy machine (`--force` runs anyway and the report says so), runs each benchmark as
a subprocess one after the other (never two at once: they would share the two cores), streams
their output, stops a step that would push the whole run past its time budget, and finally
rewrites the generated part of docs/benchmarks.md through bench.report.

    .venv/bin/python -m bench                    # full run, under 30 minutes
    .venv/bin/python -m bench --quick            # one small cell, 10,000 sessions: a smoke run
    .venv/bin/python -m bench --skip rest        # only the socket matrix
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BUDGET_S = 30 * 60 - 60  # `make bench` promises under 30 minutes; keep a minute for the rest
MAX_LOAD_1M = 1.0
MAX_OTHER_CPU_PCT = 20.0
CPU_SAMPLE_S = 1.0
INTERRUPT_GRACE_S = 20.0
# Rough durations on the reference machine, to warn before starting rather than after.
EXPECTED_S = {("socket", False): 18 * 60, ("socket", True): 2 * 60, ("rest", False): 120}
EXPECTED_S[("rest", True)] = 60


def _cpu_ticks(pid: str) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


def _command(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:80] or f"[pid {pid}]"


def _ancestors() -> set[str]:
    """This process and its parents (make, the shell): their own CPU is not someone else's."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(str(pid))
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            break
        pid = int(stat[1])
    return pids


def busy_processes(seconds: float = CPU_SAMPLE_S) -> list[tuple[float, str, str]]:
    """(% of one core, pid, command) for other processes above the limit over `seconds`."""
    mine = _ancestors()

    def snapshot() -> dict[str, int]:
        ticks = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and entry not in mine:
                value = _cpu_ticks(entry)
                if value is not None:
                    ticks[entry] = value
        return ticks

    before = snapshot()
    time.sleep(seconds)
    after = snapshot()
    hertz = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, ticks in after.items():
        pct = 100 * (ticks - before.get(pid, ticks)) / hertz / seconds
        if pct > MAX_OTHER_CPU_PCT:
            busy.append((round(pct, 1), pid, _command(pid)))
    return sorted(busy, reverse=True)


def quiet_machine_problems() -> list[str]:
    """Why the machine is too busy to measure on, or nothing when it is quiet enough."""
    problems = []
    load = os.getloadavg()[0]
    if load > MAX_LOAD_1M:
        problems.append(f"1-minute load average {load:.2f} > {MAX_LOAD_1M:g}")
    problems += [
        f"pid {pid} at {pct:g}% CPU > {MAX_OTHER_CPU_PCT:g}%: {command}"
        for pct, pid, command in busy_processes()
    ]
    return problems


def steps(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """The benchmark subprocesses to run, in order."""
    python, results = sys.executable, args.results
    planned = []
    if "socket" not in args.skip:
        command = [
            python,
            "-m",
            "bench.socket_matrix",
            "--out",
            str(results / "socket_matrix.json"),
        ]
        command += ["--async-mode", args.async_mode] + (["--quick"] if args.quick else [])
        planned.append(("socket", command))
    if "rest" not in args.skip:
        command = [python, "-m", "bench.rest_scale", "--out", str(results / "rest_scale.json")]
        if args.quick:
            command += ["--sessions", "10000", "--small-sessions", "5000", "--requests", "50"]
        planned.append(("rest", command))
    return planned


def run_step(name: str, command: list[str], deadline: float) -> dict[str, Any]:
    """Run one benchmark, its output streamed as it comes; stop it if it passes the deadline.

    Stopping is SIGINT first, so the benchmark's `finally` blocks stop the servers it started
    by pid, and SIGKILL to its process group only if it has not exited after a grace period.
    """
    print(f"\n=== {name}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    timed_out = False
    try:
        process.wait(timeout=max(deadline - started, 1.0))
    except subprocess.TimeoutExpired:
        timed_out = True
        print(f"=== {name}: over the time budget, interrupting pid {process.pid}", flush=True)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)  # it got the Ctrl-C too; let it clean up
        process.wait(timeout=INTERRUPT_GRACE_S)
        raise
    elapsed = time.monotonic() - started
    print(f"=== {name}: exit code {process.returncode}, {elapsed:.0f} s", flush=True)
    return {
        "name": name,
        "elapsed_s": round(elapsed, 1),
        "returncode": process.returncode,
        "timed_out": timed_out,
    }


def print_facts(meta: dict[str, Any]) -> None:
    machine = meta["machine"]
    print(
        f"machine: {machine['nproc']} CPUs, {machine['cpu_model']}, {machine['ram_gib']} GiB, "
        f"{machine['kernel']}, load {machine['load_average_1m']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    print(f"commit: {meta['commit']}{' (dirty tree)' if meta['dirty'] else ''}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, short runs")
    parser.add_argument("--skip", action="append", default=[], choices=("socket", "rest"))
    parser.add_argument(
        "--async-mode",
        default="eventlet",
        choices=("eventlet", "gevent"),
        help="for the socket matrix's servers (rest_scale runs app.py as configured)",
    )
    parser.add_argument("--force", action="store_true", help="run even on a busy machine")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--doc", type=Path, default=report.DOC, help="the page to re-render")
    args = parser.parse_args(argv)
    started = time.monotonic()
    problems = quiet_machine_problems()
    if problems and not args.force:
        print("bench: the machine is busy, numbers would be contaminated:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Wait for it to be quiet, or pass --force (the report will say so).", file=sys.stderr)
        return 2
    meta = report.collect_facts()
    meta.update(
        command="python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        forced=bool(problems),
        started_epoch=time.time(),
        busy_reasons=problems,
        steps=[],
    )
    print_facts(meta)
    planned = steps(args)
    expected = sum(EXPECTED_S[(name, args.quick)] for name, _ in planned)
    if expected > BUDGET_S:
        print(f"bench: warning, expected {expected} s, over the {BUDGET_S} s budget", flush=True)
    deadline = started + BUDGET_S
    args.results.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, command in planned:
        if time.monotonic() >= deadline:
            print(f"=== {name}: skipped, the time budget is spent", flush=True)
            meta["steps"].append({"name": name, "elapsed_s": 0.0, "returncode": None,
                                  "timed_out": True})  # fmt: skip
            failed = True
            continue
        step = run_step(name, command, deadline)
        meta["steps"].append(step)
        failed = failed or step["returncode"] != 0
    meta["wall_s"] = round(time.monotonic() - started, 1)
    (args.results / "run.json").write_text(json.dumps(meta, indent=2))
    report.write_doc(report.render_from(args.results), args.doc)
    print(f"\nbench: {meta['wall_s']:.0f} s in all; {args.doc} re-rendered")
    for step in meta["steps"]:
        print(f"  {step['name']}: {step['elapsed_s']:.0f} s, exit code {step['returncode']}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
