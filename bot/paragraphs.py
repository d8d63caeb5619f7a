"""A tweet's text as a page lays it out: paragraphs of lines of pieces, each piece plain text or a checked link.

Templates only loop over what this gives (pure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from bot.models import Segment
from bot.pagevalues import clean, profile_url, safe_url


@dataclass(frozen=True)
class Piece:
    """A run of text in a line; a link when `href` is set (`external`: a link the author posted)."""

    text: str
    href: str | None = None
    external: bool = False


Line = list[Piece]
Paragraph = list[Line]


def segment_href(segment: Segment) -> str | None:
    """Where a segment links to: its expanded URL, or the mention's, hashtag's or cashtag's page on X."""
    if segment.kind == "text":
        return None
    given = safe_url(segment.href)
    if segment.kind == "url" or given:
        return given
    name = clean(segment.text).strip().lstrip("@#$＠＃")
    if not name:
        return None
    if segment.kind == "mention":
        return profile_url(name)
    if segment.kind == "hashtag":
        return f"https://x.com/hashtag/{quote(name, safe='')}"
    return f"https://x.com/search?q={quote('$' + name, safe='')}"


def paragraphs(segments: Sequence[Segment]) -> list[Paragraph]:
    """A tweet's text as paragraphs (split at blank lines) of lines (split at single line breaks)."""
    lines: list[Line] = [[]]
    for segment in segments:
        href = segment_href(segment)
        text = clean(segment.text)
        if href:
            lines[-1].append(Piece(" ".join(text.split()) or href, href, segment.kind == "url"))
            continue
        for index, part in enumerate(text.split("\n")):
            if index:
                lines.append([])
            if part:
                lines[-1].append(Piece(part))
    result: list[Paragraph] = []
    current: Paragraph = []
    for line in lines:
        if any(piece.href or piece.text.strip() for piece in line):
            current.append(line)
        elif current:
            result.append(current)
            current = []
    if current:
        result.append(current)
    return result
