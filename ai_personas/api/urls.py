from django.urls import path
from rest_framework.routers import SimpleRouter

from ai_personas.api import views

router = SimpleRouter()
router.register("ai/personas", views.PersonaViewSet, basename="ai-persona")
router.register("ai/knowledge-bases", views.KnowledgeBaseViewSet, basename="ai-knowledge-base")
router.register("ai/documents", views.DocumentViewSet, basename="ai-document")

urlpatterns = [
    *router.urls,
    path("ai/usage/", views.UsageView.as_view(), name="ai-usage"),
]
