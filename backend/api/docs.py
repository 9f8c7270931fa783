"""Swagger UI's own files, served by us so the docs page works with no internet access."""

from __future__ import annotations

from flask import Blueprint
from swagger_ui_bundle import swagger_ui_path

from .blueprint import URL_PREFIX

ASSETS_URL = f"{URL_PREFIX}/docs/assets/"

blp = Blueprint(
    "swagger_assets",
    __name__,
    static_folder=str(swagger_ui_path),
    static_url_path=ASSETS_URL.rstrip("/"),
)
