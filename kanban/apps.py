from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KanbanConfig(AppConfig):
    name = "kanban"
    verbose_name = _("Kanban")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from kanban import wiring

        wiring.connect()
