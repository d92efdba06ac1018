"""Contact list at 1,000,000 contacts in one company: first page of a search and deep pages.

Runs the real code path of the contact list (``crm.listing``: filters from the query string,
the compiled search, keyset pages) through a request object, 60 times each, and prints the
95th percentile in milliseconds. Baseline: the same deep page with OFFSET pagination.

The company ``bench-crm-search`` keeps its contacts between runs (generated once in SQL:
names, phones, emails and tags with Brazilian shapes). ``BENCH_CRM_SEARCH_ROWS`` changes the
size (default 1,000,000).
"""

from __future__ import annotations

import os
import time

from django.db import connection
from django.http import QueryDict
from django.test import RequestFactory

from benchmarks.support import company, percentile, time_calls

FIRST = ["Maria", "José", "Ana", "João", "Antônio", "Francisca", "Carlos", "Paulo", "Lúcia", "Sérgio", "Márcia", "Luiz"]
LAST = ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes", "Araújo"]


def populate(rows: int) -> None:
    from crm.tags import tags_ensure

    tags = tags_ensure(names=["VIP", "Lead", "Cliente", "Black Friday"])
    first = "ARRAY[" + ",".join(f"'{n}'" for n in FIRST) + "]"
    last = "ARRAY[" + ",".join(f"'{n}'" for n in LAST) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO crm_contact (name, phone, email, tag_ids, custom_fields, source, consent_status,
                                     consent_source, created_at, updated_at, last_interaction_at)
            SELECT ({first})[1 + i %% {len(FIRST)}] || ' ' || ({last})[1 + (i / 7) %% {len(LAST)}] || ' ' || i,
                   '+55' || (ARRAY[11,21,31,41,51,61,71,81])[1 + i %% 8] || '9' || lpad((60000000 + i)::text, 8, '0'),
                   CASE WHEN i %% 3 = 0 THEN '' ELSE 'cliente' || i || '@exemplo.com.br' END,
                   CASE WHEN i %% 10 = 0 THEN ARRAY[%s]::bigint[] WHEN i %% 10 = 1 THEN ARRAY[%s, %s]::bigint[]
                        ELSE '{{}}'::bigint[] END,
                   '{{}}'::jsonb, 'import',
                   CASE WHEN i %% 20 = 0 THEN 'opted_out' WHEN i %% 2 = 0 THEN 'opted_in' ELSE 'unknown' END,
                   '', now() - (i || ' seconds')::interval, now(),
                   CASE WHEN i %% 4 = 0 THEN NULL ELSE now() - ((i * 7) %% 100000 || ' minutes')::interval END
            FROM generate_series(1, %s) AS i
            """,
            [tags[0], tags[1], tags[2], rows],
        )
        cursor.execute("ANALYZE crm_contact")


def run(report) -> None:
    from crm.listing import contacts_for_query, keyset_page, needs_bounded_search
    from crm.models import Contact

    rows = int(os.environ.get("BENCH_CRM_SEARCH_ROWS", "1000000"))
    # The machine is shared: the load tells how much of it this run had.
    print("# load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    target = company("bench-crm-search", "Bench Search")
    connection.set_tenant(target)
    try:
        existing = Contact.objects.count()
        if existing < rows:
            Contact.objects.all().delete()
            started = time.perf_counter()
            populate(rows)
            print(f"# generated {rows} contacts in {time.perf_counter() - started:.1f}s", flush=True)
        factory = RequestFactory()

        def page(query: str):
            request = factory.get("/contacts/?" + query)
            queryset, clean, _segment = contacts_for_query(QueryDict(query))
            return keyset_page(
                request, queryset, QueryDict(query).get("sort") or "-id", search=needs_bounded_search(clean)
            )

        def cursor_at(query: str, depth: int) -> str:
            """The keyset cursor of the row ``depth`` rows down that list (found once with
            OFFSET, outside the timing)."""
            from crm.listing import SPECS, _cursor_of, display_order

            params = QueryDict(query)
            spec = SPECS[params.get("sort") or "-id"]
            queryset, _clean, _segment = contacts_for_query(params)
            row = queryset.order_by(*display_order(spec))[depth]
            return _cursor_of(spec, row)

        from crm.models import Tag

        vip = Tag.objects.get(name="VIP").pk
        scenarios = {
            "first_page": "",
            "search_name_first_page": "q=maria",
            "search_two_words_first_page": "q=jo%C3%A3o+silv",
            "search_rare_name_first_page": "q=zacarias",
            "search_phone_partial_first_page": "q=(11)+9600",
            "search_phone_full_first_page": "q=11+96000-1000",
            "search_email_first_page": "q=cliente12345@exemplo",
            "filter_tag_consent_first_page": f"tag={vip}&consent=opted_in",
            "sort_name_first_page": "sort=name",
        }
        for name, query in scenarios.items():
            samples = time_calls(lambda q=query: page(q), repeat=60)
            report(f"crm_search_{name}_p95", percentile(samples, 95), "ms")
            report(f"crm_search_{name}_p50", percentile(samples, 50), "ms")

        # Deep pages: far down the list, still one index range scan.
        deep = min(rows - 100, 900_000)
        for name, query, depth in [
            ("deep_page", "", deep),
            ("deep_page_by_name", "sort=name", deep),
            ("deep_page_by_interaction", "sort=-last_interaction", deep),
            ("deep_page_of_search", "q=maria", min(rows // 15, 60_000)),
            ("deep_page_of_tag_filter", f"tag={vip}", min(rows // 12, 80_000)),
        ]:
            cursor = cursor_at(query, depth)
            samples = time_calls(lambda q=query, c=cursor: page(f"{q}&after={c}"), repeat=60)
            report(f"crm_search_{name}_p95", percentile(samples, 95), "ms")
            report(f"crm_search_{name}_p50", percentile(samples, 50), "ms")
        # Baseline: the same deep page with OFFSET pagination.
        samples = time_calls(lambda: list(Contact.objects.order_by("-id")[deep : deep + 25]), repeat=10, warmup=1)
        report("crm_search_deep_page_p95.baseline", percentile(samples, 95), "ms")
    finally:
        connection.set_schema_to_public()
