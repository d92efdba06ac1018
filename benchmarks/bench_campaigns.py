"""Campaign dispatch: the whole pipeline at Meta's top tier, on two cores.

Setup: a company with 100,000 contacts, four WhatsApp Cloud numbers at 1,000 mps (Meta's top
throughput), an approved template; the Graph stub in a process of its own enforcing 1,000 mps
per number (130429 past it), counting every send per recipient and every attempt per second.
Campaign runs are worker processes (``campaigns.dispatch.run``, what the ``campaigns.run``
task calls), the database and Redis are the real ones.

Prints
  BENCH campaign_dispatch_rate <n> msg/s              100,000 recipients, one number: claim, limiter,
                                                      HTTP, outcome, conversation message and timeline written
  BENCH campaign_dispatch_rate.baseline <n> msg/s     a bare loop of the same HTTP client, same stub, same run
  BENCH campaign_dispatch_ratio <x> x
  BENCH campaign_dispatch_rate_4_numbers <n> msg/s    4 numbers of one company at 1,000 mps each at once
  BENCH campaign_limiter_windows_over <n> count       one-second windows over the limit as the stub counts them
                                                      (printed for 80 and 1,000 mps)
  BENCH campaign_limiter_mean_error <p> %             mean |sent per second - limit| / limit over full seconds
  BENCH campaign_pause_p95 <ms> ms                    pause request -> last send the stub sees
  BENCH campaign_crash_duplicates / _lost <n> count   kill -9 of the worker 3 times during 100,000 recipients
  BENCH campaign_crash_resume_s <s> s                 kill -> next accepted send (the worker restarted at once)
  BENCH campaign_snapshot_1m_s <s> s                  audience snapshot of 1,000,000 contacts
  BENCH campaign_snapshot_1m_cpu_s <s> s              the CPU its database backend spent on it
  BENCH campaign_with_statuses_rate <n> msg/s         the stub sending sent/delivered/read back to the intake
  BENCH campaign_status_lag_p95 <s> s                 status posted by the stub -> counted on the campaign

``BENCH_CAMPAIGN_SCENARIOS`` (comma-separated: dispatch, multi, limiter80, pause, crash,
snapshot, statuses) runs a subset; ``BENCH_CAMPAIGN_RECIPIENTS`` changes the size.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks.bench_webhooks import _cpu_speed, _env
from benchmarks.support import company, free_port, percentile, wait_port

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = int(os.environ.get("BENCH_CAMPAIGN_RECIPIENTS", "100000"))
SNAPSHOT_CONTACTS = int(os.environ.get("BENCH_CAMPAIGN_SNAPSHOT", "1000000"))
STATUS_RECIPIENTS = int(os.environ.get("BENCH_CAMPAIGN_STATUS_RECIPIENTS", "20000"))
SCENARIOS = [
    s.strip()
    for s in os.environ.get("BENCH_CAMPAIGN_SCENARIOS", "dispatch,multi,limiter80,pause,crash,snapshot,statuses").split(
        ","
    )
    if s.strip()
]
SLUG = "bench-campaigns"
TOKEN = "EAAG-bench-token"
APP_SECRET = "bench-app-secret"
NUMBERS = ["1065557001", "1065557002", "1065557003", "1065557004"]
LEASE_S = 5
WORKERS = int(os.environ.get("BENCH_CAMPAIGN_WORKERS", "2"))
MULTI_WORKERS = int(os.environ.get("BENCH_CAMPAIGN_MULTI_WORKERS", "2"))
GRACE_S = 3
CPU: Cpu


# --- CPU accounting -------------------------------------------------------------------------------


class Cpu:
    """CPU seconds (user + system) spent by each part of the pipeline, robust to a machine that
    other work loads (wall-clock rates swing with the load; the CPU a message costs does not,
    much). Parts:

    - ``worker``: the campaign worker processes (our children, reaped with ``wait4``, so a
      process that exited or was killed still counts);
    - ``stub``: the Graph stub process (it receives the sends and posts the status webhooks);
    - ``postgres``: the server's backends, including those that exited meanwhile (the
      postmaster's children's times) and its own background processes (WAL writer,
      checkpointer, autovacuum): everything the database did while the scenario ran;
    - ``redis``: the Redis server (limiter scripts, heartbeats, progress gates);
    - ``intake`` / ``celery``: the webhook intake server and the status-applying worker, in the
      scenario that runs them.

    The benchmark's own process (which polls the counters a few times per second) is left out.
    """

    def __init__(self, stub_pid: int):
        import psutil

        from benchmarks.bench_webhooks import _postgres_pid
        from core.redis import redis_client

        self.psutil = psutil
        self.stub_pid = stub_pid
        self.pg_pid = _postgres_pid()
        try:
            self.redis_pid = int(redis_client().info("server")["process_id"])
        except Exception:  # noqa: BLE001 - a remote Redis: its CPU is not ours to read
            self.redis_pid = None
        self.reaped: dict[str, float] = {}

    def _proc(self, pid: int | None, *, children: bool = False) -> float:
        if pid is None:
            return 0.0
        try:
            process = self.psutil.Process(pid)
            t = process.cpu_times()
            total = t.user + t.system
            if children:
                total += t.children_user + t.children_system
                for child in process.children():
                    try:
                        c = child.cpu_times()
                        total += c.user + c.system
                    except self.psutil.Error:
                        pass
            return total
        except self.psutil.Error:
            return 0.0

    def sample(self) -> dict[str, float]:
        out = {
            "stub": self._proc(self.stub_pid),
            "postgres": self._proc(self.pg_pid, children=True),
            "redis": self._proc(self.redis_pid),
        }
        for part, seconds in self.reaped.items():
            out[part] = out.get(part, 0.0) + seconds
        return out

    def exited(self, proc: subprocess.Popen, part: str = "worker") -> bool:
        """Whether the child ended (then reaped, its CPU time added to ``part``); never waits."""
        if proc.returncode is not None:
            return True
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if not pid:
            return False
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.reaped[part] = self.reaped.get(part, 0.0) + usage.ru_utime + usage.ru_stime
        return True

    def reap(self, proc: subprocess.Popen, part: str = "worker", timeout: float = 120) -> int:
        """Wait for a child and add its CPU time to ``part``."""
        deadline = time.monotonic() + timeout
        while True:
            if self.exited(proc, part):
                return int(proc.returncode or 0)
            if time.monotonic() > deadline:
                proc.kill()
                timeout, deadline = 10, time.monotonic() + 10
            time.sleep(0.05)

    def live(self, proc: subprocess.Popen) -> float:
        return self._proc(proc.pid)


def _cpu_report(report, name: str, before: dict[str, float], after: dict[str, float], messages: int) -> None:
    """``BENCH <name> <ms> ms`` per message for the whole pipeline, and one line per part."""
    parts = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    total = sum(parts.values())
    report(name, total * 1000 / max(1, messages), "ms")
    for part, seconds in sorted(parts.items()):
        report(f"{name}.{part}", seconds * 1000 / max(1, messages), "ms")


# --- the stub -------------------------------------------------------------------------------------


class Stub:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.stubs.graph", "--port", str(self.port), "--token", TOKEN], cwd=ROOT
        )
        wait_port(self.port)

    def _call(self, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def config(self, **values):
        return self._call("/_stub/config", values)

    def reset(self):
        return self._call("/_stub/reset", {})

    def stats(self):
        return self._call("/_stub/stats")

    def recipients(self) -> dict[str, int]:
        return self._call("/_stub/recipients")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- data -----------------------------------------------------------------------------------------


def _prepare(stub: Stub):
    from django.db import connection

    from campaigns.models import MessageTemplate, TemplateOrigin, TemplateStatus
    from crm.models import Contact, Tag
    from inbox.models import Channel, SendingLimit
    from inbox.services import channel_create

    bench = company(SLUG, "Bench Campaigns")
    connection.set_tenant(bench)
    tags = [Tag.objects.get_or_create(name=f"numero-{i}")[0].pk for i in range(4)]
    have = Contact.objects.filter(source="bench-campaign").count()
    if have < RECIPIENTS:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO crm_contact (name, phone, email, tag_ids, custom_fields, source, consent_status,"
                " consent_source, created_at, updated_at)"
                " SELECT 'Cliente ' || g, '+55119' || lpad(g::text, 8, '0'), '', ARRAY[(%s::bigint[])[1 + g %% 4]],"
                " jsonb_build_object('cidade', 'Recife'), 'bench-campaign', 'opted_in', '', now(), now()"
                " FROM generate_series(%s, %s) AS g ON CONFLICT DO NOTHING",
                [tags, have, RECIPIENTS - 1],
            )
            cursor.execute("ANALYZE crm_contact")
    channels = []
    for pnid in NUMBERS:
        channel = Channel.objects.filter(kind="whatsapp_cloud", config__phone_number_id=pnid).first()
        if channel is None:
            channel = channel_create(
                kind="whatsapp_cloud",
                name=f"Bench {pnid}",
                config={"phone_number_id": pnid, "waba_id": "2025557000", "display_phone": "+55 11 3000-7000"},
                credentials={"access_token": TOKEN, "app_secret": APP_SECRET, "verify_token": "v"},
            )
        SendingLimit.objects.update_or_create(
            channel=channel, defaults={"throughput_mps": 1000, "tier": "TIER_UNLIMITED"}
        )
        channels.append(channel)
    template, _ = MessageTemplate.objects.get_or_create(
        waba_id="2025557000",
        name="bench_promo",
        language="pt_BR",
        defaults={
            "origin": TemplateOrigin.META,
            "status": TemplateStatus.APPROVED,
            "components": [{"type": "BODY", "text": "Olá {{1}}, novidades em {{2}}!"}],
            "variables": {
                "1": {"source": "contact.first_name", "fallback": "cliente"},
                "2": {"source": "field.cidade", "fallback": "sua cidade"},
            },
        },
    )
    stub.config(limit_mps=dict.fromkeys(NUMBERS, 1000), token=TOKEN)
    return bench, channels, tags, template


def _clean(bench) -> None:
    """Remove the previous runs' campaigns, messages, conversations and timeline rows."""
    from django.db import connection

    connection.set_tenant(bench)
    with connection.cursor() as cursor:
        for table in (
            "campaigns_recipient",
            "campaigns_campaignvariant",
            "campaigns_campaign",
            "inbox_message",
            "inbox_conversation",
            "inbox_pendingstatus",
            "inbox_webhookevent",
            "inbox_realtimeevent",
            "crm_timelineevent",
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
        cursor.execute("CHECKPOINT")
    from core.redis import redis_client

    client = redis_client()
    for key in client.scan_iter(f"lim:{bench.schema_name}:*"):
        client.delete(key)
    for key in client.scan_iter(f"camp:*:{bench.schema_name}:*"):
        client.delete(key)


def _campaign(bench, channel, template, *, tag_id=None, rate=None, name="Bench"):
    from django.db import connection

    from campaigns.models import AudienceKind
    from campaigns.services import campaign_create, campaign_launch, campaign_start

    connection.set_tenant(bench)
    campaign = campaign_create(
        name=name,
        channel=channel,
        variants=[{"template": template, "split": 100}],
        audience_kind=AudienceKind.TAGS if tag_id else AudienceKind.ALL,
        tag_ids=[tag_id] if tag_id else None,
        window_days=list(range(7)),
        rate_mps=rate,
        time_zone="America/Sao_Paulo",
    )
    campaign_start(campaign=campaign)
    started = time.perf_counter()
    campaign_launch(campaign_id=campaign.pk)
    return campaign, time.perf_counter() - started


def _worker(env, schema: str, campaign_ids: list[int]) -> subprocess.Popen:
    lease = env.get("CAMPAIGN_LEASE_S")
    code = (
        "from benchmarks.support import production_connections; production_connections();"
        + (f"from django.conf import settings; settings.CAMPAIGN_LEASE_S = {float(lease)!r};" if lease else "")
        + "import logging; logging.basicConfig(level=logging.INFO);"
        "from campaigns.dispatch.run import campaign_run_many;"
        f"campaign_run_many(schema={schema!r}, campaign_ids={campaign_ids!r})"
    )
    profile = os.environ.get("BENCH_CAMPAIGN_PROFILE")
    if profile:  # a cProfile of the worker (its event loop thread), for finding where time goes
        script = Path(profile).with_suffix(".py")
        script.write_text("\n".join(part.strip() for part in code.split(";")))
        return subprocess.Popen([sys.executable, "-m", "cProfile", "-o", profile, str(script)], cwd=ROOT, env=env)
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)


def _counters(campaign_id: int) -> dict:
    from campaigns.models import Campaign

    c = Campaign.objects.get(pk=campaign_id)
    return {
        "state": c.state,
        "sent": c.sent_count,
        "failed": c.failed_count,
        "queued": c.queued_count,
        "unknown": c.unknown_count,
        "delivered": c.delivered_count,
        "read": c.read_count,
        "total": c.total_count,
    }


def _wait_done(campaign_ids: list[int], timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_counters(c)["queued"] == 0 for c in campaign_ids):
            return time.perf_counter()
        time.sleep(0.1)
    raise RuntimeError(f"campaigns {campaign_ids} did not finish: {[_counters(c) for c in campaign_ids]}")


def _wait_first_send(stub: Stub, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stub.stats()["accepted"]:
            return time.perf_counter()
        time.sleep(0.02)
    raise RuntimeError("no send reached the stub")


def _windows(stats: dict, pnid: str, limit: int) -> tuple[int, float]:
    """Windows over the limit, and the mean error of the full seconds (first and last dropped)."""
    seconds = stats["attempts"].get(pnid, {})
    counts = [n for _s, n in sorted(((int(s), n) for s, n in seconds.items()))]
    over = sum(1 for n in counts if n > limit)
    if over:
        at = [i for i, n in enumerate(counts) if n > limit]
        print(f"# {pnid}: seconds over {limit}: {at} of {len(counts)}; counts {counts}", flush=True)
    full = counts[1:-1] or counts
    error = sum(abs(n - limit) for n in full) / (len(full) * limit) * 100 if full else 0.0
    return over, error


class StatusPipeline:
    """The way back: the intake server (``inbox.intake``) receiving the stub's signed status
    webhooks for one number, and a Celery worker applying them (the inbox's drain, then the
    campaigns' status task). Their CPU is reaped into ``intake`` and ``celery``."""

    def __init__(self, stub: Stub, env: dict, channel, pnid: str):
        from django.conf import settings

        from inbox.models import Channel

        self.stub, self.pnid = stub, pnid
        port = free_port()
        self.intake = subprocess.Popen(
            [sys.executable, "-c", "from benchmarks.bench_webhooks import intake; intake()", str(port)],
            cwd=ROOT,
            env=env,
        )
        self.celery = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-l", "WARNING", "-Q", "celery"],
            cwd=ROOT,
            env=env,
        )
        try:
            wait_port(port)
        except RuntimeError:
            self.stop()
            raise
        public_id = Channel.objects.get(pk=channel.pk).public_id
        stub.config(
            webhooks={
                pnid: {
                    "url": f"http://127.0.0.1:{port}/webhooks/whatsapp/{public_id}/",
                    "secret": APP_SECRET,
                    "host": settings.BASE_DOMAIN,
                }
            }
        )

    def settle(self, timeout: float = 180) -> None:
        """Wait until the stub has posted every status it owes and the worker applied them all."""
        from inbox.models import WebhookEvent

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.stub.stats()
            if not stats["pending_statuses"] and not WebhookEvent.objects.filter(processed_at__isnull=True).exists():
                return
            time.sleep(0.2)
        raise RuntimeError("statuses did not settle")

    def stop(self) -> None:
        self.stub.config(webhooks={self.pnid: {}})
        for proc in (self.intake, self.celery):
            proc.send_signal(signal.SIGTERM)
        CPU.reap(self.intake, "intake", timeout=20)
        CPU.reap(self.celery, "celery", timeout=20)


# --- scenarios ------------------------------------------------------------------------------------


BASELINE_SENDS = 20000


def baseline(stub: Stub, count: int = BASELINE_SENDS) -> float:
    """The same aiohttp client, a bare loop of sends against the same stub: the machine's
    ceiling for this client (64 connections, as the engine's pool)."""
    import aiohttp

    url = f"{stub.url}/v21.0/1065559999/messages"
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511900000000",
        "type": "template",
        "template": {"name": "bench_promo", "language": {"code": "pt_BR"}},
        "biz_opaque_callback_data": "mia:c0:r0",
    }

    async def main():
        left = count
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit_per_host=64)) as session:

            async def one():
                nonlocal left
                while left > 0:
                    left -= 1
                    async with session.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                        await r.read()

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(64)))
            return count / (time.perf_counter() - started)

    import uvloop

    return uvloop.run(main())


def dispatch(report, stub, env, bench, channels, template):
    _clean(bench)
    stub.reset()
    stub_before, own_before = CPU.sample()["stub"], os.times()
    rate_base = baseline(stub)
    own_after = os.times()
    base_cpu = CPU.sample()["stub"] - stub_before + (own_after.user - own_before.user)
    base_cpu += own_after.system - own_before.system
    stub.reset()
    campaign, _snap = _campaign(bench, channels[0], template, name="dispatch")
    before = CPU.sample()
    workers = [_worker(env, bench.schema_name, [campaign.pk]) for _ in range(WORKERS)]
    try:
        first = _wait_first_send(stub)
        last = _wait_done([campaign.pk])
    finally:
        for worker in workers:
            CPU.reap(worker)
    after = CPU.sample()
    counters = _counters(campaign.pk)
    stats = stub.stats()
    assert counters["sent"] == RECIPIENTS and stats["accepted"] == RECIPIENTS, (counters, stats["accepted"])
    assert stats["duplicates"] == 0
    _check_written(bench, campaign.pk, RECIPIENTS)
    rate = RECIPIENTS / (last - first)
    report("campaign_dispatch_rate", rate, "msg/s")
    report("campaign_dispatch_rate.baseline", rate_base, "msg/s")
    report("campaign_dispatch_ratio", rate / rate_base, "x")
    _cpu_report(report, "campaign_dispatch_cpu_ms_per_msg", before, after, RECIPIENTS)
    report("campaign_dispatch_cpu_ms_per_msg.baseline", base_cpu * 1000 / BASELINE_SENDS, "ms")
    over, error = _windows(stats, NUMBERS[0], 1000)
    seconds = [n for _s, n in sorted((int(s), n) for s, n in stats["attempts"].get(NUMBERS[0], {}).items())]
    print(f"# sends per second as the stub counts them: {seconds}", flush=True)
    report("campaign_limiter_windows_over", over, "count")
    print("# (limit 1,000 mps)", flush=True)
    report("campaign_limiter_mean_error", error, "%")
    print(f"# stub answered 130429 {stats['rejected'].get('130429', 0)} times", flush=True)


def _check_written(bench, campaign_id: int, expected: int) -> None:
    """The whole pipeline did its work: a conversation message and a timeline event each."""
    from django.db import connection

    connection.set_tenant(bench)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(message_id) FROM campaigns_recipient WHERE campaign_id = %s AND state = 'sent'",
            [campaign_id],
        )
        sent, with_message = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM crm_timelineevent WHERE kind = 'campaign.sent' AND (data->>'campaign')::int = %s",
            [campaign_id],
        )
        timeline = cursor.fetchone()[0]
    assert sent == with_message == timeline == expected, (sent, with_message, timeline, expected)


def multi(report, stub, env, bench, channels, template, tags):
    _clean(bench)
    stub.reset()
    campaigns = [
        _campaign(bench, channel, template, tag_id=tag, name=f"multi {i}")[0]
        for i, (channel, tag) in enumerate(zip(channels, tags, strict=True))
    ]
    ids = [c.pk for c in campaigns]
    before = CPU.sample()
    if MULTI_WORKERS == 1:
        workers = [_worker(env, bench.schema_name, ids)]
    else:
        workers = [_worker(env, bench.schema_name, ids[:2]), _worker(env, bench.schema_name, ids[2:])]
    try:
        first = _wait_first_send(stub)
        last = _wait_done(ids)
    finally:
        for w in workers:
            CPU.reap(w)
    after = CPU.sample()
    stats = stub.stats()
    total = sum(_counters(c)["total"] for c in ids)
    assert stats["accepted"] == total and stats["duplicates"] == 0, (stats["accepted"], total)
    report("campaign_dispatch_rate_4_numbers", total / (last - first), "msg/s")
    _cpu_report(report, "campaign_dispatch_4_numbers_cpu_ms_per_msg", before, after, total)
    worst = max(_windows(stats, pnid, 1000)[0] for pnid in NUMBERS)
    print(f"# 4 numbers: worst number had {worst} one-second windows over 1,000", flush=True)


def limiter80(report, stub, env, bench, channels, template):
    _clean(bench)
    stub.reset()
    from inbox.models import SendingLimit

    SendingLimit.objects.filter(channel=channels[1]).update(throughput_mps=80)
    stub.config(limit_mps={NUMBERS[1]: 80})
    try:
        campaign, _ = _campaign(bench, channels[1], template, name="limiter 80")
        worker = _worker(env, bench.schema_name, [campaign.pk])
        time.sleep(float(os.environ.get("BENCH_CAMPAIGN_LIMITER80_S", "30")))
        from campaigns.services import campaign_cancel

        campaign_cancel(campaign=campaign)
        worker.wait(60)
    finally:
        SendingLimit.objects.filter(channel=channels[1]).update(throughput_mps=1000)
        stub.config(limit_mps={NUMBERS[1]: 1000})
    over, error = _windows(stub.stats(), NUMBERS[1], 80)
    report("campaign_limiter_windows_over", over, "count")
    print("# (limit 80 mps)", flush=True)
    report("campaign_limiter_mean_error", error, "%")
    print("# (limit 80 mps)", flush=True)


def pause(report, stub, env, bench, channels, template):
    from campaigns.services import campaign_cancel, campaign_pause, campaign_resume

    _clean(bench)
    stub.reset()
    campaign, _ = _campaign(bench, channels[0], template, name="pause")
    worker = _worker(env, bench.schema_name, [campaign.pk])
    latencies = []
    try:
        _wait_first_send(stub)
        for _round in range(10):
            flowing = stub.stats()["accepted"]
            while stub.stats()["accepted"] < flowing + 300:  # sends in full flow
                time.sleep(0.05)
            asked = time.time()
            campaign_pause(campaign=campaign.pk, by=0)
            time.sleep(1.5)
            last = stub.stats()["last_accepted"].get(NUMBERS[0], 0)
            latencies.append(max(0.0, last - asked) * 1000)
            worker.wait(30)  # the run stops when it sees the pause
            campaign_resume(campaign=campaign.pk)
            worker = _worker(env, bench.schema_name, [campaign.pk])
        campaign_cancel(campaign=campaign.pk)
    finally:
        worker.wait(60)
    print(f"# pause -> last send (ms): {', '.join(f'{x:.0f}' for x in latencies)}", flush=True)
    report("campaign_pause_p95", percentile(latencies, 95), "ms")
    assert stub.stats()["duplicates"] == 0


def crash(report, stub, env, bench, channels, template):
    """kill -9 of the only worker three times during a 100,000-recipient campaign, the stub
    posting its status webhooks (with our ``biz_opaque_callback_data``) to the intake, as Meta
    does. A new worker starts right after each kill. At the end the dead workers' leases run
    out and the reconciler settles their claims.

    Figures, after everything settled:

    - ``campaign_crash_duplicates``: recipients the stub accepted more than once (must be 0);
    - ``campaign_crash_lost``: recipients the stub never accepted that did not end in a final
      state either (queued or claimed forever; must be 0: every row ends somewhere);
    - ``campaign_crash_unknown``: rows that ended ``unknown`` (``no_evidence``): marked as
      leaving by a worker that died before their request was written, so no status ever
      named them (rows it claimed but had not marked go back to the queue and are sent). Only
      a sub-batch marked in the instant between the mark's commit and the write can end so;
    - ``campaign_crash_unknown_sent``: ``unknown`` rows the stub did accept (a send whose
      outcome the status webhooks should have settled; 0 when they work);
    - ``campaign_crash_resume_s``: kill -> next accepted send (a new worker process starting
      with Django, as a restarted Celery worker would).
    """
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.dispatch.reconcile import leases_reconcile
    from campaigns.models import Recipient

    _clean(bench)
    stub.reset()
    pipeline = StatusPipeline(stub, env, channels[0], NUMBERS[0])
    crash_env = {**env, "CAMPAIGN_LEASE_S": str(LEASE_S)}
    resumes = []
    try:
        campaign, _ = _campaign(bench, channels[0], template, name="crash")
        worker = _worker(crash_env, bench.schema_name, [campaign.pk])
        for kill in range(3):
            target = RECIPIENTS * (kill + 1) // 4
            while stub.stats()["accepted"] < target:
                time.sleep(0.05)
            os.kill(worker.pid, signal.SIGKILL)
            CPU.reap(worker)
            killed_at = time.perf_counter()
            before = stub.stats()["accepted"]
            worker = _worker(crash_env, bench.schema_name, [campaign.pk])
            while stub.stats()["accepted"] == before:
                time.sleep(0.02)
            resumes.append(time.perf_counter() - killed_at)
        # What beat does (campaigns_tick, every 5 s here every second): reconcile the leases
        # that ran out (the dead workers' claims never marked as leaving go back to the
        # queue), and give a running campaign with due rows and no live run a new run; until
        # no row is left queued or claimed.
        beat_runs = 0
        while True:
            leases_reconcile(grace=timedelta(seconds=GRACE_S))
            if CPU.exited(worker):
                left = Recipient.objects.filter(campaign=campaign, state__in=["queued", "claimed"])
                if not left.exists():
                    break
                due = left.filter(state="queued", next_attempt_at__lte=timezone.now()).exists()
                if due:
                    worker = _worker(crash_env, bench.schema_name, [campaign.pk])
                    beat_runs += 1
            time.sleep(1.0)
        pipeline.settle()
    finally:
        pipeline.stop()
    accepted = stub.recipients()
    duplicates = sum(1 for n in accepted.values() if n > 1)
    rows = list(Recipient.objects.filter(campaign=campaign).values_list("phone", "state"))
    states: dict[str, int] = {}
    for _p, state in rows:
        states[state] = states.get(state, 0) + 1
    lost = sum(1 for p, s in rows if p.lstrip("+") not in accepted and s in ("queued", "claimed"))
    if lost:
        detail: dict[tuple, int] = {}
        for row in Recipient.objects.filter(campaign=campaign, state__in=["queued", "claimed"]).values(
            "state", "attempts", "error_code", "next_attempt_at", "lease_expires_at"
        ):
            key = (row["state"], row["attempts"], row["error_code"], str(row["next_attempt_at"])[:19])
            detail[key] = detail.get(key, 0) + 1
        print(f"# crash: not final (state, attempts, last error, next attempt): {detail}", flush=True)
    unknown = [p for p, s in rows if s == "unknown"]
    unknown_sent = sum(1 for p in unknown if p.lstrip("+") in accepted)
    recorded = sum(1 for p, s in rows if p.lstrip("+") in accepted and s in ("sent", "delivered", "read"))
    print(
        f"# crash: {len(rows)} recipients, {len(accepted)} accepted by the stub, {recorded} of them recorded as"
        f" sent/delivered/read; states {dict(sorted(states.items()))}",
        flush=True,
    )
    report("campaign_crash_duplicates", duplicates, "count")
    report("campaign_crash_lost", lost, "count")
    report("campaign_crash_unknown", len(unknown), "count")
    report("campaign_crash_unknown_sent", unknown_sent, "count")
    # the recipients the kills cost: never sent, and never will be
    report("campaign_crash_unknown_never_sent", len(unknown) - unknown_sent, "count")
    print(f"# crash: kill -> next accepted send: {', '.join(f'{r:.1f}' for r in resumes)} s", flush=True)
    print(f"# crash: runs started after the last worker stopped (beat's job): {beat_runs}", flush=True)
    report("campaign_crash_resume_s", max(resumes), "s")


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a local PostgreSQL backend so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def snapshot(report, stub, env, bench, channels, template):
    from django.db import connection

    from crm.models import Contact

    connection.set_schema_to_public()
    big = company("bench-campaigns-1m", "Bench Campaigns 1M")
    connection.set_tenant(big)
    have = Contact.objects.count()
    if have < SNAPSHOT_CONTACTS:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO crm_contact (name, phone, email, tag_ids, custom_fields, source, consent_status,"
                " consent_source, created_at, updated_at)"
                " SELECT 'Cliente ' || g, '+55119' || lpad(g::text, 8, '0'), '', '{}', '{}'::jsonb, 'bench',"
                " CASE WHEN g %% 50 = 0 THEN 'opted_out' ELSE 'unknown' END, '', now(), now()"
                " FROM generate_series(%s, %s) AS g ON CONFLICT DO NOTHING",
                [have, SNAPSHOT_CONTACTS - 1],
            )
            cursor.execute("ANALYZE crm_contact")
    from inbox.models import Channel
    from inbox.services import channel_create

    channel = Channel.objects.filter(kind="sandbox").first() or channel_create(kind="sandbox", name="Sandbox")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_recipient, campaigns_campaignvariant, campaigns_campaign CASCADE")
        cursor.execute("CHECKPOINT")
    from campaigns.models import AudienceKind
    from campaigns.services import campaign_create, campaign_launch, campaign_start

    campaign = campaign_create(
        name="snapshot",
        channel=channel,
        variants=[{"body": "Olá {{1}}", "split": 100, "variables": {"1": {"source": "contact.first_name"}}}],
        audience_kind=AudienceKind.ALL,
        time_zone="America/Sao_Paulo",
    )
    campaign_start(campaign=campaign)
    # the start enqueued the launch; the benchmark takes the snapshot itself, timed, with the
    # CPU its database backend spent (robust to a loaded machine, unlike the wall clock)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu_before = _backend_cpu(backend)
    started = time.perf_counter()
    launched = campaign_launch(campaign_id=campaign.pk)
    elapsed = time.perf_counter() - started
    backend_cpu = _backend_cpu(backend) - cpu_before
    print(f"# snapshot: {launched.total_count} recipients, excluded {launched.excluded}", flush=True)
    report("campaign_snapshot_1m_s", elapsed, "s")
    report("campaign_snapshot_1m_cpu_s", backend_cpu, "s")
    from campaigns.services import campaign_cancel

    started = time.perf_counter()
    campaign_cancel(campaign=campaign)
    print(f"# snapshot: the cancel of its {launched.total_count} recipients took {time.perf_counter() - started:.1f} s")
    connection.set_tenant(bench)


def statuses(report, stub, env, bench, channels, template):
    """The same pipeline with the stub posting sent/delivered/read back to the intake server,
    a Celery worker applying them (inbox drain + the campaigns status task).

    ``campaign_with_statuses_rate``: recipients / (first send -> last recipient sent) while
    the statuses flow back; ``campaign_status_lag_p95``: from the moment the stub had posted
    N delivered statuses to the moment the campaign counted N delivered, sampled every 0.2 s.
    """
    _clean(bench)
    stub.reset()
    channel = channels[2]
    from crm.models import Contact, ContactList, ContactListMember

    ids = list(
        Contact.objects.filter(source="bench-campaign").order_by("id").values_list("id", flat=True)[:STATUS_RECIPIENTS]
    )
    contact_list, _ = ContactList.objects.get_or_create(name="bench statuses")
    ContactListMember.objects.filter(contact_list=contact_list).delete()
    ContactListMember.objects.bulk_create(
        [ContactListMember(contact_list=contact_list, contact_id=i) for i in ids], batch_size=5000
    )
    from campaigns.models import AudienceKind
    from campaigns.services import campaign_create, campaign_launch, campaign_start

    campaign = campaign_create(
        name="statuses",
        channel=channel,
        variants=[{"template": template, "split": 100}],
        audience_kind=AudienceKind.LISTS,
        list_ids=[contact_list.pk],
        window_days=list(range(7)),
        time_zone="America/Sao_Paulo",
    )
    campaign_start(campaign=campaign)
    campaign_launch(campaign_id=campaign.pk)
    pipeline = StatusPipeline(stub, env, channel, NUMBERS[2])
    try:
        before = CPU.sample()
        worker = _worker(env, bench.schema_name, [campaign.pk])
        first = _wait_first_send(stub)
        samples: list[tuple[float, int]] = []
        seen: list[tuple[float, int]] = []
        sent_done = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            now = time.perf_counter()
            posted = stub.stats()["posted_by_status"].get("delivered", 0)
            counters = _counters(campaign.pk)
            samples.append((now, posted))
            seen.append((now, counters["delivered"]))
            if sent_done is None and counters["queued"] == 0:
                sent_done = now
            if counters["read"] >= STATUS_RECIPIENTS and counters["delivered"] >= STATUS_RECIPIENTS:
                break
            time.sleep(0.2)
        CPU.reap(worker)
    finally:
        pipeline.stop()
    after = CPU.sample()
    lags = []
    for at, posted in samples:
        if not posted:
            continue
        when = next((t for t, n in seen if t >= at and n >= posted), None)
        if when is not None:
            lags.append(when - at)
    final = _counters(campaign.pk)
    print(f"# with statuses: {final}", flush=True)
    assert final["delivered"] == final["read"] == STATUS_RECIPIENTS, final
    assert sent_done is not None
    report("campaign_with_statuses_rate", STATUS_RECIPIENTS / (sent_done - first), "msg/s")
    report("campaign_status_lag_p95", percentile(lags, 95), "s")
    # sends + three statuses each, applied to the inbox messages and the recipients
    _cpu_report(report, "campaign_with_statuses_cpu_ms_per_msg", before, after, STATUS_RECIPIENTS)


RUNS_QUEUE = "bench-campaign-runs"


def _runs_unconsumed() -> None:
    """The campaign runs the benchmark's own starts queue (``campaigns.launch`` / ``campaigns.run``)
    go to a queue nobody consumes: the scenarios start their worker processes themselves, and
    the Celery worker of the status pipeline must not become a second sender (a kill -9 of
    "the" worker would then not stop the sending)."""
    from kombu import Connection

    from config.celery import app

    app.conf.task_routes = {name: {"queue": RUNS_QUEUE} for name in ("campaigns.launch", "campaigns.run")}
    with Connection(app.conf.broker_url) as conn:
        client = conn.default_channel.client
        client.delete(RUNS_QUEUE)
        # Runs left in the default queue by an earlier benchmark process.
        for raw in client.lrange("celery", 0, -1):
            if json.loads(raw).get("headers", {}).get("task") in ("campaigns.launch", "campaigns.run"):
                client.lrem("celery", 0, raw)


def run(report) -> None:
    from django.conf import settings
    from django.db import connection

    global CPU
    _runs_unconsumed()
    stub = Stub()
    try:
        CPU = Cpu(stub.proc.pid)
        env = {**_env(), "WHATSAPP_GRAPH_URL": stub.url}
        settings.WHATSAPP_GRAPH_URL = stub.url
        bench, channels, tags, template = _prepare(stub)
        print(f"# load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        for name in SCENARIOS:
            started = time.perf_counter()
            connection.set_tenant(bench)
            if name == "dispatch":
                dispatch(report, stub, env, bench, channels, template)
            elif name == "multi":
                multi(report, stub, env, bench, channels, template, tags)
            elif name == "limiter80":
                limiter80(report, stub, env, bench, channels, template)
            elif name == "pause":
                pause(report, stub, env, bench, channels, template)
            elif name == "crash":
                crash(report, stub, env, bench, channels, template)
            elif name == "snapshot":
                snapshot(report, stub, env, bench, channels, template)
            elif name == "statuses":
                statuses(report, stub, env, bench, channels, template)
            print(f"# {name} took {time.perf_counter() - started:.1f}s", flush=True)
        print(f"# load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        print(f"# host speed: a fixed Python loop took {_cpu_speed():.2f} s (fastest seen: 0.75 s)", flush=True)
    finally:
        connection.set_schema_to_public()
        stub.stop()
