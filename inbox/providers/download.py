"""Downloading a provider's media (audit L3): where the URL may point, who gets credentials,
and how much is read.

A media URL comes from a provider's answer (Graph's media object) or from a webhook (MMS), so it
is checked before anything is sent: each hop must be one of the provider's own origins (which
get the credentials) or, where the provider hands files to a CDN, a public HTTPS host (which
gets none). Redirects are followed by hand, each hop checked again, never to loopback, private,
link-local or other non-public addresses (cloud metadata at 169.254.169.254 included). The
body is streamed and cut at a size cap instead of being held whole.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inbox.providers.base import ProviderError

# Shown to agents on the message whose media could not be fetched.
ERR_MEDIA_ADDRESS = _("The media's address is not the provider's: it was not downloaded.")
ERR_MEDIA_TOO_LARGE = _("The media is too large to download (at most %(size)s MB).")
ERR_MEDIA_DOWNLOAD = _("Could not download the media.")
ERR_MEDIA_REDIRECTS = _("The media's address redirects too many times.")

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MAX_REDIRECTS = 3


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def public_host(host: str) -> bool:
    """Every address the name resolves to is a public one."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            return False
    return bool(infos)


class DownloadFailed(ProviderError):
    """The provider answered the download with an error (``response`` holds it)."""

    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}", code=str(response.status_code), status=response.status_code)
        self.response = response


def max_bytes() -> int:
    return int(settings.INBOUND_MEDIA_MAX_MB * 1024 * 1024)


def download(
    url: str,
    *,
    trusted: Iterable[str],
    public_https: bool,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[bytes, str]:
    """``(content, content type)`` of ``url``. ``trusted``: base URLs whose origin may be
    reached and gets ``headers``/``auth``; ``public_https``: whether other hops may go to
    public HTTPS hosts (without credentials)."""
    trusted_origins = {origin(base) for base in trusted}
    limit = max_bytes()
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            scheme, host, _port = here = origin(url)
            own = here in trusted_origins
            if not own and not (public_https and scheme == "https" and public_host(host)):
                raise ProviderError(ERR_MEDIA_ADDRESS, code="media")
            try:
                with client.stream(
                    "GET", url, headers=(headers or {}) if own else {}, auth=auth if own else None
                ) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code >= 400:
                        response.read()
                        raise DownloadFailed(response)
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > limit:
                        raise ProviderError(
                            ERR_MEDIA_TOO_LARGE % {"size": settings.INBOUND_MEDIA_MAX_MB}, code="media_too_large"
                        )
                    chunks, size = [], 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise ProviderError(
                                ERR_MEDIA_TOO_LARGE % {"size": settings.INBOUND_MEDIA_MAX_MB}, code="media_too_large"
                            )
                        chunks.append(chunk)
                    return b"".join(chunks), response.headers.get("content-type", "")
            except httpx.HTTPError as exc:
                raise ProviderError(
                    ERR_MEDIA_DOWNLOAD, code="network", details=type(exc).__name__, retryable=True
                ) from exc
    raise ProviderError(ERR_MEDIA_REDIRECTS, code="media")
