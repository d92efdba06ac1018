from django.db import migrations


class Migration(migrations.Migration):
    """pgvector lives in the public schema, once per database, for every company schema."""

    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS vector SCHEMA public",
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
