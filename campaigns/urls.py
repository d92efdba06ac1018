"""Pages of the campaigns app (the campaign and template pages are built on the services)."""

from django.urls import URLPattern

app_name = "campaigns"

urlpatterns: list[URLPattern] = []
