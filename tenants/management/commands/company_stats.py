from django.db import connection

from tenants.management.base import TenantCommand


class Command(TenantCommand):
    help = "Print a company's schema and table sizes (example of a --schema command)."

    def handle_tenant(self, company, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = %s ORDER BY relname",
                [company.schema_name],
            )
            rows = cursor.fetchall()
        self.stdout.write(f"company {company.name} (schema {connection.schema_name})")
        for name, count in rows:
            self.stdout.write(f"  {name}: {count}")
