"""bench.report's pure parts: the marker rewrite and the PASS/FAIL of each target.

Why here: the docs page keeps hand-written text next to the generated part, and a verdict in
it is what a reader trusts; both are cheap to check without starting any server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.report import END, FAIL, NA, PASS, START


def test_replacing_the_generated_part_keeps_everything_outside_byte_for_byte() -> None:
    head = "# Title\r\n\ntrailing spaces   \n\u00e9 unicode\n"
    tail = "\n\n## Hot-path changes: before and after\n\nlead's text\t\n"
    document = f"{head}{START}\nold generated\nlines\n{END}{tail}"

    rewritten = report.replace_generated(document, "new table\n")

    assert rewritten == f"{head}{START}\nnew table\n{END}{tail}"
    assert report.replace_generated(rewritten, "new table") == rewritten


@pytest.mark.parametrize(
    "document",
    ["no markers", f"{START}\n{START}\n{END}", f"{END}\n{START}\n", f"{START} only"],
)
def test_a_page_without_exactly_one_ordered_pair_of_markers_is_refused(document: str) -> None:
    with pytest.raises(ValueError):
        report.replace_generated(document, "x")


def test_the_docs_page_has_its_markers() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
    text = doc.read_text()
    assert report.replace_generated(text, "x").count(START) == 1


def _result(server: str, clients: int, sat: float, joins: float, p99: float, rss: float,
            drain: float, lag: float) -> dict[str, Any]:  # fmt: skip
    return {
        "server": server,
        "clients": clients,
        "room_size": 10,
        "setup": {"joins_per_s": joins, "connect_join_ms": {"p50_ms": 1.0, "p99_ms": p99}},
        "rss_mib_per_1000_clients": rss,
        "saturation_deliveries_per_s": sat,
        "drain": {"drain_s": drain},
        "runs": [{"passed": True, "lag": {"max_le_ms": lag, "p99_le_ms": 5.0}}],
    }


def _matrix(ours_lag: float = 25.0, ours_sat: float = 3000.0) -> dict[str, Any]:
    return {
        "results": [
            _result("sessionhub", 2000, ours_sat, 400.0, 120.0, 30.0, 0.5, ours_lag),
            _result("baseline", 2000, 2000.0, 300.0, 200.0, 60.0, 2.0, 100.0),
        ]
    }


def _verdicts(checks: list[report.Check]) -> dict[str, str]:
    return {check.measure: check.verdict for check in checks}


def test_socket_targets_pass_when_every_ratio_and_limit_is_met() -> None:
    verdicts = _verdicts(report.socket_checks(_matrix()))

    assert set(verdicts.values()) == {PASS}


def test_a_lag_above_50_ms_and_a_slower_fan_out_fail() -> None:
    verdicts = _verdicts(report.socket_checks(_matrix(ours_lag=75.0, ours_sat=1500.0)))

    assert verdicts["event-loop lag"] == FAIL
    assert verdicts["fan-out saturation, every cell"] == FAIL
    assert verdicts["RSS per 1000 connected clients"] == PASS


def test_a_quick_run_without_the_2000_client_cell_cannot_pass_the_2000_client_targets() -> None:
    matrix = _matrix()
    for result in matrix["results"]:
        result["clients"] = 200

    verdicts = _verdicts(report.socket_checks(matrix))

    assert verdicts["counts back to 0 after 2000 clients leave"] == NA
    assert verdicts["connect + join"] == NA
    assert verdicts["fan-out saturation, every cell"] == PASS


def test_a_cell_with_an_error_makes_the_socket_targets_incomplete() -> None:
    matrix = _matrix()
    matrix["results"].append({"server": "sessionhub", "clients": 200, "room_size": 50,
                              "error": "boom"})  # fmt: skip

    verdicts = _verdicts(report.socket_checks(matrix))

    assert verdicts["fan-out saturation, every cell"] == NA


def _rest(sessions: int, list_p99: float, sweep_ms: float, stall_s: float) -> dict[str, Any]:
    phases = [
        {"name": name, "p99_ms": p99}
        for name, p99 in (
            ("list", list_p99),
            ("info", 5.0),
            ("session_metrics", 15.0),
            ("prometheus", 15.0),
        )
    ]
    sweep = {"wall_ms": sweep_ms, "ended": 1000, "server_lag": {"max_le": stall_s}}
    return {"large": {"sessions": sessions, "idle": 1000, "phases": phases, "sweep": sweep}}


def test_rest_targets_at_100k_sessions() -> None:
    verdicts = _verdicts(report.rest_checks(_rest(100_000, 12.0, 300.0, 0.03)))
    assert set(verdicts.values()) == {PASS}

    verdicts = _verdicts(report.rest_checks(_rest(100_000, 27.7, 617.7, 0.075)))
    assert verdicts["REST list / /info at 100k sessions"] == FAIL
    assert verdicts["sweep ending 1k of 100k sessions"] == FAIL
    assert verdicts["/sessions/metrics and Prometheus /metrics at 100k sessions"] == PASS


def test_a_rest_pass_on_fewer_sessions_is_not_a_pass_but_a_failure_still_fails() -> None:
    verdicts = _verdicts(report.rest_checks(_rest(10_000, 25.0, 300.0, 0.03)))

    assert verdicts["REST list / /info at 100k sessions"] == FAIL
    assert verdicts["sweep ending 1k of 100k sessions"] == NA


def test_missing_results_render_as_not_run() -> None:
    text = report.render(None, None, None, {"machine": {}, "versions": {}})

    assert "not run" in text
    assert PASS not in text


def test_the_lockfile_gives_the_generator_client_version(tmp_path: Path) -> None:
    lockfile = tmp_path / "package-lock.json"
    lockfile.write_text('{"packages": {"node_modules/socket.io-client": {"version": "4.8.4"}}}')

    assert report.lockfile_version("socket.io-client", lockfile) == "4.8.4"
    assert report.lockfile_version("missing", lockfile) is None


def test_a_ratio_just_under_the_target_fails_even_if_it_rounds_to_it() -> None:
    verdicts = _verdicts(report.socket_checks(_matrix(ours_sat=1999.0)))

    assert verdicts["fan-out saturation, every cell"] == FAIL
