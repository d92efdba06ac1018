"""Plans become rows (limits per plan), ``Company.plan`` a foreign key to them on the same
column, with per-company overrides, the company's MFA requirement and when it was suspended."""

import django.db.models.deletion
from django.db import migrations, models

# code, name, members, channels, contacts, messages/month, AI tokens/month (None: no limit)
PLANS = [
    ("free", "Free", 3, 2, 1_000, 1_000, 200_000, 0),
    ("pro", "Pro", 20, 10, 50_000, 50_000, 5_000_000, 1),
    ("enterprise", "Enterprise", None, None, None, None, None, 2),
    # The demo company: a new user tries everything, the dashboard still shows the bars.
    ("demo", "Demo", 25, 10, 250_000, 100_000, 2_000_000, 3),
]


def plans_create(apps, schema_editor):
    Plan = apps.get_model("tenants", "Plan")
    for code, name, members, channels, contacts, messages, tokens, position in PLANS:
        Plan.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "max_members": members,
                "max_channels": channels,
                "max_contacts": contacts,
                "max_messages_month": messages,
                "max_ai_tokens_month": tokens,
                "position": position,
            },
        )
    Company = apps.get_model("tenants", "Company")
    known = [row[0] for row in PLANS]
    Company.objects.exclude(plan__in=known).update(plan="free")
    Company.objects.filter(slug="demo").update(plan="demo")


class Migration(migrations.Migration):
    dependencies = [("tenants", "0005_webhook_route_verified")]

    operations = [
        migrations.CreateModel(
            name="Plan",
            fields=[
                ("code", models.SlugField(max_length=20, primary_key=True, serialize=False, verbose_name="code")),
                ("name", models.CharField(max_length=80, verbose_name="name")),
                ("max_members", models.PositiveIntegerField(blank=True, null=True, verbose_name="members")),
                ("max_channels", models.PositiveIntegerField(blank=True, null=True, verbose_name="channels")),
                ("max_contacts", models.PositiveIntegerField(blank=True, null=True, verbose_name="contacts")),
                (
                    "max_messages_month",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="messages per month"),
                ),
                (
                    "max_ai_tokens_month",
                    models.PositiveBigIntegerField(blank=True, null=True, verbose_name="AI tokens per month"),
                ),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="position")),
            ],
            options={"verbose_name": "plan", "verbose_name_plural": "plans", "ordering": ["position", "code"]},
        ),
        migrations.RunPython(plans_create, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="company",
            name="plan",
            field=models.ForeignKey(
                db_column="plan",
                default="free",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenants.plan",
                verbose_name="plan",
            ),
        ),
        migrations.AddField(
            model_name="company",
            name="limit_members",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="members limit"),
        ),
        migrations.AddField(
            model_name="company",
            name="limit_channels",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="channels limit"),
        ),
        migrations.AddField(
            model_name="company",
            name="limit_contacts",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="contacts limit"),
        ),
        migrations.AddField(
            model_name="company",
            name="limit_messages_month",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="messages per month limit"),
        ),
        migrations.AddField(
            model_name="company",
            name="limit_ai_tokens_month",
            field=models.PositiveBigIntegerField(blank=True, null=True, verbose_name="AI tokens per month limit"),
        ),
        migrations.AddField(
            model_name="company",
            name="require_mfa",
            field=models.BooleanField(default=False, verbose_name="require two-factor authentication"),
        ),
        migrations.AddField(
            model_name="company",
            name="suspended_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="suspended at"),
        ),
        migrations.AddField(
            model_name="company",
            name="suspension_reason",
            field=models.CharField(blank=True, default="", max_length=500, verbose_name="suspension reason"),
        ),
    ]
