from django.urls import path

from ai_personas import views

app_name = "ai_personas"

urlpatterns = [
    path("ai/personas/", views.personas, name="personas"),
    path("ai/personas/new/", views.persona_new, name="persona-new"),
    path("ai/personas/<int:pk>/", views.persona_edit, name="persona"),
    path("ai/personas/<int:pk>/delete/", views.persona_delete, name="persona-delete"),
    path("ai/personas/<int:pk>/playground/", views.playground, name="playground"),
    path("ai/personas/<int:pk>/playground/send/", views.playground_send, name="playground-send"),
    path("ai/personas/<int:pk>/playground/reset/", views.playground_reset, name="playground-reset"),
    path("ai/knowledge/", views.knowledge, name="knowledge"),
    path("ai/knowledge/<int:pk>/", views.knowledge_base, name="knowledge-base"),
    path("ai/knowledge/<int:pk>/delete/", views.knowledge_base_delete, name="knowledge-base-delete"),
    path("ai/knowledge/<int:pk>/upload/", views.document_upload, name="document-upload"),
    path("ai/knowledge/<int:pk>/qa/", views.qa_create, name="qa-create"),
    path("ai/documents/<int:pk>/delete/", views.document_delete, name="document-delete"),
    path("ai/documents/<int:pk>/progress/", views.document_progress, name="document-progress"),
    path("ai/usage/", views.usage, name="usage"),
    path("settings/ai/", views.provider_settings, name="settings"),
    path("settings/ai/test/", views.provider_settings_test, name="settings-test"),
    path("ai/conversations/<int:pk>/panel/", views.conversation_panel, name="conversation-panel"),
    path("ai/conversations/<int:pk>/toggle/", views.conversation_toggle, name="conversation-toggle"),
]
