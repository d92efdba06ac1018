"""The inbox's upward hooks (inbox.hooks): what an upper app registered is queued by name, with
its payload, after the inbox's transaction commits, and never for rolled-back work."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.utils import timezone

from inbox import hooks
from inbox.models import Conversation, Message
from inbox.providers.base import InboundMessage, StatusUpdate
from inbox.services import inbound_message_receive, message_deliver, message_send_text, message_statuses_apply

PROBE = "tests.hook_probe"  # a task name an upper app would register (no such task needs to exist)


@pytest.fixture
def probe():
    for hook in hooks.HOOKS:
        hooks.register(hook, PROBE)
    yield
    for hook in hooks.HOOKS:
        hooks.unregister(hook, PROBE)


def _inbound(channel, wamid="wamid.HOOK1", text="Oi, quero um orçamento"):
    return inbound_message_receive(
        channel=channel,
        inbound=InboundMessage(
            provider_message_id=wamid,
            phone="5511987654321",
            wa_id="5511987654321",
            name="Cliente",
            kind="text",
            body=text,
        ),
    )


def test_an_unknown_hook_is_refused_when_registering():
    with pytest.raises(ValueError, match="on_inbound_message"):
        hooks.register("on_inbound", PROBE)


def test_an_inbound_message_queues_the_listener_after_commit(
    sandbox_channel, probe, queued_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = _inbound(sandbox_channel)
    assert queued_tasks.tasks(PROBE) == []  # nothing before the commit
    for callback in callbacks:
        callback()
    [task] = queued_tasks.tasks(PROBE)
    assert task.args == [
        connection.schema_name,
        {
            "message": message.pk,
            "conversation": message.conversation_id,
            "contact": message.conversation.contact_id,
            "channel": sandbox_channel.pk,
            "kind": "text",
            "conversation_created": True,
            "conversation_reopened": False,
            "at": message.created_at.isoformat(),
        },
    ]
    # A redelivery of the same message stores nothing and fires nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert _inbound(sandbox_channel) is None
    assert len(queued_tasks.tasks(PROBE)) == 1


def test_rolled_back_work_queues_nothing(sandbox_channel, probe, queued_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                _inbound(sandbox_channel)
                raise RuntimeError("the transaction fails after the message was stored")
        except RuntimeError:
            pass
    assert queued_tasks.tasks(PROBE) == []
    assert not Message.objects.exists()


def test_an_agent_message_fires_and_an_automatic_one_does_not(
    sandbox_channel, owner, probe, queued_tasks, django_capture_on_commit_callbacks
):
    _inbound(sandbox_channel)
    conversation = Conversation.objects.get()
    queued_tasks.clear()
    with django_capture_on_commit_callbacks(execute=True):
        by_agent, _created = message_send_text(
            conversation=conversation, text="Claro! Para quantas unidades?", by=owner
        )
        message_send_text(conversation=conversation, text="Mensagem automática", by=None)
    [task] = queued_tasks.tasks(PROBE)
    assert task.args[1] == {
        "message": by_agent.pk,
        "conversation": conversation.pk,
        "contact": conversation.contact_id,
        "channel": sandbox_channel.pk,
        "kind": "text",
        "sent_by": owner.pk,
    }


def test_statuses_fire_once_per_applied_batch(
    sandbox_channel, owner, probe, queued_tasks, django_capture_on_commit_callbacks
):
    _inbound(sandbox_channel)
    conversation = Conversation.objects.get()
    first, _created = message_send_text(conversation=conversation, text="um", by=owner)
    second, _created = message_send_text(conversation=conversation, text="dois", by=owner)
    for message in (first, second):
        message_deliver(message_id=message.pk)
        message.refresh_from_db()
    queued_tasks.clear()
    with django_capture_on_commit_callbacks(execute=True):
        applied = message_statuses_apply(
            channel=sandbox_channel,
            statuses=[
                StatusUpdate(provider_message_id=m.provider_message_id, status="delivered", timestamp=timezone.now())
                for m in (first, second)
            ]
            + [StatusUpdate(provider_message_id="wamid.NOT-OURS", status="read")],
        )
    assert applied == 2
    [task] = queued_tasks.tasks(PROBE)
    payload = task.args[1]
    assert payload["channel"] == sandbox_channel.pk and payload["callbacks"] == []
    assert [{k: s[k] for k in ("message", "conversation", "status", "error_code")} for s in payload["statuses"]] == [
        {"message": first.pk, "conversation": conversation.pk, "status": "delivered", "error_code": ""},
        {"message": second.pk, "conversation": conversation.pk, "status": "delivered", "error_code": ""},
    ]
    assert all(s["at"] and s["error_title"] == "" for s in payload["statuses"])


def test_statuses_carrying_our_callback_data_fire_even_for_an_unknown_message(
    sandbox_channel, probe, queued_tasks, django_capture_on_commit_callbacks
):
    """A campaign send whose own write-back has not committed yet (or was lost): Meta's status
    names our recipient in biz_opaque_callback_data, and campaigns must hear it."""
    with django_capture_on_commit_callbacks(execute=True):
        applied = message_statuses_apply(
            channel=sandbox_channel,
            statuses=[StatusUpdate(provider_message_id="wamid.NOT-YET", status="sent", callback_data="mia:c1:r2")],
        )
    assert applied == 0
    [task] = queued_tasks.tasks(PROBE)
    assert task.args[1]["statuses"] == []
    assert [(c["callback"], c["provider_message_id"], c["status"]) for c in task.args[1]["callbacks"]] == [
        ("mia:c1:r2", "wamid.NOT-YET", "sent")
    ]
