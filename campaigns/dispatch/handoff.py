"""Rows handed to the engine by another app: "send these contacts through this campaign".

A drip cadence (``cadences``) owns one campaign of kind ``cadence`` per send step. When its
enrolments reach the step, it appends their contacts here as queued recipient rows of that
campaign, in one ``INSERT ... SELECT``, and the engine's runs send them like any campaign's
rows: the same limiter, claim, never-twice, failure classification, conversation messages and
status write-back. There is no second send loop.

What this module owns, so the caller never re-implements it:

- the CRM's rule: contacts who opted out are never inserted (``crm.selectors.marketing_audience``);
- invalid numbers become ``skipped`` rows with their reason (they show in the figures);
- the variables' source values copied from the contact (as the snapshot does);
- the campaign's counters (``total_count``, ``queued_count``, ``skipped_count``), and a
  campaign the engine completed meanwhile running again (under the campaign's row lock, so a
  run completing it at the same moment cannot leave new rows behind a completed campaign);
- queuing one run for the campaign after commit (not one task per row).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone

from campaigns.dispatch.snapshot import E164_SQL, _variables_sql
from campaigns.lock_objects import campaign_for_update
from campaigns.models import CampaignKind, CampaignState, CampaignVariant, RecipientState, SkipReason
from core import duework
from core.tasks import enqueue_on_commit
from core.tenancy import require_tenant_schema


def rows_append(*, campaign_id: int, contact_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Queue recipients for ``contact_ids`` on the cadence campaign ``campaign_id`` (call inside
    the caller's transaction). Returns ``{contact_id: (recipient_id, state)}`` for the rows
    inserted (``queued``, or ``skipped`` for an invalid number); opted-out contacts are absent."""
    from crm.selectors import marketing_audience

    if not contact_ids:
        return {}
    campaign = campaign_for_update(campaign_id)
    if campaign.kind != CampaignKind.CADENCE:
        raise ValueError("only a cadence campaign takes appended rows")
    variants = list(CampaignVariant.objects.filter(campaign=campaign).select_related("template").order_by("key"))
    variant_id = variants[0].pk if variants else None
    audience = (
        marketing_audience()
        .filter(pk__in=contact_ids)
        .order_by()
        .values("id", "phone", "wa_id", "name", "email", "custom_fields")
    )
    inner, inner_params = audience.query.sql_with_params()
    variables_sql, variables_params = _variables_sql(variants, campaign)
    sql = f"""
        WITH a AS (
            SELECT a.*, NOT COALESCE({E164_SQL.format(phone="a.phone")}, FALSE) AS invalid FROM ({inner}) a
        )
        INSERT INTO campaigns_recipient (
            campaign_id, variant_id, contact_id, phone, wa_id, name, variables, state, reason,
            lease_owner, attempts, next_attempt_at, provider_message_id, segments,
            error_code, error_title, error_details, created_at)
        SELECT %s, CASE WHEN a.invalid THEN NULL ELSE %s::bigint END, a.id, a.phone, COALESCE(a.wa_id, ''), a.name,
               {variables_sql},
               CASE WHEN a.invalid THEN %s ELSE %s END, CASE WHEN a.invalid THEN %s ELSE '' END,
               '', 0, CASE WHEN a.invalid THEN NULL ELSE now() END, '', 1, '', '', '', now()
        FROM a ORDER BY a.id
        RETURNING id, contact_id, state
    """
    params: list[Any] = [
        *inner_params,
        campaign.pk,
        variant_id,
        *variables_params,
        RecipientState.SKIPPED,
        RecipientState.QUEUED,
        SkipReason.INVALID,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        queued = sum(1 for _id, _contact, state in rows if state == RecipientState.QUEUED)
        skipped = len(rows) - queued
        reopen = campaign.state == CampaignState.COMPLETED and queued > 0
        cursor.execute(
            "UPDATE campaigns_campaign SET total_count = total_count + %s, queued_count = queued_count + %s,"
            " skipped_count = skipped_count + %s, updated_at = now(),"
            " state = CASE WHEN %s THEN 'running' ELSE state END,"
            " completed_at = CASE WHEN %s THEN NULL ELSE completed_at END WHERE id = %s",
            [len(rows), queued, skipped, reopen, reopen, campaign.pk],
        )
    if queued and (campaign.state == CampaignState.RUNNING or reopen):
        schema = require_tenant_schema()
        enqueue_on_commit("campaigns.run", schema, campaign.pk)
        # The campaigns tick reconciles leases and queues runs for retries of these rows.
        duework.mark_on_commit("campaigns", schema)
    return {contact: (rid, state) for rid, contact, state in rows}


def cadence_campaign_open(*, campaign_id: int) -> None:
    """Make a cadence step's campaign ready to take rows: running, its snapshot "taken" (its
    rows arrive later, by :func:`rows_append`), so the engine's tick treats it as any running
    campaign (reconciles its leases, queues runs for retries, completes it when drained)."""
    campaign = campaign_for_update(campaign_id)
    if campaign.kind != CampaignKind.CADENCE:
        raise ValueError("only a cadence campaign is opened this way")
    if campaign.state in (CampaignState.RUNNING, CampaignState.COMPLETED):
        return
    now = timezone.now()
    type(campaign).objects.filter(pk=campaign.pk).update(
        state=CampaignState.RUNNING,
        started_at=now,
        snapshot_at=now,
        state_changed_at=now,
        pause_reason="",
        pause_detail="",
    )
