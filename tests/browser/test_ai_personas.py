"""AI personas end to end, in a demo-like company whose AI provider is the loopback OpenAI stub:
create a knowledge base and upload a document, watch it get indexed, create a persona, ask it a
question in the playground and see the cited passage; then a simulated customer message in the
sandbox gets the AI's answer in the live inbox (marked as AI, with its citation), and
"quero falar com um atendente" hands the conversation to a person with a summary note."""

from __future__ import annotations

import pytest

from tests.browser.conftest_worker import celery_worker_process  # noqa: F401
from tests.browser.support import log_in
from tests.browser.support import run_committed as _run
from tests.conftest_helpers import TEST_PASSWORD
from tests.stubs.openai import DEFAULT_KEY, OpenAIStub

HELP_CENTRE = """# Central de ajuda

## Prazo de entrega
Enviamos os pedidos em até 1 dia útil. Para Campinas e o interior de São Paulo o prazo é de 2 a 4 dias úteis.

## Trocas
Você pode trocar qualquer produto em até 30 dias, sem uso e na embalagem original.
"""


@pytest.fixture(scope="module")
def openai_stub():
    stub = OpenAIStub().start()
    yield stub
    stub.stop()


def _company(committed, unique, stub_url: str):
    """A company like the demo one (sandbox number, Maria's conversation, an available agent)
    whose AI provider is the stub."""
    from allauth.account.models import EmailAddress
    from django_tenants.utils import schema_context

    from tenants.models import Membership, User
    from tenants.services import company_create

    def setup():
        email = f"{unique('dona')}@example.com"
        owner = User.objects.create_user(email=email, password=TEST_PASSWORD, full_name="Olga Dona")
        EmailAddress.objects.create(user=owner, email=email, verified=True, primary=True)
        agent = User.objects.create_user(
            email=f"{unique('agente')}@example.com", password=TEST_PASSWORD, full_name="Beto Agente"
        )
        company = company_create(name=unique("Loja "), owner=owner)
        Membership.objects.create(user=agent, company=company, role="agent")
        with schema_context(company.schema_name):
            from ai_personas.services import provider_settings_save
            from inbox.demo import demo_inbox_setup
            from inbox.models import AgentSettings

            demo_inbox_setup()
            AgentSettings.objects.create(user=agent, capacity=10, is_available=True)
            provider_settings_save(
                base_url=stub_url, api_key=DEFAULT_KEY, chat_model="gpt-4o-mini", embedding_model="local"
            )
        return company, email, agent

    return _run(committed, setup)


@pytest.mark.usefixtures("celery_worker_process")
def test_persona_answers_from_knowledge_and_hands_off(new_context, url_for, unique, committed, screenshot, openai_stub):
    company, owner_email, agent = _company(committed, unique, openai_stub.url)
    page = log_in(committed, new_context(), url_for, company.slug, owner_email)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # a knowledge base with an uploaded document, indexed in the background
    page.goto(url_for("/ai/knowledge/", slug=company.slug))
    page.fill("[data-testid=kb-form] input[name=name]", "Central de ajuda")
    page.locator("[data-testid=kb-create]").click()
    page.wait_for_selector("[data-testid=upload-form]")
    page.set_input_files(
        "[data-testid=upload-form] input[type=file]",
        {"name": "ajuda.md", "mimeType": "text/markdown", "buffer": HELP_CENTRE.encode()},
    )
    page.locator("[data-testid=upload-submit]").click()
    row = page.locator("[data-testid=document-row][data-document='ajuda.md']")
    row.wait_for()
    page.wait_for_selector("[data-testid=document-row][data-document='ajuda.md'][data-status=ready]", timeout=60000)
    screenshot(page, "ai-knowledge-indexed")

    # a persona that uses it
    page.goto(url_for("/ai/personas/new/", slug=company.slug))
    page.fill("[data-testid=persona-form] input[name=name]", "Lia")
    page.fill(
        "[data-testid=persona-form] textarea[name=instructions]", "Você é a Lia, atendente da loja. Seja simpática."
    )
    page.fill("[data-testid=persona-form] input[name=debounce_seconds]", "1")
    page.locator("[data-testid=persona-form] [data-field=knowledge_bases] label", has_text="Central de ajuda").click()
    page.locator("[data-testid=persona-save]").click()
    page.locator("[data-testid=playground-link]").click()

    # the playground answers and shows the cited passage with its score
    page.fill("#pg-text", "Em quantos dias chega em Campinas?")
    page.locator("[data-testid=playground-send]").click()
    reply = page.locator("[data-testid=playground-reply]").first
    reply.wait_for(timeout=30000)
    assert "Campinas" in reply.inner_text()
    chunk = page.locator("[data-testid=pg-chunk]").first
    assert "Prazo de entrega" in chunk.inner_text()
    assert page.locator("[data-testid=pg-score]").first.inner_text().strip()
    assert "Não: a IA responde" in page.locator("[data-testid=pg-decision]").inner_text()
    screenshot(page, "ai-playground")

    # a customer writes in the sandbox: the AI answers in the live inbox
    page.goto(url_for("/inbox/", slug=company.slug))
    page.wait_for_selector("#inbox-status-line[data-connection=open]")
    page.locator("[data-open-conversation]", has_text="Maria Silva").click()
    page.wait_for_selector("[data-conversation] [data-thread-list]")
    # the AI's part of the details panel (shown beside the thread on wide screens only)
    page.locator("[data-testid=ai-panel][data-ai-state=active]").wait_for(state="attached")
    page.locator("[data-simulate] summary").click()
    page.fill("[data-simulate-form] input[name=body]", "Qual o prazo de entrega para Campinas?")
    page.locator("[data-simulate-form] button[type=submit]").click()
    answer = page.locator("[data-thread-list] li[data-direction=out]:has([data-ai-message])").first
    answer.wait_for(timeout=45000)
    assert "Campinas" in answer.inner_text()
    assert "Prazo de entrega" in answer.locator("[data-ai-citations]").inner_text()
    screenshot(page, "ai-inbox-answer")

    # asking for a person hands the conversation over, with a summary note
    if not page.locator("[data-simulate]").evaluate("details => details.open"):
        page.locator("[data-simulate] summary").click()
    page.fill("[data-simulate-form] input[name=body]", "quero falar com um atendente")
    page.locator("[data-simulate-form] button[type=submit]").click()
    note = page.locator("[data-thread-list] li[data-kind=note]", has_text="Lia passou esta conversa para uma pessoa")
    note.wait_for(timeout=45000)
    assert "quero falar com um atendente" in note.inner_text()
    page.wait_for_selector("[data-header]:not([data-assignee=''])", timeout=20000)  # round-robin
    note.scroll_into_view_if_needed()
    screenshot(page, "ai-inbox-handoff", full_page=False)
    assert errors == []

    from django_tenants.utils import schema_context

    from ai_personas.models import AIMessage, ConversationAI

    with committed(), schema_context(company.schema_name):
        state = ConversationAI.objects.get()
        assert state.state == "handed_off" and state.handoff_reason == "asked_for_human"
        marked = list(AIMessage.objects.values_list("citations", flat=True))
        assert marked and "Prazo de entrega" in marked[0][0]["heading"]
