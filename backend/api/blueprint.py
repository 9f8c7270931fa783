"""The flask-smorest Blueprint every REST module uses, wired to our strict body parser, and the
`session_id` URL converter every `/sessions/<id>` route uses."""

from flask_smorest import Blueprint
from werkzeug.routing import BaseConverter

from .errors import StrictJSONParser

URL_PREFIX = "/api/v1"


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = StrictJSONParser()


class SessionIdConverter(BaseConverter):
    """Any path segment but the names of the static routes beside `/sessions/<id>`.

    Without the exclusion `/sessions/cleanup` also matched `/sessions/<id>`, so its 405 and
    OPTIONS answers advertised the session's GET, PATCH and DELETE. Ids that are not UUIDs
    still match, and are answered 404 `session_not_found` (DESIGN section 4).
    """

    NAME = "session_id"
    regex = r"(?!(?:cleanup|metrics)$)[^/]+"

    @staticmethod
    def openapi_schema(converter: BaseConverter) -> dict[str, str]:
        return {"type": "string", "format": "uuid"}
