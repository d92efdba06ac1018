"""The one OpenAI-compatible client of the product (chat, tool calls, structured output,
streaming, embeddings), through the ``openai`` SDK.

Everything that talks to a model goes through here, so four things hold in one place:
- **the endpoint**: the company's own (base URL, key, models) or the installation default;
- **retries**: the SDK's (429, 408, 409 and 5xx with exponential backoff, honouring
  ``retry-after`` / ``retry-after-ms``), with ``OPENAI_MAX_RETRIES`` and a timeout per request;
- **errors**: every failure becomes an :class:`LLMError` with a kind and a translated text for
  the note an agent reads (rate limited, provider down, timeout, bad key, budget);
- **usage and budget**: tokens of every call are added to the company's daily usage, and a
  call is refused once the month's budget is spent.

Other apps (the Kanban lead-stage classifier) use :func:`structured`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import openai
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

ERR_RATE_LIMITED = gettext_noop("The AI provider is rate limiting us (429), even after retrying.")
ERR_UNAVAILABLE = gettext_noop("The AI provider is failing (server error), even after retrying.")
ERR_TIMEOUT = gettext_noop("The AI provider did not answer in time.")
ERR_AUTH = gettext_noop("The AI provider refused the API key. Check it in AI settings.")
ERR_BAD_REQUEST = gettext_noop("The AI provider refused the request: %(detail)s")
ERR_CONNECTION = gettext_noop("The AI provider cannot be reached.")
ERR_BUDGET = gettext_noop("This month's AI token budget is used up; AI is paused until next month.")
ERR_NO_KEY = gettext_noop("No AI provider is configured: set the base URL and API key in AI settings.")
ERR_BAD_OUTPUT = gettext_noop("The AI provider answered with something that is not valid.")


class LLMError(Exception):
    """A model call failed. ``kind`` is one of: rate_limited, unavailable, timeout, auth,
    bad_request, connection, budget, not_configured, bad_output."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str
    chat_model: str
    embedding_model: str
    monthly_budget: int  # 0: no limit


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def total(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def cost(self) -> Decimal:
        from ai_personas.usage import cost_of

        return cost_of(self.tokens_in, self.tokens_out)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""


@dataclass
class ChatResult:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = ""
    model: str = ""
    latency_ms: float = 0.0
    # The assistant message as the API wants it back when answering tool calls.
    message: dict[str, Any] = field(default_factory=dict)


def company_endpoint() -> Endpoint:
    """The current company's endpoint: its own settings where set, the installation's otherwise."""
    from ai_personas.selectors import provider_settings

    own = provider_settings()
    budget = (
        own.monthly_token_budget if own and own.monthly_token_budget is not None else settings.AI_MONTHLY_TOKEN_BUDGET
    )
    return Endpoint(
        base_url=(own.base_url if own and own.base_url else settings.OPENAI_BASE_URL).rstrip("/"),
        api_key=(own.api_key if own and own.api_key else settings.OPENAI_API_KEY) or "",
        chat_model=(own.chat_model if own and own.chat_model else settings.OPENAI_CHAT_MODEL),
        embedding_model=(own.embedding_model if own and own.embedding_model else settings.OPENAI_EMBEDDING_MODEL),
        monthly_budget=int(budget or 0),
    )


# company_endpoint() by (schema, settings row version, installation defaults): a reply reads
# the row's version with its context and skips the lookup (and the key's decryption).
_endpoints: dict[tuple, Endpoint] = {}
_endpoints_lock = threading.Lock()


def company_endpoint_of(version: str | None) -> Endpoint:
    """:func:`company_endpoint` for a caller that read the version of the company's settings
    row (its id and ``updated_at``, None without a row) in a query of its own."""
    from core.tenancy import require_tenant_schema

    key = (
        require_tenant_schema(),
        version,
        settings.OPENAI_BASE_URL,
        settings.OPENAI_API_KEY,
        settings.OPENAI_CHAT_MODEL,
        settings.OPENAI_EMBEDDING_MODEL,
        settings.AI_MONTHLY_TOKEN_BUDGET,
    )
    with _endpoints_lock:
        found = _endpoints.get(key)
    if found is None:
        found = company_endpoint()
        with _endpoints_lock:
            if len(_endpoints) > 1000:
                _endpoints.clear()
            _endpoints[key] = found
    return found


def budget_state() -> dict:
    """This month's tokens against the budget, and whether a provider is configured."""
    from ai_personas.usage import month_tokens

    endpoint = company_endpoint()
    used = month_tokens()
    return {
        "used": used,
        "budget": endpoint.monthly_budget,
        "exhausted": bool(endpoint.monthly_budget) and used >= endpoint.monthly_budget,
        "configured": bool(endpoint.api_key),
        "endpoint": endpoint,
    }


# One SDK client (one connection pool) per endpoint and process.
_clients: dict[tuple[str, str, float, int, int], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client(endpoint: Endpoint) -> openai.OpenAI:
    import os

    key = (endpoint.base_url, endpoint.api_key, settings.OPENAI_TIMEOUT, settings.OPENAI_MAX_RETRIES, os.getpid())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = openai.OpenAI(
                base_url=endpoint.base_url,
                api_key=endpoint.api_key or "missing",
                timeout=float(settings.OPENAI_TIMEOUT),
                max_retries=settings.OPENAI_MAX_RETRIES,
            )
        return client


def _as_error(exc: Exception) -> LLMError:
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("timeout", _(ERR_TIMEOUT))
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("connection", _(ERR_CONNECTION))
    if isinstance(exc, openai.RateLimitError):
        return LLMError("rate_limited", _(ERR_RATE_LIMITED))
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return LLMError("auth", _(ERR_AUTH))
    if isinstance(exc, openai.InternalServerError):
        return LLMError("unavailable", _(ERR_UNAVAILABLE))
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return LLMError("unavailable", _(ERR_UNAVAILABLE))
        detail = str(getattr(exc, "message", "") or exc)[:200]
        return LLMError("bad_request", _(ERR_BAD_REQUEST) % {"detail": detail})
    return LLMError("bad_output", _(ERR_BAD_OUTPUT))


class LLM:
    """Calls for one company, optionally on behalf of a persona. The endpoint is looked up at
    the first call (in the schema active then), so creating a client costs nothing."""

    def __init__(self, endpoint: Endpoint | None = None, *, persona_id: int | None = None, account: bool = True):
        self._endpoint = endpoint
        self.persona_id = persona_id
        self.account = account
        self._deferred: Usage | None = None  # see defer_usage()
        self._month_base: int | None = None  # see assume_month_tokens()
        self._used = Usage()  # tokens of this client's calls

    def use_endpoint_version(self, version: str | None) -> None:
        """The caller read the company's settings version (see :func:`company_endpoint_of`)."""
        if self._endpoint is None:
            self._endpoint = company_endpoint_of(version)

    def defer_usage(self) -> None:
        """Keep the tokens of the coming calls in :attr:`deferred_usage` instead of writing each
        call's: the caller writes them once, with the rest of its work (the agent's reply)."""
        if self._deferred is None:
            self._deferred = Usage()

    @property
    def deferred_usage(self) -> Usage:
        return self._deferred or Usage()

    def assume_month_tokens(self, used: int) -> None:
        """The month's tokens as the caller just read them (in its own query): the budget check
        adds this client's calls to it instead of reading the usage again before each call."""
        self._month_base = used

    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = company_endpoint()
        return self._endpoint

    # --- budget and accounting -------------------------------------------------------------
    def check_budget(self) -> None:
        from ai_personas.usage import month_tokens

        if self.endpoint.monthly_budget:
            used = month_tokens() if self._month_base is None else self._month_base + self._used.total
            if used >= self.endpoint.monthly_budget:
                raise LLMError("budget", _(ERR_BUDGET))
        self.check_plan()

    def check_plan(self) -> None:
        """The plan's AI tokens of the month (``tenants.limits``), on top of the company's own
        budget: a company cannot set its budget past its plan."""
        from tenants import limits
        from tenants.context import NoTenantError, current_company

        try:
            company = current_company()
        except NoTenantError:
            return
        try:
            limits.limit_check(company, limits.AI_TOKENS)
        except limits.LimitReached as exc:
            raise LLMError("budget", exc.messages[0]) from exc

    def _record(self, usage: Usage, *, reply: bool = False) -> None:
        self._used.tokens_in += usage.tokens_in
        self._used.tokens_out += usage.tokens_out
        if not self.account:
            return
        if self._deferred is not None:
            self._deferred.tokens_in += usage.tokens_in
            self._deferred.tokens_out += usage.tokens_out
            return
        from ai_personas.usage import usage_add

        usage_add(persona_id=self.persona_id, tokens_in=usage.tokens_in, tokens_out=usage.tokens_out)

    def _ready(self) -> openai.OpenAI:
        if not self.endpoint.api_key:
            raise LLMError("not_configured", _(ERR_NO_KEY))
        self.check_budget()
        return _client(self.endpoint)

    # --- chat ---------------------------------------------------------------------------------
    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        temperature: float | None = None,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatResult:
        client = self._ready()
        kwargs: dict[str, Any] = {"model": model or self.endpoint.chat_model, "messages": messages}
        if temperature is not None:
            kwargs["temperature"] = temperature
        if tools:
            kwargs["tools"] = tools
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        if response_format:
            kwargs["response_format"] = response_format
        started = time.perf_counter()
        try:
            completion = client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise _as_error(exc) from exc
        latency = (time.perf_counter() - started) * 1000
        usage = Usage(
            tokens_in=getattr(completion.usage, "prompt_tokens", 0) or 0,
            tokens_out=getattr(completion.usage, "completion_tokens", 0) or 0,
        )
        self._record(usage)
        if not completion.choices:
            raise LLMError("bad_output", _(ERR_BAD_OUTPUT))
        choice = completion.choices[0]
        calls = []
        for call in choice.message.tool_calls or []:
            raw = call.function.arguments or "{}"
            try:
                args = json.loads(raw)
            except ValueError:
                args = {}
            calls.append(
                ToolCall(
                    id=call.id,
                    name=call.function.name,
                    arguments=args if isinstance(args, dict) else {},
                    raw_arguments=raw,
                )
            )
        message: dict[str, Any] = {"role": "assistant", "content": choice.message.content or ""}
        if calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw_arguments}}
                for c in calls
            ]
        return ChatResult(
            text=choice.message.content or "",
            tool_calls=calls,
            usage=usage,
            finish_reason=choice.finish_reason or "",
            model=completion.model or kwargs["model"],
            latency_ms=latency,
            message=message,
        )

    def structured(
        self,
        messages: list[dict[str, Any]],
        *,
        schema: dict[str, Any],
        name: str,
        model: str | None = None,
        temperature: float | None = 0,
    ) -> tuple[dict[str, Any], ChatResult]:
        """A reply that must match ``schema`` (``response_format`` json_schema, strict)."""
        result = self.chat(
            messages,
            model=model,
            temperature=temperature,
            response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
        )
        try:
            data = json.loads(result.text)
        except ValueError as exc:
            raise LLMError("bad_output", _(ERR_BAD_OUTPUT)) from exc
        if not isinstance(data, dict):
            raise LLMError("bad_output", _(ERR_BAD_OUTPUT))
        return data, result

    def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Iterator[str]:
        """Yield the reply's text as it arrives; usage is recorded when the stream ends."""
        client = self._ready()
        kwargs: dict[str, Any] = {
            "model": model or self.endpoint.chat_model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if temperature is not None:
            kwargs["temperature"] = temperature
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        usage = Usage()
        try:
            for chunk in client.chat.completions.create(**kwargs):
                if chunk.usage:
                    usage = Usage(
                        tokens_in=chunk.usage.prompt_tokens or 0, tokens_out=chunk.usage.completion_tokens or 0
                    )
                for choice in chunk.choices or []:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
        except openai.OpenAIError as exc:
            raise _as_error(exc) from exc
        finally:
            self._record(usage)

    # --- embeddings ---------------------------------------------------------------------------
    def embed(self, texts: list[str], *, model: str | None = None, dimensions: int | None = None) -> list[list[float]]:
        client = self._ready()
        kwargs: dict[str, Any] = {"model": model or self.endpoint.embedding_model, "input": texts}
        if dimensions:
            kwargs["dimensions"] = dimensions
        try:
            response = client.embeddings.create(**kwargs)
        except openai.OpenAIError as exc:
            raise _as_error(exc) from exc
        self._record(Usage(tokens_in=getattr(response.usage, "prompt_tokens", 0) or 0))
        vectors = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
        if len(vectors) != len(texts):
            raise LLMError("bad_output", _(ERR_BAD_OUTPUT))
        return vectors

    def test_connection(self) -> str:
        """A one-token chat call: returns the model that answered, or raises LLMError."""
        result = self.chat([{"role": "user", "content": "ping"}], max_tokens=1)
        return result.model


def structured(
    *,
    messages: list[dict[str, Any]],
    schema: dict[str, Any],
    name: str,
    persona_id: int | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """Structured output for the current company (e.g. classifying a lead's stage)."""
    data, _result = LLM(persona_id=persona_id).structured(messages, schema=schema, name=name, model=model)
    return data
