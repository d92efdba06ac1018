import os

from celery import Celery
from celery.signals import worker_process_init

# Unset means production: a server started without it must not run with DEBUG and dev keys.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("masteria")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _forget_inherited_connection_pools(**_kwargs) -> None:
    """A prefork child starts with a copy of the parent's database pools, whose threads did not
    survive the fork and whose sockets the parent still owns: it opens pools of its own."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    DatabaseWrapper._connection_pools = {}  # type: ignore[attr-defined]  # not in django-stubs
