"""Origins and secrets as a production server enforces them."""

from __future__ import annotations

import requests

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


def test_production_accepts_only_the_allowed_origins(start_server) -> None:
    server = start_server(
        APP_CONFIG="production",
        SECRET_KEY="e2e-secret-key-long-enough-for-production",
        CORS_ALLOWED_ORIGINS="http://app.example.test",
    )
    allowed = requests.get(
        server.url + HANDSHAKE, headers={"Origin": "http://app.example.test"}, timeout=5
    )
    assert allowed.status_code == 200
    refused = requests.get(
        server.url + HANDSHAKE, headers={"Origin": "http://elsewhere.example.test"}, timeout=5
    )
    assert refused.status_code == 400
