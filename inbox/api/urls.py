from django.urls import path
from rest_framework.routers import SimpleRouter

from inbox.api import views

router = SimpleRouter()
router.register("inbox/channels", views.ChannelViewSet, basename="inbox-channel")
router.register("inbox/conversations", views.ConversationViewSet, basename="inbox-conversation")
router.register("inbox/labels", views.LabelViewSet, basename="inbox-label")
router.register("inbox/canned-responses", views.CannedResponseViewSet, basename="inbox-canned")
router.register("inbox/agents", views.AgentViewSet, basename="inbox-agent")

urlpatterns = [
    *router.urls,
    path(
        "inbox/conversations/<int:conversation_pk>/messages/",
        views.MessageViewSet.as_view({"get": "list", "post": "create"}),
        name="inbox-message-list",
    ),
]
