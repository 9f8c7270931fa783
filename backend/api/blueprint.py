"""The flask-smorest Blueprint every REST module uses, wired to our strict body parser."""

from flask_smorest import Blueprint

from .errors import StrictJSONParser

URL_PREFIX = "/api/v1"


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = StrictJSONParser()
