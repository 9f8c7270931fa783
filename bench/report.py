"""Render the generated part of docs/benchmarks.md from bench/results/*.json.

Why: a number in the docs is only worth something next to how, where and on which code it was
measured, and next to its target. This reads what bench.socket_matrix, bench.rest_scale and
(when present) bench.soak wrote, plus the facts bench/__main__.py recorded at the start of the
run (bench/results/run.json), and rewrites only the text between the two markers below, so
the hand-written parts of the page stay byte for byte as they are.

    .venv/bin/python -m bench.report               # re-render from the existing JSON
    .venv/bin/python -m bench.report --stdout      # print the generated part, touch nothing
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.matrix_report import (
    ACK_P99_MS,
    BASELINE,
    BIG_CELL,
    DRAIN_S,
    LAG_MAX_MS,
    OURS,
    RSS_RATIO,
    passing_lag,
)
from bench.matrix_report import markdown as socket_markdown

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
LOCKFILE = ROOT / "bench" / "loadgen" / "package-lock.json"
START = "<!-- bench:generated:start -->"
END = "<!-- bench:generated:end -->"
FULL_SESSIONS = 100_000
REST_P99_MS = {"list": 20.0, "info": 10.0, "session_metrics": 20.0, "prometheus": 20.0}
SWEEP_MS = 500.0
STALL_MS = 50.0
PACKAGES = (
    "eventlet",
    "flask-socketio",
    "python-socketio",
    "python-engineio",
    "SQLAlchemy",
)

PASS, FAIL, NA = "PASS", "FAIL", "n/a"


@dataclass(frozen=True)
class Check:
    """One row of the targets table: what was measured against which target, and the verdict."""

    measure: str
    target: str
    measured: str
    verdict: str


# --- markers ---------------------------------------------------------------------------------


def replace_generated(document: str, generated: str) -> str:
    """Put `generated` between the markers; every byte outside them is returned unchanged.

    Why strict: the hand-written sections (the lead's before/after notes) must never be
    touched by a re-render, so a page without exactly one pair of markers is an error rather
    than something to guess about.
    """
    if document.count(START) != 1 or document.count(END) != 1:
        raise ValueError(f"{DOC.name} needs exactly one {START} and one {END}")
    head, rest = document.split(START)
    _, tail = rest.split(END)
    if END in head:
        raise ValueError(f"{END} comes before {START}")
    return f"{head}{START}\n{generated.strip()}\n{END}{tail}"


# --- facts about the machine, the versions and the commit ------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_facts() -> dict[str, Any]:
    """What the numbers depend on: cores, CPU model, memory, kernel, load at the moment."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def lockfile_version(package: str, lockfile: Path = LOCKFILE) -> str | None:
    """The version npm ci installs, from the lockfile: what the generator really runs."""
    try:
        packages = json.loads(lockfile.read_text()).get("packages", {})
    except (OSError, ValueError):
        return None
    return packages.get(f"node_modules/{package}", {}).get("version")


def version_facts() -> dict[str, str | None]:
    """Interpreter, server libraries, SQLite, Node and the Node client library."""
    versions: dict[str, str | None] = {"Python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    versions["SQLite library"] = sqlite3.sqlite_version
    node = _run(["node", "--version"])
    versions["Node"] = node.removeprefix("v") if node else None
    versions["socket.io-client (lockfile)"] = lockfile_version("socket.io-client")
    return versions


def commit_facts() -> dict[str, Any]:
    """Short commit and whether the tree differed from it: dirty numbers are not that commit's."""
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "commit": _run(["git", "rev-parse", "--short", "HEAD"]),
        "dirty": None if status is None else bool(status),
    }


def collect_facts() -> dict[str, Any]:
    """Everything bench/__main__.py records at the start of a run (bench/results/run.json)."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(),
        "versions": version_facts(),
        **commit_facts(),
    }


# --- targets ---------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def _limited(ok: bool, complete: bool) -> str:
    """A failure is a failure; a pass counts only when the run covered what the target names."""
    return FAIL if not ok else (PASS if complete else NA)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g} ms"


def _cells(matrix: dict[str, Any]) -> dict[tuple[int, int], dict[str, dict[str, Any]]]:
    cells: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for result in matrix.get("results", []):
        cells.setdefault((result["clients"], result["room_size"]), {})[result["server"]] = result
    return cells


def _name(cell: tuple[int, int]) -> str:
    return f"{cell[0]}x{cell[1]}"


def socket_checks(matrix: dict[str, Any] | None) -> list[Check]:
    """The five socket targets, each judged over every cell of the matrix."""
    rows = [
        ("fan-out saturation, every cell", ">= 1.0x the baseline"),
        (
            "connect + join",
            f">= 1.0x the baseline's joins/s; ack p99 <= {ACK_P99_MS:g} ms at N={BIG_CELL}",
        ),
        ("event-loop lag", f"max <= {LAG_MAX_MS:g} ms at every passing step"),
        ("RSS per 1000 connected clients", f"<= {RSS_RATIO}x the baseline"),
        (f"counts back to 0 after {BIG_CELL} clients leave", f"<= {DRAIN_S:g} s"),
    ]
    if not matrix:
        return [Check(m, t, "not run", NA) for m, t in rows]
    cells = _cells(matrix)
    pairs = {c: p for c, p in cells.items() if {OURS, BASELINE} <= p.keys()}
    pairs = {c: p for c, p in pairs.items() if not any("error" in r for r in p.values())}
    broken = [_name(c) for c in cells if c not in pairs]
    complete = not broken and bool(pairs)
    big = {c: p for c, p in pairs.items() if c[0] >= BIG_CELL}
    note = f"; no result for {', '.join(broken)}" if broken else ""

    def ratios(key: Callable[[dict[str, Any]], float | None]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for cell, pair in pairs.items():
            ours, base = key(pair[OURS]), key(pair[BASELINE])
            out[_name(cell)] = ours / base if ours is not None and base else None  # unrounded
        return out

    def listing(values: dict[str, Any], unit: str = "x") -> str:
        def one(v: float | None) -> str:
            return "-" if v is None else (f"{v:.2f}x" if unit == "x" else f"{v:g}{unit}")

        text = ", ".join(f"{c}: {one(v)}" for c, v in values.items())
        return (text or "no cell") + note

    sat = ratios(lambda r: r.get("saturation_deliveries_per_s"))
    sat_ok = all(v is not None and v >= 1.0 for v in sat.values())
    joins = ratios(lambda r: r["setup"]["joins_per_s"])
    join_p99 = {_name(c): p[OURS]["setup"]["connect_join_ms"]["p99_ms"] for c, p in big.items()}
    join_ok = all(v is not None and v >= 1.0 for v in joins.values()) and all(
        v is not None and v <= ACK_P99_MS for v in join_p99.values()
    )
    join_text = f"joins/s {listing(joins)}; p99 " + (
        ", ".join(f"{c}: {_ms(v)}" for c, v in join_p99.items()) or f"(no N={BIG_CELL} cell)"
    )
    lags = {_name(c): passing_lag(p[OURS])[0] for c, p in pairs.items()}
    lag_ok = all(v is not None and v <= LAG_MAX_MS for v in lags.values())
    rss = ratios(lambda r: r["rss_mib_per_1000_clients"])
    rss_ok = all(v is not None and 0 < v <= RSS_RATIO for v in rss.values())
    drains = {_name(c): p[OURS]["drain"]["drain_s"] for c, p in pairs.items()}
    big_drains = {c: v for c, v in drains.items() if int(c.split("x")[0]) >= BIG_CELL}
    drain_ok = all(v is not None and v <= DRAIN_S for v in big_drains.values())
    drain_text = (
        listing(big_drains, " s")
        if big_drains
        else f"no N={BIG_CELL} cell"
        + (f" (smaller cells: {listing(drains, ' s')})" if drains else "")
    )
    return [
        Check(*rows[0], listing(sat), _limited(sat_ok, complete)),
        Check(*rows[1], join_text, _limited(join_ok, complete and bool(big))),
        Check(*rows[2], listing(lags, " ms"), _limited(lag_ok, complete)),
        Check(*rows[3], listing(rss), _limited(rss_ok, complete)),
        Check(*rows[4], drain_text, _limited(drain_ok, complete and bool(big))),
    ]


def _phases(rest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {phase["name"]: phase for phase in rest.get("large", {}).get("phases", [])}


def rest_checks(rest: dict[str, Any] | None) -> list[Check]:
    """The REST and sweep targets; a pass below 100k sessions is reported as n/a, not PASS."""
    rows = [
        ("REST list / /info at 100k sessions", "p99 <= 20 ms / 10 ms", ("list", "info")),
        (
            "/sessions/metrics and Prometheus /metrics at 100k sessions",
            "p99 <= 20 ms",
            ("session_metrics", "prometheus"),
        ),
    ]
    sweep_row = (
        "sweep ending 1k of 100k sessions",
        f"<= {SWEEP_MS:g} ms in all, and no single stall of the event loop over {STALL_MS:g} ms",
    )
    if not rest:
        return [Check(m, t, "not run", NA) for m, t, _ in rows] + [Check(*sweep_row, "not run", NA)]
    large = rest.get("large", {})
    sessions = large.get("sessions") or 0
    full = sessions >= FULL_SESSIONS
    scale = "" if full else f" (at {sessions:,} sessions)"
    phases = _phases(rest)
    checks = []
    for measure, target, names in rows:
        p99s = {n: phases.get(n, {}).get("p99_ms") for n in names}
        ok = all(v is not None and v <= REST_P99_MS[n] for n, v in p99s.items())
        measured = " / ".join(_ms(v) for v in p99s.values()) + scale
        checks.append(Check(measure, target, measured, _limited(ok, full)))
    sweep = large.get("sweep")
    if not sweep:
        return checks + [Check(*sweep_row, "no sweep in the results", NA)]
    lag_max = sweep.get("server_lag", {}).get("max_le")
    stall_ms = None if lag_max is None else lag_max * 1000
    ok = (
        sweep["wall_ms"] <= SWEEP_MS
        and sweep.get("ended") == large.get("idle")
        and stall_ms is not None
        and stall_ms <= STALL_MS
    )
    rtt_max = sweep.get("client_rtt", {}).get("max_ms")
    measured = (
        f"{sweep['wall_ms']:g} ms for {sweep.get('ended')} sessions; longest loop stall <= "
        f"{_ms(stall_ms)} (lag bucket), client RTT max {_ms(rtt_max)}" + scale
    )
    return checks + [Check(*sweep_row, measured, _limited(ok, full))]


def targets_table(checks: list[Check]) -> str:
    lines = [
        "| measure | target (ratio to the baseline in the same run) | measured | result |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.measure} | {c.target} | {c.measured} | **{c.verdict}** |" for c in checks]
    return "\n".join(lines)


# --- detail sections -------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [(prefix.rstrip("."), f"{len(value)} items")] if value else []
    return [(prefix.rstrip("."), value)]


def generic_table(data: dict[str, Any]) -> str:
    """Every leaf of a JSON result as a row: for a shape this module does not know (yet)."""
    lines = ["| key | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in _flatten(data)]
    return "\n".join(lines)


def rest_markdown(rest: dict[str, Any]) -> str:
    """Per-phase and per-sweep numbers of bench.rest_scale (keys: large/small, phases, sweep)."""
    try:
        lines = [
            f"## REST at {rest['large']['sessions']:,} sessions and the sweep "
            f"({rest.get('total_secs', '-')} s in all)",
            "",
            "Server lag is the server's own event-loop probe (histogram bucket bounds, so `<= 30`"
            " means under 30 ms); client RTT is a Socket.IO client's round trip during the phase.",
            "",
            "| measurement | requests | p50 ms | p99 ms | max ms | server lag p99 / max <= ms "
            "| client RTT p99 / max ms |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        large = rest["large"]
        for phase in large["phases"]:
            lines.append(
                f"| {phase['name']} @ {large['sessions']:,} | {phase['requests']} "
                f"| {phase['p50_ms']} | {phase['p99_ms']} | {phase['max_ms']} "
                f"| {_lag_ms(phase['server_lag'])} | {_rtt(phase['client_rtt'])} |"
            )
        for key in ("large", "small"):
            run = rest.get(key)
            if not run:
                continue
            sweep = run["sweep"]
            lines.append(
                f"| sweep: {sweep['ended']:,} of {run['sessions']:,} ended | 1 | | | "
                f"{sweep['wall_ms']} | {_lag_ms(sweep['server_lag'])} | "
                f"{_rtt(sweep['client_rtt'])} |"
            )
        lines.append("")
        for key in ("large", "small"):
            run = rest.get(key)
            if run:
                stalls = ", ".join(f"{s:g}" for s in run.get("logged_stalls_ms") or []) or "none"
                lines.append(
                    f"- {run['sessions']:,} sessions ({run['active']:,} active, {run['idle']:,} "
                    f"idle, {run['memberships']:,} memberships, seeded in {run['seed_secs']} s): "
                    f"stalls the server logged over its whole run, ms: {stalls}; probe errors "
                    f"{run.get('probe_errors')}"
                )
        return "\n".join(lines)
    except (KeyError, TypeError) as error:
        return (
            f"## REST at scale\n\n(rest_scale.json has a shape this report does not know: "
            f"missing {error}; every value follows)\n\n{generic_table(rest)}"
        )


def _lag_ms(lag: dict[str, Any]) -> str:
    def one(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds * 1000:g}"

    return f"{one(lag.get('p99_le'))} / {one(lag.get('max_le'))}"


def _rtt(rtt: dict[str, Any]) -> str:
    return f"{rtt.get('p99_ms', '-')} / {rtt.get('max_ms', '-')}"


def soak_markdown(soak: dict[str, Any]) -> str:
    """The soak's drift verdicts: is memory, fds, greenlets flat under churn, counts back to 0?"""
    try:
        lines = [
            f"## Soak ({soak['minutes']:g} min, {soak['clients']} churning clients, "
            f"{soak['cycles']} cycles, {soak['drops']} dropped abruptly, "
            f"{soak['failures']} failures)",
            "",
            "| sample | at 1 min | worst | last | drift | target | result |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        for key, v in soak["verdicts"].items():
            lines.append(
                f"| {key} | {v['baseline']} | {v['worst']} | {v['last']} | {v['drift']:+.1%} "
                f"| within 5% | **{_verdict(v['pass'])}** |"
            )
        drain = soak["drain"]
        lines.append(
            f"| memberships after the churn stops | | | "
            f"{soak.get('after_drain', {}).get('memberships', '-')} | | 0 within a few s "
            f"| **{_verdict(drain['pass'])}** ({drain['secs']} s) |"
        )
        return "\n".join(lines)
    except (KeyError, TypeError) as error:
        return f"## Soak\n\n(unknown shape: missing {error})\n\n{generic_table(soak)}"


METHOD = """\
- **Pinning.** Every server under test runs alone on core 1 (`taskset -c 1`); the Node load
  generator (`bench/loadgen`, official `socket.io-client`) and the benchmark's own Python process
  share core 0. Each server is started fresh for each cell, on a freshly migrated SQLite file,
  in production mode with the sweep off, and stopped by its pid.
- **Socket matrix** (`bench.socket_matrix`): for each cell (N clients in rooms of R), SessionHub
  and a plain Flask-SocketIO baseline speaking the same contract, alternating so drift hits both.
  *Connect + join*: all N clients connect and join; joins/s and the connect+join ack latency.
  *RSS per 1000 clients*: the server's VmRSS growth with all N connected and idle, per 1000.
  *Fan-out saturation*: the highest rate of deliveries/s (one sender per room updates a node,
  every other member receives it) at which two runs both keep delivery p99 <= 100 ms with no
  lost delivery and no failed ack. Single runs ramp up by a factor chosen from the server's CPU
  headroom until one fails, one bisect step narrows the gap, and the highest passing rate must
  pass again right away; if that confirm fails, a rate 1.25x lower must pass twice, or the cell
  reports no saturation. `>=` means the run budget ended before any rate failed.
  *Event-loop lag*: the server's own loop-lag histogram over each run; the maximum is a bucket
  bound (`<= 75` means between the previous bound and 75 ms), over the runs that passed.
  *Drain*: all clients disconnect at once; time until the server counts 0 connected clients.
- **REST at scale** (`bench.rest_scale`): a SQLite file seeded with 100,000 sessions (30% active,
  1,000 idle for over an hour), one production `app.py`; p50/p99 of sequential requests to the
  list, `/info`, `/sessions/metrics` and Prometheus `/metrics`, with the server's loop lag and a
  Socket.IO client's round trip during each; then one cleanup sweep ending the 1,000 idle
  sessions, again in a 10,000-session database to show the cost follows what is ended.
- **Verdicts.** Ratios compare SessionHub with the baseline measured in the same run. A pass
  measured on less than the target names (a `--quick` run: one small cell, fewer sessions) is
  shown as `n/a`; a failure there is still a FAIL.
- **Soak** (`bench.soak`, `make bench-soak`, 10 minutes, not part of `make bench`): ~100 clients
  churning; RSS, fds, greenlets must stay within 5% of their value after the first minute.
- `make bench` refuses to start when the 1-minute load average is above 1.0 or another process
  uses more than 20% of a core, unless forced; a forced run is marked below."""


def _facts_lines(meta: dict[str, Any]) -> list[str]:
    machine, versions = meta.get("machine", {}), meta.get("versions", {})
    dirty = meta.get("dirty")
    tree = "unknown" if dirty is None else ("dirty (uncommitted changes)" if dirty else "clean")
    lines = [
        f"- Date: {meta.get('date', '-')}; commit `{meta.get('commit') or '-'}`, working tree "
        f"{tree}.",
        f"- {meta['note']}"
        if meta.get("note")
        else f"- Command: `{meta.get('command', '-')}`"
        + (f"; wall {meta['wall_s']:.0f} s" if meta.get("wall_s") is not None else ""),
    ]
    if meta.get("forced"):
        lines.append(
            f"- **Forced** (`--force`): the machine was busy at the start "
            f"({'; '.join(meta.get('busy_reasons', [])) or 'see the log'}); read the numbers "
            "as upper bounds on latency and lower bounds on throughput."
        )
    if meta.get("earlier"):
        lines.append(
            "- Not written by this run (an earlier run, or a step that was skipped or failed): "
            + ", ".join(meta["earlier"])
        )
    for step in meta.get("steps", []):
        lines.append(
            f"- Step `{step['name']}`: {step['elapsed_s']:.0f} s, exit code {step['returncode']}"
            + (" (stopped: over the time budget)" if step.get("timed_out") else "")
        )
    lines += [
        "",
        "### Machine",
        "",
        f'- {machine.get("nproc", "-")} CPUs (`nproc`), "{machine.get("cpu_model", "-")}", '
        f"{machine.get('ram_gib', '-')} GiB RAM, {machine.get('kernel', '-')}",
        f"- 1-minute load average at the start: {machine.get('load_average_1m', '-')}",
        "",
        "### Versions",
        "",
        "| component | version |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value or 'not installed'} |" for name, value in versions.items()]
    return lines


def render(
    matrix: dict[str, Any] | None,
    rest: dict[str, Any] | None,
    soak: dict[str, Any] | None,
    meta: dict[str, Any],
) -> str:
    """The whole generated part (without the markers)."""
    checks = socket_checks(matrix) + rest_checks(rest)
    lines = [
        "<!-- Written by `python -m bench.report` from bench/results/*.json; "
        "edits between the markers are overwritten. -->",
        "",
        "## Latest run",
        "",
        *_facts_lines(meta),
        "",
        "### Targets",
        "",
        targets_table(checks),
        "",
        "### Method",
        "",
        METHOD,
        "",
    ]
    lines.append(socket_markdown(matrix) if matrix else "## Socket matrix\n\nNot run.\n")
    lines.append(rest_markdown(rest) if rest else "## REST at scale\n\nNot run.")
    lines.append("")
    if soak:
        lines += [
            soak_markdown(soak),
            "",
            f"(`make bench-soak`, written {meta.get('soak_date', '-')})",
            "",
        ]
    return "\n".join(lines)


def load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _file_date(path: Path) -> str:
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
    return f"{stamp:%Y-%m-%d %H:%M} UTC"


def render_from(results: Path = RESULTS) -> str:
    """Read the JSON files; facts not recorded by a run are collected now (and say so)."""
    meta = load(results / "run.json")
    if meta is None:
        meta = collect_facts()
        meta["date"] += " (report rendered; no run.json, so facts are from now)"
        meta["note"] = (
            "The results come from `bench.*` modules run one by one, not `make bench`: the "
            "quiet-machine check did not run; see each section's load average."
        )
    started = meta.get("started_epoch")
    meta["earlier"] = [
        f"{path.name} ({_file_date(path)})"
        for path in (results / name for name in ("socket_matrix.json", "rest_scale.json"))
        if started is not None and path.exists() and path.stat().st_mtime < started
    ]
    soak_path = results / "soak.json"
    if soak_path.exists():
        meta["soak_date"] = _file_date(soak_path)
    return render(
        load(results / "socket_matrix.json"),
        load(results / "rest_scale.json"),
        load(results / "soak.json"),
        meta,
    )


def write_doc(generated: str, doc: Path = DOC) -> None:
    doc.write_text(replace_generated(doc.read_text(), generated))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--stdout", action="store_true", help="print, do not write the doc")
    args = parser.parse_args(argv)
    generated = render_from(args.results)
    if args.stdout:
        print(generated)
        return 0
    try:
        write_doc(generated, args.doc)
    except ValueError as error:
        print(f"bench.report: {error}", file=sys.stderr)
        return 2
    print(f"bench.report: rewrote the generated part of {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
