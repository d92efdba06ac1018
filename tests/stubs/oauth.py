"""Loopback stand-ins for Google's and Facebook's OAuth endpoints.

Speaks the providers' real HTTP protocol (form-encoded token exchange, JSON responses, an
OpenID Connect ID token for Google, Graph API ``/me`` with ``appsecret_proof`` for Facebook).
The identity returned by the next exchange is set by the test through ``OAuthStub.identity``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt


class OAuthStub:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        from django.conf import settings

        port = settings.OAUTH_STUB_PORT if port is None else port
        self.identity: dict = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.issued: dict[str, dict] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, body: dict):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                path = urlparse(self.path).path
                stub.requests.append(("POST", path, form))
                if path == "/google/token":
                    return stub._google_token(self, form)
                if path == "/facebook/oauth/access_token":
                    return stub._facebook_token(self, form)
                self._json(404, {"error": "not_found"})

            def do_GET(self):
                parsed = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                stub.requests.append(("GET", parsed.path, query))
                if parsed.path == "/facebook/oauth/access_token":
                    return stub._facebook_token(self, query)
                if parsed.path == "/facebook/me":
                    return stub._facebook_me(self, query)
                if parsed.path == "/google/userinfo":
                    return self._json(200, stub.identity)
                self._json(404, {"error": {"message": "Unknown path", "type": "OAuthException", "code": 803}})

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> OAuthStub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- Google -------------------------------------------------------------------------------
    def _google_token(self, handler, form):
        if form.get("client_id") != "google-client" or form.get("client_secret") != "google-secret":
            return handler._json(401, {"error": "invalid_client"})
        if form.get("grant_type") != "authorization_code" or not form.get("code"):
            return handler._json(400, {"error": "invalid_grant"})
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": "google-client",
            "iat": now,
            "exp": now + 3600,
            "sub": self.identity["sub"],
            "email": self.identity["email"],
            "email_verified": self.identity.get("email_verified", True),
            "name": self.identity.get("name", ""),
            "given_name": self.identity.get("given_name", ""),
            "family_name": self.identity.get("family_name", ""),
            "picture": "https://example.invalid/avatar.png",
        }
        id_token = jwt.encode(claims, "stub-signing-key-not-verified-here", algorithm="HS256")
        handler._json(
            200,
            {
                "access_token": "ya29.stub-" + form["code"],
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "openid email profile",
                "id_token": id_token,
            },
        )

    # --- Facebook -----------------------------------------------------------------------------
    def _facebook_token(self, handler, form):
        if form.get("client_id") != "fb-app" or form.get("client_secret") != "fb-secret":
            return handler._json(
                400, {"error": {"message": "Error validating client secret.", "type": "OAuthException", "code": 1}}
            )
        token = "EAAstub" + form.get("code", "")
        self.issued[token] = dict(self.identity)
        handler._json(200, {"access_token": token, "token_type": "bearer", "expires_in": 5183944})

    def _facebook_me(self, handler, query):
        token = query.get("access_token", "")
        proof = hmac.new(b"fb-secret", token.encode(), hashlib.sha256).hexdigest()
        if token not in self.issued or query.get("appsecret_proof") != proof:
            return handler._json(
                400, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}
            )
        handler._json(200, self.issued[token])
