"""The baseline for bench.socket_matrix: plain Flask-SocketIO on eventlet, everything in dicts.

Why it exists: SessionHub's fan-out, joins and memory only mean something next to what the
simplest server speaking the same Socket.IO contract achieves on the same machine. This is the
server a competent Flask-SocketIO developer would write in an afternoon: `@socketio.on`
handlers, `emit(..., to=room, skip_sid=request.sid)`, sessions in dicts, persisting nothing, no
optimisation. It runs the same event-loop lag probe as SessionHub and serves it on the same
Prometheus endpoint, so the harness reads both servers the same way.

    .venv/bin/python -m bench.baseline_server [HOST] [PORT]     # or HOST / PORT in the env
"""

import warnings

# The choice of eventlet is deliberate (it is what SessionHub serves with); say so once.
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import eventlet.wsgi  # noqa: E402
from flask import Flask, Response, abort, request  # noqa: E402
from flask_socketio import SocketIO, emit, join_room, leave_room  # noqa: E402
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: E402

from backend.loop_lag import LagProbe  # noqa: E402
from backend.telemetry import PROCESS_REGISTRY  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(app, async_mode="eventlet", cors_allowed_origins="*")

sessions: dict[str, dict[str, Any]] = {}  # session_id -> {session_id, project_id, created_at}
documents: dict[str, dict[str, Any]] = {}  # session_id -> {version, nodes}
members: dict[str, dict[str, dict[str, Any]]] = {}  # session_id -> {sid: client}
names: dict[str, str] = {}  # sid -> name given at connect
joined: dict[str, set[str]] = {}  # sid -> session ids


def now() -> str:
    return datetime.now(UTC).isoformat()


def session_detail(session_id: str) -> dict[str, Any]:
    return {**sessions[session_id], "active_clients": len(members[session_id])}


def error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


@app.post("/api/v1/sessions")
def create_session() -> tuple[dict[str, Any], int]:
    """Anyone creates a session; it lives until the process ends."""
    body = request.get_json(silent=True) or {}
    session_id = uuid.uuid4().hex
    sessions[session_id] = {
        "session_id": session_id,
        "project_id": body.get("project_id"),
        "created_at": now(),
        "is_active": True,
    }
    documents[session_id] = {"version": 0, "nodes": {}}
    members[session_id] = {}
    return {"session_id": session_id}, 201


@app.get("/api/v1/sessions/<session_id>")
def get_session(session_id: str) -> dict[str, Any]:
    """One session with its live client count."""
    if session_id not in sessions:
        abort(404)
    return session_detail(session_id)


@app.get("/api/v1/sessions/metrics")
def session_metrics() -> dict[str, Any]:
    """Memberships held now and sessions that exist, as SessionHub counts them."""
    return {
        "connected_clients": sum(len(room) for room in members.values()),
        "active_sessions": len(sessions),
    }


@app.get("/api/v1/health")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@app.get("/api/v1/metrics")
def metrics() -> Response:
    """Prometheus text: the event-loop lag histogram, read exactly as on SessionHub."""
    return Response(generate_latest(PROCESS_REGISTRY), content_type=CONTENT_TYPE_LATEST)


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """A client connects with `auth: {name}`; nobody else hears about it until it joins."""
    name = auth.get("name") if isinstance(auth, dict) else None
    names[request.sid] = str(name or "anonymous")
    joined[request.sid] = set()


@socketio.on("join_session")
def on_join(data: Any) -> dict[str, Any]:
    """A client joins a session: it gets the member list and document, the room a `presence`."""
    session_id = data.get("session_id") if isinstance(data, dict) else None
    if session_id not in sessions:
        return error("session_not_found", "no such session")
    room = members[session_id]
    if request.sid not in room:
        client = {"client_id": request.sid, "name": names.get(request.sid), "joined_at": now()}
        room[request.sid] = client
        joined.setdefault(request.sid, set()).add(session_id)
        join_room(session_id)
        presence = {"session_id": session_id, "active_clients": len(room)}
        emit(
            "presence",
            {**presence, "joined": [client], "left": []},
            to=session_id,
            skip_sid=request.sid,
        )
    document = documents[session_id]
    return {
        "ok": True,
        "session": session_detail(session_id),
        "clients": list(room.values()),
        "version": document["version"],
        "document": {"version": document["version"], "nodes": list(document["nodes"].values())},
    }


def leave(sid: str, session_id: str) -> None:
    client = members[session_id].pop(sid, None)
    joined.get(sid, set()).discard(session_id)
    if client is None:
        return
    leave_room(session_id, sid=sid)
    presence = {"session_id": session_id, "active_clients": len(members[session_id])}
    emit("presence", {**presence, "joined": [], "left": [client]}, to=session_id, namespace="/")


@socketio.on("leave_session")
def on_leave(data: Any) -> dict[str, Any]:
    """A client leaves a session; the rest of the room gets a `presence`."""
    session_id = data.get("session_id") if isinstance(data, dict) else None
    if session_id not in sessions:
        return error("session_not_found", "no such session")
    if request.sid not in members[session_id]:
        return error("not_joined", "not in this session")
    leave(request.sid, session_id)
    return {"ok": True}


@socketio.on("operation")
def on_operation(data: Any) -> dict[str, Any]:
    """A member edits the document: the ack has the version, the rest of the room the op."""
    session_id = data.get("session_id") if isinstance(data, dict) else None
    op = data.get("op") if isinstance(data, dict) else None
    if session_id not in sessions:
        return error("session_not_found", "no such session")
    client = members[session_id].get(request.sid)
    if client is None:
        return error("not_joined", "not in this session")
    if not isinstance(op, dict) or not isinstance(op.get("node_id"), str):
        return error("invalid_payload", "op needs type and node_id")
    nodes = documents[session_id]["nodes"]
    node_id, kind, props = op["node_id"], op.get("type"), op.get("props") or {}
    if kind == "add_node":
        if node_id in nodes:
            return error("invalid_operation", "node_exists")
        nodes[node_id] = {"node_id": node_id, "props": dict(props)}
    elif kind == "update_node":
        if node_id not in nodes:
            return error("invalid_operation", "node_not_found")
        nodes[node_id]["props"].update(props)
    elif kind == "delete_node":
        if nodes.pop(node_id, None) is None:
            return error("invalid_operation", "node_not_found")
    else:
        return error("invalid_payload", "unknown op type")
    documents[session_id]["version"] += 1
    version = documents[session_id]["version"]
    sender = {"client_id": client["client_id"], "name": client["name"]}
    emit(
        "operation",
        {"session_id": session_id, "version": version, "op": op, "client": sender},
        to=session_id,
        skip_sid=request.sid,
    )
    return {"ok": True, "version": version}


@socketio.on("disconnect")
def on_disconnect(*_reason: Any) -> None:
    """A client goes: it leaves every session it joined, each room gets a `presence`."""
    for session_id in list(joined.pop(request.sid, ())):
        leave(request.sid, session_id)
    names.pop(request.sid, None)


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HOST", "127.0.0.1")
    port = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("PORT", "5001"))
    lag_warn_secs = float(os.environ.get("EVENT_LOOP_LAG_WARN_MS", "100")) / 1000
    socketio.start_background_task(LagProbe(socketio.sleep, lag_warn_secs).run)
    eventlet.wsgi.server(eventlet.listen((host, port)), app, log_output=False, max_size=10000)


if __name__ == "__main__":
    main()
