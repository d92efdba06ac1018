"""Bring the database to a runnable state: migrate the public schema, the template schema and
every company behind it (a company whose creation was interrupted gets its schema back), create
the public domain and (optionally) the demo company. Idempotent."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from tenants import schemas
from tenants.models import DEMO_PLAN, Company, Domain, Membership, User
from tenants.roles import Role
from tenants.services import company_create, ensure_template_schema, missing_schemas_repair

DEMO_EMAIL = "demo@masteria.app"
DEMO_PASSWORD = "demo-pass-2026"


class Command(BaseCommand):
    help = "Migrate every schema and create the public domain (and the demo company with --demo)."

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="create the demo company and owner")

    def handle(self, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        public, _ = Company.objects.get_or_create(
            schema_name="public", defaults={"name": "Master IA", "slug": "public"}
        )
        Domain.objects.get_or_create(domain=settings.BASE_DOMAIN, defaults={"tenant": public, "is_primary": True})
        ensure_template_schema()
        for schema in missing_schemas_repair():
            self.stdout.write(self.style.WARNING(f"schema {schema} was missing (interrupted creation): recreated"))
        # Only the companies behind the template (which has every migration by now) are
        # migrated: asking the migration executor about an up-to-date schema costs a good part
        # of a second, so with a thousand companies every start would take minutes.
        companies = list(Company.objects.exclude(schema_name="public").values_list("schema_name", flat=True))
        behind = schemas.schemas_behind(companies, schemas.migration_state(schemas.template_schema()))
        for schema in behind:
            call_command("migrate_schemas", schema_name=schema, interactive=False, verbosity=0)
        connection.set_schema_to_public()
        if behind:
            self.stdout.write(f"migrated {len(behind)} of {len(companies)} companies")
        if options["demo"]:
            self._demo()
        self.stdout.write(self.style.SUCCESS("database ready"))

    def _demo(self):
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(email=DEMO_EMAIL, password=DEMO_PASSWORD, full_name="Demo Owner")
            from allauth.account.models import EmailAddress

            EmailAddress.objects.create(user=user, email=DEMO_EMAIL, verified=True, primary=True)
        company = Company.objects.filter(slug="demo").first()
        if company is None:
            company = company_create(name="Demo Company", slug="demo", owner=user, plan=DEMO_PLAN)
        Membership.objects.get_or_create(user=user, company=company, defaults={"role": Role.OWNER})
        from django.db.models.signals import post_save  # noqa: F401 - apps hook demo data below

        from tenants.signals import demo_company_ready

        demo_company_ready.send(sender=Company, company=company)
        port = settings.SITE_PORT
        self.stdout.write(
            f"\n  Demo company: {settings.SITE_SCHEME}://demo.{settings.BASE_DOMAIN}:{port}/\n"
            f"  Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
            f"  Sign up a new company at {settings.SITE_SCHEME}://{settings.BASE_DOMAIN}:{port}/accounts/signup/\n"
        )
