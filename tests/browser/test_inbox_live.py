"""The live inbox end to end: a demo-like company with a sandbox number; a simulated customer
message arrives without reloading, the agent replies and sees the ticks turn to read, adds a
note, assigns and resolves; another company sees nothing of it."""

from __future__ import annotations

import struct
import time
import zlib

import pytest

from tests.browser.conftest_worker import celery_worker_process  # noqa: F401
from tests.browser.support import log_in
from tests.browser.support import run_committed as _run
from tests.conftest_helpers import TEST_PASSWORD


def _png(width: int = 160, height: int = 100) -> bytes:
    """A small solid-colour PNG (a shop window, as far as the test is concerned)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes((16, 185, 129)) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


PNG = _png()
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _company_with_sandbox(committed, unique, *, demo: bool):
    """An owner, an agent and a company whose sandbox channel has conversations."""
    from allauth.account.models import EmailAddress
    from django.db import transaction
    from django_tenants.utils import schema_context

    from tenants.models import Membership, User
    from tenants.services import company_create

    def setup():
        owner_email = f"{unique('dono')}@example.com"
        owner = User.objects.create_user(email=owner_email, password=TEST_PASSWORD, full_name="Olga Dona")
        EmailAddress.objects.create(user=owner, email=owner_email, verified=True, primary=True)
        agent = User.objects.create_user(
            email=f"{unique('agente')}@example.com", password=TEST_PASSWORD, full_name="Beto Agente"
        )
        company = company_create(name=unique("Loja "), owner=owner)
        Membership.objects.create(user=agent, company=company, role="agent")
        with schema_context(company.schema_name):
            from inbox import services
            from inbox.demo import demo_inbox_setup

            if demo:
                demo_inbox_setup()
            else:
                from crm.services import contact_upsert_from_channel

                channel = services.channel_create(kind="sandbox", name="Sandbox Other")
                contact = contact_upsert_from_channel(
                    phone="+5531991112222", wa_id="5531991112222", name="Cliente Da Outra", source="demo"
                )
                with transaction.atomic():
                    services.conversation_get_or_create(channel=channel, contact=contact)
        return company, owner_email, agent

    company, owner_email, agent = _run(committed, setup)
    return company, owner_email, agent


def _cookie_for(cookie):
    return {"name": cookie["name"], "value": cookie["value"]}


def _open_inbox(page, url_for, slug, path="/inbox/"):
    page.goto(url_for(path, slug=slug))
    page.wait_for_selector("#inbox-status-line[data-connection=open]")


# The server has confirmed the page's subscription to the conversation it shows: what is sent
# only to the conversation's followers (typing) reaches it from now on. Showing the thread is
# not enough: the subscription goes out after the thread is drawn and is answered later.
FOLLOWING_OPEN_CONVERSATION = """() => {
  const root = document.querySelector("[data-inbox-root]");
  return !!root.dataset.following && root.dataset.following === root.dataset.conversationId;
}"""


def _open_conversation(page, name, *, text=None):
    page.locator("[data-open-conversation]", has_text=name).click()
    page.wait_for_selector("[data-conversation] [data-thread-list]")
    if text is not None:
        page.locator("[data-thread-list] li", has_text=text).wait_for()
    page.wait_for_function(FOLLOWING_OPEN_CONVERSATION)


@pytest.mark.usefixtures("celery_worker_process")
def test_live_inbox_end_to_end(new_context, url_for, unique, committed, screenshot):
    company, owner_email, agent = _company_with_sandbox(committed, unique, demo=True)
    other, other_email, _ = _company_with_sandbox(committed, unique, demo=False)
    customer_text = f"Vocês entregam em Campinas? {unique('#')}"
    reply_text = f"Entregamos sim! {unique('#')}"
    note_text = f"Cliente pediu frete grátis {unique('#')}"

    # given the owner in the company's inbox with Maria's conversation open
    desktop = new_context()
    page = log_in(committed, desktop, url_for, company.slug, owner_email)
    script_errors = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    _open_inbox(page, url_for, company.slug)
    _open_conversation(page, "Maria Silva")
    page.evaluate("window.__noReload = true")

    # when the customer writes (the sandbox's simulate control, through the webhook pipeline)
    page.locator("[data-simulate] summary").click()
    page.fill("[data-simulate-form] input[name=body]", customer_text)
    page.locator("[data-simulate-form] button[type=submit]").click()

    # then the message appears in the thread and in the list, without reloading
    incoming = page.locator("[data-thread-list] li[data-direction=in]", has_text=customer_text)
    incoming.wait_for()
    page.locator("[data-conversation-row] [data-preview]", has_text=customer_text).wait_for()
    assert page.evaluate("window.__noReload") is True

    # a colleague (the agent) has the same conversation open in another browser
    colleague = log_in(committed, new_context(), url_for, company.slug, agent.email)
    _open_inbox(colleague, url_for, company.slug)
    _open_conversation(colleague, "Maria Silva", text=customer_text)

    # a canned response comes in with its /shortcut; the colleague sees the owner typing
    page.locator("[data-composer-input]").press_sequentially("/ol")
    colleague.locator("[data-typing]", has_text="Olga Dona").wait_for()
    page.locator("[data-canned-menu] li", has_text="/ola").wait_for()
    page.press("[data-composer-input]", "Enter")
    assert page.input_value("[data-composer-input]") not in ("", "/ol")

    # the agent replies (Enter sends) and watches the ticks go sent -> delivered -> read
    page.fill("[data-composer-input]", reply_text)
    page.press("[data-composer-input]", "Enter")
    reply = page.locator("[data-thread-list] li[data-direction=out]", has_text=reply_text)
    reply.wait_for()
    reply.locator("[data-tick=read]").wait_for(timeout=20000)
    assert page.evaluate("window.__noReload") is True
    colleague.locator("[data-thread-list] li[data-direction=out]", has_text=reply_text).locator(
        "[data-tick=read]"
    ).wait_for()
    screenshot(page, "inbox-desktop-read-ticks")

    # sends a picture, shown in the thread from our storage
    page.locator("[data-media-form] summary").click()
    page.set_input_files(
        "[data-media-form] input[type=file]", {"name": "vitrine.png", "mimeType": "image/png", "buffer": PNG}
    )
    page.fill("[data-media-form] input[name=caption]", "Nossa vitrine")
    page.locator("[data-send-file]").click()
    picture = page.locator("[data-thread-list] li[data-kind=image]", has_text="Nossa vitrine")
    # drawn is not loaded: the <img> is in the page (its alt text) before its bytes arrive, and
    # it loads lazily, once in view
    picture.locator("img").wait_for()
    picture.locator("img").scroll_into_view_if_needed()
    image = f"#{picture.get_attribute('id')} img"
    page.wait_for_function(
        "(sel) => { const img = document.querySelector(sel); return !!img && img.complete && img.naturalWidth > 0; }",
        arg=image,
    )
    assert picture.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")

    # adds a private note
    page.locator("[data-mode=note]").click()
    page.fill("[data-note-input]", note_text)
    page.locator("[data-add-note]").click()
    page.locator("[data-thread-list] li[data-kind=note]", has_text=note_text).wait_for()

    # assigns the conversation to the agent, then resolves it
    page.select_option("[data-header] select[name=agent]", str(agent.pk))
    page.wait_for_selector(f"[data-header][data-assignee='{agent.pk}']")
    page.locator("[data-resolve]").click()
    page.wait_for_selector("[data-header][data-status=resolved]")
    page.locator("[data-reopen]").wait_for()
    screenshot(page, "inbox-desktop-resolved")
    assert script_errors == []

    # the stored state is what the page shows
    from django_tenants.utils import schema_context

    from inbox.models import Conversation, Message

    with committed(), schema_context(company.schema_name):
        conversation = Conversation.objects.get(messages__body=reply_text)
        assert conversation.status == "resolved" and conversation.assignee_id == agent.pk
        assert Message.objects.get(body=reply_text).status == "read"
        assert Message.objects.filter(body=note_text, kind="note").exists()
        conversation_id = conversation.pk

    # on a phone: the list alone, then the thread alone with a way back
    phone = new_context(**PHONE)
    phone_page = log_in(committed, phone, url_for, company.slug, owner_email)
    _open_inbox(phone_page, url_for, company.slug, "/inbox/?status=any")
    assert phone_page.locator("#inbox-list-pane").is_visible()
    assert not phone_page.locator("#inbox-conversation-pane").is_visible()
    screenshot(phone_page, "inbox-phone-list")
    phone_page.locator(f"[data-open-conversation='{conversation_id}']").click()
    phone_page.locator("[data-thread-list] li", has_text=reply_text).wait_for()
    assert not phone_page.locator("#inbox-list-pane").is_visible()
    assert phone_page.locator("[data-back-to-list]").is_visible()
    screenshot(phone_page, "inbox-phone-thread")

    # another company's owner sees nothing of it, on their inbox or on ours
    from django.conf import settings

    stranger = new_context()
    other_page = log_in(committed, stranger, url_for, other.slug, other_email)
    _open_inbox(other_page, url_for, other.slug, "/inbox/?status=any")
    other_page.locator("[data-open-conversation]", has_text="Cliente Da Outra").wait_for()
    body = other_page.content()
    for secret in (customer_text, reply_text, note_text, "Maria Silva"):
        assert secret not in body
    # the same session on our company's host: not a member there, so nothing exists
    cookie = next(c for c in stranger.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    stranger.add_cookies([{**_cookie_for(cookie), "url": url_for("/", slug=company.slug)}])
    for path in ("/inbox/", f"/inbox/c/{conversation_id}/", f"/inbox/c/{conversation_id}/messages/"):
        response = other_page.goto(url_for(path, slug=company.slug))
        assert response.status == 404, path
    response = other_page.goto(url_for(f"/inbox/c/{conversation_id}/", slug=other.slug))
    assert response.status == 404 or "Maria Silva" not in other_page.content()


@pytest.mark.usefixtures("celery_worker_process")
def test_dropped_connection_catches_up_without_reload(new_context, url_for, unique, committed):
    from django_tenants.utils import schema_context

    company, owner_email, _agent = _company_with_sandbox(committed, unique, demo=True)
    page = log_in(committed, new_context(), url_for, company.slug, owner_email)
    _open_inbox(page, url_for, company.slug)
    page.locator("[data-open-conversation]", has_text="João Souza").click()
    page.wait_for_selector("[data-conversation] [data-thread-list]")
    page.evaluate("window.__noReload = true")

    # the network goes away and the socket drops; while it is down, the customer writes
    page.context.set_offline(True)
    page.evaluate("window.masterInbox.socket.close()")
    page.wait_for_selector("#inbox-status-line[data-connection=reconnecting]")
    missed = f"Mensagem perdida {unique('#')}"
    from inbox.models import Message

    def customer_writes():
        from inbox.models import Conversation
        from inbox.services import sandbox_simulate_reply

        with schema_context(company.schema_name):
            conversation = Conversation.objects.select_related("channel", "contact").get(contact__name="João Souza")
            sandbox_simulate_reply(channel=conversation.channel, contact_phone=conversation.contact.phone, text=missed)

    _run(committed, customer_writes)
    deadline = time.monotonic() + 20
    while True:  # the worker turns the webhook into a message (and a stored realtime event)
        with committed(), schema_context(company.schema_name):
            if Message.objects.filter(body=missed).exists():
                break
        assert time.monotonic() < deadline, "the worker did not process the simulated reply"
        page.wait_for_timeout(100)
    assert page.locator("[data-thread-list] li", has_text=missed).count() == 0

    # back online, the client reconnects by itself and catches up from its last event id
    page.context.set_offline(False)
    page.locator("[data-thread-list] li[data-direction=in]", has_text=missed).wait_for(timeout=20000)
    page.wait_for_selector("#inbox-status-line[data-connection=open]")
    assert page.evaluate("window.__noReload") is True
    assert int(page.locator("[data-inbox-root]").get_attribute("data-last-event-id")) > 0


def test_outside_the_24_hour_window_free_text_is_disabled(new_context, url_for, unique, committed, screenshot):
    from datetime import timedelta

    from django.utils import timezone
    from django_tenants.utils import schema_context

    company, owner_email, _agent = _company_with_sandbox(committed, unique, demo=True)

    def age_conversation():
        from inbox.models import Conversation

        with schema_context(company.schema_name):
            Conversation.objects.filter(contact__name="João Souza").update(
                last_inbound_at=timezone.now() - timedelta(hours=25)
            )

    _run(committed, age_conversation)
    page = log_in(committed, new_context(), url_for, company.slug, owner_email)
    _open_inbox(page, url_for, company.slug)
    page.locator("[data-open-conversation]", has_text="João Souza").click()

    closed = page.locator("[data-window-closed]")
    closed.wait_for()
    assert closed.locator("textarea").is_disabled()
    assert page.locator("[data-composer-input]").count() == 0
    # a private note still works
    page.locator("[data-mode=note]").click()
    page.fill("[data-note-input]", "Aguardando o cliente voltar a escrever")
    page.locator("[data-add-note]").click()
    page.locator("[data-thread-list] li[data-kind=note]", has_text="Aguardando o cliente").wait_for()
    page.locator("[data-mode=reply]").click()
    screenshot(page, "inbox-desktop-window-closed")
