"""Loopback stand-in for an OpenAI-compatible API (``/v1``), speaking its real wire formats:

- ``POST /v1/chat/completions``: plain replies, tool calls (``finish_reason: "tool_calls"``),
  ``response_format`` json_schema (a reply matching the schema), streaming as server-sent
  events (``chat.completion.chunk`` deltas, a usage chunk with ``stream_options``, ``[DONE]``);
- ``POST /v1/embeddings``: float lists or base64 (what the SDK asks for by default), with
  ``dimensions``;
- ``GET /v1/models``;
- errors as OpenAI sends them (``{"error": {"message", "type", "param", "code"}}``): 401 for a
  wrong key, and scripted 429 (with ``retry-after`` / ``retry-after-ms``), 500 and 503.

Tests script replies per request with :meth:`OpenAIStub.push` (one entry answers one request);
an empty script gets the default: an answer quoting the first knowledge chunk of the prompt, or
a ``handoff`` tool call when the prompt has no knowledge. A stub running as its own process
(browser tests, benchmarks: ``python -m tests.stubs.openai --port N``) is scripted over HTTP
with ``POST /_stub/push`` and reset with ``POST /_stub/reset``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import re
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_KEY = "sk-test-stub-key"


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = 0.0  # time.monotonic() on arrival (the wait between retries)


@dataclass
class Reply:
    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name":..., "arguments": {...}}]
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)
    usage: dict[str, int] | None = None


def error_body(status: int, message: str = "") -> dict[str, Any]:
    kinds = {
        401: (
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided. You can find your API key at your account settings.",
        ),
        429: (
            "requests",
            "rate_limit_exceeded",
            "Rate limit reached for requests per min (RPM). Please try again in 1s.",
        ),
        500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
        503: ("server_error", None, "The engine is currently overloaded, please try again later."),
        400: ("invalid_request_error", None, "Invalid request."),
    }
    kind, code, text = kinds.get(status, ("server_error", None, "Error"))
    return {"error": {"message": message or text, "type": kind, "param": None, "code": code}}


def rate_limited(*, retry_after_ms: int = 5) -> Reply:
    return Reply(status=429, headers={"retry-after-ms": str(retry_after_ms), "retry-after": "1"})


def server_error(status: int = 500) -> Reply:
    return Reply(status=status)


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def hashed_vector(text: str, dims: int) -> list[float]:
    """A deterministic unit vector from the text's words (similar texts, similar vectors)."""
    values = [0.0] * dims
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "little")
        values[number % dims] += 1.0 if (number >> 40) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _value_for(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: _value_for(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if kind == "string":
        return ""
    if kind in ("number", "integer"):
        return 0
    if kind == "boolean":
        return False
    return None


KNOWLEDGE = re.compile(r'<chunk id="K1"[^>]*>\n(.*?)\n</chunk>', re.S)


def default_reply(body: dict[str, Any]) -> Reply:
    messages = body.get("messages") or []
    prompt = "\n".join(str(m.get("content") or "") for m in messages)
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return Reply(content=json.dumps(_value_for(schema)))
    if any(m.get("role") == "tool" for m in messages):
        return Reply(content="Certo, já registrei aqui para você.")
    match = KNOWLEDGE.search(prompt)
    if match:
        # Quote the sentence of the best chunk that shares most words with the question.
        asked = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
        words = {w for w in re.findall(r"\w+", asked.lower()) if len(w) > 3}
        sentences = re.split(r"(?<=[.!?])\s+", match.group(1).strip())
        best = max(sentences, key=lambda s: len(words & set(re.findall(r"\w+", s.lower()))))
        return Reply(content="Claro! " + best)
    tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
    if "handoff" in tools:
        return Reply(
            tool_calls=[
                {"name": "handoff", "arguments": {"reason": "no_answer", "summary": "Pergunta sem resposta na base."}}
            ]
        )
    return Reply(content="Olá! Como posso ajudar?")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (a timeout test) closed the socket: not an error of ours


class OpenAIStub:
    def __init__(self, api_key: str = DEFAULT_KEY, host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self.requests: list[StubRequest] = []
        self.script: list[Reply] = []
        self.embedding_dims = 1536
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer._handle(self)

            def do_POST(self):
                outer._handle(self)

        self.httpd = _Server((host, port), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # --- control ----------------------------------------------------------------------------
    def start(self) -> OpenAIStub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.script.clear()
            self.requests.clear()

    def chat_requests(self) -> list[StubRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # --- HTTP -------------------------------------------------------------------------------
    def _send(self, handler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("x-request-id", "req_" + secrets.token_hex(8))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send(handler, 400, error_body(400, "We could not parse the JSON body of your request."))
            return
        path = handler.path.split("?")[0]
        if path == "/_stub/push":
            self.push(*(Reply(**item) for item in body.get("replies", [])))
            self._send(handler, 200, {"ok": True})
            return
        if path == "/_stub/reset":
            self.reset()
            self._send(handler, 200, {"ok": True})
            return
        with self._lock:
            self.requests.append(StubRequest(handler.command, path, dict(handler.headers), body, time.monotonic()))
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._send(handler, 401, error_body(401))
            return
        if path == "/v1/models":
            self._send(
                handler, 200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "stub"}]}
            )
            return
        if path not in ("/v1/chat/completions", "/v1/embeddings"):
            self._send(handler, 404, error_body(400, f"Invalid URL (POST {path})"))
            return
        with self._lock:
            reply = self.script.pop(0) if self.script else None
        if path == "/v1/embeddings" and (reply is None or reply.status == 200):
            self._embeddings(handler, body)
            return
        reply = reply or default_reply(body)
        if reply.delay:
            time.sleep(reply.delay)  # the slow provider a timeout test needs
        if reply.status != 200:
            self._send(handler, reply.status, reply.error or error_body(reply.status), reply.headers)
            return
        if body.get("stream"):
            self._stream(handler, body, reply)
            return
        self._send(handler, 200, self._completion(body, reply), reply.headers)

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt = json.dumps(body.get("messages") or [], ensure_ascii=False)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        finish = "stop"
        if reply.tool_calls:
            message["content"] = reply.content
            message["tool_calls"] = [
                {
                    "id": "call_" + secrets.token_hex(12),
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))},
                }
                for call in reply.tool_calls
            ]
            finish = "tool_calls"
        completion_tokens = _tokens((reply.content or "") + json.dumps(reply.tool_calls))
        usage = reply.usage or {
            "prompt_tokens": _tokens(prompt),
            "completion_tokens": completion_tokens,
            "total_tokens": _tokens(prompt) + completion_tokens,
        }
        return {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
            "system_fingerprint": "fp_stub",
        }

    def _stream(self, handler, body: dict[str, Any], reply: Reply) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        ident, created, model = (
            "chatcmpl-" + secrets.token_hex(12),
            int(time.time()),
            body.get("model") or "gpt-4o-mini",
        )

        def event(choices: list, usage: dict | None = None) -> None:
            chunk = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            if usage is not None or (body.get("stream_options") or {}).get("include_usage"):
                chunk["usage"] = usage
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.flush()

        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for piece in re.findall(r"\S+\s*", reply.content or ""):
            event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt = _tokens(json.dumps(body.get("messages") or []))
            out = _tokens(reply.content or "")
            event([], {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out})
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
        handler.close_connection = True

    def _embeddings(self, handler, body: dict[str, Any]) -> None:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dims = int(body.get("dimensions") or self.embedding_dims)
        data = []
        for i, text in enumerate(texts):
            vector = hashed_vector(str(text), dims)
            if body.get("encoding_format") == "base64":
                embedding: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = sum(_tokens(str(t)) for t in texts)
        self._send(
            handler,
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible loopback stub")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default=DEFAULT_KEY)
    args = parser.parse_args()
    stub = OpenAIStub(api_key=args.key, port=args.port)
    print(stub.url, flush=True)
    try:
        stub.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
