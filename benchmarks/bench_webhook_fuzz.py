"""A long fuzz of the webhook pipeline: 10,000 fuzzed but validly signed Meta deliveries over
both webhook servers, then a valid message.

Setup: a company with a Cloud API channel; the dedicated intake server (``inbox.intake``), the
web process (uvicorn, the project's ASGI app with its webhook fast path) and a Celery worker run
as subprocesses, as in ``bench_webhooks``. The bodies come from the property-based tests'
strategies (``tests/fuzz.py``: Meta envelopes broken at any level, any JSON value, bodies
PostgreSQL cannot store, nesting thousands of levels deep, bytes that are not JSON), generated
with a fixed seed; half go to each server, over keep-alive connections.

Prints
  BENCH webhook_fuzz_500s <n> count              answers 500 to the fuzzed requests (want 0)
  BENCH webhook_fuzz_stuck_events <n> count      events still unprocessed once the worker is done (want 0)
  BENCH webhook_fuzz_valid_after_s <s> s         a valid message posted after the fuzz -> stored (want < 2 s)
  BENCH webhook_fuzz_drain_s <s> s               last fuzzed request answered -> every event processed
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

from benchmarks.bench_webhooks import ROOT, _cpu_speed, _env, _load, _request
from benchmarks.support import free_port, wait_port

BODIES = int(os.environ.get("BENCH_FUZZ_BODIES", "10000"))
SEED = int(os.environ.get("BENCH_FUZZ_SEED", "20261202"))
SLUG = "bench-fuzz"
APP_SECRET = "bench-fuzz-secret"
# How long the worker may take to process the fuzzed backlog before what is left counts as stuck.
SETTLE_TIMEOUT = float(os.environ.get("BENCH_FUZZ_SETTLE_TIMEOUT", "300"))


def _bodies(count: int) -> list[bytes]:
    """``count`` bodies from the tests' strategy, the same ones every run (fixed seed), kept in
    the checkout's data folder (drawing them one by one takes minutes on a loaded machine) for
    as long as the strategies, the seed and the count are the same."""
    import hashlib

    from config.embedded import data_dir

    fuzz_source = (ROOT / "tests" / "fuzz.py").read_bytes() + (
        ROOT / "benchmarks" / "bench_webhook_fuzz.py"
    ).read_bytes()
    key = hashlib.sha256(fuzz_source + f"{SEED}:{count}".encode()).hexdigest()[:16]
    kept = data_dir() / f"bench-webhook-fuzz-{key}.bin"  # each body: 4 bytes of length, the body
    if kept.exists():
        data, bodies, at = kept.read_bytes(), [], 0
        while at < len(data):
            size = int.from_bytes(data[at : at + 4], "big")
            bodies.append(data[at + 4 : at + 4 + size])
            at += 4 + size
        return bodies
    bodies = _draw(count)
    for old in data_dir().glob("bench-webhook-fuzz-*.bin"):
        old.unlink()
    kept.write_bytes(b"".join(len(body).to_bytes(4, "big") + body for body in bodies))
    return bodies


def _draw(count: int) -> list[bytes]:
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from tests.fuzz import meta_bodies

    out: list[bytes] = []

    # One body per example: a list of 50 per example ran out of Hypothesis' entropy budget per
    # example, which then draws the simplest values (empty lists), and no body held a message.
    @seed(SEED)
    @settings(
        max_examples=count,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(meta_bodies)
    def collect(body):
        out.append(body)

    collect()
    return [_unique(body, n) for n, body in enumerate(out[:count])]


def _unique(body: bytes, n: int) -> bytes:
    """Hypothesis repeats itself (it looks for bugs, not for variety): a JSON object gets a
    numbered key of its own, which no parser reads, so each one is a new delivery rather than
    a redelivery. Other bodies stay as they are (their repeats test redeliveries)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if not isinstance(value, dict):
        return body
    return json.dumps({"fuzz": n, **value}).encode()


def _prepare():
    from django.db import connection

    from benchmarks.support import company
    from inbox.models import Channel
    from inbox.services import channel_create
    from tests.fuzz import PHONE_NUMBER_ID

    bench_company = company(SLUG, "Bench Fuzz")
    connection.set_tenant(bench_company)
    with connection.cursor() as cursor:
        # Fresh rows each run (what an earlier run's fuzzed messages created included).
        cursor.execute(
            "TRUNCATE inbox_webhookevent, inbox_pendingstatus, inbox_realtimeevent, inbox_message,"
            " inbox_conversation, crm_contact CASCADE"
        )
    channel = Channel.objects.filter(kind="whatsapp_cloud", config__phone_number_id=PHONE_NUMBER_ID).first()
    if channel is None:
        channel = channel_create(
            kind="whatsapp_cloud",
            name="Fuzz",
            config={"phone_number_id": PHONE_NUMBER_ID, "waba_id": "1"},
            credentials={"access_token": "bench", "app_secret": APP_SECRET},
        )
    connection.set_schema_to_public()
    from core.redis import redis_client
    from inbox.services.webhook_events import DRAIN_KEY

    redis_client().delete(DRAIN_KEY.format(schema=bench_company.schema_name))
    return bench_company, channel


def _valid(channel, host: str) -> tuple[str, bytes]:
    from inbox.providers.meta import build_text_message_payload, meta_signature
    from tests.fuzz import PHONE_NUMBER_ID

    wamid = f"wamid.VALID{uuid.uuid4().hex[:20]}"
    payload = build_text_message_payload(
        phone_number_id=PHONE_NUMBER_ID,
        display_phone="551130000000",
        provider_message_id=wamid,
        wa_id="5511987650001",
        name="Depois do ruído",
        text="Oi, ainda está aí?",
        at=__import__("django.utils.timezone", fromlist=["now"]).now(),
    )
    body = json.dumps(payload).encode()
    path = f"/webhooks/whatsapp/{channel.public_id}/"
    return wamid, _request(path, body, {"X-Hub-Signature-256": meta_signature(APP_SECRET, body)}, host)


def _pending(company) -> int:
    from django.db import connection

    from inbox.models import WebhookEvent

    connection.set_tenant(company)
    try:
        return WebhookEvent.objects.filter(processed_at__isnull=True).count()
    finally:
        connection.set_schema_to_public()


def run(report) -> None:
    from django.conf import settings
    from django.db import connection

    from inbox.models import Message, WebhookEvent
    from inbox.providers.meta import meta_signature

    started = time.perf_counter()
    bodies = _bodies(BODIES)
    print(
        f"# {len(bodies)} fuzzed bodies drawn (or read back) in {time.perf_counter() - started:.1f}s (seed {SEED})",
        flush=True,
    )
    bench_company, channel = _prepare()
    host = settings.BASE_DOMAIN
    path = f"/webhooks/whatsapp/{channel.public_id}/"
    requests = [_request(path, b, {"X-Hub-Signature-256": meta_signature(APP_SECRET, b)}, host) for b in bodies]
    env = _env()
    web_port, intake_port = free_port(), free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.bench_webhooks:app", "--factory", "--port", str(web_port)]
        + ["--no-access-log", "--lifespan", "off", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    intake = subprocess.Popen(
        [sys.executable, "-c", "from benchmarks.bench_webhooks import intake; intake()", str(intake_port)],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-l", "WARNING", "-Q", "celery"],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_port(web_port)
        wait_port(intake_port)
        # Half to each server, interleaved, both at once.
        import threading

        results: dict[str, tuple] = {}

        def load(name: str, port: int, share: list[bytes]) -> None:
            results[name] = _load(port, share)

        threads = [
            threading.Thread(target=load, args=("intake", intake_port, requests[0::2])),
            threading.Thread(target=load, args=("web", web_port, requests[1::2])),
        ]
        posting = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        posted = time.perf_counter()
        statuses = [s for _elapsed, codes, _latencies in results.values() for s in codes]
        by_status: dict[int, int] = {}
        for code in statuses:
            by_status[code] = by_status.get(code, 0) + 1
        print(
            f"# posted {len(statuses)} in {posted - posting:.1f}s"
            f" ({len(statuses) / (posted - posting):.0f} req/s over both servers); answers {by_status}",
            flush=True,
        )
        assert len(statuses) == len(requests), "some requests got no answer"
        report("webhook_fuzz_500s", by_status.get(500, 0), "count")

        # The worker processes the backlog; whatever is still unprocessed after it is stuck.
        deadline = posted + SETTLE_TIMEOUT
        last, last_change = None, time.perf_counter()
        while time.perf_counter() < deadline:
            pending = _pending(bench_company)
            if pending == 0:
                break
            if pending != last:
                last, last_change = pending, time.perf_counter()
            elif time.perf_counter() - last_change > 30:
                break  # nothing moved for 30 s: what is left is stuck
            time.sleep(0.2)
        drained = time.perf_counter()
        stuck = _pending(bench_company)
        report("webhook_fuzz_stuck_events", stuck, "count")
        report("webhook_fuzz_drain_s", drained - posted, "s")

        connection.set_tenant(bench_company)
        total = WebhookEvent.objects.count()
        dead = WebhookEvent.objects.filter(dead_at__isnull=False).count()
        noted = WebhookEvent.objects.filter(dead_at__isnull=True, processed_at__isnull=False).exclude(error="").count()
        inbound = Message.objects.filter(direction="in").count()
        connection.set_schema_to_public()
        print(
            f"# {total} events recorded (the rest were redeliveries): {dead} dead, {noted} processed with skipped"
            f" parts noted, {total - dead - noted - stuck} processed clean; {inbound} inbound messages stored",
            flush=True,
        )

        # Then one valid message through each server: how long until it is stored.
        waits = []
        for name, port in (("intake", intake_port), ("web", web_port)):
            wamid, request = _valid(channel, host)
            sent = time.perf_counter()
            _elapsed, codes, _latencies = _load(port, [request])
            assert codes == [200], codes
            connection.set_tenant(bench_company)
            try:
                while not Message.objects.filter(provider_message_id=wamid).exists():
                    if time.perf_counter() - sent > 60:
                        break
                    time.sleep(0.01)
                waits.append(time.perf_counter() - sent)
            finally:
                connection.set_schema_to_public()
            print(f"# valid message through the {name} server stored after {waits[-1]:.3f}s", flush=True)
        report("webhook_fuzz_valid_after_s", max(waits), "s")
        print(f"# load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        print(f"# host speed: a fixed Python loop took {_cpu_speed():.2f} s (fastest seen: 0.75 s)", flush=True)
    finally:
        connection.set_schema_to_public()
        for proc in (web, intake, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (web, intake, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
