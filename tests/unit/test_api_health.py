"""Health, session metrics, Prometheus text, the OpenAPI document and its offline docs page."""

from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN
from tests.helpers import add_client
from tests.helpers import create_session as create

API = "/api/v1"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
SESSIONS = f"{API}/sessions"
EMPTY_SWEEPER = {
    "last_run_at": None,
    "next_run_at": None,
    "last_duration_ms": None,
    "last_ended": None,
    "last_error": None,
    "runs": 0,
}


def metrics(client):
    response = client.get(f"{SESSIONS}/metrics")
    assert response.status_code == 200
    return response.get_json()


def cleanup(client, **body):
    response = client.post(f"{SESSIONS}/cleanup", json=body, headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def prometheus(client):
    """{sample name: value} for samples without labels, plus the raw response."""
    response = client.get(f"{API}/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            key = sample.name if not sample.labels else (sample.name, tuple(sample.labels.items()))
            samples[key] = sample.value
    return samples, response


class AssetLinks(HTMLParser):
    """Collects the URLs a page loads scripts and stylesheets from."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        if tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])


# --- /health ---------------------------------------------------------------------------------


def test_health_reports_database_scheduler_and_instance(app, client):
    response = client.get(f"{API}/health")
    assert response.status_code == 200
    assert response.is_json
    body = response.get_json()
    assert body == {
        "status": "ok",
        "database": "ok",
        "scheduler": "disabled",
        "sweep": "off",
        "instance_id": app.config["INSTANCE_ID"],
        "instance_name": app.config["INSTANCE_NAME"],
    }
    assert uuid.UUID(body["instance_id"])
    assert body["instance_name"]


# --- /sessions/metrics -----------------------------------------------------------------------


def test_metrics_of_an_empty_database(client):
    assert metrics(client) == {
        "active_sessions": 0,
        "total_created": 0,
        "total_cleaned": 0,
        "connected_clients": 0,
        "oldest_session_age_seconds": None,
        "newest_session_age_seconds": None,
        "avg_session_age_seconds": None,
        "sweeper": EMPTY_SWEEPER,
        "webhooks": {"pending": 0, "delivered": 0, "failed": 0, "oldest_pending_age_seconds": None},
    }


def test_metrics_count_sessions_and_ages_from_the_clock(client, clock):
    create(client)
    clock.advance(seconds=100)
    create(client)
    clock.advance(seconds=50)
    ended = create(client)
    assert client.delete(f"{SESSIONS}/{ended}", headers=ADMIN).status_code == 200
    numbers = metrics(client)
    assert numbers["active_sessions"] == 2
    assert numbers["total_created"] == 3
    assert numbers["total_cleaned"] == 0  # ended by an admin, not cleaned
    assert numbers["oldest_session_age_seconds"] == 150.0
    assert numbers["newest_session_age_seconds"] == 50.0
    assert numbers["avg_session_age_seconds"] == 100.0
    clock.advance(seconds=10)
    assert metrics(client)["oldest_session_age_seconds"] == 160.0


def test_connected_clients_counts_open_memberships(client, app):
    first, second = create(client), create(client)
    add_client(app, first, "ada")
    add_client(app, first, "bob")
    add_client(app, second, "cy")
    add_client(app, second, "gone", left=True)
    assert metrics(client)["connected_clients"] == 3
    client.delete(f"{SESSIONS}/{first}", headers=ADMIN)
    assert metrics(client)["connected_clients"] == 1


def test_total_cleaned_counts_the_idle_cleanup(client, clock):
    for _ in range(2):
        create(client)
    clock.advance(hours=25)
    kept = create(client)
    assert cleanup(client)["count"] == 2
    client.delete(f"{SESSIONS}/{kept}", headers=ADMIN)
    numbers = metrics(client)
    assert numbers["total_cleaned"] == 2
    assert numbers["total_created"] == 3
    assert numbers["active_sessions"] == 0


def test_sweeper_records_real_runs_but_not_dry_runs(client, clock):
    for _ in range(2):
        create(client)
    clock.advance(hours=25)
    assert cleanup(client, dry_run=True)["count"] == 2
    assert metrics(client)["sweeper"] == EMPTY_SWEEPER

    assert cleanup(client)["count"] == 2
    sweeper = metrics(client)["sweeper"]
    assert sweeper["runs"] == 1
    assert sweeper["last_ended"] == 2
    assert sweeper["last_run_at"] == clock.now().isoformat()
    assert sweeper["last_duration_ms"] >= 0
    assert sweeper["last_error"] is None
    assert sweeper["next_run_at"] is None  # no scheduler in unit tests

    clock.advance(minutes=5)
    cleanup(client, dry_run=True)
    assert metrics(client)["sweeper"]["runs"] == 1
    assert cleanup(client)["count"] == 0
    sweeper = metrics(client)["sweeper"]
    assert sweeper["runs"] == 2
    assert sweeper["last_ended"] == 0
    assert sweeper["last_run_at"] == clock.now().isoformat()


# --- /metrics (Prometheus) -------------------------------------------------------------------


def test_prometheus_text_has_the_gauges_and_the_sweep_histogram(client, app):
    sid = create(client)
    create(client)
    add_client(app, sid)
    samples, response = prometheus(client)
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    assert "sessionhub_active_sessions" in text
    assert "sessionhub_sweep_duration_seconds_bucket" in text
    assert samples["sessionhub_active_sessions"] == 2
    assert samples["sessionhub_connected_clients"] == 1
    assert samples["sessionhub_sessions_created_total"] == 2
    assert samples["sessionhub_sessions_cleaned_total"] == 0


def test_prometheus_sweep_histogram_counts_real_sweeps_only(client, clock):
    create(client)
    clock.advance(hours=25)
    before, _ = prometheus(client)
    cleanup(client, dry_run=True)
    after_dry, _ = prometheus(client)
    assert (
        after_dry["sessionhub_sweep_duration_seconds_count"]
        == before["sessionhub_sweep_duration_seconds_count"]
    )
    cleanup(client)
    after, _ = prometheus(client)
    assert (
        after["sessionhub_sweep_duration_seconds_count"]
        == before["sessionhub_sweep_duration_seconds_count"] + 1
    )
    assert after["sessionhub_sweep_runs_total"] == 1
    assert after["sessionhub_sessions_cleaned_total"] == 1
    assert after["sessionhub_active_sessions"] == 0


# --- OpenAPI and docs ------------------------------------------------------------------------


def resolve(spec, ref):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_openapi_document_is_openapi_3_with_bearer_auth(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert {"get", "post"} <= set(spec["paths"][SESSIONS])
    for path in (
        f"{SESSIONS}/{{session_id}}",
        f"{SESSIONS}/{{session_id}}/info",
        f"{SESSIONS}/{{session_id}}/clients",
        f"{SESSIONS}/{{session_id}}/document",
        f"{SESSIONS}/cleanup",
        f"{SESSIONS}/metrics",
        f"{API}/health",
    ):
        assert path in spec["paths"]
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for ref in refs(spec):
        resolve(spec, ref)
    for path, method, operation in operations(spec):
        assert "responses" in operation, (method, path)


def test_openapi_declares_the_bearer_scheme_on_every_operation_but_the_public_ones(client):
    """So Swagger UI's "Authorize" sends the token wherever one may be needed, and nowhere
    else (the credential each needs is tests/unit/test_access_rest.py's)."""
    spec = client.get(f"{API}/openapi.json").get_json()
    public = {("get", f"{SESSIONS}/metrics"), ("get", f"{API}/health"), ("get", f"{API}/metrics")}
    for path, method, operation in operations(spec):
        if (method, path) in public:
            assert operation["security"] == [], (method, path)
        else:
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_docs_page_loads_only_local_assets(client):
    response = client.get(f"{API}/docs")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    page = response.get_data(as_text=True)
    links = AssetLinks()
    links.feed(page)
    assert any(url.endswith(".js") for url in links.urls)
    assert any(url.endswith(".css") for url in links.urls)
    assert "http://" not in page and "https://" not in page
    for url in links.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        with client.get(url) as asset:
            assert asset.status_code == 200, url
            assert asset.get_data()
    assert f"{API}/openapi.json" in page


def test_docs_page_turns_off_the_validator_badge(client):
    """Swagger UI's default validatorUrl would send every visit's spec URL to a public
    validator (and fetch its badge from there); "none" turns the badge off."""
    page = client.get(f"{API}/docs").get_data(as_text=True)
    match = re.search(r"var override_config = (\{.*?\});", page)
    assert match, page
    assert json.loads(match.group(1))["validatorUrl"] == "none"


# --- two apps in one process -----------------------------------------------------------------


def test_two_apps_in_one_process_both_answer(make_app):
    app_a, app_b = make_app(), make_app()
    client_a, client_b = app_a.test_client(), app_b.test_client()
    sid = create(client_a, project_id="shared")
    seen = client_b.get(f"{SESSIONS}/{sid}")
    assert seen.status_code == 200
    assert seen.get_json()["project_id"] == "shared"
    listed = client_b.get(SESSIONS).get_json()["sessions"]
    assert [item["session_id"] for item in listed] == [sid]

    assert client_b.delete(f"{SESSIONS}/{sid}", headers=ADMIN).status_code == 200
    assert client_a.get(f"{SESSIONS}/{sid}").get_json()["is_active"] is False
    health = [c.get(f"{API}/health") for c in (client_a, client_b)]
    assert [h.status_code for h in health] == [200, 200]
    assert health[0].get_json()["instance_id"] != health[1].get_json()["instance_id"]
    for c in (client_a, client_b):
        assert c.get(f"{API}/openapi.json").status_code == 200
        assert c.get(f"{API}/metrics").status_code == 200


def test_health_is_503_when_the_database_is_unreachable(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing-dir/nothing.db")
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"
    assert response.get_json()["status"] == "unavailable"


def test_an_unreachable_database_is_a_retryable_503_not_a_500(make_app, tmp_path, caplog):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing-dir/nothing.db")
    response = app.test_client().post("/api/v1/sessions", json={"project_id": "p"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"]["code"] == "service_unavailable"
    assert "Traceback" not in caplog.text  # one line per request, not a traceback


def test_a_socket_event_during_an_outage_answers_service_unavailable(app, connect, monkeypatch):
    """Joined first, then the database goes: the event is refused with a retryable code."""
    from sqlalchemy.exc import OperationalError

    from backend import documents

    session_id = (
        app.test_client().post("/api/v1/sessions", json={"project_id": "p"}).json["session_id"]
    )
    socket = connect()
    assert socket.emit("join_session", {"session_id": session_id}, callback=True)["ok"]

    def unreachable(*args, **kwargs):
        raise OperationalError("UPDATE sessions", {}, Exception("connection refused"))

    monkeypatch.setattr(documents, "apply_operation", unreachable)
    op = {"type": "add_node", "node_id": "n", "props": {}}
    ack = socket.emit("operation", {"session_id": session_id, "op": op}, callback=True)
    assert ack == {
        "ok": False,
        "error": {
            "code": "service_unavailable",
            "message": "The database is unavailable; nothing changed. Retry shortly.",
            "details": {},
        },
    }
