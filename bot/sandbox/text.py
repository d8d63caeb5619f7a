"""Turns text as an author typed it into the text X's API sends: t.co links, reply mentions, escaping.

Pure functions only. Offsets are Python str indices (Unicode code points) into the *escaped* text,
as X's own entity indices are (code points, counted after `&`, `<`, `>` became `&amp;`, `&lt;`, `&gt;`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.sandbox.ids import tco_url

MAX_WEIGHTED_LENGTH = 280
# A long post's `text` keeps this many code points of the body; the rest is only in note_tweet.
# Observed on real posts: https://github.com/xdevplatform/samples/issues/202 (cut at 270, no "…").
NOTE_TRUNCATE_AT = 270
TCO_LENGTH = 23
DISPLAY_URL_MAX = 26

_URL = re.compile(r"(?<![\w@#$/.])(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,:;!?'\"…”’»"
_MENTION = re.compile(r"(?<![A-Za-z0-9_!@#$%&*])[@＠]([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_@＠])")
_HASHTAG = re.compile(r"(?<![\w&#＃])[#＃](\w*[^\W\d_]\w*)")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:[._][A-Za-z]{1,2})?)(?![\w$])")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# twitter-text v3: these code points weigh 1, every other one 2 (https://github.com/twitter/twitter-text).
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


@dataclass(frozen=True)
class UrlSpan:
    """A t.co link in the text and what it stands for."""

    start: int
    end: int
    url: str
    expanded_url: str
    display_url: str
    media_key: str | None = None


@dataclass(frozen=True)
class TagSpan:
    """A mention (`tag` is the username), hashtag or cashtag in the text."""

    start: int
    end: int
    tag: str


@dataclass(frozen=True)
class Trailer:
    """A link X appends after the author's words: a quoted post, or the post's own photo/video page."""

    expanded_url: str
    display_url: str
    media_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Composed:
    """A text as the API sends it, with its entities."""

    text: str
    display_text_range: tuple[int, int]
    urls: list[UrlSpan] = field(default_factory=list)
    mentions: list[TagSpan] = field(default_factory=list)
    hashtags: list[TagSpan] = field(default_factory=list)
    cashtags: list[TagSpan] = field(default_factory=list)


@dataclass(frozen=True)
class Linked:
    """A typed body with its URLs replaced by t.co links; spans are offsets into `text` (unescaped)."""

    text: str
    urls: list[UrlSpan]


def display_url(url: str) -> str:
    """What X shows for a link: no scheme, no `www.`, cut with "…" when long."""
    shown = re.sub(r"^https?://", "", url, flags=re.IGNORECASE)
    shown = re.sub(r"^www\.", "", shown, flags=re.IGNORECASE)
    return shown if len(shown) <= DISPLAY_URL_MAX else shown[: DISPLAY_URL_MAX - 1] + "…"


def _trim_url(candidate: str) -> str:
    while candidate and (
        candidate[-1] in _URL_TRAILING or (candidate[-1] == ")" and candidate.count("(") < candidate.count(")"))
    ):
        candidate = candidate[:-1]
    return candidate


def find_urls(text: str) -> list[tuple[int, int, str]]:
    """The links an author typed: (start, end, url) with trailing punctuation left out."""
    found = []
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        host = re.sub(r"^(https?://)", "", url, flags=re.IGNORECASE).split("/")[0]
        if "." in host.strip("."):
            found.append((match.start(), match.start() + len(url), url))
    return found


def link_body(body: str, seed: str) -> Linked:
    """Replace every typed URL with a t.co link (seeded so a post keeps its links)."""
    pieces: list[str] = []
    spans: list[UrlSpan] = []
    cursor = 0
    length = 0
    for index, (start, end, url) in enumerate(find_urls(body)):
        pieces.append(body[cursor:start])
        length += start - cursor
        expanded = url if re.match(r"https?://", url, re.IGNORECASE) else f"http://{url}"
        short = tco_url(f"{seed}:{index}:{url}")
        spans.append(UrlSpan(length, length + len(short), short, expanded, display_url(url)))
        pieces.append(short)
        length += len(short)
        cursor = end
    pieces.append(body[cursor:])
    return Linked("".join(pieces), spans)


def weighted_length(text: str) -> int:
    """The length X counts against the 280 limit: t.co links 23, emoji 2, CJK and others 2, Latin 1."""
    total = 0
    index = 0
    while index < len(text):
        point = ord(text[index])
        if _is_emoji_start(point):
            total += 2
            index = _skip_emoji(text, index)
            continue
        total += 1 if any(low <= point <= high for low, high in _LIGHT_RANGES) else 2
        index += 1
    return total


def _is_emoji_start(point: int) -> bool:
    return 0x1F000 <= point <= 0x1FAFF or 0x2600 <= point <= 0x27BF or 0x2B00 <= point <= 0x2BFF


def _skip_emoji(text: str, index: int) -> int:
    """The index after the emoji sequence (modifiers, ZWJ joins, flags, keycaps) starting at `index`."""
    first = ord(text[index])
    index += 1
    if 0x1F1E6 <= first <= 0x1F1FF and index < len(text) and 0x1F1E6 <= ord(text[index]) <= 0x1F1FF:
        return index + 1
    while index < len(text):
        point = ord(text[index])
        if point in (0xFE0F, 0x20E3) or 0x1F3FB <= point <= 0x1F3FF or 0xE0020 <= point <= 0xE007F:
            index += 1
        elif point == 0x200D and index + 1 < len(text):
            index += 2
        else:
            break
    return index


def truncation_point(linked: Linked, limit: int = NOTE_TRUNCATE_AT) -> int:
    """Where a long post's `text` stops: at `limit` code points, never inside a t.co link."""
    cut = min(limit, len(linked.text))
    for span in linked.urls:
        if span.start < cut < span.end:
            cut = span.start
    return len(linked.text[:cut].rstrip())


def compose(
    prefix: Sequence[str], linked: Linked, trailers: Sequence[Trailer], seed: str, cut: int | None = None
) -> Composed:
    """Assemble `@prefix… body trailers`, find the entities, escape, and map every offset."""
    lead = "".join(f"@{name} " for name in prefix)
    body = linked.text if cut is None else linked.text[:cut]
    raw = lead + body
    urls = [
        UrlSpan(len(lead) + s.start, len(lead) + s.end, s.url, s.expanded_url, s.display_url)
        for s in linked.urls
        if s.end <= len(body)
    ]
    display_end = len(raw)
    for index, trailer in enumerate(trailers):
        short = tco_url(f"{seed}:trailer:{index}")
        start = len(raw) + 1
        raw = f"{raw} {short}"
        keys: Sequence[str | None] = trailer.media_keys or (None,)
        urls.extend(
            UrlSpan(start, start + len(short), short, trailer.expanded_url, trailer.display_url, key) for key in keys
        )
    taken = [(span.start, span.end) for span in urls]
    mentions = _tags(_MENTION, raw, taken)
    hashtags = _tags(_HASHTAG, raw, taken)
    cashtags = _tags(_CASHTAG, raw, taken)
    escaped, where = _escape(raw)
    return Composed(
        text=escaped,
        display_text_range=(where[len(lead)], where[display_end]),
        urls=[_moved(span, where) for span in urls],
        mentions=[TagSpan(where[t.start], where[t.end], t.tag) for t in mentions],
        hashtags=[TagSpan(where[t.start], where[t.end], t.tag) for t in hashtags],
        cashtags=[TagSpan(where[t.start], where[t.end], t.tag) for t in cashtags],
    )


def mentioned_usernames(text: str) -> list[str]:
    """The @usernames in a typed text, in order, outside links."""
    taken = [(start, end) for start, end, _ in find_urls(text)]
    return [tag.tag for tag in _tags(_MENTION, text, taken)]


def _tags(pattern: re.Pattern[str], text: str, taken: Sequence[tuple[int, int]]) -> list[TagSpan]:
    found = []
    for match in pattern.finditer(text):
        if any(start < match.end() and match.start() < end for start, end in taken):
            continue
        found.append(TagSpan(match.start(), match.end(), match.group(1)))
    return found


def _escape(raw: str) -> tuple[str, list[int]]:
    """`raw` with `&<>` escaped, and where each raw offset (0..len) lands in the escaped text."""
    pieces = []
    where = []
    position = 0
    for char in raw:
        where.append(position)
        piece = _ESCAPES.get(char, char)
        pieces.append(piece)
        position += len(piece)
    where.append(position)
    return "".join(pieces), where


def _moved(span: UrlSpan, where: list[int]) -> UrlSpan:
    return UrlSpan(where[span.start], where[span.end], span.url, span.expanded_url, span.display_url, span.media_key)
