"""`flask sessions ...` and `flask webhooks ...`: the operator's view of sessions and webhook
deliveries from a shell, tables or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from config import WEBHOOK_EVENT_TYPES

from . import clock, lifecycle, registry
from .exceptions import SessionHubError
from .models import DELIVERY_STATUSES, Session
from .schemas import (
    MAX_INACTIVE_HOURS,
    DeliverySchema,
    SessionDetailSchema,
    SessionSummarySchema,
)
from .webhooks import events, outbox
from .webhooks.dispatcher import post

SUMMARIES = SessionSummarySchema(many=True)
DETAIL = SessionDetailSchema()
LIST_COLUMNS = ("session_id", "project_id", "active_clients", "last_activity", "is_active")
DELIVERIES = DeliverySchema(many=True)
DELIVERY_COLUMNS = ("id", "type", "status", "attempts", "last_status", "next_attempt_at")


class ConfigurationFailed(click.ClickException):
    """A `flask` command cannot build the app: one line and exit status 2, as `python app.py`
    says it, instead of a traceback."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"sessionhub: configuration error: {self.message}", file=file, err=True)


@click.group("sessions")
def sessions_cli() -> None:
    """List, inspect, end and sweep sessions."""


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def _warn_unless_clients_are_reached(what: str) -> None:
    """A CLI process holds no sockets: only a message queue carries `session_ended` to the
    server processes that do. Without one, say so rather than let the operator believe it."""
    if not current_app.config["SOCKETIO_MESSAGE_QUEUE"]:
        click.echo(
            f"warning: {what} in the database, but SOCKETIO_MESSAGE_QUEUE is not set, so no "
            "connected client was told (use DELETE /api/v1/sessions/<id> or POST "
            "/api/v1/sessions/cleanup on the server to tell them)",
            err=True,
        )


def _detail(load: Callable[[], Session]) -> dict[str, Any]:
    """The session `load` returns, as the REST detail; a domain error becomes a CLI error."""
    try:
        session = load()
    except SessionHubError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    return DETAIL.dump(registry.session_detail(session))


@sessions_cli.command("list")
@click.option("--status", type=click.Choice(["active", "ended", "all"]), default="active")
@click.option("--project-id", default=None, help="Only this project's sessions.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def list_sessions(status: str, project_id: str | None, limit: int, as_json: bool) -> None:
    """Sessions, newest activity first."""
    sessions, _ = registry.list_sessions(status=status, project_id=project_id, limit=limit)
    rows = SUMMARIES.dump(sessions)
    if as_json:
        _echo_json(rows)
    elif rows:
        click.echo(_table(rows, LIST_COLUMNS))
    else:
        click.echo(f"no {status} sessions")


@sessions_cli.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@with_appcontext
def show_session(session_id: str, as_json: bool) -> None:
    """One session in detail."""
    detail = _detail(lambda: registry.get_session(session_id))
    if as_json:
        _echo_json(detail)
        return
    width = max(len(key) for key in detail)
    for key, value in sorted(detail.items()):
        click.echo(f"{key.ljust(width)}  {value}")


@sessions_cli.command("end")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a sentence.")
@with_appcontext
def end_session(session_id: str, as_json: bool) -> None:
    """End a session now (`ended_by_admin`); its clients are told through
    SOCKETIO_MESSAGE_QUEUE (without one, a warning says they were not)."""
    detail = _detail(lambda: registry.end_session(session_id, "ended_by_admin"))
    _warn_unless_clients_are_reached(f"session {detail['session_id']} is ended")
    if as_json:
        _echo_json(detail)
    else:
        click.echo(f"session {detail['session_id']} ended ({detail['end_reason']})")


@sessions_cli.command("cleanup")
@click.option(
    "--max-inactive-hours",
    type=click.FloatRange(min=0, min_open=True, max=MAX_INACTIVE_HOURS),
    default=None,
    help="Idle threshold; default SESSION_TIMEOUT_SECS.",
)
@click.option("--dry-run", is_flag=True, help="List what would end; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def cleanup(max_inactive_hours: float | None, dry_run: bool, as_json: bool) -> None:
    """Sweep now, as the scheduler does (idle sessions end as `admin_cleanup`)."""
    max_inactive = timedelta(hours=max_inactive_hours) if max_inactive_hours else None
    result = lifecycle.sweep(
        max_inactive=max_inactive, dry_run=dry_run, trigger="cli", idle_reason="admin_cleanup"
    )
    ended = [{"session_id": sid, "reason": reason} for sid, reason in sorted(result.ended.items())]
    if ended and not dry_run:
        _warn_unless_clients_are_reached(f"{len(ended)} session(s) ended")
    if as_json:
        _echo_json({"removed_sessions": ended, "count": len(ended), "dry_run": dry_run})
        return
    verb = "would end" if dry_run else "ended"
    click.echo(f"{verb} {len(ended)} session(s)")
    if ended:
        click.echo(_table(ended, ("session_id", "reason")))
    if result.errors:
        raise click.ClickException("; ".join(result.errors))


# --- webhooks ------------------------------------------------------------------------------


@click.group("webhooks")
def webhooks_cli() -> None:
    """List and retry webhook deliveries; send a signed test event to every endpoint."""


@webhooks_cli.command("list")
@click.option("--status", type=click.Choice(DELIVERY_STATUSES), default=None)
@click.option("--type", "event_type", type=click.Choice(WEBHOOK_EVENT_TYPES), default=None)
@click.option("--session-id", default=None, help="Only this session's events.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def list_deliveries(
    status: str | None, event_type: str | None, session_id: str | None, limit: int, as_json: bool
) -> None:
    """Deliveries, newest first."""
    deliveries, _ = outbox.list_deliveries(status, event_type, session_id, limit)
    rows = DELIVERIES.dump(deliveries)
    if as_json:
        _echo_json(rows)
    elif rows:
        click.echo(_table(rows, DELIVERY_COLUMNS))
    else:
        click.echo("no webhook deliveries")


@webhooks_cli.command("retry")
@click.argument("delivery_id")
@with_appcontext
def retry_delivery(delivery_id: str) -> None:
    """Send a pending or failed delivery again now (a serving process's dispatcher sends it)."""
    try:
        delivery = outbox.retry(delivery_id)
    except SessionHubError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    click.echo(f"delivery {delivery.id} queued ({delivery.event_type} to {delivery.endpoint})")


@webhooks_cli.command("send-test")
@with_appcontext
def send_test() -> None:
    """Post a signed `webhook.test` event to every endpoint now and print each answer; exit
    status 1 if any endpoint did not answer 2xx. Nothing is written to the outbox."""
    config = current_app.config
    if not config["WEBHOOK_URLS"]:
        raise click.ClickException("WEBHOOK_URLS is empty: there is no endpoint to test")
    body = events.body(
        events.WEBHOOK_TEST, clock.now(), {"message": "A test event from SessionHub."}
    )
    payload = outbox.encode(body)
    failed = 0
    for endpoint in config["WEBHOOK_URLS"]:
        outcome = post(
            endpoint,
            config["WEBHOOK_SECRET"],
            outbox.new_delivery_id(),
            payload,
            config["WEBHOOK_TIMEOUT_SECS"],
        )
        answer = f"HTTP {outcome.status}" if outcome.delivered else outcome.error
        click.echo(f"{endpoint}: {'ok' if outcome.delivered else 'failed'} ({answer})")
        failed += not outcome.delivered
    if failed:
        raise click.ClickException(f"{failed} of {len(config['WEBHOOK_URLS'])} endpoints failed")
