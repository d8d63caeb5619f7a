"""The thread's tweets as the article shows them: numbered views with their notes on gaps, withheld posts and
branches, each gathering its paragraphs (`bot.paragraphs`), media, poll and quote (`bot.embeds`). Templates only loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.embeds import MediaView, PollView, QuoteView, media_views, poll_view, quote_view
from bot.models import Thread, ThreadTweet
from bot.pagevalues import fmt_date, iso, lang_of, profile_url, status_url
from bot.paragraphs import Paragraph, paragraphs
from bot.site import Site
from bot.withheld import hidden_note


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


GAP_NOTE = "One or more posts of the thread were here: deleted, or out of reach."
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
