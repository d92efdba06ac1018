"""Websocket routes; each domain app adds its consumers here."""

from django.urls import path

from campaigns.routing import websocket_urlpatterns as campaign_websockets
from inbox.routing import websocket_urlpatterns as inbox_websockets
from kanban.routing import websocket_urlpatterns as kanban_websockets
from tenants.websocket import EventsConsumer

websocket_urlpatterns = [
    path("ws/events/", EventsConsumer.as_asgi()),
    *inbox_websockets,
    *campaign_websockets,
    *kanban_websockets,
]
