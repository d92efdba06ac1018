"""The live inbox's realtime path, measured end to end on real processes.

1. Webhook to socket: an agent's websocket is open on a uvicorn server (this project's ASGI
   application); a signed Meta inbound-message webhook is POSTed over HTTP to the public
   webhook URL; a Celery worker records and processes it; the timer stops when the
   ``message.new`` event reaches the agent's socket. One message at a time, ``SAMPLES`` times.
   Baseline (same run, same sockets): an event sent straight into the channel layer by this
   process, to the socket (the transport alone, without webhook and processing).
2. One web process holding ``SOCKETS`` open websockets of one company; a broadcast (an
   inbox event through the channel layer) must reach every one of them.

Prints
  BENCH inbox_webhook_to_socket_p95 <ms> ms
  BENCH inbox_webhook_to_socket_p95.baseline <ms> ms
  BENCH inbox_webhook_to_socket_p50 <ms> ms
  BENCH inbox_open_websockets <n> sockets
  BENCH inbox_broadcast_to_all_sockets <ms> ms
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from benchmarks.support import free_port, production_connections, wait_port

SAMPLES = int(os.environ.get("BENCH_INBOX_SAMPLES", "200"))
SOCKETS = int(os.environ.get("BENCH_INBOX_SOCKETS", "1000"))
SLUG = "bench-realtime"
PHONE_NUMBER_ID = "1065550777"
APP_SECRET = "bench-realtime-secret"
ROOT = Path(__file__).resolve().parent.parent


# --- the server side (run in the subprocesses) ------------------------------------------------


def app():
    """uvicorn ``--factory`` entry: the project's ASGI application."""
    production_connections()
    from config.asgi import application

    return application


def worker() -> None:
    """A Celery worker of the project (``python -c "...; worker()"``)."""
    production_connections()
    from config.celery import app as celery_app

    celery_app.worker_main(
        ["worker", "-P", "solo", "-l", "WARNING", "-Q", "celery", "--without-mingle", "--without-gossip"]
    )


# --- the load side ----------------------------------------------------------------------------


def _raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _env() -> dict[str, str]:
    """The subprocesses use this run's embedded servers and the benchmark database."""
    from django.conf import settings

    from config.embedded import service_urls

    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not database_url or not redis_url:
        embedded_db, embedded_redis = service_urls()
        database_url = database_url or embedded_db
        redis_url = redis_url or embedded_redis
    bench_url = urlparse(database_url)._replace(path=f"/{settings.DATABASES['default']['NAME']}").geturl()
    return dict(
        os.environ,
        DATABASE_URL=bench_url,
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        PYTHONPATH=str(ROOT),
    )


def _prepare():
    """The company, an agent with a session, and a Cloud API channel (fresh events each run)."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection

    from benchmarks.support import company
    from inbox.models import Channel, RealtimeEvent, WebhookEvent
    from inbox.services import channel_create
    from tenants.models import Membership, User

    bench_company = company(SLUG, "Bench Realtime")
    user, _ = User.objects.get_or_create(email="agent@bench-realtime.test", defaults={"full_name": "Bench Agent"})
    Membership.objects.get_or_create(user=user, company=bench_company, defaults={"role": "agent"})
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    connection.set_tenant(bench_company)
    WebhookEvent.objects.all().delete()
    RealtimeEvent.objects.all().delete()
    channel = Channel.objects.filter(kind="whatsapp_cloud", config__phone_number_id=PHONE_NUMBER_ID).first()
    if channel is None:
        channel = channel_create(
            kind="whatsapp_cloud",
            name="Bench realtime",
            config={"phone_number_id": PHONE_NUMBER_ID, "waba_id": "1"},
            credentials={"access_token": "bench", "app_secret": APP_SECRET},
        )
    connection.set_schema_to_public()
    return bench_company, channel, session.session_key


def _inbound_request(channel, host: str, text: str) -> bytes:
    from django.utils import timezone

    from inbox.providers.meta import build_text_message_payload, meta_signature

    payload = build_text_message_payload(
        phone_number_id=PHONE_NUMBER_ID,
        display_phone="551130000000",
        provider_message_id="wamid.BENCHRT" + uuid.uuid4().hex.upper(),
        wa_id="5511987651234",
        name="Cliente Bench",
        text=text,
        at=timezone.now(),
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = [
        f"POST /webhooks/whatsapp/{channel.public_id}/ HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"X-Hub-Signature-256: {meta_signature(APP_SECRET, body)}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _post(reader, writer, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def _open_socket(port: int, tenant_host: str, session_key: str):
    from django.conf import settings
    from websockets.asyncio.client import connect

    ws = await connect(
        f"ws://{tenant_host}:{port}/ws/inbox/",
        host="127.0.0.1",
        port=port,
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"},
        origin=f"http://{tenant_host}:{port}",
        open_timeout=60,
        ping_interval=None,
        max_queue=64,
    )
    hello = json.loads(await ws.recv())
    assert hello.get("op") == "ready", hello
    return ws


async def _wait_for(ws, predicate, timeout: float = 10.0) -> float:
    deadline = time.perf_counter() + timeout
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError("event did not arrive")
        event = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        if predicate(event):
            return time.perf_counter()


def _is_message(marker: str):
    def check(event) -> bool:
        message = event.get("message")
        return (
            event.get("type") == "message"
            and event.get("op") == "new"
            and isinstance(message, dict)
            and message.get("body") == marker
        )

    return check


async def _latency(port, host, tenant_host, session_key, channel, schema) -> tuple[list[float], list[float]]:
    from asgiref.sync import sync_to_async
    from django_tenants.utils import schema_context

    from core.realtime import send_event

    ws = await _open_socket(port, tenant_host, session_key)
    connection = list(await asyncio.open_connection("127.0.0.1", port))
    webhook_ms, baseline_ms = [], []

    async def post(request: bytes) -> int:
        try:
            return await _post(*connection, request)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed the idle keep-alive connection (the worker's first start is slow).
            connection[:] = await asyncio.open_connection("127.0.0.1", port)
            return await _post(*connection, request)

    try:
        for i in range(SAMPLES + 5):
            marker = f"bench {i} {uuid.uuid4().hex[:8]}"
            request = _inbound_request(channel, host, marker)
            started = time.perf_counter()
            status = await post(request)
            assert status == 200, status
            arrived = await _wait_for(ws, _is_message(marker), timeout=60 if i < 5 else 10)
            if i >= 5:  # the first few warm up imports and connections
                webhook_ms.append((arrived - started) * 1000)

        def emit(marker):
            with schema_context(schema):
                send_event({"type": "message", "op": "new", "message": {"body": marker}}, groups=["inbox"])

        for i in range(SAMPLES + 5):
            marker = f"direct {i} {uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            await sync_to_async(emit)(marker)
            arrived = await _wait_for(ws, _is_message(marker))
            if i >= 5:
                baseline_ms.append((arrived - started) * 1000)
    finally:
        connection[1].close()
        await ws.close()
    return webhook_ms, baseline_ms


async def _many_sockets(port, tenant_host, session_key, schema) -> tuple[int, float]:
    from asgiref.sync import sync_to_async
    from django_tenants.utils import schema_context

    from core.realtime import send_event

    sockets = []
    limiter = asyncio.Semaphore(50)

    async def open_one():
        async with limiter:
            sockets.append(await _open_socket(port, tenant_host, session_key))

    try:
        started = time.perf_counter()
        await asyncio.gather(*(open_one() for _ in range(SOCKETS)))
        print(f"# opened {len(sockets)} websockets in {time.perf_counter() - started:.1f}s", flush=True)
        # Keep them: every socket is still open a moment later.
        await asyncio.sleep(1)
        marker = f"broadcast {uuid.uuid4().hex[:8]}"

        def emit():
            with schema_context(schema):
                send_event({"type": "message", "op": "new", "message": {"body": marker}}, groups=["inbox"])

        started = time.perf_counter()
        await sync_to_async(emit)()
        arrivals = await asyncio.gather(
            *(_wait_for(ws, _is_message(marker), timeout=30) for ws in sockets), return_exceptions=True
        )
        reached = [a for a in arrivals if isinstance(a, float)]
        spread_ms = (max(reached) - started) * 1000 if reached else float("nan")
        return len(reached), spread_ms
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def run(report) -> None:
    from django.conf import settings

    from benchmarks.support import percentile

    limit = _raise_fd_limit(SOCKETS * 2 + 512)
    if limit < SOCKETS + 256:
        print(f"# file descriptor limit {limit} is below what {SOCKETS} sockets need", flush=True)
    bench_company, channel, session_key = _prepare()
    env = _env()
    port = free_port()
    host = settings.BASE_DOMAIN
    tenant_host = f"{bench_company.slug}.{settings.BASE_DOMAIN}"
    # One web process, as the issue asks ("one web process holds 1,000 open websockets").
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.bench_inbox_realtime:app",
            "--factory",
            "--port",
            str(port),
            "--ws",
            "websockets",
            "--no-access-log",
            "--lifespan",
            "off",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", "from benchmarks.bench_inbox_realtime import worker; worker()"],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_port(port)
        webhook_ms, baseline_ms = asyncio.run(
            _latency(port, host, tenant_host, session_key, channel, bench_company.schema_name)
        )
        report("inbox_webhook_to_socket_p95", percentile(webhook_ms, 95), "ms")
        report("inbox_webhook_to_socket_p95.baseline", percentile(baseline_ms, 95), "ms")
        report("inbox_webhook_to_socket_p50", percentile(webhook_ms, 50), "ms")
        reached, spread_ms = asyncio.run(_many_sockets(port, tenant_host, session_key, bench_company.schema_name))
        report("inbox_open_websockets", reached, "sockets")
        report("inbox_broadcast_to_all_sockets", spread_ms, "ms")
        if reached < SOCKETS:
            print(f"# only {reached}/{SOCKETS} sockets received the broadcast", flush=True)
    finally:
        for proc in (server, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (server, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
