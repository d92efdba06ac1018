"""``make run``: web (uvicorn, HTTP + websockets), webhook intake, Celery worker and beat in the
foreground.

Starts the embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, prepares the
database and the demo company, then supervises the processes. Ctrl-C stops them all, then the
embedded servers; the data stays in DATA_DIR for the next run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from config import embedded

PROCESSES: dict[str, list[str]] = {
    "web": [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        os.environ.get("HOST", "127.0.0.1"),
        "--port",
        os.environ.get("PORT", "8000"),
        "--ws",
        "websockets-sansio",
        "--lifespan",
        "off",
        "--no-access-log",
    ],
    # Meta webhook deliveries on a port of their own (production routes them there; the web
    # port accepts them too).
    "intake": [
        sys.executable,
        "-m",
        "inbox.intake",
        "--host",
        os.environ.get("HOST", "127.0.0.1"),
        "--port",
        os.environ.get("INTAKE_PORT", "8001"),
    ],
    "worker": [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "--concurrency", "2"],
    "wa-sessions": [sys.executable, "manage.py", "wa_sessions"],
    "beat": [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "beat",
        "-l",
        "INFO",
        "-s",
        str(embedded.data_dir() / "celerybeat-schedule"),
    ],
}


def main() -> int:
    embedded_db = not os.environ.get("DATABASE_URL")
    embedded_redis = not os.environ.get("REDIS_URL")
    database_url, redis_url = embedded.service_urls()
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    env.setdefault("PYTHONUNBUFFERED", "1")

    subprocess.run([sys.executable, "manage.py", "bootstrap", "--demo"], env=env, check=True)

    children: dict[str, subprocess.Popen] = {}
    for name, command in PROCESSES.items():
        children[name] = subprocess.Popen(command, env=env)
        print(f"[run] started {name} (pid {children[name].pid})", flush=True)

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"[run] {name} exited with {child.returncode}; stopping the others", flush=True)
                    exit_code = child.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded_redis:
            embedded.stop_redis()
        if embedded_db:
            embedded.stop_postgres()
        print("[run] stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
