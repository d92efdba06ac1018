"""Websocket routes of campaigns (included by ``config/routing.py``)."""

from django.urls import path

from campaigns.consumers import CampaignsConsumer

websocket_urlpatterns = [
    path("ws/campaigns/", CampaignsConsumer.as_asgi()),
]
