"""X's wire tweets turned into text as the author typed it: segments, media, poll and the quoted tweet (pure).

The API's quirks undone here (https://docs.x.com/x-api/fundamentals/data-dictionary):
- `text` is HTML-escaped (`&amp;`, `&lt;`, `&gt;` only), so a typed `&amp;` arrives as `&amp;amp;`;
- entity offsets and `display_text_range` count code points (Python `str` indices) of the escaped text;
- a reply starts with its "replying to" @mentions, outside `display_text_range`;
- long posts carry their whole text, with its own entities, in `note_tweet` (escaped or not: compared with
  `text`, see `_note_escaped`);
- media and quoted tweets add t.co links that point back at the tweet itself;
- a link's `entities.urls` item may describe the page it goes to (title, description, images, `unwound_url`):
  the post's link cards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, TypeVar, cast
from urllib.parse import quote, urlsplit

from bot.apimodels import (
    ApiMedia,
    ApiPoll,
    ApiTweet,
    ApiUser,
    ApiWithheld,
    Entities,
    Includes,
    MentionEntity,
    TagEntity,
    UrlEntity,
)
from bot.models import (
    Author,
    LinkCard,
    Media,
    MediaType,
    Poll,
    PollOption,
    QuotedTweet,
    Segment,
    SegmentKind,
    ThreadTweet,
    Withheld,
    clipped,
    one_line,
)

TWITTER_EPOCH_MS = 1288834974657  # https://docs.x.com/resources/fundamentals/x-ids
_ESCAPE = re.compile(r"&(amp|lt|gt);")
_ESCAPED = {"amp": "&", "lt": "<", "gt": ">"}
_HTTP = re.compile(r"https?://", re.IGNORECASE)
# A link to a post (its id captured), and to one of its photos or videos: compiled once, the id compared after.
_STATUS = re.compile(r"/status(?:es)?/([^/?#]+)(?=[/?#]|$)")
_OWN_MEDIA = re.compile(r"/status(?:es)?/([^/?#]+)/(?:photo|video)/\d")
_Entity = TypeVar("_Entity", UrlEntity, MentionEntity, TagEntity)


class _Text(NamedTuple):
    text: str
    entities: Entities
    text_range: tuple[int, int] | None


def snowflake_time(tweet_id: str) -> datetime:
    """When a tweet was created, read from its snowflake id (no API call)."""
    ms = (int(tweet_id) >> 22) + TWITTER_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC)


def snowflake_at(when: datetime) -> str:
    """The smallest tweet id of that moment (the inverse of snowflake_time)."""
    return str(int(when.timestamp() * 1000 - TWITTER_EPOCH_MS) << 22)


def unescape(text: str) -> str:
    """Undo X's HTML escaping exactly once: only `&amp;`, `&lt;` and `&gt;`, so `&amp;amp;` gives `&amp;`."""
    return _ESCAPE.sub(lambda m: _ESCAPED[m.group(1)], text)


def _index_map(escaped: str) -> list[int]:
    """For each index of the escaped text (and its end), the index of the same place once unescaped."""
    out: list[int] = []
    shift = 0
    last = 0
    for match in _ESCAPE.finditer(escaped):
        out.extend(i - shift for i in range(last, match.start()))
        out.extend(match.start() - shift for _ in range(match.start(), match.end()))
        shift += len(match.group(0)) - 1
        last = match.end()
    out.extend(i - shift for i in range(last, len(escaped) + 1))
    return out


@dataclass(frozen=True)
class _Link:
    """What one entity becomes: a link (or plain text when its target is not http), or nothing at all."""

    kind: SegmentKind
    href: str | None
    forms: tuple[str, ...]  # what the entity's own text may read (any case), to check its offsets against
    shown: str | None = None  # what a URL shows instead of its t.co text: the display URL
    drop: bool = False  # a t.co link to the tweet's own media or quoted tweet: not shown at all
    anywhere: bool = False  # dropped wherever it is (media); else only among the links X adds at the text's end


def is_http(url: str | None) -> bool:
    """True for an absolute http(s) URL, the only links a page may carry."""
    return url is not None and _HTTP.match(url) is not None and not any(c.isspace() for c in url)


def _own_media(entity: UrlEntity, tweet: ApiTweet) -> bool:
    """True for the t.co link that X appends for the tweet's own media."""
    target = entity.expanded_url or ""
    return bool(entity.media_key) or (
        "/status" in target and any(m.group(1) == tweet.id for m in _OWN_MEDIA.finditer(target))
    )


def _points_at_quoted(entity: UrlEntity, tweet: ApiTweet) -> bool:
    """True for a link to the tweet it quotes (X appends one at the text's end)."""
    target = entity.expanded_url or ""
    if "/status" not in target:
        return False
    quoted = tweet.referenced("quoted")
    return bool(quoted) and any(m.group(1) == quoted for m in _STATUS.finditer(target))


def _points_at_self(entity: UrlEntity, tweet: ApiTweet) -> bool:
    """True for the t.co link that X appends for the tweet's own media or for the tweet it quotes."""
    return _own_media(entity, tweet) or _points_at_quoted(entity, tweet)


def _links(entities: Entities, tweet: ApiTweet) -> list[tuple[int, int, _Link]]:
    """Every entity as (start, end, link), at the offsets X gave."""
    out: list[tuple[int, int, _Link]] = []
    for url in entities.urls:
        href = url.expanded_url if is_http(url.expanded_url) else (url.url if is_http(url.url) else None)
        shown = url.display_url or url.expanded_url or url.url
        media = _own_media(url, tweet)
        link = _Link("url", href, (url.url,), shown, drop=media or _points_at_quoted(url, tweet), anywhere=media)
        out.append((url.start, url.end, link))
    for mention in entities.mentions:
        forms = _forms("@＠", mention.username)
        out.append((mention.start, mention.end, _Link("mention", f"https://x.com/{mention.username}", forms)))
    for tag in entities.hashtags:
        href = f"https://x.com/hashtag/{quote(tag.tag)}"
        out.append((tag.start, tag.end, _Link("hashtag", href, _forms("#＃", tag.tag))))
    for tag in entities.cashtags:
        href = f"https://x.com/search?q={quote('$' + tag.tag)}"
        out.append((tag.start, tag.end, _Link("cashtag", href, _forms("$＄", tag.tag))))
    return out


def _forms(signs: str, name: str) -> tuple[str, ...]:
    return tuple(sign + name for sign in signs)


def _locate(text: str, start: int, end: int, link: _Link) -> tuple[int, int] | None:
    """The entity's place in the text: where X said, else the nearest place its text really is.

    X's offsets are almost always right and the text there reads as the entity does: that is checked
    literally first, since each entity's pattern is new to the regex cache and compiling it costs more than
    the rest of the tweet's work. Only then, any case and anywhere in the text."""
    if text[start:end] in link.forms:
        return start, end
    regex = re.compile("|".join(map(re.escape, link.forms)), re.IGNORECASE)
    if regex.fullmatch(text, start, end):
        return start, end
    found = [m.span() for m in regex.finditer(text)]
    return min(found, key=lambda span: abs(span[0] - start)) if found else None


def _expected(entities: Entities) -> list[tuple[int, int, str]]:
    """What each entity's text should read, to tell which text its offsets count in."""
    out = [(u.start, u.end, u.url) for u in entities.urls]
    out += [(m.start + 1, m.end, m.username) for m in entities.mentions]
    out += [(t.start + 1, t.end, t.tag) for t in entities.hashtags + entities.cashtags]
    return out


def _counts_escaped(escaped: str, plain: str, entities: Entities, text_range: tuple[int, int] | None) -> bool:
    """Whether offsets count code points of the escaped text, as X's do; unescaped offsets are tolerated.

    X counts `&amp;` as five (https://github.com/Twitter4J/Twitter4J/issues/349), so offsets past an
    escaped character must move back before they index the text as typed.
    """
    if escaped == plain:
        return False
    if text_range and text_range[1] > len(plain):
        return True
    checks = _expected(entities)

    def hits(text: str) -> int:
        return sum(text[s:e].lower() == want.lower() for s, e, want in checks)

    in_escaped, in_plain = hits(escaped), hits(plain)
    if in_escaped != in_plain:
        return in_escaped > in_plain
    # No entity tells: a displayed range ending exactly at the end of the text as typed counts it (counted in
    # the escaped text it would end later, unless a hidden trailing link made up the difference, which an
    # entity would have told).
    return not (text_range is not None and text_range[1] == len(plain))


def _unescaped(escaped: str, entities: Entities, text_range: tuple[int, int] | None) -> _Text:
    """A text as typed, with its entities and displayed range counted in it."""
    plain = unescape(escaped)
    if not _counts_escaped(escaped, plain, entities, text_range):
        return _Text(plain, entities, text_range)
    index = _index_map(escaped)

    def at(offset: int) -> int:
        return index[max(0, min(offset, len(escaped)))]

    def moved(items: Sequence[_Entity]) -> list[_Entity]:
        return [item.model_copy(update={"start": at(item.start), "end": at(item.end)}) for item in items]

    shifted = Entities.model_construct(
        urls=moved(entities.urls),
        mentions=moved(entities.mentions),
        hashtags=moved(entities.hashtags),
        cashtags=moved(entities.cashtags),
    )
    return _Text(plain, shifted, (at(text_range[0]), at(text_range[1])) if text_range else None)


def _body(tweet: ApiTweet) -> tuple[str, Entities, int, int]:
    """The text the author wrote, its entities, and the displayed range (code points) within it."""
    main = _unescaped(tweet.text, tweet.entities or Entities(), tweet.display_text_range)
    if main.text_range:
        start, end = main.text_range
    else:
        start, end = _leading_mentions_end(main.text, main.entities, tweet), len(main.text)
    if tweet.note_tweet is None:
        return main.text, main.entities, start, end
    # A long post: its whole text replaces the truncated one; only the "replying to" prefix is cut off.
    note_text, note_entities = tweet.note_tweet.text, tweet.note_tweet.entities or Entities()
    if _note_escaped(tweet.text, note_text):
        note = _unescaped(note_text, note_entities, None)
    else:
        note = _Text(note_text, note_entities, None)
    prefix = main.text[:start]
    note_start = len(prefix) if prefix and note.text.startswith(prefix) else 0
    return note.text, note.entities, note_start, len(note.text)


def _note_escaped(text: str, note: str) -> bool:
    """Whether a long post's `note_tweet.text` is HTML-escaped like its `text`. X's docs don't say (other
    clients of X saw long posts' text unescaped); the truncated `text`, escaped, tells where it holds an escape:
    around it, the note repeats either the escaped characters or the unescaped ones. A window that fits both
    readings (a typed "&amp;" reads as either up to its end) says nothing: the next, wider or later, may.
    Without that evidence the note is taken as escaped, like `text`."""
    for found in _ESCAPE.finditer(text):
        before = max(0, found.start() - 24)
        for window in (text[before : found.end() + 24], text[before : found.end()]):
            escaped, typed = window in note, unescape(window) in note
            if escaped != typed:
                return escaped
    return True


def _leading_mentions_end(text: str, entities: Entities, tweet: ApiTweet) -> int:
    """Without `display_text_range`, where a reply's leading run of @mentions ends (0 if not a reply)."""
    if not tweet.replied_to:
        return 0
    end = 0
    for mention in sorted(entities.mentions, key=lambda m: m.start):
        if text[end : mention.start].strip():
            break
        end = mention.end
    while end < len(text) and text[end].isspace():
        end += 1
    return end


def segments_of(tweet: ApiTweet) -> list[Segment]:
    """The displayed text of a tweet as the author typed it, cut into plain runs and links."""
    text, entities, start, end = _body(tweet)
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    placed = []
    for s, e, link in _links(entities, tweet):
        span = _locate(text, s, e, link)
        if span and start <= span[0] < span[1] <= end:
            placed.append((*span, link))
    segments: list[Segment] = []
    placed.sort(key=lambda item: (item[0], item[1]))
    # X adds the link to a post's own media or quoted post at its end: only there is it dropped. Typed in a
    # sentence ("as https://t.co/… says"), it stays a link, or the sentence would read "as  says".
    tail = end
    for s, e, link in reversed(placed):
        if not link.drop or text[e:tail].strip():
            break
        tail = s
    pos = start
    for s, e, link in placed:
        if s < pos:  # overlapping entities: keep the first
            continue
        if s > pos:
            segments.append(Segment(text=text[pos:s]))
        pos = e
        if link.drop and (s >= tail or link.anywhere):
            if s == start or text[s - 1] in " \t":  # don't leave two spaces where the link was
                while pos < end and text[pos] in " \t":
                    pos += 1
        elif link.href is None:
            segments.append(Segment(text=text[s:e]))
        else:
            segments.append(Segment(kind=link.kind, text=link.shown or text[s:e], href=link.href))
    if pos < end:
        segments.append(Segment(text=text[pos:end]))
    return _tidy(segments)


def _tidy(segments: list[Segment]) -> list[Segment]:
    """Merge neighbouring plain runs and trim the whitespace a dropped link leaves at either end."""
    merged: list[Segment] = []
    for segment in segments:
        if merged and segment.kind == "text" and merged[-1].kind == "text":
            merged[-1] = Segment(text=merged[-1].text + segment.text)
        else:
            merged.append(segment)
    if merged and merged[0].kind == "text":
        merged[0] = Segment(text=merged[0].text.lstrip())
    if merged and merged[-1].kind == "text":
        merged[-1] = Segment(text=merged[-1].text.rstrip())
    return [s for s in merged if s.text]


def media_of(keys: Iterable[str], includes: Includes) -> list[Media]:
    """The media with these keys, in order: photos with alt text, videos and GIFs as their best mp4."""
    by_key = {m.media_key: m for m in includes.media if m.type in MEDIA_TYPES}
    return [_media(by_key[key]) for key in keys if key in by_key]


MEDIA_TYPES = ("photo", "video", "animated_gif")  # what a page can show; X may add kinds


def _media(item: ApiMedia) -> Media:
    preview = item.preview_image_url if is_http(item.preview_image_url) else None
    if item.type == "photo":
        url = item.url if is_http(item.url) else None
    else:
        mp4s = [v for v in item.variants if v.content_type == "video/mp4" and is_http(v.url)]
        url = max(mp4s, key=lambda v: v.bit_rate or 0).url if mp4s else None
    return Media(
        key=item.media_key,
        type=cast(MediaType, item.type),
        url=url,
        preview_url=preview,
        alt_text=item.alt_text,
        width=item.width,
        height=item.height,
    )


def author_of(user: ApiUser) -> Author:
    """The page's view of an API user."""
    avatar = user.profile_image_url if is_http(user.profile_image_url) else None
    return Author(
        id=user.id, username=user.username, name=user.name, profile_image_url=avatar, protected=user.protected
    )


def poll_of(tweet: ApiTweet, includes: Includes) -> Poll | None:
    """The post's poll, its options in X's order; one with no options when X named it but did not give it."""
    poll_ids = tweet.attachments.poll_ids if tweet.attachments else []
    if not poll_ids:
        return None
    found = next((p for p in includes.polls if p.id == poll_ids[0]), None)
    return _poll(found) if found else Poll(id=poll_ids[0])


def _poll(poll: ApiPoll) -> Poll:
    options = [PollOption(label=o.label, votes=max(0, o.votes)) for o in sorted(poll.options, key=lambda o: o.position)]
    return Poll(id=poll.id, options=options, ended=poll.voting_status == "closed", end_at=poll.end_datetime)


def withheld_of(withheld: ApiWithheld | None) -> Withheld | None:
    """Where X withholds the post, country codes upper-cased and each said once; None when it is not withheld.

    A `withheld` object naming no country and no claim still withholds the post: X sent it for a reason."""
    if withheld is None:
        return None
    codes = dict.fromkeys(code.strip().upper() for code in withheld.country_codes)
    return Withheld(copyright=withheld.copyright, country_codes=[code for code in codes if code])


def quoted_of(tweet: ApiTweet, includes: Includes) -> QuotedTweet | None:
    """The tweet this one quotes, as a card; a placeholder when it is not among the posts read.

    Every quoted post is read before a thread is built (the lookup's expansion, or one lookup of them all), so
    one missing is one X answered with an `errors` entry instead: deleted, or its author protected or suspended
    (https://docs.x.com/x-api/fundamentals/response-codes-and-errors, partial errors). X then shows "This post is
    unavailable.", and so does the page."""
    quoted_id = tweet.referenced("quoted")
    if quoted_id is None:
        return None
    quoted = next((t for t in includes.tweets if t.id == quoted_id), None)
    if quoted is None:
        return QuotedTweet(id=quoted_id, unavailable=True)
    user = next((u for u in includes.users if u.id == quoted.author_id), None)
    return QuotedTweet(
        id=quoted.id,
        author=author_of(user) if user else None,
        created_at=quoted.created_at or snowflake_time(quoted.id),
        segments=segments_of(quoted),
        media=media_of(quoted.attachments.media_keys if quoted.attachments else [], includes),
        lang=quoted.lang,
        withheld=withheld_of(quoted.withheld),
        poll=poll_of(quoted, includes),
        sensitive=quoted.possibly_sensitive,
    )


CARD_TITLE_MAX = 200  # characters of a card's title and description kept (X's own cards show less)
CARD_DESCRIPTION_MAX = 300
CARDS_MAX = 4  # cards per post: one per distinct page linked, the first ones


def cards_of(tweet: ApiTweet) -> list[LinkCard]:
    """The web pages a post links to that X described (a title at least), in the order linked: not its media's
    or quoted post's own links, nor links to X itself, nor pages X did not find whole (a status other than 2xx)."""
    main = tweet.entities.urls if tweet.entities else []
    note = tweet.note_tweet.entities.urls if tweet.note_tweet and tweet.note_tweet.entities else []
    described = {u.expanded_url: u for u in (*main, *note) if u.title}
    if not described:
        return []  # (most posts: nothing more to look at)
    # A long post's links are its note's (the truncated text's are some of them); either may be the one described.
    cards: list[LinkCard] = []
    for entity in note or main:
        url = entity if entity.title else described.get(entity.expanded_url, entity)
        # On one line and without bidi controls (the web page's owner would turn the rest of the line around, the
        # site's name in a text export too), cut at a word with "…" (`clipped`).
        title = clipped(one_line(url.title or ""), CARD_TITLE_MAX)
        href = url.unwound_url if is_http(url.unwound_url) else url.expanded_url
        if (
            not title
            or href is None
            or not is_http(href)
            or (url.status is not None and not 200 <= url.status < 300)
            or _on_x(href)
            or _points_at_self(entity, tweet)
            or any(card.url == href for card in cards)
        ):
            continue
        # (https only: the page's content security policy would refuse an http image, leaving a broken box)
        secure = (i for i in url.images if is_http(i.url) and i.url[:8].lower() == "https://")
        image = max(secure, key=lambda i: i.width or 0, default=None)
        cards.append(
            LinkCard(
                url=href,
                title=title,
                description=clipped(one_line(url.description or ""), CARD_DESCRIPTION_MAX),
                image=image.url if image else None,
                image_width=image.width if image else None,
                image_height=image.height if image else None,
            )
        )
    return cards[:CARDS_MAX]


def _on_x(url: str) -> bool:
    host = (urlsplit(url).hostname or "").removeprefix("www.").removeprefix("mobile.")
    return host in ("x.com", "twitter.com")


def thread_tweet(tweet: ApiTweet, includes: Includes) -> ThreadTweet:
    """One tweet of a thread as the page shows it."""
    return ThreadTweet(
        id=tweet.id,
        created_at=tweet.created_at or snowflake_time(tweet.id),
        segments=segments_of(tweet),
        lang=tweet.lang,
        media=media_of(tweet.attachments.media_keys if tweet.attachments else [], includes),
        quoted=quoted_of(tweet, includes),
        replied_to=tweet.replied_to,
        edited=len(tweet.edit_history_tweet_ids) > 1,
        poll=poll_of(tweet, includes),
        withheld=withheld_of(tweet.withheld),
        sensitive=tweet.possibly_sensitive,
        cards=cards_of(tweet),
    )
