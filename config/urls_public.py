"""URLs of the public domain: sign-up, login, support admin, provider webhooks."""

from django.contrib import admin
from django.urls import include, path

from config.urls_common import urlpatterns as common

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("ui.urls_public")),
    path("", include("tenants.urls_public")),
    path("", include("inbox.urls_public")),
    *common,
]
