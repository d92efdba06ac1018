"""Fixtures of the campaigns tests.

The engine works on committed rows from its own threads (their own database connections), as
it does in a worker, so the engine tests write their data for real through ``committed`` (a
fresh thread: its own connection, autocommit) and remove it afterwards.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tests.stubs.graph import GraphStub

WABA = "2025550001"


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(scope="session")
def _graph_server():
    server = GraphStub().start()
    yield server
    server.stop()


@pytest.fixture
def graph(_graph_server, settings):
    server = _graph_server
    server.requests.clear()
    server.fail_to.clear()
    server.fail_codes.clear()
    server.limit_mps.clear()
    server.webhooks.clear()
    server.next_ids.clear()
    server.call(server.reset_counts)
    server.call(server.reset_templates)
    settings.WHATSAPP_GRAPH_URL = server.url
    settings.WHATSAPP_GRAPH_VERSION = server.version
    return server


def in_thread(fn, schema: str | None):
    """Run ``fn()`` in a new thread (its own connection: committed at once), in ``schema``."""
    out: dict = {}

    def target():
        try:
            if schema:
                with schema_context(schema):
                    out["value"] = fn()
            else:
                out["value"] = fn()
        except BaseException as exc:  # re-raised in the test
            out["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(120)
    if "error" in out:
        raise out["error"]
    return out.get("value")


class Committed:
    def __init__(self, schema: str):
        self.schema = schema
        self.tag = "ct" + uuid.uuid4().hex[:6]
        self.channel_ids: list[int] = []
        self.template_ids: list[int] = []

    def __call__(self, fn, schema: str | None = None):
        return in_thread(fn, schema or self.schema)

    def channel(self, kind: str = "sandbox", **config):
        from inbox.services import channel_create

        def make():
            if kind == "whatsapp_cloud":
                channel = channel_create(
                    kind=kind,
                    name="Cloud " + self.tag,
                    config={
                        "phone_number_id": config.get("phone_number_id", str(2000000000 + uuid.uuid4().int % 10**9)),
                        "waba_id": "2025550001",
                        "display_phone": "+55 11 3000-0000",
                    },
                    credentials={
                        "access_token": config.get("token", "EAAG-test-token"),
                        "app_secret": "meta-app-secret",
                    },
                )
            else:
                channel = channel_create(kind=kind, name=f"{kind} {self.tag}")
            self.channel_ids.append(channel.pk)
            return channel

        return self(make)

    def contacts(self, count: int, **extra):
        from crm.models import Contact

        def make():
            base = uuid.uuid4().int % 10**6
            rows = [
                Contact(
                    name=f"Cliente {i}",
                    phone=f"+55119{base:06d}{i:02d}"[:14] if count <= 100 else f"+5511{base % 1000:03d}{i:06d}",
                    source=self.tag,
                    custom_fields={"cidade": "Recife" if i % 2 else ""},
                    **extra,
                )
                for i in range(count)
            ]
            return Contact.objects.bulk_create(rows)

        return self(make)

    def template(self, channel, **fields):
        from campaigns.models import MessageTemplate, TemplateOrigin, TemplateStatus

        def make():
            template = MessageTemplate.objects.create(
                origin=TemplateOrigin.META,
                channel=channel,
                waba_id="2025550001",
                name=fields.pop("name", "promo_" + self.tag),
                language="pt_BR",
                status=TemplateStatus.APPROVED,
                components=fields.pop(
                    "components",
                    [
                        {
                            "type": "BODY",
                            "text": "Olá {{1}}, novidades em {{2}}!",
                            "example": {"body_text": [["Ana", "SP"]]},
                        }
                    ],
                ),
                variables=fields.pop(
                    "variables",
                    {
                        "1": {"source": "contact.first_name", "fallback": "cliente"},
                        "2": {"source": "field.cidade", "fallback": "sua cidade"},
                    },
                ),
                **fields,
            )
            self.template_ids.append(template.pk)
            return template

        return self(make)

    def cleanup(self):
        from campaigns.models import Campaign, MessageTemplate, Recipient
        from crm.models import Contact, ContactList, ContactListMember, TimelineEvent
        from inbox.models import Channel, Conversation, Message, PendingStatus, SendingLimit, WebhookEvent

        def remove():
            campaigns = Campaign.objects.filter(channel_id__in=self.channel_ids)
            Recipient.objects.filter(campaign__in=campaigns).delete()
            campaigns.delete()
            MessageTemplate.objects.filter(pk__in=self.template_ids).delete()
            contacts = Contact.objects.filter(source=self.tag)
            TimelineEvent.objects.filter(contact__in=contacts).delete()
            Message.objects.filter(channel_id__in=self.channel_ids).delete()
            Conversation.objects.filter(channel_id__in=self.channel_ids).delete()
            PendingStatus.objects.filter(channel_id__in=self.channel_ids).delete()
            WebhookEvent.objects.filter(channel_id__in=self.channel_ids).delete()
            SendingLimit.objects.filter(channel_id__in=self.channel_ids).delete()
            lists = ContactList.objects.filter(name__contains=self.tag)
            ContactListMember.objects.filter(contact_list__in=lists).delete()
            lists.delete()
            contacts.delete()
            public_ids = list(Channel.objects.filter(pk__in=self.channel_ids).values_list("public_id", flat=True))
            Channel.objects.filter(pk__in=self.channel_ids).delete()
            return public_ids

        public_ids = self(remove)
        from tenants.models import WebhookRoute

        in_thread(lambda: WebhookRoute.objects.filter(channel_public_id__in=public_ids).delete(), None)


@pytest.fixture
def committed(acme):
    writer = Committed(acme.schema_name)
    yield writer
    writer.cleanup()


class HookPump:
    """Runs the campaigns tasks the inbox's hooks queued on the real broker (no worker runs in
    the tests), in order, each once: ``campaigns.statuses`` and ``campaigns.reply``."""

    NAMES = ("campaigns.statuses", "campaigns.reply")

    def __init__(self, queue, committed: Committed):
        self.queue = queue
        self.committed = committed
        self.seen = 0

    def __call__(self) -> int:
        from campaigns import tasks

        queued = [t for t in self.queue.tasks() if t.name in self.NAMES]
        fresh, self.seen = queued[self.seen :], len(queued)
        for task in fresh:
            body = tasks.statuses if task.name == "campaigns.statuses" else tasks.reply
            in_thread(lambda body=body, task=task: body(*task.args), None)
        return len(fresh)


@pytest.fixture
def pump(queued_tasks, committed):
    return HookPump(queued_tasks, committed)


# --- the pages, templates and API tests: rows in the test's transaction ------------------------


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    from inbox import webhooks

    settings.MEDIA_ROOT = str(tmp_path / "media")
    webhooks.clear_cache()
    yield
    webhooks.clear_cache()


@pytest.fixture
def cloud_channel(tenant, graph):
    from inbox.services import channel_create

    return channel_create(
        kind="whatsapp_cloud",
        name="Atendimento",
        config={"phone_number_id": "1065550001", "waba_id": WABA, "display_phone": "+55 11 3000-0000"},
        credentials={"access_token": graph.token, "app_secret": "meta-app-secret", "verify_token": "verify-me"},
    )


@pytest.fixture
def sandbox_channel(tenant):
    from inbox.services import channel_create

    return channel_create(kind="sandbox", name="Sandbox")


@pytest.fixture
def contact(tenant):
    from crm.models import Contact, CustomFieldDefinition

    CustomFieldDefinition.objects.get_or_create(key="cidade", defaults={"label": "Cidade"})
    return Contact.objects.create(
        phone="+5511987654321", wa_id="5511987654321", name="Maria Souza", custom_fields={"cidade": "Recife"}
    )


@pytest.fixture
def tenant_client_factory(tenant_client_factory):
    """Clients that ask for English, whatever the company's language."""
    from django.conf import settings

    def make(company, user=None):
        client = tenant_client_factory(company, user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make
