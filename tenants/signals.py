from django.dispatch import Signal

# Sent by ``manage.py bootstrap --demo`` once the demo company exists (every run), so each app
# can add its own demo data idempotently. Receivers get ``company``.
demo_company_ready = Signal()

# Sent (after commit) when staff suspend or reactivate a company, so each app stops or resumes
# its own work (campaigns pause, and resume the ones the suspension paused). Receivers get
# ``company``; they run inside no schema and select the company's themselves.
company_suspended = Signal()
company_reactivated = Signal()
