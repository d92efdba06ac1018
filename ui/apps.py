from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UiConfig(AppConfig):
    """The interface kit's template tags (``{% load ui %}``), the navigation registry, and the
    pages every host serves (PWA files) or staff look at (the kit page). Imports ``core`` only."""

    name = "ui"
    verbose_name = _("Interface")
