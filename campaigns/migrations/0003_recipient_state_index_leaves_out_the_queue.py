"""The recipient table's campaign/state index leaves out queued and claimed rows (the claim and
lease indexes hold those): a million-row snapshot and every claim write one index less (see
the index comment in campaigns/models.py). Built and dropped concurrently: a recipient table
can be large, and sending goes on meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0002_recipient_message_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="recipient",
            index=models.Index(
                condition=models.Q(("state__in", ["queued", "claimed"]), _negated=True),
                fields=["campaign", "state", "id"],
                name="campaigns_rcpt_done_state",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="recipient",
            name="campaigns_rcpt_campaign_state",
        ),
    ]
