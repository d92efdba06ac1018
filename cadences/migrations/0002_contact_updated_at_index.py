"""The index the contact-change sweeps read (``cadences.enrolment.contacts_sweep``): contacts
whose ``crm_contact.updated_at`` moved since a cadence's last look, one range scan instead of
re-running every segment. It lives on the CRM's table but only cadences read it, so it is
created here (``IF NOT EXISTS``: the CRM may adopt it in its own model later)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cadences", "0001_initial"),
        ("crm", "0006_phone_index_covers_id"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS crm_contact_updated_at ON crm_contact (updated_at)",
            "DROP INDEX IF EXISTS crm_contact_updated_at",
        )
    ]
