"""REST edge: one flask-smorest Api per app, its blueprints and its JSON error handlers."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from ..schemas import ErrorSchema, SessionUpdateSchema
from . import admin, docs, health, sessions, tokens, webhooks
from .auth import BEARER_SCHEME, require_every_route_decided
from .blueprint import URL_PREFIX, SessionIdConverter
from .errors import register_error_handlers

API_SETTINGS = {
    "API_TITLE": "SessionHub",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": URL_PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": docs.ASSETS_URL,
    # Swagger UI would otherwise load a validator badge from a public validation service on
    # every visit: the docs page must work offline and tell nobody outside it was opened.
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": "none"},
}


class SessionHubApi(Api):
    """Documents our error shape instead of flask-smorest's own."""

    ERROR_SCHEMA = ErrorSchema


def register_api(app: Flask) -> Api:
    for key, value in API_SETTINGS.items():
        app.config.setdefault(key, value)
    app.url_map.converters[SessionIdConverter.NAME] = SessionIdConverter
    rest = SessionHubApi(app)
    rest.register_converter(SessionIdConverter, SessionIdConverter.openapi_schema)
    rest.spec.components.security_scheme("bearerAuth", BEARER_SCHEME)
    # The schema's own validator refuses `{}`; apispec cannot see that, so say it here.
    rest.spec.components.schema("SessionUpdate", {"minProperties": 1}, schema=SessionUpdateSchema)
    for blueprint in (sessions.blp, tokens.blp, admin.blp, webhooks.blp, health.blp):
        rest.register_blueprint(blueprint)
    # The longest token this server mints is a setting: the spec says which, so a client (and
    # schemathesis) knows that a longer `ttl_seconds` is refused.
    mint_body = rest.spec.components.schemas["JoinTokenRequest"]["properties"]
    mint_body["ttl_seconds"]["maximum"] = app.config["JOIN_TOKEN_MAX_TTL_SECS"]
    app.register_blueprint(docs.blp)
    require_every_route_decided(app, URL_PREFIX)
    register_error_handlers(app)
    return rest
