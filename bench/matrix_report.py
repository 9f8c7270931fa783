"""Markdown summary of a bench.socket_matrix report: one table per cell, ours against baseline.

Why separate: the JSON keeps every run; this picks the numbers the targets are about and says
pass or fail against each, so a reader sees the verdict without reading the runs.
"""

from __future__ import annotations

from typing import Any

OURS, BASELINE = "sessionhub", "baseline"
LAG_MAX_MS = 50.0
ACK_P99_MS = 150.0
RSS_RATIO = 0.6
DRAIN_S = 1.0
BIG_CELL = 2000  # the join and drain targets are for N=2000


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def at_most(value: float | None, limit: float) -> str:
    return verdict(None if value is None else value <= limit)


def ratio(ours: float | None, base: float | None) -> float | None:
    return round(ours / base, 2) if ours is not None and base else None


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:g}x"


def passing_lag(result: dict[str, Any]) -> tuple[float | None, float | None]:
    """Worst lag max and p99 bucket bounds (ms) over the runs that passed."""
    lags = [run["lag"] for run in result.get("runs", []) if run["passed"]]
    maxima = [lag["max_le_ms"] for lag in lags if lag["max_le_ms"] is not None]
    p99s = [lag["p99_le_ms"] for lag in lags if lag["p99_le_ms"] is not None]
    return (max(maxima) if maxima else None, max(p99s) if p99s else None)


def generator_load(result: dict[str, Any]) -> str:
    """The generator's CPU and loop delay on its busiest run: is it the bottleneck?"""
    runs = result.get("runs", [])
    if not runs:
        return "-"
    top = max(runs, key=lambda run: run["loadgen"]["cpu_pct"])
    own = top["loadgen"]
    return f"{own['cpu_pct']:.0f}% / {own['loop_delay_max_ms']:.0f} ms"


def starved(result: dict[str, Any]) -> str:
    """Worst share of a run the server spent runnable but off its core: high means noise."""
    waits = [run.get("server_runqueue_wait_pct") for run in result.get("runs", [])]
    waits = [wait for wait in waits if wait is not None]
    return f"{max(waits):.1f}%" if waits else "-"


def saturation_text(result: dict[str, Any]) -> str:
    value = fmt(result.get("saturation_deliveries_per_s"))
    single = result.get("highest_single_pass_deliveries_per_s")
    if value == "-" and single:
        return f"- (passed once at {fmt(single)})"
    return f">= {value}" if result.get("lower_bound") else value


def cell_rows(ours: dict[str, Any], base: dict[str, Any], clients: int) -> list[str]:
    sat_o, sat_b = ours.get("saturation_deliveries_per_s"), base.get("saturation_deliveries_per_s")
    join_o, join_b = ours["setup"]["joins_per_s"], base["setup"]["joins_per_s"]
    ack_o, ack_b = ours["setup"]["connect_join_ms"], base["setup"]["connect_join_ms"]
    rss_o, rss_b = ours["rss_mib_per_1000_clients"], base["rss_mib_per_1000_clients"]
    drain_o, drain_b = ours["drain"]["drain_s"], base["drain"]["drain_s"]
    lag_o, lag_b = passing_lag(ours), passing_lag(base)
    big = clients >= BIG_CELL
    sat_ratio, join_ratio, rss_ratio = ratio(sat_o, sat_b), ratio(join_o, join_b), None
    rss_ratio = ratio(rss_o, rss_b) if rss_b and rss_b > 0 else None
    join_ok = join_ratio is not None and join_ratio >= 1 and (ack_o["p99_ms"] or 0) <= ACK_P99_MS
    return [
        f"| saturation, deliveries/s | {saturation_text(ours)} | {saturation_text(base)} "
        f"| {times(sat_ratio)} | >= 1.0x: {verdict(None if sat_ratio is None else sat_ratio >= 1)} "
        "|",
        f"| joins/s (connect + join) | {fmt(join_o)} | {fmt(join_b)} | {times(join_ratio)} "
        f"| >= 1.0x{' and p99 <= 150 ms' if big else ''}: {verdict(join_ok if big else None)} |",
        f"| connect+join ack p50 / p99, ms | {fmt(ack_o['p50_ms'])} / {fmt(ack_o['p99_ms'])} "
        f"| {fmt(ack_b['p50_ms'])} / {fmt(ack_b['p99_ms'])} "
        f"| {times(ratio(ack_o['p99_ms'], ack_b['p99_ms']))} (p99) | |",
        f"| RSS per 1000 idle clients, MiB | {fmt(rss_o)} | {fmt(rss_b)} | {times(rss_ratio)} "
        f"| <= {RSS_RATIO}x: {at_most(rss_ratio, RSS_RATIO)} |",
        f"| drain to 0 clients, s | {fmt(drain_o)} | {fmt(drain_b)} | "
        f"| <= {DRAIN_S} s: {at_most(drain_o, DRAIN_S)} |",
        f"| event-loop lag at passing steps, max / p99 bucket, ms | {fmt(lag_o[0])} / "
        f"{fmt(lag_o[1])} | {fmt(lag_b[0])} / {fmt(lag_b[1])} | "
        f"| max <= {LAG_MAX_MS:g} ms: {at_most(lag_o[0], LAG_MAX_MS)} |",
        f"| generator CPU / loop delay max, busiest run | {generator_load(ours)} "
        f"| {generator_load(base)} | | |",
        f"| server waiting for its core (other processes), worst run | {starved(ours)} "
        f"| {starved(base)} | | < 5%: else noisy |",
    ]


def markdown(report: dict[str, Any]) -> str:
    """The whole summary: a header line, then one table per cell that has both servers."""
    load = report["load_average_1m_at_start"]
    lines = [
        f"## Socket matrix ({report['async_mode']}, {report['plan']['run_secs']:g} s runs, "
        f"wall {report['wall_s']:.0f} s, load average at start {load:.2f})",
        "",
    ]
    cells: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for result in report["results"]:
        cells.setdefault((result["clients"], result["room_size"]), {})[result["server"]] = result
    for (clients, room), pair in cells.items():
        lines.append(f"### N={clients} clients, rooms of R={room}")
        lines.append("")
        errors = [f"{name}: {r['error']}" for name, r in pair.items() if "error" in r]
        if errors or OURS not in pair or BASELINE not in pair:
            lines.extend(f"- error: {error}" for error in errors or ["a server was not measured"])
            lines.append("")
            continue
        lines.append("| | SessionHub | baseline | ratio | target |")
        lines.append("|---|---:|---:|---:|---|")
        lines.extend(cell_rows(pair[OURS], pair[BASELINE], clients))
        lines.append("")
    return "\n".join(lines)
