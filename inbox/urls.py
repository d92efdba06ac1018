from django.urls import path

from inbox.views import channels as views_channels
from inbox.views import inbox as views

urlpatterns: list = [
    # The live inbox (views/inbox.py)
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/list/", views.conversation_list, name="inbox-list"),
    path("inbox/canned/", views.canned_responses, name="inbox-canned"),
    path("inbox/c/<int:pk>/", views.inbox, name="inbox-conversation"),
    path("inbox/c/<int:pk>/pane/", views.conversation_pane, name="inbox-conversation-pane"),
    path("inbox/c/<int:pk>/side/", views.conversation_side, name="inbox-conversation-side"),
    path("inbox/c/<int:pk>/messages/", views.message_list, name="inbox-messages"),
    path("inbox/c/<int:pk>/messages/<int:message_id>/media/", views.message_media, name="inbox-media"),
    path("inbox/c/<int:pk>/send/", views.message_send, name="inbox-send"),
    path("inbox/c/<int:pk>/send-file/", views.message_send_media, name="inbox-send-file"),
    path("inbox/c/<int:pk>/note/", views.note_add, name="inbox-note"),
    path("inbox/c/<int:pk>/assign/", views.conversation_assign, name="inbox-assign"),
    path("inbox/c/<int:pk>/status/", views.conversation_status, name="inbox-status"),
    path("inbox/c/<int:pk>/labels/", views.conversation_labels, name="inbox-labels"),
    path("inbox/c/<int:pk>/contact/", views.contact_edit, name="inbox-contact"),
    path("inbox/c/<int:pk>/read/", views.conversation_mark_read, name="inbox-mark-read"),
    path("inbox/c/<int:pk>/simulate/", views.simulate_reply, name="inbox-simulate"),
]

urlpatterns += [
    # Channel settings (views/channels.py)
    path("settings/channels/", views_channels.channel_list, name="inbox-channels"),
    path("settings/channels/new/<str:kind>/", views_channels.channel_new, name="inbox-channel-new"),
    path("settings/channels/<int:pk>/", views_channels.channel_detail, name="inbox-channel"),
    path("settings/channels/<int:pk>/edit/", views_channels.channel_edit, name="inbox-channel-edit"),
    path("settings/channels/<int:pk>/check/", views_channels.channel_check, name="inbox-channel-check"),
    path("settings/channels/<int:pk>/session/", views_channels.channel_session, name="inbox-channel-session"),
    path("settings/channels/<int:pk>/qr/", views_channels.channel_qr, name="inbox-channel-qr"),
    path("settings/channels/<int:pk>/simulate/", views_channels.channel_simulate, name="inbox-channel-simulate"),
    path("settings/channels/<int:pk>/disconnect/", views_channels.channel_disconnect, name="inbox-channel-disconnect"),
]
