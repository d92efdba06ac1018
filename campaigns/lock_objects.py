"""Row locks of the campaigns app, always taken in the same order (Saleor's ``lock_objects``).

Order: campaign, then its recipients by id. Writers that touch a campaign's counters and its
recipients (write-back, status apply, reconcile, cancel) lock the campaign row *after* the
recipient rows they change only through the counter ``UPDATE`` at the end of their
statement batch, never before: a lifecycle change (pause, cancel) locks the campaign first and
the recipients second, and the engine never holds a campaign lock while waiting for recipient
locks, so the two orders cannot deadlock.
"""

from __future__ import annotations

from campaigns.models import Campaign


def campaign_for_update(campaign_id: int) -> Campaign:
    """The campaign row, locked until the end of the transaction (lifecycle changes)."""
    return Campaign.objects.select_for_update(of=("self",)).select_related("channel").get(pk=campaign_id)
