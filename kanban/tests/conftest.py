from __future__ import annotations

import pytest

from ai_personas.tests.conftest import _openai_server, openai_stub  # noqa: F401 - fixtures


@pytest.fixture
def pipeline(tenant):
    from kanban.services import pipeline_create

    return pipeline_create(name="Vendas")


@pytest.fixture
def stages(pipeline):
    return list(pipeline.stages.all())


@pytest.fixture
def make_contact(tenant):
    from crm.models import Contact

    counter = {"n": 0}

    def make(name: str = "", **extra):
        counter["n"] += 1
        return Contact.objects.create(
            name=name or f"Cliente {counter['n']}", phone=f"+5511900{counter['n']:06d}", **extra
        )

    return make


@pytest.fixture
def conversation(tenant, make_contact):
    from inbox.models import Channel, Conversation

    channel = Channel.objects.create(kind="sandbox", name="Sandbox")
    return Conversation.objects.create(channel=channel, contact=make_contact("Maria"))
