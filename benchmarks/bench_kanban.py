"""The Kanban board with 10,000 cards across 6 stages.

Prints
  BENCH kanban_board_p95 <ms> ms   server time to open the pipeline's board (first page of each
                                   column, counts and totals), target < 150 ms
  BENCH kanban_move_p95 <ms> ms    one move through the page's endpoint: row lock, rank between
                                   the neighbours, history row, contact timeline, realtime event
                                   on commit; target < 50 ms

Django's test Client in-process against a company of its own (``bench-kanban``), on an open
connection reused between requests as production's pool gives them. The cards are written
set-based once (``INSERT ... SELECT unnest``); later runs find them.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from benchmarks.support import company, percentile, print_host_speed

CARDS = 10_000
REQUESTS = int(os.environ.get("BENCH_KANBAN_REQUESTS", "60"))
MOVES = int(os.environ.get("BENCH_KANBAN_MOVES", "200"))
SLUG = "bench-kanban"


def _prepare():
    from allauth.account.models import EmailAddress

    from crm.models import Contact
    from kanban import ranks
    from kanban.models import Card, Pipeline
    from kanban.services import pipeline_create
    from tenants.models import Membership, User

    target = company(SLUG, "Bench Kanban")
    email = "owner@bench-kanban.test"
    owner = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password=None)
    EmailAddress.objects.get_or_create(user=owner, email=email, defaults={"verified": True, "primary": True})
    Membership.objects.get_or_create(user=owner, company=target, defaults={"role": "owner"})
    with schema_context(target.schema_name):
        pipeline = Pipeline.objects.filter(name="Bench").first() or pipeline_create(name="Bench")
        have = Card.objects.filter(pipeline=pipeline).count()
        if have < CARDS:
            if not Contact.objects.exists():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO crm_contact (name, phone, tag_ids, custom_fields, source, consent_status,"
                        " consent_source, email, created_at, updated_at)"
                        " SELECT 'Lead ' || g, '+55119' || lpad(g::text, 8, '0'), '{}', '{}', 'manual', 'unknown',"
                        " '', '', now(), now() FROM generate_series(1, %s) g",
                        [CARDS],
                    )
            stages = list(pipeline.stages.all())
            contacts = list(Contact.objects.order_by("id").values_list("id", flat=True)[:CARDS])
            keys = ranks.run_after(None, CARDS)
            stage_ids = [stages[i % len(stages)].pk for i in range(CARDS)]
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM kanban_card WHERE pipeline_id = %s", [pipeline.pk])
                cursor.execute(
                    "INSERT INTO kanban_card (pipeline_id, stage_id, rank, title, contact_id, value, tag_ids,"
                    " custom_fields, reason, stage_entered_at, created_at, updated_at)"
                    " SELECT %s, s, r, 'Negócio ' || c, c, (c %% 97) * 10, '{}', '{}', '', now(), now(), now()"
                    " FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS v(s, r, c)",
                    [pipeline.pk, stage_ids, keys, contacts],
                )
                cursor.execute("ANALYZE kanban_card")
        card_ids = list(Card.objects.filter(pipeline=pipeline).order_by("id").values_list("id", flat=True)[:MOVES])
        open_stages = [s.pk for s in pipeline.stages.filter(kind="open")]
    return target, owner, pipeline.pk, card_ids, open_stages


def run(report) -> None:
    print_host_speed()
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 60
    connection.settings_dict["CONN_MAX_AGE"] = 60
    target, owner, pipeline_id, card_ids, open_stages = _prepare()
    connection.set_schema_to_public()
    client = Client(HTTP_HOST=f"{target.slug}.{settings.BASE_DOMAIN}")
    client.force_login(owner)
    import time

    board_url = f"/pipelines/{pipeline_id}/"
    for _ in range(5):
        assert client.get(board_url).status_code == 200
    board = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(board_url)
        board.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    report("kanban_board_p95", percentile(board, 95), "ms")
    report("kanban_board_p50", percentile(board, 50), "ms")

    moves = []
    for i, card_id in enumerate(card_ids):
        stage = open_stages[i % len(open_stages)]
        started = time.perf_counter()
        response = client.post(f"/cards/{card_id}/move/", {"stage": stage})
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.content[:200]
        if i >= 5:
            moves.append(elapsed)
    report("kanban_move_p95", percentile(moves, 95), "ms")
    report("kanban_move_p50", percentile(moves, 50), "ms")
