"""The flask-smorest Blueprint every REST module uses, wired to our strict body parser and to
access control, and the `session_id` URL converter every `/sessions/<id>` route uses."""

from collections.abc import Callable
from typing import Any

from flask_smorest import Blueprint
from werkzeug.routing import BaseConverter

from .. import access
from ..schemas import ErrorSchema
from .auth import guarded
from .errors import StrictJSONParser

URL_PREFIX = "/api/v1"


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = StrictJSONParser()

    def requires(self, level: str) -> Callable[[Any], Any]:
        """Declare the credential a view needs (`access.PUBLIC`, `SERVICE` or `ADMIN`): checked
        first on every call, and documented on the operation. Put it above the other
        decorators."""

        def decorate(view: Any) -> Any:
            if level == access.PUBLIC:
                return guarded(level, self.doc(security=[])(view))
            view = self.alt_response(401, schema=ErrorSchema, description="No bearer token")(view)
            view = self.alt_response(
                403, schema=ErrorSchema, description="A token without this right"
            )(view)
            return guarded(level, self.doc(security=[{"bearerAuth": []}])(view))

        return decorate


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
