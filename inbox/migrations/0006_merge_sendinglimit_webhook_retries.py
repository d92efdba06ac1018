"""Joins two migrations written at the same time (the sending limits of campaigns and the
webhook event retries); neither depends on the other."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0005_sendinglimit"),
        ("inbox", "0005_webhook_event_retries"),
    ]

    operations = []
