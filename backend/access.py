"""Who may do what (DESIGN section 10): REST credentials and join tokens, decided here only.

Edges ask this module and turn its Unauthorized / Forbidden into a 401 / 403 or an error ack.

REST callers send `Authorization: Bearer <token>`: ADMIN_TOKEN may do everything, SERVICE_TOKEN
what a customer's backend needs (read, create, mint join tokens). With AUTH_MODE=open the
service level needs no token, as before access control existed; admin routes always do.

A join token is a JWT signed with HS256 and `JOIN_TOKEN_SECRET`. The claims are a contract with
the customer's backend, which may sign tokens itself instead of asking us to mint them, so they
are checked here in one place: `aud` is `sessionhub`, `session_id` names the session, `role` is
`editor` or `viewer`, `name` is what the room sees, `sub` (optional) is the user's id in the
customer's app, `exp` is required, `nbf` and `iat` are optional.

Times are checked against the app's clock rather than PyJWT's own `time.time()`, so tests move
time instead of sleeping; no leeway is allowed. A refusal carries one reason code and nothing
else: never which byte of the signature or which part of the secret was wrong.
"""

from __future__ import annotations

import hmac
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from flask import current_app
from marshmallow import ValidationError

from . import clock, registry
from .exceptions import Forbidden, NotConfigured, SessionEnded, Unauthorized
from .models import EDITOR, parse_session_id
from .schemas import JoinClaimsSchema

PUBLIC, SERVICE, ADMIN = "public", "service", "admin"
LEVELS = (PUBLIC, SERVICE, ADMIN)
AUDIENCE = "sessionhub"
ALGORITHM = "HS256"
log = logging.getLogger(__name__)

# A minted token lives an hour unless the caller asks otherwise (and the maximum is shorter).
DEFAULT_TTL_SECONDS = 3600

# reason code -> the message a refused client reads
REFUSALS = {
    "expired": "The join token has expired; ask for a new one.",
    "not_yet_valid": "The join token is not valid yet (its nbf is in the future).",
    "bad_signature": "The join token's signature does not match this server's secret.",
    "wrong_session": "The join token is for another session.",
    "wrong_audience": "The join token is not meant for SessionHub (its aud must be 'sessionhub').",
    "bad_algorithm": "Join tokens must be signed with HS256.",
    "malformed": "The join token is not a well-formed SessionHub join token.",
}

_DECODE_OPTIONS: Any = {
    "require": ["exp", "aud"],
    # exp and nbf are checked below against the app's clock; iat is informational only, so a
    # customer's clock a second ahead of ours does not refuse the tokens it signs.
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
}


@dataclass(frozen=True)
class JoinGrant:
    """What a valid token lets its bearer be in its session."""

    session_id: str
    name: str | None
    user_id: str | None
    role: str


_CLAIMS = JoinClaimsSchema()


# --- REST credentials ----------------------------------------------------------------------


def authorize(level: str, authorization: str | None) -> None:
    """Raise Unauthorized (no bearer token) or Forbidden (one without the right) unless a caller
    sending this Authorization header may use a route of `level`.

    Both configured tokens are compared, in constant time, whatever the first one's outcome,
    so timing tells nothing about which token a guess came close to.
    """
    config = current_app.config
    if level == PUBLIC or (level == SERVICE and config["AUTH_MODE"] == "open"):
        return
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "This endpoint needs 'Authorization: Bearer <token>'.",
            details={"needs": "admin token" if level == ADMIN else "service or admin token"},
        )
    is_admin = _same(token, config["ADMIN_TOKEN"])
    is_service = _same(token, config["SERVICE_TOKEN"])
    if is_admin or (is_service and level == SERVICE):
        return
    if is_service:
        raise Forbidden("The service token may not do this; it needs the admin token.")
    raise Forbidden("The bearer token is not one this server accepts.")


def _same(given: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), (expected or "").encode())


# --- joins -----------------------------------------------------------------------------------


def admit(session_id: str, token: str | None, name: str | None) -> JoinGrant:
    """Who a `join_session` may enter `session_id` as, or Unauthorized / Forbidden.

    Without a token only AUTH_MODE=open admits, as an editor under the name the client chose.
    A token is checked in either mode (a front end written for token mode works unchanged in
    open mode), and then the name, user id and role are the token's.
    """
    config = current_app.config
    if token is None:
        if config["AUTH_MODE"] == "token":
            raise Unauthorized(
                "join_session needs a join token: {session_id, token}. Mint one with POST "
                "/api/v1/sessions/<id>/tokens."
            )
        return JoinGrant(session_id=session_id, name=name, user_id=None, role=EDITOR)
    return verify(token, _join_secret(), session_id, clock.now())


def mint_for_session(
    session_id: str, name: str, role: str, user_id: str | None, ttl_seconds: int | None
) -> dict[str, Any]:
    """Sign a join token for an active session: what POST /sessions/<id>/tokens answers."""
    config = current_app.config
    session = registry.get_session(session_id)
    now = clock.now()
    if session.has_ended(now):
        raise SessionEnded.of(session.id, session.end_reason_at(now))
    secret = _join_secret()
    if ttl_seconds is None:
        ttl_seconds = min(DEFAULT_TTL_SECONDS, config["JOIN_TOKEN_MAX_TTL_SECS"])
    token, expires_at = mint(
        secret, session.id, name, role, user_id, now, timedelta(seconds=ttl_seconds)
    )
    log.info(
        "minted a join token session=%s role=%s expires_at=%s",
        session.id,
        role,
        expires_at.isoformat(),
    )
    return {"token": token, "expires_at": expires_at, "session_id": session.id, "role": role}


def _join_secret() -> str:
    secret = current_app.config["JOIN_TOKEN_SECRET"]
    if not secret:  # only production with AUTH_MODE=open may run without one
        raise NotConfigured("Join tokens need JOIN_TOKEN_SECRET, which this server has not set.")
    return secret


def refused(reason: str) -> Forbidden:
    return Forbidden(REFUSALS[reason], details={"reason": reason})


def mint(
    secret: str,
    session_id: str,
    name: str,
    role: str,
    user_id: str | None,
    now: datetime,
    ttl: timedelta,
) -> tuple[str, datetime]:
    """A signed token and the moment it expires (whole seconds, as `exp` holds it)."""
    issued = int(now.timestamp())
    expires = issued + int(ttl.total_seconds())
    claims: dict[str, Any] = {
        "aud": AUDIENCE,
        "session_id": session_id,
        "role": role,
        "name": name,
        "iat": issued,
        "exp": expires,
    }
    if user_id is not None:
        claims["sub"] = user_id
    token = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return token, datetime.fromtimestamp(expires, UTC)


def verify(token: str, secret: str, session_id: str, now: datetime) -> JoinGrant:
    """The grant `token` gives for `session_id` (canonical), or Forbidden with the reason.

    The signature is checked before any claim, so without the secret nothing can be learnt
    about which claims would have passed.
    """
    claims = _decode(token, secret)
    moment = now.timestamp()
    expires, not_before = claims["exp"], claims.get("nbf")
    if not _is_number(expires) or (not_before is not None and not _is_number(not_before)):
        raise refused("malformed")
    if expires <= moment:
        raise refused("expired")
    if not_before is not None and not_before > moment:
        raise refused("not_yet_valid")
    try:
        valid = _CLAIMS.load(claims)
    except ValidationError:
        raise refused("malformed") from None
    if parse_session_id(valid["session_id"]) != session_id:
        raise refused("wrong_session")
    return JoinGrant(
        session_id=session_id, name=valid["name"], user_id=valid.get("sub"), role=valid["role"]
    )


def _decode(token: str, secret: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=AUDIENCE, options=_DECODE_OPTIONS
        )
    except jwt.InvalidAlgorithmError:
        raise refused("bad_algorithm") from None
    except jwt.InvalidSignatureError:
        raise refused("bad_signature") from None
    except jwt.InvalidAudienceError:
        raise refused("wrong_audience") from None
    except jwt.MissingRequiredClaimError as error:
        reason = "wrong_audience" if error.claim == "aud" else "malformed"
        raise refused(reason) from None
    except jwt.InvalidTokenError:
        raise refused("malformed") from None


def _is_number(value: Any) -> bool:
    """A NumericDate: Python's JSON decoder also yields booleans, NaN and infinities, and a
    token that says `"exp": Infinity` must not live forever."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
