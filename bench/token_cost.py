"""What checking a join token costs each `join_session`, measured in process.

Why in process: the socket matrix measures a whole join (connect, token, database, presence)
on a real server, where a few tens of microseconds vanish in the noise of milliseconds. This
times the check alone, and its parts, on the same machine: PyJWT's decode (base64, JSON, the
HMAC), the claims schema, and `access.admit`, which the join handler calls, with no token
(AUTH_MODE=open) for comparison.

    .venv/bin/python -m bench.token_cost            # Markdown table
    .venv/bin/python -m bench.token_cost --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt

from backend import access, clock, create_app
from backend.schemas import JoinClaimsSchema

SECRET = "bench-join-token-secret-not-for-production-0123456789"
ROUNDS = 7  # the median of several rounds, so one scheduling hiccup does not set the number


def per_call_us(call: Callable[[], Any], calls: int) -> float:
    """Median over ROUNDS of the mean time of one call, in microseconds."""
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def measure(calls: int) -> dict[str, float]:
    app = create_app(
        "testing",
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "JOIN_TOKEN_SECRET": SECRET, "AUTH_MODE": "token"},
    )
    session_id = str(uuid.uuid4())
    with app.app_context():
        now = clock.now()
        token, _ = access.mint(
            SECRET, session_id, "Ada", "editor", "user-42", now, timedelta(hours=1)
        )
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="sessionhub")
        schema = JoinClaimsSchema()
        results = {
            "jwt.decode (signature, aud, JSON)": per_call_us(
                lambda: jwt.decode(token, SECRET, algorithms=["HS256"], audience="sessionhub"),
                calls,
            ),
            "claims schema (name, role, sub, session_id)": per_call_us(
                lambda: schema.load(claims), calls
            ),
            "access.verify (all of the check)": per_call_us(
                lambda: access.verify(token, SECRET, session_id, now), calls
            ),
            "access.admit with a token (what join_session calls)": per_call_us(
                lambda: access.admit(session_id, token, None), calls
            ),
        }
        app.config["AUTH_MODE"] = "open"
        results["access.admit without a token (AUTH_MODE=open)"] = per_call_us(
            lambda: access.admit(session_id, None, "Ada"), calls
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per round")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args()
    results = measure(args.calls)
    if args.json:
        print(json.dumps({name: round(us, 2) for name, us in results.items()}, indent=2))
        return 0
    print("| step | per join, µs (median of 7 rounds) |\n|---|---|")
    for name, us in results.items():
        print(f"| {name} | {us:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
