"""What a post carries besides its text, as the page and the exports show it: photos, videos and GIFs, a poll, and
a quoted post's card, the cards of the web pages it links to (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from bot.models import LinkCard, Media, Poll, QuotedTweet
from bot.pagevalues import avatar_url, clean, fmt_date, fmt_moment, iso, lang_of, profile_url, safe_url, status_url
from bot.paragraphs import Paragraph, paragraphs
from bot.site import Site
from bot.withheld import hidden_note


@dataclass(frozen=True)
class MediaView:
    """A photo, video or GIF as the page shows it; `poster` kind: a video with nothing playable, shown still."""

    kind: Literal["photo", "video", "gif", "poster"]
    src: str
    alt: str
    poster: str | None = None
    width: int | None = None
    height: int | None = None


def _size(value: int | None) -> int | None:
    return value if value is not None and 0 < value < 100_000 else None


def media_view(media: Media) -> MediaView | None:
    """The media as the page can show it, or None when it has no http(s) address at all."""
    src, poster = safe_url(media.url), safe_url(media.preview_url)
    width, height = _size(media.width), _size(media.height)
    alt = " ".join(clean(media.alt_text or "").split())
    if media.type == "photo":
        src = src or poster
        kind: Literal["photo", "video", "gif", "poster"] = "photo"
        alt = alt or "Photo (no description given)"
    elif src:
        kind = "gif" if media.type == "animated_gif" else "video"
        alt = alt or ("GIF" if kind == "gif" else "Video")
    else:
        src, kind = poster, "poster"
        alt = alt or "Still of a video (play it on X)"
    return MediaView(kind, src, alt, poster, width, height) if src else None


def media_views(media: Sequence[Media]) -> list[MediaView]:
    """The media the page can show, in order."""
    return [view for view in map(media_view, media) if view]


@dataclass(frozen=True)
class CardView:
    """A web page a post links to, as a card: its site, title and description, its preview image when X gave one."""

    href: str
    site: str
    title: str
    description: str
    image: str | None = None
    width: int | None = None
    height: int | None = None


def card_views(cards: Sequence[LinkCard]) -> list[CardView]:
    """The cards the page can show (an http(s) address), in order."""
    views = []
    for card in cards:
        href = safe_url(card.url)
        if href is None:
            continue
        site = (urlsplit(href).hostname or "").removeprefix("www.")
        views.append(
            CardView(
                href,
                site,
                clean(card.title),
                clean(card.description),
                safe_url(card.image),
                _size(card.image_width),
                _size(card.image_height),
            )
        )
    return views


@dataclass(frozen=True)
class ChoiceView:
    """One option of a poll: its label, its votes and their share of all votes (whole percent)."""

    label: str
    votes: int
    percent: int
    leading: bool  # the most voted (ties: all of them), in bold like X shows a poll's winner

    @property
    def votes_said(self) -> str:
        return votes_said(self.votes)


def votes_said(votes: int) -> str:
    """A number of votes as words: `1 vote`, `1,204 votes`."""
    return f"{votes:,} vote{'s' if votes != 1 else ''}"


@dataclass(frozen=True)
class PollView:
    """A poll as the page and the exports say it: the options, the total, and whether voting is over."""

    choices: list[ChoiceView]
    total: int
    status: str  # "Final results", "Open until …" (as of the read: the page is a copy), or "" when not known

    @property
    def summary(self) -> str:
        """The line under the options: the votes in all and the status, e.g. `951 votes · Final results`."""
        votes = votes_said(self.total)
        return f"{votes} · {self.status}" if self.status else votes


def poll_view(poll: Poll, read_at: datetime | None = None) -> PollView:
    """A post's poll as it is shown: shares rounded to whole percents, the leaders marked once votes exist; an
    open one's votes as of `read_at` (the thread's read: the page is a copy, which no refresh of the thread's
    newer posts reads again)."""
    total = sum(option.votes for option in poll.options)
    top = max((option.votes for option in poll.options), default=0)
    choices = [
        ChoiceView(
            label=" ".join(clean(option.label).split()),
            votes=option.votes,
            percent=round(100 * option.votes / total) if total else 0,
            leading=top > 0 and option.votes == top,
        )
        for option in poll.options
    ]
    if poll.ended:
        status = "Final results"
    elif poll.end_at is not None:
        status = f"Open until {fmt_moment(poll.end_at)}"
        status += f" · votes as of {fmt_moment(read_at)}" if read_at is not None else ""
    else:
        status = ""
    return PollView(choices, total, status)


@dataclass(frozen=True)
class QuoteView:
    """A quoted tweet as an embedded card; `available` is False when X did not give it (deleted, protected,
    suspended) or gave nothing of its text or author: the card then only says the post is unavailable."""

    url: str
    available: bool
    name: str
    username: str
    profile: str | None
    avatar: str | None
    date: str
    datetime: str
    paragraphs: list[Paragraph]
    media: list[MediaView]
    withheld: str | None = None  # the note shown instead of its text and media
    poll: PollView | None = None  # its poll, as read with it
    lang: str | None = None  # its own language: a quote in another language is not read in the post's
    sensitive: bool = False  # its media shown only when the reader asks (X marks them possibly sensitive)


def quote_view(quoted: QuotedTweet, site: Site) -> QuoteView:
    """A quoted tweet as its card shows it."""
    author = quoted.author
    username = clean(author.username) if author else ""
    return QuoteView(
        url=status_url(author.username if author else None, quoted.id),
        available=not quoted.unavailable and bool(author or quoted.segments or quoted.media or quoted.poll),
        name=clean(author.name or author.username) if author else "",
        username=username,
        profile=profile_url(author.username) if author else None,
        avatar=avatar_url(author),
        date=fmt_date(quoted.created_at),
        datetime=iso(quoted.created_at),
        paragraphs=paragraphs(quoted.segments),
        media=media_views(quoted.media),
        withheld=hidden_note(quoted.withheld, site),
        lang=lang_of(quoted.lang),
        poll=poll_view(quoted.poll) if quoted.poll else None,
        sensitive=quoted.sensitive,
    )
