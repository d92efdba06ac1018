from django.dispatch import Signal

# Sent by ``manage.py bootstrap --demo`` once the demo company exists (every run), so each app
# can add its own demo data idempotently. Receivers get ``company``.
demo_company_ready = Signal()
