from django.urls import path

from inbox.views import channels as views_channels
from inbox.views import inbox as views

app_name = "inbox"

urlpatterns: list = [
    # The live inbox (views/inbox.py)
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/list/", views.conversation_list, name="list"),
    path("inbox/canned/", views.canned_responses, name="canned"),
    path("inbox/c/<int:pk>/", views.inbox, name="conversation"),
    path("inbox/c/<int:pk>/pane/", views.conversation_pane, name="conversation-pane"),
    path("inbox/c/<int:pk>/side/", views.conversation_side, name="conversation-side"),
    path("inbox/c/<int:pk>/messages/", views.message_list, name="messages"),
    path("inbox/c/<int:pk>/messages/<int:message_id>/media/", views.message_media, name="media"),
    path("inbox/c/<int:pk>/send/", views.message_send, name="send"),
    path("inbox/c/<int:pk>/send-file/", views.message_send_media, name="send-file"),
    path("inbox/c/<int:pk>/note/", views.note_add, name="note"),
    path("inbox/c/<int:pk>/assign/", views.conversation_assign, name="assign"),
    path("inbox/c/<int:pk>/status/", views.conversation_status, name="status"),
    path("inbox/c/<int:pk>/labels/", views.conversation_labels, name="labels"),
    path("inbox/c/<int:pk>/contact/", views.contact_edit, name="contact"),
    path("inbox/c/<int:pk>/read/", views.conversation_mark_read, name="mark-read"),
    path("inbox/c/<int:pk>/simulate/", views.simulate_reply, name="simulate"),
]

urlpatterns += [
    # Channel settings (views/channels.py)
    path("settings/channels/", views_channels.channel_list, name="channels"),
    path("settings/channels/new/<str:kind>/", views_channels.channel_new, name="channel-new"),
    path("settings/channels/<int:pk>/", views_channels.channel_detail, name="channel"),
    path("settings/channels/<int:pk>/edit/", views_channels.channel_edit, name="channel-edit"),
    path("settings/channels/<int:pk>/check/", views_channels.channel_check, name="channel-check"),
    path("settings/channels/<int:pk>/session/", views_channels.channel_session, name="channel-session"),
    path("settings/channels/<int:pk>/qr/", views_channels.channel_qr, name="channel-qr"),
    path("settings/channels/<int:pk>/simulate/", views_channels.channel_simulate, name="channel-simulate"),
    path("settings/channels/<int:pk>/disconnect/", views_channels.channel_disconnect, name="channel-disconnect"),
]
