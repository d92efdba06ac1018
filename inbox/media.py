"""What a message's file may be, and how it is served (audit H1).

Message files come from agents (uploads) and from anyone on the internet (inbound WhatsApp and
MMS media, whose type the sender or the provider states). They are served from the company's
own origin, so a file the browser renders as a document (HTML, SVG, XML) would run its script
as the member who opened it. Hence:

- ``normalize_mime``: a stated type is kept only when it is one we know; anything else (HTML,
  SVG, ``…+xml``, scripts, unknown) becomes ``application/octet-stream``. Used for uploads
  (``sendable``) and for inbound media, before anything is stored.
- ``served_inline``: only raster images, audio and video are shown in the page, and only when
  the file's first bytes are what its type says (a "PNG" that is HTML is downloaded instead).
  Everything else is served as an attachment. Every media response also carries
  ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: default-src 'none'; sandbox``.
"""

from __future__ import annotations

import re

OCTET_STREAM = "application/octet-stream"
MEDIA_CSP = "default-src 'none'; sandbox"

# Shown in the page when the bytes agree. (WhatsApp and MMS send these.)
INLINE_TYPES = {
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "audio/ogg",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/amr",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
    "video/mp4",
    "video/3gpp",
    "video/webm",
}
# Kept as stated (then served as attachments), besides the inline ones.
DOCUMENT_TYPES = {
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/zip",
    "text/plain",
    "text/csv",
    "image/heic",
    "image/heif",
    "image/bmp",
    "image/tiff",
    "video/quicktime",
    "audio/opus",
}
KNOWN_TYPES = INLINE_TYPES | DOCUMENT_TYPES


def normalize_mime(mime: str | None) -> str:
    """The stated type without parameters, lowercased, if it is one we know; else octet-stream."""
    base = (mime or "").split(";")[0].strip().lower()
    return base if base in KNOWN_TYPES else OCTET_STREAM


def sendable(mime: str | None) -> bool:
    """May an agent send a file of this (stated) type? SVG and ``application/vnd.*+xml`` no."""
    return normalize_mime(mime) != OCTET_STREAM


def _ftyp(head: bytes) -> bool:  # ISO base media (MP4, M4A, 3GP): "ftyp" at offset 4
    return head[4:8] == b"ftyp"


def _ebml(head: bytes) -> bool:  # Matroska / WebM
    return head.startswith(b"\x1a\x45\xdf\xa3")


def _mpeg_audio(head: bytes) -> bool:  # an ID3 tag or an MPEG frame sync
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


MAGIC = {
    "image/jpeg": lambda h: h.startswith(b"\xff\xd8\xff"),
    "image/png": lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda h: h.startswith((b"GIF87a", b"GIF89a")),
    "image/webp": lambda h: h.startswith(b"RIFF") and h[8:12] == b"WEBP",
    "audio/ogg": lambda h: h.startswith(b"OggS"),
    "audio/mpeg": _mpeg_audio,
    "audio/mp4": _ftyp,
    "audio/aac": lambda h: (len(h) > 1 and h[0] == 0xFF and h[1] & 0xF6 == 0xF0) or h.startswith(b"ADIF"),
    "audio/amr": lambda h: h.startswith(b"#!AMR"),
    "audio/wav": lambda h: h.startswith(b"RIFF") and h[8:12] == b"WAVE",
    "audio/x-wav": lambda h: h.startswith(b"RIFF") and h[8:12] == b"WAVE",
    "audio/webm": _ebml,
    "video/mp4": _ftyp,
    "video/3gpp": _ftyp,
    "video/webm": _ebml,
}
SNIFF_BYTES = 16


def served_inline(mime: str | None, head: bytes) -> bool:
    """Show in the page: an allowed raster image, audio or video type whose bytes agree."""
    check = MAGIC.get((mime or "").lower())
    return check is not None and bool(check(head))


_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def safe_filename(name: str | None, default: str = "file") -> str:
    """A filename fit for a header and a path: no control characters (a newline made the media
    response fail), no separators, at most 120 characters."""
    cleaned = _UNSAFE_FILENAME.sub("_", name or "").strip(" .")
    return cleaned[-120:] or default
