"""The one OpenAI client against the loopback stub: formats, retries, errors, usage, budget."""

from __future__ import annotations

import pytest

from ai_personas.llm import LLM, LLMError, structured
from ai_personas.usage import month_tokens
from tests.stubs.openai import Reply, rate_limited, server_error


def test_chat_sends_model_and_messages_and_records_usage(tenant, openai_stub):
    openai_stub.push(Reply(content="Oi!", usage={"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}))
    result = LLM().chat([{"role": "user", "content": "olá"}], temperature=0.2)
    assert result.text == "Oi!"
    body = openai_stub.chat_requests()[-1].body
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.2
    assert body["messages"] == [{"role": "user", "content": "olá"}]
    assert (result.usage.tokens_in, result.usage.tokens_out) == (11, 3)
    assert month_tokens() == 14


def test_tool_calls_are_parsed(tenant, openai_stub):
    openai_stub.push(Reply(tool_calls=[{"name": "tag_add", "arguments": {"tag": "VIP"}}]))
    tools = [{"type": "function", "function": {"name": "tag_add", "parameters": {"type": "object", "properties": {}}}}]
    result = LLM().chat([{"role": "user", "content": "x"}], tools=tools)
    assert result.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("tag_add", {"tag": "VIP"})]
    assert openai_stub.chat_requests()[-1].body["tools"] == tools


def test_structured_sends_strict_json_schema(tenant, openai_stub):
    schema = {
        "type": "object",
        "properties": {"stage": {"type": "string", "enum": ["novo", "qualificado"]}},
        "required": ["stage"],
        "additionalProperties": False,
    }
    data = structured(messages=[{"role": "user", "content": "lead"}], schema=schema, name="lead_stage")
    assert data == {"stage": "novo"}
    sent = openai_stub.chat_requests()[-1].body["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "lead_stage", "schema": schema, "strict": True}}


def test_streaming_yields_deltas_and_usage(tenant, openai_stub):
    openai_stub.push(Reply(content="Entregamos em dois dias."))
    pieces = list(LLM().stream([{"role": "user", "content": "prazo?"}]))
    assert "".join(pieces) == "Entregamos em dois dias."
    assert len(pieces) > 1
    assert openai_stub.chat_requests()[-1].body["stream_options"] == {"include_usage": True}
    assert month_tokens() > 0


def test_embeddings_decode_base64_and_keep_order(tenant, openai_stub):
    vectors = LLM().embed(["um", "dois", "três"], model="text-embedding-3-small", dimensions=256)
    assert len(vectors) == 3 and all(len(v) == 256 for v in vectors)
    assert openai_stub.requests[-1].body["dimensions"] == 256


def test_429_is_retried_honouring_retry_after_then_succeeds(tenant, openai_stub):
    openai_stub.push(rate_limited(), rate_limited(), Reply(content="ok"))
    assert LLM().chat([{"role": "user", "content": "x"}]).text == "ok"
    assert len(openai_stub.chat_requests()) == 3


# The SDK's own first backoff is 0.375-0.5 s: a wait below it and one above it show that the
# provider's ``retry-after-ms`` is what decides.
@pytest.mark.parametrize(("wait_ms", "at_least", "below"), [(50, 0.05, 0.375), (900, 0.9, 1.5)])
def test_the_wait_before_a_retry_is_the_providers_retry_after(tenant, openai_stub, wait_ms, at_least, below):
    openai_stub.push(rate_limited(retry_after_ms=wait_ms), Reply(content="ok"))
    assert LLM().chat([{"role": "user", "content": "x"}]).text == "ok"
    first, second = openai_stub.chat_requests()
    assert at_least <= second.at - first.at < below


def test_429_after_all_retries_is_rate_limited(tenant, openai_stub):
    openai_stub.push(rate_limited(), rate_limited(), rate_limited())
    with pytest.raises(LLMError) as error:
        LLM().chat([{"role": "user", "content": "x"}])
    assert error.value.kind == "rate_limited"
    assert len(openai_stub.chat_requests()) == 3


def test_5xx_retried_then_unavailable(tenant, openai_stub):
    openai_stub.push(server_error(500), server_error(503), server_error(500))
    with pytest.raises(LLMError) as error:
        LLM().chat([{"role": "user", "content": "x"}])
    assert error.value.kind == "unavailable"


def test_wrong_key_is_auth_error_without_retry(tenant, openai_stub, settings):
    settings.OPENAI_API_KEY = "sk-wrong"
    with pytest.raises(LLMError) as error:
        LLM().chat([{"role": "user", "content": "x"}])
    assert error.value.kind == "auth"
    assert len(openai_stub.chat_requests()) == 1


def test_timeout(tenant, openai_stub, settings):
    settings.OPENAI_TIMEOUT = 0.2
    settings.OPENAI_MAX_RETRIES = 0
    openai_stub.push(Reply(content="late", delay=0.6))
    with pytest.raises(LLMError) as error:
        LLM().chat([{"role": "user", "content": "x"}])
    assert error.value.kind == "timeout"


def test_budget_refuses_calls_once_spent(tenant, openai_stub, settings):
    from ai_personas.usage import usage_add

    settings.AI_MONTHLY_TOKEN_BUDGET = 100
    usage_add(persona_id=None, tokens_in=90, tokens_out=10)
    with pytest.raises(LLMError) as error:
        LLM().chat([{"role": "user", "content": "x"}])
    assert error.value.kind == "budget"
    assert openai_stub.chat_requests() == []


def test_company_settings_override_the_installation_default(tenant, openai_stub, settings):
    from ai_personas.models import ProviderSettings
    from ai_personas.services import provider_settings_save, provider_test

    settings.OPENAI_API_KEY = ""
    provider_settings_save(base_url=openai_stub.url, api_key="sk-test-stub-key", chat_model="modelo-x")
    stored = ProviderSettings.objects.get()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_personas_providersettings")
        assert "sk-test-stub-key" not in cursor.fetchone()[0]  # encrypted at rest
    assert stored.api_key == "sk-test-stub-key"
    ok, detail = provider_test()
    assert ok, detail
    assert openai_stub.chat_requests()[-1].body["model"] == "modelo-x"
    assert month_tokens() == 0  # the test call is not counted
