#!/usr/bin/env bash
# Runs N SessionHub processes on one host behind one PostgreSQL and one Redis (docs/deploy.md,
# "Cluster files"); deploy/nginx.conf is the load balancer in front of them.
#
#   deploy/run-cluster.sh -d postgresql+psycopg://user:pass@127.0.0.1:5432/sessionhub \
#                         -q redis://127.0.0.1:6379/0 -n 2 -p 5000
#
# migrates the database once, then starts process i (1..N) as `python app.py` with
# PORT=BASE_PORT+i and INSTANCE_NAME=web-i, its output in LOG_DIR/web-i.log. Ctrl-C or SIGTERM
# stops every process by its pid: SIGTERM, then SIGKILL for any still running after
# STOP_TIMEOUT seconds. When one process exits on its own, the others are stopped too and the
# script exits 1, so whatever supervises it (systemd, a container runtime) sees the failure.
# Everything else in the environment (APP_CONFIG, SECRET_KEY, ADMIN_TOKEN, JOIN_TOKEN_SECRET,
# SERVICE_TOKEN, ...) is passed on; every process needs the same secrets.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: deploy/run-cluster.sh [-n N] [-p BASE_PORT] [-d DATABASE_URL] [-q SOCKETIO_MESSAGE_QUEUE]
                             [-l LOG_DIR]

Options override the environment variables of the same names:
  -n N                       processes to start (N, default 2)
  -p BASE_PORT               process i listens on BASE_PORT+i (BASE_PORT, default 5000)
  -d DATABASE_URL            PostgreSQL URL (postgresql+psycopg://...); required
  -q SOCKETIO_MESSAGE_QUEUE  Redis URL (redis://...); required when N > 1
  -l LOG_DIR                 where web-i.log go (LOG_DIR, default instance/cluster)
Also read: HOST (127.0.0.1), PYTHON (.venv/bin/python), STOP_TIMEOUT (15),
START_TIMEOUT (30), INSTANCE_PREFIX (web).
EOF
}

die_usage() {
    echo "run-cluster.sh: $1" >&2
    usage >&2
    exit 2
}

log() {
    echo "run-cluster.sh: $*" >&2
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

N="${N:-2}"
BASE_PORT="${BASE_PORT:-5000}"
DATABASE_URL="${DATABASE_URL:-}"
SOCKETIO_MESSAGE_QUEUE="${SOCKETIO_MESSAGE_QUEUE:-}"
LOG_DIR="${LOG_DIR:-instance/cluster}"
HOST="${HOST:-127.0.0.1}"
STOP_TIMEOUT="${STOP_TIMEOUT:-15}"
START_TIMEOUT="${START_TIMEOUT:-30}"
INSTANCE_PREFIX="${INSTANCE_PREFIX:-web}"

while getopts ':n:p:d:q:l:h' option; do
    case "$option" in
        n) N="$OPTARG" ;;
        p) BASE_PORT="$OPTARG" ;;
        d) DATABASE_URL="$OPTARG" ;;
        q) SOCKETIO_MESSAGE_QUEUE="$OPTARG" ;;
        l) LOG_DIR="$OPTARG" ;;
        h) usage; exit 0 ;;
        :) die_usage "-$OPTARG needs a value" ;;
        *) die_usage "unknown option -$OPTARG" ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -eq 0 ]] || die_usage "unexpected argument: $1"

is_count() { [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]]; }
is_count "$N" || die_usage "N must be a whole number >= 1, got '$N'"
if ! is_count "$BASE_PORT" || ((BASE_PORT + N > 65535)); then
    die_usage "BASE_PORT must be a whole number with BASE_PORT+N <= 65535, got '$BASE_PORT'"
fi
is_count "$STOP_TIMEOUT" || die_usage "STOP_TIMEOUT must be a whole number of seconds >= 1"
is_count "$START_TIMEOUT" || die_usage "START_TIMEOUT must be a whole number of seconds >= 1"
[[ -n "$DATABASE_URL" ]] || die_usage "DATABASE_URL (-d) is required"
if ((N > 1)); then
    # SQLite is for one process; a cluster shares counts and locks through PostgreSQL and
    # reaches every client through the Redis queue.
    [[ "$DATABASE_URL" == postgresql* ]] \
        || die_usage "N > 1 needs a PostgreSQL DATABASE_URL (postgresql+psycopg://...)"
    [[ -n "$SOCKETIO_MESSAGE_QUEUE" ]] \
        || die_usage "N > 1 needs SOCKETIO_MESSAGE_QUEUE (-q redis://...)"
fi

cd "$ROOT"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
command -v "$PYTHON" >/dev/null || die_usage "PYTHON '$PYTHON' is not an executable (run 'make migrate' to build .venv)"
mkdir -p "$LOG_DIR"

export DATABASE_URL HOST
if [[ -n "$SOCKETIO_MESSAGE_QUEUE" ]]; then export SOCKETIO_MESSAGE_QUEUE; fi

# Once, before any process starts: N processes migrating at once would race.
log "migrating the database"
"$PYTHON" -m flask --app backend:create_app db upgrade

pids=()
names=()
stopping=0

# shellcheck disable=SC2317  # stop_all and on_signal run from the traps below
stop_all() {
    # Idempotent: Ctrl-C in a terminal can reach the script twice, and a child's exit may
    # arrive while a stop is already under way.
    ((stopping)) && return 0
    stopping=1
    ((${#pids[@]})) || return 0
    local pid deadline
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid still running after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    log "all ${#pids[@]} processes stopped"
}

# shellcheck disable=SC2317
on_signal() {
    log "$1: stopping ${#pids[@]} processes"
    stop_all
    exit 0
}
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'stop_all' EXIT

HEALTH_CHECK='
import sys, urllib.request
host = f"[{sys.argv[1]}]" if ":" in sys.argv[1] else sys.argv[1]
urllib.request.urlopen(f"http://{host}:{sys.argv[2]}/api/v1/health", timeout=1)
'

wait_ready() {  # <pid> <port>: until GET /api/v1/health answers 200, the process exits or time is up
    local pid="$1" port="$2" deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        "$PYTHON" -c "$HEALTH_CHECK" "$HOST" "$port" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

for ((i = 1; i <= N; i++)); do
    name="$INSTANCE_PREFIX-$i"
    port=$((BASE_PORT + i))
    # A simple command in the background: $! is the server's own pid (no shell in between),
    # so SIGTERM reaches its handler directly.
    PORT="$port" INSTANCE_NAME="$name" "$PYTHON" app.py >>"$LOG_DIR/$name.log" 2>&1 &
    pids+=("$!")
    names+=("$name")
    log "started $name (pid $!) on http://$HOST:$port, log $LOG_DIR/$name.log"
done

for ((i = 0; i < N; i++)); do
    if ! wait_ready "${pids[i]}" $((BASE_PORT + i + 1)); then
        log "${names[i]} did not become ready in ${START_TIMEOUT}s; its log:"
        tail -n 20 "$LOG_DIR/${names[i]}.log" >&2 || true
        exit 1
    fi
done
log "all $N processes ready; Ctrl-C stops them"

# Any process exiting on its own ends the cluster (a signal to us interrupts this wait).
status=0
wait -n || status=$?
log "a process exited on its own (status $status): stopping the others"
exit 1
