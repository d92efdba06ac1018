"""Drip cadences: the due pick among a million enrolments, a burst of due sends through the
campaign engine, and continuous segment enrolment.

Reuses the campaigns benchmark's company (100,000 contacts, WhatsApp Cloud numbers at
1,000 mps), its Graph stub process (1,000 mps per number enforced, every send counted per
recipient) and its worker processes (``campaigns.dispatch.run``, what ``campaigns.run`` runs).

Prints
  BENCH cadence_due_pick_p95 <ms> ms            the tick's pick (1,000 due rows, FOR UPDATE SKIP LOCKED)
                                                among 1,000,000 enrolments (10 cadences x 100,000 contacts)
  BENCH cadence_burst_rate <n> msg/s            BURST enrolments due in the same minute: from the tick's
                                                start to the last send the stub accepts (the tick hands
                                                them to the engine, two workers send)
  BENCH cadence_burst_rate.baseline <n> msg/s   a plain campaign to the same contacts, same stub, same run
  BENCH cadence_burst_handoff_s <s> s           the tick's part of it (pick, steps, recipient rows)
  BENCH cadence_continuous_enrol_s <s> s        100,000 contacts start matching a continuous segment:
                                                one sweep enrols them all

``BENCH_CADENCE_BURST`` is the burst size: 25,000 by default (the campaigns company's contacts
with one of its four tags), not 100,000: two runs of 100,000 at the number's 1,000 mps take
over 3 minutes of sending alone and the whole benchmark must stay under 5 minutes on the
2-core machine. The rate is per second, so the count changes the figure little.
``BENCH_CADENCE_SCENARIOS`` (comma-separated: pick, burst, continuous) runs a subset.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from benchmarks.support import percentile

PICK_ENROLMENTS_PER_CADENCE = 100_000
PICK_CADENCES = 10
CONTINUOUS = int(os.environ.get("BENCH_CADENCE_CONTINUOUS", "100000"))


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE cadences_stepevent, cadences_enrollment, cadences_cadencestep, cadences_cadence CASCADE"
        )


def _cadence(channel, *, name: str, steps=None, **fields):
    from cadences import services

    always = {"weekdays": list(range(7)), "window_start": None, "window_end": None, "national_holidays": False}
    cadence = services.cadence_create(name=name, channel=channel, **{**always, **fields})
    for kind, config in steps or []:
        services.step_add(cadence=cadence, kind=kind, config=config)
    if steps:
        services.cadence_set_status(cadence=cadence, status="active")
    return cadence


def due_pick(report, channel, template) -> None:
    """1,000,000 enrolments, 1,000 of them due: the pick's p95 (rolled back each time)."""
    from django.db import connection, transaction

    from cadences.engine import PICK
    from cadences.engine import due_pick as pick

    _truncate()
    started = time.perf_counter()
    ids = []
    for i in range(PICK_CADENCES):
        cadence = _cadence(channel, name=f"pick {i}", steps=[("send", {"template": template.pk})])
        ids.append((cadence.pk, cadence.steps.get().pk))
    with connection.cursor() as cursor:
        for n, (cadence_id, step_id) in enumerate(ids):
            # Due moments spread over the next 30 days; the first cadence has 1,000 due now.
            cursor.execute(
                """
                INSERT INTO cadences_enrollment (cadence_id, contact_id, state, step_id, next_due_at, source,
                    exit_reason, enrolled_at, outcome_pending)
                SELECT %s, c.id, 'active', %s,
                       CASE WHEN %s = 0 AND row_number() OVER (ORDER BY c.id) <= 1000
                            THEN now() - interval '1 minute'
                            ELSE now() + (random() * 30 + 0.01) * interval '1 day' END,
                       'manual', '', now(), FALSE
                FROM crm_contact c WHERE c.source = 'bench-campaign' ORDER BY c.id LIMIT %s
                """,
                [cadence_id, step_id, n, PICK_ENROLMENTS_PER_CADENCE],
            )
        cursor.execute("ANALYZE cadences_enrollment")
        cursor.execute("SELECT count(*) FROM cadences_enrollment")
        total = cursor.fetchone()[0]
    print(f"# {total:,} enrolments written in {time.perf_counter() - started:.1f} s", flush=True)
    assert total == PICK_CADENCES * PICK_ENROLMENTS_PER_CADENCE, total
    samples = []
    for _ in range(60):
        with transaction.atomic():
            t0 = time.perf_counter()
            rows = pick(now=dt.datetime.now(dt.UTC), limit=PICK)
            samples.append((time.perf_counter() - t0) * 1000)
            assert len(rows) == PICK, len(rows)
            transaction.set_rollback(True)
    report("cadence_due_pick_p95", percentile(samples[5:], 95), "ms")
    _truncate()


def burst(report, stub, env, bench, channels, template, tags) -> None:
    from django.db import connection

    from benchmarks import bench_campaigns as bc
    from cadences import services
    from cadences.engine import cadences_tick
    from crm.models import Contact

    # the baseline: a plain campaign to the same contacts, same stub, same number
    bc._clean(bench)
    stub.reset()
    campaign, _snap = bc._campaign(bench, channels[0], template, tag_id=tags[0], name="burst baseline")
    count = bc._counters(campaign.pk)["total"]
    workers = [bc._worker(env, bench.schema_name, [campaign.pk]) for _ in range(bc.WORKERS)]
    try:
        first = bc._wait_first_send(stub)
        last = bc._wait_done([campaign.pk])
    finally:
        for worker in workers:
            worker.wait(60)
    base_rate = count / (last - first)
    base_stats, base_counters = stub.stats(), bc._counters(campaign.pk)
    print(
        f"# baseline: {count:,} recipients, stub accepted {base_stats['accepted']:,}, counters {base_counters}",
        flush=True,
    )
    assert base_counters["sent"] == count, base_counters

    # the burst: as many enrolments, all due now, one send step
    bc._clean(bench)
    _truncate()
    stub.reset()
    connection.set_tenant(bench)
    cadence = _cadence(channels[0], name="burst", steps=[("send", {"template": template.pk})])
    enrolled = services.enrol(cadence=cadence, contacts=Contact.objects.filter(tag_ids__contains=[tags[0]]), limit=None)
    assert enrolled == count, (enrolled, count)
    step = cadence.steps.get()
    # The tick hands the enrolments over in one thread while the engine's workers send (in
    # production the run it queues after its first batch starts a worker at once). A worker
    # whose claim comes back empty before the next batch is handed ends its run (the campaign
    # completes, the next batch reopens it), so a new one starts in its place, as the queued
    # ``campaigns.run`` would.
    tick_out: dict = {}

    def hand_over():
        from django.db import connection as thread_connection

        thread_connection.set_tenant(bench)
        try:
            tick_out["done"] = cadences_tick(budget_s=600)
            tick_out["at"] = time.perf_counter()
        finally:
            thread_connection.close()

    import threading

    t0 = time.perf_counter()
    thread = threading.Thread(target=hand_over)
    thread.start()
    workers = []
    try:
        while True:
            live = [w for w in workers if w.poll() is None]
            queued = bc._counters(step.campaign_id)["queued"]
            if "done" in tick_out and queued == 0:
                last = time.perf_counter()
                break
            if queued and len(live) < bc.WORKERS:
                workers.append(bc._worker(env, bench.schema_name, [step.campaign_id]))
            time.sleep(0.05)
    finally:
        thread.join()
        for worker in workers:
            worker.wait(60)
    handed = tick_out["at"]
    assert tick_out["done"]["picked"] == count, tick_out
    stats, counters = stub.stats(), bc._counters(step.campaign_id)
    print(
        f"# burst: stub accepted {stats['accepted']:,}, duplicates {stats['duplicates']}, counters {counters}",
        flush=True,
    )
    assert counters["sent"] == count and stats["duplicates"] == 0, (counters, stats["duplicates"])
    report("cadence_burst_rate", count / (last - t0), "msg/s")
    report("cadence_burst_rate.baseline", base_rate, "msg/s")
    report("cadence_burst_handoff_s", handed - t0, "s")
    print(f"# burst of {count:,} enrolments due in the same minute", flush=True)
    _truncate()
    bc._clean(bench)


def continuous(report, channels, template) -> None:
    from django.db import connection
    from django.utils import timezone

    from cadences.enrolment import contacts_sweep
    from cadences.models import Enrollment
    from crm.models import Segment, Tag

    _truncate()
    hot, _ = Tag.objects.get_or_create(name="bench-quente")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crm_contact SET tag_ids = array_remove(tag_ids, %s) WHERE tag_ids @> ARRAY[%s]::bigint[]",
            [hot.pk, hot.pk],
        )
    segment, _ = Segment.objects.update_or_create(name="bench quentes", defaults={"filters": {"tags_any": [hot.pk]}})
    cadence = _cadence(
        channels[0],
        name="continuous",
        steps=[("send", {"template": template.pk})],
        enrol_mode="segment_continuous",
        segment=segment,
    )
    first_look = timezone.now()
    contacts_sweep(cadence=cadence, now=first_look, force=True)  # nobody matches yet
    cadence.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crm_contact SET tag_ids = array_append(tag_ids, %s), updated_at = now()"
            " WHERE id IN (SELECT id FROM crm_contact WHERE source = 'bench-campaign' ORDER BY id LIMIT %s)",
            [hot.pk, CONTINUOUS],
        )
        cursor.execute("ANALYZE crm_contact")
    t0 = time.perf_counter()
    done = contacts_sweep(cadence=cadence, now=timezone.now() + dt.timedelta(seconds=1), force=True)
    spent = time.perf_counter() - t0
    assert done["segment"] == CONTINUOUS == Enrollment.objects.filter(cadence=cadence).count(), done
    report("cadence_continuous_enrol_s", spent, "s")
    _truncate()


def run(report) -> None:
    from django.conf import settings
    from django.db import connection

    from benchmarks import bench_campaigns as bc

    bc._runs_unconsumed()
    stub = bc.Stub()
    try:
        env = {**bc._env(), "WHATSAPP_GRAPH_URL": stub.url}
        settings.WHATSAPP_GRAPH_URL = stub.url
        bench, channels, tags, template = bc._prepare(stub)
        print(f"# load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        wanted = [w for w in os.environ.get("BENCH_CADENCE_SCENARIOS", "pick,burst,continuous").split(",") if w]
        for name, fn in (
            ("pick", lambda: due_pick(report, channels[1], template)),
            ("burst", lambda: burst(report, stub, env, bench, channels, template, tags)),
            ("continuous", lambda: continuous(report, channels, template)),
        ):
            if name not in wanted:
                continue
            started = time.perf_counter()
            connection.set_tenant(bench)
            fn()
            print(f"# {name} took {time.perf_counter() - started:.1f}s", flush=True)
        print(f"# load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    finally:
        connection.set_schema_to_public()
        stub.stop()
