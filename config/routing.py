"""Websocket routes; each domain app adds its consumers here."""

from django.urls import path

from tenants.websocket import EventsConsumer

websocket_urlpatterns = [
    path("ws/events/", EventsConsumer.as_asgi()),
]
