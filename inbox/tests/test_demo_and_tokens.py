"""Demo data (idempotent) and the Meta token expiry check."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from inbox.models import Channel, ChannelStatus, Conversation


def test_demo_setup_is_idempotent(tenant):
    from tenants.signals import demo_company_ready

    demo_company_ready.send(sender=None, company=tenant)
    demo_company_ready.send(sender=None, company=tenant)
    from django.db import connection

    connection.set_tenant(tenant)
    sandbox = Channel.objects.get(kind="sandbox")
    assert sandbox.status == ChannelStatus.CONNECTED
    # The inbox's two demo conversations (the demo campaign adds one per recipient, with no
    # customer message, so count the ones where a customer wrote).
    assert Conversation.objects.filter(channel=sandbox, messages__direction="in").distinct().count() == 2


def test_token_check_warns_seven_days_ahead(cloud_channel, graph):
    from inbox.services import channel_check_token

    graph.token_info = {"is_valid": True, "expires_at": int((timezone.now() + timedelta(days=3)).timestamp())}
    channel_check_token(channel=cloud_channel)
    cloud_channel.refresh_from_db()
    assert cloud_channel.status == ChannelStatus.TOKEN_PROBLEM and "expires" in cloud_channel.status_detail
    assert "/v21.0/debug_token" in [r.path for r in graph.requests]
    graph.token_info = {"is_valid": True, "expires_at": int((timezone.now() + timedelta(days=50)).timestamp())}
    channel_check_token(channel=cloud_channel)
    cloud_channel.refresh_from_db()
    assert cloud_channel.status == ChannelStatus.CONNECTED and cloud_channel.token_expires_at is not None


def test_invalid_token_is_a_token_problem(cloud_channel, graph):
    from inbox.services import channel_check_token

    graph.token_info = {"is_valid": False, "expires_at": 0, "error": {"message": "Session has expired"}}
    channel_check_token(channel=cloud_channel)
    cloud_channel.refresh_from_db()
    assert cloud_channel.status == ChannelStatus.TOKEN_PROBLEM and cloud_channel.status_detail == "Session has expired"


def test_prune_logs_keeps_recent_events(tenant):
    from inbox.models import RealtimeEvent, WebhookEvent
    from inbox.tasks import prune_logs

    old = RealtimeEvent.objects.create(type="x", op="y", payload={})
    RealtimeEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    recent = RealtimeEvent.objects.create(type="x", op="y", payload={})
    WebhookEvent.objects.create(provider="sandbox", dedupe_key="old", processed_at=timezone.now() - timedelta(days=31))
    WebhookEvent.objects.create(provider="sandbox", dedupe_key="pending")
    prune_logs()
    assert list(RealtimeEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert list(WebhookEvent.objects.values_list("dedupe_key", flat=True)) == ["pending"]


def test_a_token_check_writes_no_token_to_the_logs(cloud_channel, graph, caplog, settings):
    """Audit M3: httpx logged the debug_token URL, access token included, at INFO on every check."""
    import logging

    from inbox.services import channel_check_token
    from inbox.tasks import check_channel_tokens

    caplog.set_level(logging.DEBUG)
    channel_check_token(channel=cloud_channel)
    check_channel_tokens()  # the beat task, every 6 hours
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:9"  # and when Meta cannot be reached
    check_channel_tokens()
    checks = [r for r in graph.requests if r.path == "/v21.0/debug_token"]
    assert checks
    assert cloud_channel.access_token not in caplog.text
    # the only secret left in the URL is the token being inspected (Graph wants it there), and
    # the URL is written nowhere; the token that authorizes the call travels in a header (the
    # beat task may also check channels other tests left in other companies)
    assert all("access_token" not in r.query for r in checks)
    assert f"Bearer {cloud_channel.access_token}" in {r.headers["Authorization"] for r in checks}
