"""What the site's pages are made of: the Jinja2 environment, and tweets, media, polls and quotes as views.

Views are built of values `bot.pagevalues` made safe and of `bot.paragraphs`. Templates only loop.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import jinja2

from bot.models import Media, Poll, QuotedTweet, Thread, ThreadTweet
from bot.pagevalues import avatar_url, clean, fmt_date, fmt_moment, iso, lang_of, profile_url, safe_url, status_url
from bot.paragraphs import Paragraph, paragraphs
from bot.site import Site
from bot.withheld import hidden_note

CSS_FILE = "unroll.css"


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


def poll_view(poll: Poll) -> PollView:
    """A post's poll as it is shown: shares rounded to whole percents, the leaders marked once votes exist."""
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
    lang: str | None = None  # its own language: a quote in another language is not read in the post's


def quote_view(quoted: QuotedTweet, site: Site) -> QuoteView:
    """A quoted tweet as its card shows it."""
    author = quoted.author
    username = clean(author.username) if author else ""
    return QuoteView(
        url=status_url(author.username if author else None, quoted.id),
        available=not quoted.unavailable and bool(author or quoted.segments or quoted.media),
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
    )


@dataclass(frozen=True)
class TweetView:
    """One tweet of the thread as a part of the article."""

    anchor: str
    number: int
    url: str
    lang: str | None
    date: str
    datetime: str
    paragraphs: list[Paragraph]
    media: list[MediaView]
    quote: QuoteView | None
    poll: PollView | None = None
    edited: bool = False
    after_gap: bool = False  # the post it answers is not the one shown before it: deleted, or out of sight
    withheld: str | None = None  # the note shown instead of its text, media, poll and quote
    answers: str | None = None  # the @handle it replies to, when not the author's ("" when not known)
    answers_url: str | None = None
    branches: tuple[str, ...] = ()  # on X, the author's other answers to it: branches the page does not follow


def anchor_of(tweet_id: str) -> str:
    """The fragment id of a tweet on its thread page (`#t-<id>`)."""
    return "t-" + re.sub(r"[^0-9A-Za-z_-]", "", tweet_id)


GAP_NOTE = "A post of the thread was here: deleted, or no longer visible."
BRANCH_NOTE = "The author also went on from this post in another branch, not on this page"


def after_gaps(thread: Thread) -> list[bool]:
    """For each post, whether the one it answers is not the post shown before it (deleted, out of sight). The
    first post answers nothing of the thread's, unless the thread's first post is gone (the thread is kept under
    its id); a thread answering someone else's post starts with a reply to it, and that is no gap."""
    before = [None, *(t.id for t in thread.tweets)]
    # A post that answers someone else (the author's answer to a reader the thread went on from) follows no gap.
    gaps = [tweet.replied_to != before[index] and tweet.answers is None for index, tweet in enumerate(thread.tweets)]
    if gaps:
        gaps[0] = thread.tweets[0].replied_to is not None and thread.tweets[0].id != thread.root_id
    return gaps


def tweet_views(thread: Thread, site: Site) -> list[TweetView]:
    """Every tweet of the thread (as `shown` gives it) as the article shows it, numbered from 1."""
    gaps = after_gaps(thread)
    return [
        _tweet_view(thread, tweet, number, site, after_gap=gaps[number - 1])
        for number, tweet in enumerate(thread.tweets, 1)
    ]


def _tweet_view(thread: Thread, tweet: ThreadTweet, number: int, site: Site, *, after_gap: bool = False) -> TweetView:
    withheld = hidden_note(tweet.withheld, site)
    return TweetView(
        anchor=anchor_of(tweet.id),
        number=number,
        url=status_url(thread.author.username, tweet.id),
        lang=None if withheld else lang_of(tweet.lang),  # the note is the site's English, not the post's language
        date=fmt_date(tweet.created_at),
        datetime=iso(tweet.created_at),
        paragraphs=paragraphs(tweet.segments),
        media=media_views(tweet.media),
        quote=quote_view(tweet.quoted, site) if tweet.quoted else None,
        poll=poll_view(tweet.poll) if tweet.poll else None,
        edited=tweet.edited,
        after_gap=after_gap,
        withheld=withheld,
        answers=tweet.answers,
        answers_url=profile_url(tweet.answers) if tweet.answers else None,
        branches=tuple(status_url(thread.author.username, other) for other in thread.branches.get(tweet.id, [])),
    )


# --- templates -------------------------------------------------------------------------------------------
@cache
def css() -> tuple[str, bytes]:
    """The one stylesheet: its versioned file name (content hash, so it can be cached for a year) and bytes."""
    data = resources.files("bot").joinpath("static", CSS_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    return f"unroll-{digest}.css", data


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment: templates from bot/templates, every value escaped, unknown names an error."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["clean"] = clean
    env.filters["profile_url"] = profile_url
    return env


def render(template: str, site: Site, **context: Any) -> str:
    """Render a page template with the site and the stylesheet's address."""
    css_name, _ = css()
    return environment().get_template(template).render(site=site, css_href=site.path(f"/static/{css_name}"), **context)
