"""Text out of uploaded files, as light Markdown: ``#`` headings the chunker splits along.

PDF (pypdf), DOCX (python-docx: "Heading N" styles become headings), HTML (BeautifulSoup with
the standard library's parser: h1-h6 become headings; scripts, styles and navigation are
dropped), CSV (``;``/``,``/tab, UTF-8 or Latin-1: one "column: value" block per row), TXT and
Markdown as they are.
"""

from __future__ import annotations

import csv
import io
import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from ai_personas.models import DocumentKind

ERR_UNREADABLE = gettext_noop("This file could not be read as %(kind)s.")
ERR_EMPTY = gettext_noop("No text was found in this file.")
ERR_KIND = gettext_noop("Upload a PDF, DOCX, TXT, Markdown, CSV or HTML file.")

EXTENSIONS = {
    ".pdf": DocumentKind.PDF,
    ".docx": DocumentKind.DOCX,
    ".txt": DocumentKind.TXT,
    ".md": DocumentKind.MARKDOWN,
    ".markdown": DocumentKind.MARKDOWN,
    ".csv": DocumentKind.CSV,
    ".html": DocumentKind.HTML,
    ".htm": DocumentKind.HTML,
}
MAX_TEXT = 2_000_000  # characters kept from one document


class ExtractError(ValueError):
    pass


def kind_for(filename: str) -> str:
    lower = filename.lower()
    for ext, kind in EXTENSIONS.items():
        if lower.endswith(ext):
            return kind
    raise ExtractError(_(ERR_KIND))


def decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("utf-8", "replace")


def _pdf(content: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)


def _docx(content: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(content))
    lines = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        match = re.match(r"(?:Heading|Título|Title)\s*(\d)?", style)
        if match:
            level = int(match.group(1) or 1)
            lines.append(f"{'#' * min(level, 6)} {text}")
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(lines)


def _html(content: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode(content), "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "noscript", "template", "svg"]):
        tag.decompose()
    lines = []
    for element in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "pre", "blockquote"]):
        if element.find_parent(["p", "li", "td", "th", "pre", "blockquote"]) is not None:
            continue  # nested: its text is in the parent's
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name[0] == "h" and element.name[1:].isdigit():
            lines.append(f"{'#' * int(element.name[1])} {text}")
        elif element.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(text)
    if not lines:
        lines = [" ".join(soup.get_text(" ", strip=True).split())]
    return "\n\n".join(lines)


def _csv(content: bytes) -> str:
    text = decode(content)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=";,\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        return ""
    header = [h.strip() for h in rows[0]]
    blocks = []
    for row in rows[1:]:
        pairs = [
            f"{header[i] if i < len(header) else i + 1}: {value.strip()}"
            for i, value in enumerate(row)
            if value.strip()
        ]
        if pairs:
            blocks.append("\n".join(pairs))
    return "\n\n".join(blocks)


def extract_text(*, kind: str, content: bytes) -> str:
    """The document's text, or :class:`ExtractError` with a message for the person uploading."""
    try:
        if kind == DocumentKind.PDF:
            text = _pdf(content)
        elif kind == DocumentKind.DOCX:
            text = _docx(content)
        elif kind == DocumentKind.HTML:
            text = _html(content)
        elif kind == DocumentKind.CSV:
            text = _csv(content)
        elif kind in (DocumentKind.TXT, DocumentKind.MARKDOWN):
            text = decode(content)
        else:
            raise ExtractError(_(ERR_KIND))
    except ExtractError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is "unreadable file" to the user
        raise ExtractError(_(ERR_UNREADABLE) % {"kind": kind.upper()}) from exc
    text = text.replace("\x00", "").replace("\r\n", "\n").strip()
    if not text:
        raise ExtractError(_(ERR_EMPTY))
    return text[:MAX_TEXT]
