"""The audience snapshot: a campaign's recipients materialized in one INSERT ... SELECT.

The SELECT is ``crm.selectors.marketing_audience`` compiled to SQL (so opted-out contacts are
never even candidates: the CRM owns that rule), wrapped to:

- skip invalid numbers (not E.164) and duplicate numbers (the second and later rows of the
  same phone) as ``skipped`` rows with their reason, so they show in the recipient table;
- copy what sending needs (phone, WhatsApp id, name, the source values of the variables that
  the name and phone do not give), so a later CRM edit changes nothing;
- assign each row its A/B variant by split, and hold back (``next_attempt_at`` in the year 9000,
  variant empty) the rows outside the test share until a winner is chosen.

Opted-out contacts are counted (``crm.selectors.audience_opted_out_count``), not inserted.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from campaigns.models import AudienceKind, Campaign, CampaignVariant, RecipientState, SkipReason
from campaigns.rendering import ROW_SOURCES, source_sql, sources_of

E164 = r"^\+[1-9][0-9]{7,14}$"
# The same check as ``E164`` without the regular expression engine (a third of a million-row
# snapshot's time went to it): 9 to 16 characters, a "+", a first digit that is not 0, then
# digits only. ``{phone}`` is the column.
E164_SQL = (
    "(length({phone}) BETWEEN 9 AND 16 AND left({phone}, 1) = '+' AND substr({phone}, 2, 1) <> '0'"
    " AND ltrim(substr({phone}, 2), '0123456789') = '')"
)


ANALYZE_AFTER = 50_000  # rows a snapshot adds before it refreshes the table's statistics


def audience_filters(campaign: Campaign) -> dict[str, Any]:
    """The ``marketing_audience`` arguments of a campaign's audience definition."""
    if campaign.audience_kind == AudienceKind.SEGMENTS:
        return {"segment_ids": list(campaign.segment_ids) or [0]}
    if campaign.audience_kind == AudienceKind.LISTS:
        return {"list_ids": list(campaign.list_ids) or [0]}
    if campaign.audience_kind == AudienceKind.TAGS:
        return {"tag_ids": list(campaign.tag_ids) or [0]}
    return {}


def _variables_sql(variants: list[CampaignVariant], campaign: Campaign) -> tuple[str, list[Any]]:
    sources: set[str] = set(sources_of(campaign.variables))
    for variant in variants:
        sources |= sources_of(variant.variables)
        if variant.template is not None:
            sources |= sources_of(variant.template.variables)
    if campaign.audience_kind != AudienceKind.UPLOAD:
        sources = {s for s in sources if not s.startswith("csv.")}
    sources -= ROW_SOURCES  # the row's own name and phone columns hold them
    if not sources:
        return "'{}'::jsonb", []
    parts: list[str] = []
    params: list[Any] = []
    for source in sorted(sources):
        expr, expr_params = source_sql(source, "a")
        parts.append("%s, " + expr)
        params += [source, *expr_params]
    return f"jsonb_strip_nulls(jsonb_build_object({', '.join(parts)}))", params


def _variant_sql(variants: list[CampaignVariant], campaign: Campaign) -> tuple[str, str, list[Any]]:
    """SQL for (variant id, next_attempt_at) by row bucket. ``bucket`` is 0..99 spread
    evenly over the audience; ``test`` says whether the row is in the A/B test share."""
    params: list[Any] = []
    cases = []
    low = 0
    for variant in variants:
        high = low + variant.split
        cases.append("WHEN bucket < %s THEN %s")
        params += [high, variant.pk]
        low = high
    variant_expr = f"(CASE {' '.join(cases)} ELSE %s END)"
    params.append(variants[-1].pk)
    if campaign.ab_test_share and len(variants) > 1:
        variant_expr = f"(CASE WHEN test THEN {variant_expr} END)"
        next_expr = "(CASE WHEN test THEN now() ELSE '9000-01-01 00:00:00+00'::timestamptz END)"
    else:
        next_expr = "now()"
    return variant_expr, next_expr, params


def _upload_audience(campaign: Campaign) -> tuple[str, list[Any], int]:
    """The rows of an uploaded audience, in file order, with their contact's data; a row whose
    contact opted out is left out (the CRM's rule, through ``marketing_audience``), and
    counted."""
    from crm.selectors import marketing_audience

    allowed_sql, allowed_params = marketing_audience().values("id").query.sql_with_params()
    sql = f"""
        SELECT r.contact_id AS id, r.phone AS phone, c.wa_id AS wa_id, COALESCE(c.name, '') AS name,
               COALESCE(c.email, '') AS email, COALESCE(c.custom_fields, '{{}}'::jsonb) AS custom_fields,
               r."values" AS row_values, r.row_number AS ord
        FROM campaigns_audiencerow r LEFT JOIN crm_contact c ON c.id = r.contact_id
        WHERE r.upload_id = %s AND (r.contact_id IS NULL OR r.contact_id IN ({allowed_sql}))
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM campaigns_audiencerow r WHERE r.upload_id = %s AND r.contact_id IS NOT NULL"
            f" AND r.contact_id NOT IN ({allowed_sql})",
            [campaign.upload_id, *allowed_params],
        )
        opted_out = cursor.fetchone()[0]
    return sql, [campaign.upload_id, *allowed_params], opted_out


def snapshot_take(campaign: Campaign) -> dict[str, int]:
    """Insert the campaign's recipients (call inside the start transaction, holding the
    campaign's row lock). Returns the counts by outcome."""
    from crm.selectors import audience_opted_out_count, marketing_audience

    filters = audience_filters(campaign)
    variants = list(CampaignVariant.objects.filter(campaign=campaign).select_related("template").order_by("key"))
    if campaign.audience_kind == AudienceKind.UPLOAD:
        audience_sql, audience_params, opted_out = _upload_audience(campaign)
    else:
        audience = (
            marketing_audience(**filters).order_by().values("id", "phone", "wa_id", "name", "email", "custom_fields")
        )
        inner, inner_params = audience.query.sql_with_params()
        audience_sql = f"SELECT q.*, NULL::jsonb AS row_values, q.id AS ord FROM ({inner}) q"
        audience_params = list(inner_params)
        opted_out = None
    variables_sql, variables_params = _variables_sql(variants, campaign)
    variant_expr, next_expr, variant_params = _variant_sql(variants, campaign)
    share = int(campaign.ab_test_share or 0)
    upload = campaign.audience_kind == AudienceKind.UPLOAD
    # Only what the campaign needs is computed per row (a million rows: each window is a sort):
    # a contact's phone is unique in the CRM, so only an uploaded file can repeat a number; the
    # bucket only matters with several variants, the hash only with an A/B test share; the
    # insert follows the file's order for an upload, the scan's order otherwise (rows are
    # claimed by id, so that is the order they are sent in).
    dup_sql = "row_number() OVER (PARTITION BY a.phone ORDER BY a.ord)" if upload else "1"
    bucket_sql = "(row_number() OVER (ORDER BY a.ord) - 1) %% 100" if len(variants) > 1 else "0"
    ab_test = bool(share) and len(variants) > 1
    test_sql = "((hashtext(a.phone) & 2147483647) %% 100) < %s" if ab_test else "FALSE"
    test_params = [share] if ab_test else []
    order_sql = "ORDER BY a.ord" if upload else ""
    sql = f"""
        WITH a AS (
            SELECT a.*,
                   {dup_sql} AS dup,
                   {bucket_sql} AS bucket,
                   {test_sql} AS test,
                   NOT COALESCE({E164_SQL.format(phone="a.phone")}, FALSE) AS invalid
            FROM ({audience_sql}) a
        )
        INSERT INTO campaigns_recipient (
            campaign_id, variant_id, contact_id, phone, wa_id, name, variables, state, reason,
            lease_owner, attempts, next_attempt_at, provider_message_id, segments,
            error_code, error_title, error_details, created_at)
        SELECT %s,
               CASE WHEN a.invalid OR a.dup > 1 THEN NULL ELSE {variant_expr} END,
               a.id, a.phone, COALESCE(a.wa_id, ''), a.name, {variables_sql},
               CASE WHEN a.invalid OR a.dup > 1 THEN %s ELSE %s END,
               CASE WHEN a.invalid THEN %s WHEN a.dup > 1 THEN %s ELSE '' END,
               '', 0,
               CASE WHEN a.invalid OR a.dup > 1 THEN NULL ELSE {next_expr} END,
               '', 1, '', '', '', now()
        FROM a
        {order_sql}
    """
    params = [
        *test_params,
        *audience_params,
        campaign.pk,
        *variant_params,
        *variables_params,
        RecipientState.SKIPPED,
        RecipientState.QUEUED,
        SkipReason.INVALID,
        SkipReason.DUPLICATE,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        total = cursor.rowcount
        # The few skipped rows, by reason, from the campaign/state index (no RETURNING of a
        # million rows to count them).
        cursor.execute(
            "SELECT reason, count(*) FROM campaigns_recipient WHERE campaign_id = %s AND state = %s GROUP BY reason",
            [campaign.pk, RecipientState.SKIPPED],
        )
        skipped = dict(cursor.fetchall())
        if total >= ANALYZE_AFTER:
            # The planner's statistics still describe the table before these rows (autovacuum
            # comes later): a cancel or a write-back planned on them can pick a join that runs
            # for minutes. ANALYZE samples a fixed number of rows, so it costs well under a second.
            cursor.execute("ANALYZE campaigns_recipient")
    invalid, duplicate = skipped.get(SkipReason.INVALID, 0), skipped.get(SkipReason.DUPLICATE, 0)
    queued = total - invalid - duplicate
    if opted_out is None:
        opted_out = audience_opted_out_count(**filters)
    return {"queued": queued, "invalid": invalid, "duplicate": duplicate, "opted_out": opted_out}
