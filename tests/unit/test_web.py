"""The browser pages as Flask serves them: routes, WEB_DEMO, security headers, and the static
files the pages load (no inline code the CSP would block, the vendored Socket.IO client)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend import create_app
from backend.web import CONTENT_SECURITY_POLICY
from config import ConfigError, load_config
from tests.entry_points import ROOT

WEB = ROOT / "backend" / "web"
STATIC = WEB / "static"
VENDOR = STATIC / "vendor" / "socket.io-client"
PAGES = ["/", "/demo/", "/admin/"]
# What would run page code outside our own files, or turn someone's text into markup.
UNSAFE_IN_SCRIPTS = re.compile(
    r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\("
)


def web_app(**overrides: object) -> Flask:
    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://", **overrides})


@pytest.fixture(scope="module")
def web() -> FlaskClient:
    return web_app().test_client()


class _Assets(HTMLParser):
    """The scripts and stylesheets a page loads, and anything a strict CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in attributes:
            if name.startswith("on") or name == "style":
                self.inline.append(f"<{tag} {name}=...>")
        if tag == "script":
            if attributes.get("src"):
                self.urls.append(attributes["src"] or "")
            else:
                self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "link" and attributes.get("href", "").startswith("/static/"):
            self.urls.append(attributes["href"] or "")


def assets_of(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_html_under_a_strict_content_security_policy(
    web: FlaskClient, path: str
) -> None:
    response = web.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    directives = dict(part.split(" ", 1) for part in policy.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_loads_only_our_own_files_and_runs_nothing_inline(
    web: FlaskClient, path: str
) -> None:
    assets = assets_of(web.get(path).get_data(as_text=True))
    assert assets.inline == []
    assert assets.urls, "every page loads at least the stylesheet"
    for url in assets.urls:
        assert url.startswith("/static/"), f"{url} is not served by us"
        response = web.get(url)
        assert response.status_code == 200, url
        response.close()


def test_pages_tell_their_scripts_the_auth_mode_and_nothing_secret() -> None:
    app = web_app(AUTH_MODE="token", ADMIN_TOKEN="admin-secret-value", SERVICE_TOKEN="svc-value")
    for path in PAGES:
        html = app.test_client().get(path).get_data(as_text=True)
        assert 'data-auth-mode="token"' in html
        for secret in ("admin-secret-value", "svc-value", app.config["JOIN_TOKEN_SECRET"]):
            assert secret not in html


def test_the_landing_page_links_every_page_and_the_api_docs(web: FlaskClient) -> None:
    html = web.get("/").get_data(as_text=True)
    for href in ('href="/demo/"', 'href="/admin/"', 'href="/api/v1/docs"'):
        assert href in html


def test_web_demo_off_hides_the_board_and_its_links() -> None:
    client = web_app(WEB_DEMO=False).test_client()
    response = client.get("/demo/")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found" and "WEB_DEMO" in error["message"]
    assert error["details"] == {"path": "/demo/"}
    assert 'href="/demo/"' not in client.get("/").get_data(as_text=True)
    assert client.get("/admin/").status_code == 200


def test_web_demo_is_on_in_development_and_off_in_production() -> None:
    production = {"SECRET_KEY": "k" * 32, "ADMIN_TOKEN": "a" * 32, "JOIN_TOKEN_SECRET": "j" * 32}
    assert load_config("development", {})["WEB_DEMO"] is True
    assert load_config("testing", {})["WEB_DEMO"] is True
    assert load_config("production", production)["WEB_DEMO"] is False
    assert load_config("production", {**production, "WEB_DEMO": "true"})["WEB_DEMO"] is True
    assert load_config("development", {"WEB_DEMO": "false"})["WEB_DEMO"] is False
    with pytest.raises(ConfigError, match="WEB_DEMO"):
        load_config("development", {"WEB_DEMO": "sometimes"})


@pytest.mark.parametrize("path", PAGES)
def test_pages_answer_only_get_and_head(web: FlaskClient, path: str) -> None:
    response = web.post(path, json={})
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert web.head(path).status_code == 200


def test_a_missing_static_file_is_a_json_404(web: FlaskClient) -> None:
    response = web.get("/static/js/nothing-here.js")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def _scripts() -> list[Path]:
    return sorted(path for path in (STATIC / "js").rglob("*.js"))


def test_no_script_of_ours_turns_text_into_markup_or_code() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in _scripts()
        for match in UNSAFE_IN_SCRIPTS.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_no_template_holds_inline_code_or_styles() -> None:
    for template in sorted((WEB / "templates").glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assets = assets_of(text)
        assert assets.inline == [], template.name


def test_every_module_import_resolves_to_a_file_we_serve(web: FlaskClient) -> None:
    """A browser reports a missing module only at run time, and only on the page that needs it."""
    importer = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']""", re.M)
    for script in _scripts():
        for target in importer.findall(script.read_text(encoding="utf-8")):
            assert target.startswith("."), f"{script.name} imports {target}: use a relative path"
            resolved = (script.parent / target).resolve()
            assert resolved.is_file(), f"{script.relative_to(ROOT)} imports missing {target}"
            url = "/static/" + resolved.relative_to(STATIC).as_posix()
            response = web.get(url)
            assert response.status_code == 200 and response.mimetype == "text/javascript"
            response.close()


def test_the_vendored_client_is_the_one_the_e2e_tests_pin() -> None:
    lock = json.loads((ROOT / "tests/e2e/js/package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/socket.io-client"]["version"]
    assert (VENDOR / "VERSION").read_text(encoding="utf-8").strip() == pinned
    bundle = (VENDOR / "socket.io.esm.min.js").read_text(encoding="utf-8")
    assert bundle.startswith(f"/*!\n * Socket.IO v{pinned}\n")
    assert "MIT" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert (VENDOR / "socket.io.esm.min.js.map").is_file()
