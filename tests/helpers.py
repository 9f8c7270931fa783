"""Small helpers the test modules share: talking to the API and sockets, reading the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import func, select

from backend import clock
from backend.extensions import db
from backend.models import Membership, Session

SESSIONS = "/api/v1/sessions"


def create_session(client: Any, headers: dict[str, str] | None = None, **body: Any) -> str:
    """POST a session (project "proj" unless given) and return its id."""
    body.setdefault("project_id", "proj")
    response = client.post(SESSIONS, json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["session_id"]


def join(socket: Any, session_id: str, **extra: Any) -> dict[str, Any]:
    return socket.emit("join_session", {"session_id": session_id, **extra}, callback=True)


def events(socket: Any, name: str) -> list[Any]:
    """The payloads of every `name` event the test socket received since the last call."""
    return [message["args"][0] for message in socket.get_received() if message["name"] == name]


def database_state(app: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, so "nothing changed" means exactly that."""
    with app.app_context():
        return {
            table.name: sorted(
                (dict(row) for row in db.session.execute(select(table)).mappings()), key=repr
            )
            for table in db.metadata.sorted_tables
        }


def add_client(app: Any, session_id: str, name: str = "ada", left: bool = False) -> Membership:
    """A membership row (open unless `left`), with the cached count recomputed as presence does.

    For REST tests that need a session with clients without opening sockets.
    """
    with app.app_context():
        now = clock.now()
        membership = Membership(
            sid=f"sid-{uuid.uuid4().hex}",
            session_id=session_id,
            client_name=name,
            joined_at=now,
            left_at=now if left else None,
            left_reason="left" if left else None,
        )
        db.session.add(membership)
        db.session.flush()
        session = db.session.get(Session, session_id)
        session.active_clients = db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.session_id == session_id, Membership.left_at.is_(None))
        )
        session.peak_clients = max(session.peak_clients, session.active_clients)
        db.session.commit()
        db.session.refresh(membership)
        db.session.expunge(membership)
        return membership


class ManualTasks:
    """Stands in for socketio.start_background_task and sleep: the test runs the flush."""

    def __init__(self) -> None:
        self.started: list = []
        self.slept: list[float] = []

    def start(self, task) -> None:
        self.started.append(task)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def run_all(self) -> None:
        started, self.started = self.started, []
        for task in started:
            task()


class RecordingEnvironment(Mapping[str, str]):
    """An empty environment that remembers every variable asked of it."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
