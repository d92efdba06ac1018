"""Websocket routes of the Kanban board (included by ``config/routing.py``)."""

from django.urls import path

from kanban.consumers import BoardConsumer

websocket_urlpatterns = [
    path("ws/kanban/<int:pipeline_id>/", BoardConsumer.as_asgi()),
]
