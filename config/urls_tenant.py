"""URLs of a company's workspace (``<slug>.<BASE_DOMAIN>``)."""

from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.urls_common import urlpatterns as common

api_v1: list[URLPattern | URLResolver] = [
    path("", include("tenants.api.urls")),
    path("", include("crm.api.urls")),
    path("", include("inbox.api.urls")),
    path("", include("ai_personas.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("cadences.api.urls")),
    path("", include("kanban.api.urls")),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[]), name="api-docs"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("", include("ui.urls")),
    path("", include("tenants.urls_tenant")),
    path("", include("crm.urls")),
    path("", include("inbox.urls")),
    path("", include("ai_personas.urls")),
    path("", include("campaigns.urls")),
    path("", include("cadences.urls")),
    path("", include("kanban.urls")),
    *common,
]
