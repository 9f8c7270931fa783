"""Fuzzing the REST API against our own OpenAPI spec, in process: schemathesis sends every
operation's examples, generated cases and chains of calls (`--checks all` but
`use_after_free`), and hand-made hostile values no generator sends follow; every answer must be
one the spec documents, every error our JSON error, and none a 500."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import use_after_free

from backend import create_app, documents
from backend.clock import FrozenClock
from backend.extensions import db
from tests.conftest import ADMIN, ADMIN_TOKEN, BACKENDS, app_overrides, migrated_database
from tests.helpers import SESSIONS, add_client, create_session, database_state

# Hypothesis caches what it learns (a scan of our modules' constants, made while pytest collects;
# Unicode tables) under `.hypothesis/` in the working directory even with no example database.
# Pointed elsewhere at import, before collection ends: a fixture would run too late.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "sessionhub-hypothesis")

SPEC = "/api/v1/openapi.json"
# A fixed seed and derandomized Hypothesis: CI and a developer see the same cases. No example
# database: nothing is replayed from or saved to disk between runs.
FUZZ_CONFIG = {
    "seed": 20261201,
    "generation": {
        "mode": "all",
        "max-examples": 50,
        "deterministic": True,
        "database": "none",
    },
    "auth": {"openapi": {"bearerAuth": {"bearer": ADMIN_TOKEN}}},
}
# Stand-ins the generator puts into `session_id`; the test swaps each for the id of a session
# seeded in that state (ids exist only once the database does).
SEEDED_STATES = ("with_document", "with_client", "pinned", "ended")


def spec_app() -> Flask:
    """An app that only serves the spec: building it and its spec touches no database, so the
    schema can exist at import time, as `@schema.parametrize()` needs. Its in-memory database
    has no tables, so a request that reached it instead of `fuzz_app` would fail loudly."""
    return create_app("testing", app_overrides("sqlite://"))


schema = schemathesis.openapi.from_wsgi(
    SPEC, spec_app(), config=SchemathesisConfig.from_dict(FUZZ_CONFIG)
)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    # Random strings never name a real session, so a share of the cases names a seeded one.
    if not path_parameters or "session_id" not in path_parameters:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.sampled_from(SEEDED_STATES).map(lambda state: {**path_parameters, "session_id": state}),
    )


@schema.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    # A cursor is opaque: the spec can give its alphabet, not which values this server issued,
    # and it documents 400 `invalid_cursor` for the others. That refusal, and only that one,
    # is the right answer to a well-formed cursor schemathesis made up.
    made_up_cursor = (
        isinstance(failure, RejectedPositiveData)
        and "cursor" in (case.query or {})
        and response.status_code == 400
        and error_code(response.json()) == "invalid_cursor"
    )
    return not made_up_cursor


def error_code(body: Any) -> Any:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """One app on a fresh migrated database per backend for the whole module: fuzzing creates
    and ends sessions freely, and no other test should see what it leaves behind. PostgreSQL
    runs when TEST_DATABASE_URL is set, as in CI: it refuses what SQLite stores (NUL).

    Not `schemathesis.pytest.from_fixture`: under pytest 9.2 it fails on
    `request.node._nodeid`, which pytest no longer has.
    """
    with migrated_database(request.param, tmp_path_factory.mktemp("fuzz")) as url:
        # Token mode, production's default: what the spec's bearer scheme describes, so
        # schemathesis's ignored-auth check holds every operation to it.
        app = create_app("testing", app_overrides(url, AUTH_MODE="token"), clock=FrozenClock())
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def seeded(fuzz_app: Flask) -> dict[str, str]:
    """A session in each state a path parameter can meet, by the names in SEEDED_STATES."""
    client = fuzz_app.test_client()
    ids = {
        state: create_session(client, ADMIN, title=state, ttl_seconds=3600)
        for state in SEEDED_STATES
    }
    with fuzz_app.app_context():
        # A document and undo history make /document, /info and the detail non-trivial.
        documents.apply_operation(
            ids["with_document"],
            {"type": "add_node", "node_id": "n1", "props": {"x": 1}},
            documents.Author("seed-client", "seed"),
        )
    add_client(fuzz_app, ids["with_client"])
    pinned = client.patch(f"{SESSIONS}/{ids['pinned']}", json={"pinned": True}, headers=ADMIN)
    assert pinned.status_code == 200, pinned.get_json()
    ended = client.delete(f"{SESSIONS}/{ids['ended']}", headers=ADMIN)
    assert ended.status_code == 200, ended.get_json()
    return ids


def assert_error_body(body: Any) -> None:
    """DESIGN section 4: every error is `{"error": {"code", "message", "details": {...}}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"not an error body: {body!r}"
    assert isinstance(error.get("code"), str) and error["code"], f"no code: {body!r}"
    assert isinstance(error.get("message"), str) and error["message"], f"no message: {body!r}"
    assert isinstance(error.get("details"), dict), f"no details object: {body!r}"


def error_body_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schemathesis check: the spec documents errors loosely, our contract is stricter."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None  # HEAD answers carry no body to judge
    assert_error_body(response.json())
    return True


@schema.parametrize()
def test_every_operation_answers_as_documented(
    case: Any, fuzz_app: Flask, seeded: dict[str, str]
) -> None:
    session_id = case.path_parameters.get("session_id") if case.path_parameters else None
    if session_id in seeded:
        # Assigned, not edited in place: schemathesis then re-checks whether the case is
        # still a negative one before it judges the answer.
        case.path_parameters = {**case.path_parameters, "session_id": seeded[session_id]}
    # use_after_free is off: an ended session stays readable by design (ended sessions are a
    # ledger; GET shows ended_at and end_reason), so "still there after DELETE" is no bug.
    # Every other check of `--checks all` applies, plus our error shape.
    case.call_and_validate(
        app=fuzz_app, excluded_checks=[use_after_free], additional_checks=[error_body_shape]
    )


# Scenarios of up to STEPS calls chained by the links schemathesis infers (a created session's
# Location, then PATCH, DELETE, GET on it): what single calls cannot show.
SCENARIOS, STEPS = 40, 8


def test_sequences_of_calls_answer_as_documented(fuzz_app: Flask) -> None:
    class Scenario(schema.as_state_machine()):
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": fuzz_app}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            # use_after_free is off for the reason given in the test above: this is where it
            # would fire, on every GET after a DELETE.
            case.validate_response(
                response,
                excluded_checks=[use_after_free],
                additional_checks=[error_body_shape],
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    Scenario.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            # Same scenarios every run, no example database in the working tree.
            derandomize=True,
            database=None,
        )
    )


# --- what no generator sends -----------------------------------------------------------------

# Values schemathesis cannot or will not generate (its strings are valid UTF-8, its numbers
# fit Python's int-to-str limit, it writes no NaN), as raw JSON text.
HUGE_INTEGER = "9" * 5000  # past Python's 4,300-digit int/str limit
HOSTILE_VALUES = {
    "lone_surrogate": '"\\ud800"',
    "nul": '"a\\u0000b"',
    "huge_integer": HUGE_INTEGER,
    "huge_negative_integer": "-" + HUGE_INTEGER,
    "long_integer": "9" * 4000,  # decodes, but fits no column
    "nan": "NaN",
    "infinity": "Infinity",
    "overflowing_float": "1e999",
    "deep_nesting": "[" * 100_000 + "]" * 100_000,
}
# (method, path, a valid body with {} where the hostile value goes)
BODY_TARGETS = [
    ("POST", SESSIONS, '{"project_id": {}}'),
    ("POST", SESSIONS, '{"project_id": "p", "title": {}}'),
    ("POST", SESSIONS, '{"project_id": "p", "ttl_seconds": {}}'),
    ("PATCH", f"{SESSIONS}/with_document", '{"title": {}}'),
    ("PATCH", f"{SESSIONS}/with_document", '{"ttl_seconds": {}}'),
    ("POST", f"{SESSIONS}/cleanup", '{"max_inactive_hours": {}}'),
    ("POST", f"{SESSIONS}/cleanup", '{"dry_run": {}}'),
]


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
@pytest.mark.parametrize(
    ("method", "path", "template"), BODY_TARGETS, ids=[f"{m} {t}" for m, _, t in BODY_TARGETS]
)
def test_a_hostile_body_value_is_a_clear_error(
    fuzz_app: Flask, seeded: dict[str, str], method: str, path: str, template: str, value: str
) -> None:
    path = path.replace("with_document", seeded["with_document"])
    before = database_state(fuzz_app)
    response = fuzz_app.test_client().open(
        path,
        method=method,
        data=template.replace("{}", value),
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), (response.status_code, response.get_json())
    assert_error_body(response.get_json())
    assert database_state(fuzz_app) == before


# Query and path values that reach the database as they are, sent as explicit schemathesis
# cases so the answer is judged against the spec like a generated one.
HOSTILE_READS = {
    "project_id_nul": ("/sessions", {"query": {"project_id": "\x00"}}),
    "cursor_nul": ("/sessions", {"query": {"cursor": "\x00"}}),
    "status_nul": ("/sessions", {"query": {"status": "\x00"}}),
    "limit_huge": ("/sessions", {"query": {"limit": HUGE_INTEGER}}),
    "session_id_nul": ("/sessions/{session_id}", {"path_parameters": {"session_id": "\x00"}}),
    "session_id_long": ("/sessions/{session_id}", {"path_parameters": {"session_id": "a" * 5000}}),
    "document_nul": (
        "/sessions/{session_id}/document",
        {"path_parameters": {"session_id": "\x00"}},
    ),
}


@pytest.mark.parametrize(("path", "parts"), HOSTILE_READS.values(), ids=HOSTILE_READS.keys())
def test_a_hostile_query_or_path_is_answered_as_documented(
    fuzz_app: Flask, path: str, parts: dict[str, Any]
) -> None:
    case = schema[f"/api/v1{path}"]["GET"].Case(**parts)
    response = case.call_and_validate(app=fuzz_app, additional_checks=[error_body_shape])
    assert response.status_code < 500
