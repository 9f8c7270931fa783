"""The browser pages: a landing page, the `/demo/` board and the `/admin/` dashboard.

Plain templates and ES modules served by Flask: no build step and no CDN, so the pages work
wherever the server runs. The pages talk to the server only through the public REST API and
Socket.IO events the README documents; nothing here reads the database.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, render_template

from ..version import VERSION

# No inline script, style or event handler runs: everything comes from our own static files.
# Socket.IO's polling and WebSocket requests go to this origin, which 'self' covers (ws: too).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # An invite link carries its join token in the fragment, which is never sent; the query's
    # session id should not leave either.
    "Referrer-Policy": "no-referrer",
}

blp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@blp.after_request
def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@blp.context_processor
def page_settings() -> dict[str, object]:
    """What every page's `<body data-…>` tells its scripts: they read no other configuration."""
    config = current_app.config
    return {
        "auth_mode": config["AUTH_MODE"],
        "web_demo": config["WEB_DEMO"],
        "webhooks": bool(config["WEBHOOK_URLS"]),
        "version": VERSION,
    }


@blp.get("/")
def index() -> str:
    return render_template("index.html")


@blp.get("/demo/")
def demo() -> str:
    if not current_app.config["WEB_DEMO"]:
        abort(404, description="The demo board is off here: WEB_DEMO=true serves /demo/.")
    return render_template("demo.html")


@blp.get("/admin/")
def admin() -> str:
    return render_template("admin.html")


def register_web(app: Flask) -> None:
    app.register_blueprint(blp)
