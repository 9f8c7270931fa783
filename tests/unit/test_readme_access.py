"""The README's access-control documentation stays true to the code: its signing examples make
tokens the server accepts, its REST table names every route's credential, and every setting
the server reads is documented."""

from __future__ import annotations

import contextlib
import io
import re
import uuid
from datetime import UTC, datetime

import pytest

from backend import access, create_app
from backend.api.auth import route_levels
from backend.api.blueprint import URL_PREFIX
from backend.exceptions import Forbidden
from config import load_config
from tests.entry_points import ROOT, settings_names
from tests.helpers import RecordingEnvironment
from tests.readme import fenced_blocks, table_rows

SECRET = "a-join-token-secret-for-the-readme-test-0123456789"
REST_TABLE_HEADER = "| method and path | does | credential |"
CONFIG_TABLE_HEADER = "| variable | default | meaning |"
# `<session_id:session_id>` in a rule, `<id>` in the README: both are one path parameter.
PARAMETER = re.compile(r"<[^>]*>")


# --- signing examples --------------------------------------------------------------------------


def test_the_node_signing_example_is_the_tested_script() -> None:
    """The e2e tests run tests/e2e/js/sign-token.mjs; the README shows exactly that file."""
    (block,) = fenced_blocks("javascript")
    assert block == (ROOT / "tests/e2e/js/sign-token.mjs").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("environment", "name", "user_id", "role"),
    [
        (
            {"NAME": "Ada", "USER_ID": "user-42", "ROLE": "viewer", "TTL_SECONDS": "600"},
            "Ada",
            "user-42",
            "viewer",
        ),
        ({}, "Guest", None, "editor"),
    ],
    ids=["every-variable", "defaults"],
)
def test_the_python_signing_example_makes_a_token_the_server_accepts(
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    name: str,
    user_id: str | None,
    role: str,
) -> None:
    (snippet,) = [block for block in fenced_blocks("python") if "jwt.encode" in block]
    session_id = str(uuid.uuid4())
    for variable in ("NAME", "USER_ID", "ROLE", "TTL_SECONDS"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in {
        "JOIN_TOKEN_SECRET": SECRET,
        "SESSION_ID": session_id,
        **environment,
    }.items():
        monkeypatch.setenv(variable, value)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md (python signing example)", "exec"), {})
    token = printed.getvalue().strip()

    grant = access.verify(token, SECRET, session_id, datetime.now(UTC))
    assert (grant.session_id, grant.name, grant.user_id, grant.role) == (
        session_id,
        name,
        user_id,
        role,
    )
    with pytest.raises(Forbidden) as refused:
        access.verify(token, SECRET, str(uuid.uuid4()), datetime.now(UTC))
    assert refused.value.details == {"reason": "wrong_session"}


# --- what the README tables say ----------------------------------------------------------------


def test_the_rest_table_names_every_route_with_its_credential() -> None:
    """A route added without a row (or a row for a route that is gone, or a credential that
    changed) fails here."""
    app = create_app("testing")
    served = {
        (method, PARAMETER.sub("<>", rule.removeprefix(URL_PREFIX))): level
        for rule, method, level in route_levels(app, URL_PREFIX)
    }
    documented = {}
    for row in table_rows(REST_TABLE_HEADER):
        method, path = row[0].strip("`").split(" ", 1)
        documented[(method, PARAMETER.sub("<>", path))] = row[-1]
    assert documented == served


def test_the_refusal_table_lists_every_reason() -> None:
    reasons = {row[0].strip("`") for row in table_rows("| `details.reason` | the token |")}
    assert reasons == set(access.REFUSALS)


def variables_config_reads() -> set[str]:
    environment = RecordingEnvironment()
    load_config(None, environment)
    return environment.asked


def test_every_setting_is_in_env_example_and_the_readme_table() -> None:
    read = variables_config_reads()
    assert {"AUTH_MODE", "SERVICE_TOKEN", "JOIN_TOKEN_SECRET", "JOIN_TOKEN_MAX_TTL_SECS"} <= read
    documented = {
        name
        for row in table_rows(CONFIG_TABLE_HEADER)
        for name in re.findall(r"`([A-Z_]+)`", row[0])
    }
    assert read - settings_names() == set(), "missing from .env.example"
    assert read - documented == set(), "missing from the README's configuration table"
