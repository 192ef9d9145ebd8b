#!/usr/bin/env bash
# Serve the app with a Celery worker and beat beside it; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var/log

# DEBUG is off unless DJANGO_DEBUG=1: whitenoise serves the static files collected here (hashed and
# compressed; the manifest must exist before the server starts).
$PY manage.py collectstatic --noinput --verbosity 0

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; pkill -P $$ 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

.venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 &
pids+=($!)
.venv/bin/celery -A config beat --loglevel=INFO --pidfile= --schedule=var/celerybeat-schedule >var/log/beat.log 2>&1 &
pids+=($!)

# Show the messages the console SMS backend "sends" as the worker dispatches them.
touch var/log/worker.log
tail -n 0 -F var/log/worker.log 2>/dev/null | grep --line-buffered -E "\[sms\]|sweep_chunk_task.*succeeded" &
pids+=($!)

cat <<MSG

  Collections is running at http://$HOST:$PORT/   (admin: http://$HOST:$PORT/admin/)
  Demo log-ins (password demo12345): collector, field_agent, supervisor, legal_officer, auditor, admin
  The sweep ran for today; beat runs it daily at 01:30 Asia/Shanghai and dispatches due reminders
  every minute (console SMS backend: they appear below). Worker and beat logs: var/log/.
  Ctrl-C stops everything.

MSG
$PY manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
wait "${pids[-1]}"
