"""The recipient table's campaign/state index leaves out queued and claimed rows (the claim and
lease indexes hold those): a million-row snapshot and every claim write one index less (see
the index comment in campaigns/models.py). Not built concurrently: a company's schema is
migrated inside its creation's transaction."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_recipient_message_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="recipient",
            index=models.Index(
                condition=models.Q(("state__in", ["queued", "claimed"]), _negated=True),
                fields=["campaign", "state", "id"],
                name="campaigns_rcpt_done_state",
            ),
        ),
        migrations.RemoveIndex(
            model_name="recipient",
            name="campaigns_rcpt_campaign_state",
        ),
    ]
