"""The thread's tweets as the article shows them: numbered views with their notes on gaps, withheld posts and
branches (those whose posts were read shown after the thread, as sections), each gathering its paragraphs
(`bot.paragraphs`), media, poll and quote (`bot.embeds`). Templates only loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.embeds import CardView, MediaView, PollView, QuoteView, card_views, media_views, poll_view, quote_view
from bot.models import Section, Thread, ThreadTweet
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
    sensitive: bool = False  # its media shown only when the reader asks (X marks them possibly sensitive)
    answers: str | None = None  # the @handle it replies to, when not the author's ("" when not known)
    answers_url: str | None = None
    branches: tuple[str, ...] = ()  # on X, the author's other answers to it: branches the page does not follow
    of: int = 0  # how many posts its number counts: the thread's, or its section's
    sections: tuple[SectionLink, ...] = ()  # the branches from it shown after the thread
    cards: tuple[CardView, ...] = ()  # the web pages it links to, as X described them


@dataclass(frozen=True)
class SectionLink:
    """A branch shown after the thread, as a post it goes on from points to it."""

    anchor: str
    name: str


@dataclass(frozen=True)
class SectionView:
    """A branch the thread does not follow (`Thread.sections`), shown after it: its heading and posts."""

    anchor: str
    heading: str
    tweets: list[TweetView]


def anchor_of(tweet_id: str) -> str:
    """The fragment id of a tweet on its thread page (`#t-<id>`)."""
    return "t-" + re.sub(r"[^0-9A-Za-z_-]", "", tweet_id)


GAP_NOTE = "One or more posts of the thread were here: deleted, or out of reach."
BRANCH_NOTE = "The author also went on from this post in another branch, not on this page"
SECTION_NOTE = "The author also went on from this post in another branch"


def section_anchor(section: Section) -> str:
    """The fragment id of a branch shown after the thread (`#b-<its first post's id>`)."""
    return "b-" + anchor_of(section.tweets[0].id)[2:]


def section_names(thread: Thread) -> list[str]:
    """Each section's name, "branch 1" and on, in the order shown."""
    return [f"branch {number}" for number in range(1, len(thread.sections) + 1)]


def over_gap(section: Section) -> bool:
    """Whether a section goes on from a post no longer there (deleted, or out of reach: `assembly.branch_sections`):
    its first post answers neither the post it is shown after nor a reader. Where it hung is not known."""
    first = section.tweets[0]
    return first.replied_to != section.after and first.answers is None


def section_headings(thread: Thread) -> list[str]:
    """Each section's heading: its name, and the post it goes on from ("Branch 2, from post 5" / "from post 1 of
    branch 1"), or that this post is no longer there; its name alone when that post is not shown (the thread's
    deleted first post)."""
    names = section_names(thread)
    where = {t.id: f"post {number}" for number, t in enumerate(thread.tweets, 1)}
    for name, section in zip(names, thread.sections, strict=True):
        where.update({t.id: f"post {number} of {name}" for number, t in enumerate(section.tweets, 1)})
    return [
        f"{name.capitalize()}, after a post no longer there"
        if over_gap(section)
        else f"{name.capitalize()}, from {where[section.after]}"
        if section.after in where
        else name.capitalize()
        for name, section in zip(names, thread.sections, strict=True)
    ]


def after_gaps(thread: Thread) -> list[bool]:
    """For each post, whether the one it answers is not the post shown before it (deleted, out of sight). The
    first post answers nothing of the thread's, unless the thread's first post is gone (the thread is kept under
    its id); a thread answering someone else's post starts with a reply to it, and that is no gap."""
    gaps = _after_gaps(thread.tweets, None)
    if gaps:
        gaps[0] = thread.tweets[0].replied_to is not None and thread.tweets[0].id != thread.root_id
    return gaps


def section_after_gaps(section: Section) -> list[bool]:
    """`after_gaps` for a section's posts, the first following the post it goes on from."""
    return _after_gaps(section.tweets, section.after)


def _after_gaps(tweets: list[ThreadTweet], first_answers: str | None) -> list[bool]:
    before = [first_answers, *(t.id for t in tweets)]
    # A post that answers someone else (the author's answer to a reader the thread went on from) follows no gap.
    return [tweet.replied_to != before[index] and tweet.answers is None for index, tweet in enumerate(tweets)]


@dataclass(frozen=True)
class Part:
    """The thread's posts, or a section's, in the order a page shows them, each with whether a gap note comes
    before it; a section's anchor and heading ("" for the thread's own posts)."""

    posts: list[tuple[ThreadTweet, bool]]
    anchor: str = ""
    heading: str = ""


def parts(thread: Thread) -> list[Part]:
    """The thread's own posts, then each section's (`Thread.sections`), as every format shows them."""
    return [
        Part(list(zip(thread.tweets, after_gaps(thread), strict=True))),
        *(
            Part(list(zip(section.tweets, section_after_gaps(section), strict=True)), section_anchor(section), heading)
            for section, heading in zip(thread.sections, section_headings(thread), strict=True)
        ),
    ]


def tweet_views(thread: Thread, site: Site) -> list[TweetView]:
    """Every tweet of the thread (as `shown` gives it) as the article shows it, numbered from 1."""
    return _views(thread, parts(thread)[0], site, section_links(thread))


def section_views(thread: Thread, site: Site) -> list[SectionView]:
    """The branches shown after the thread (`Thread.sections`), each with its heading, its posts numbered from 1."""
    links = section_links(thread)
    return [SectionView(part.anchor, part.heading, _views(thread, part, site, links)) for part in parts(thread)[1:]]


def _views(thread: Thread, part: Part, site: Site, links: dict[str, list[SectionLink]]) -> list[TweetView]:
    return [
        _tweet_view(thread, tweet, number, site, after_gap=gap, of=len(part.posts), links=links)
        for number, (tweet, gap) in enumerate(part.posts, 1)
    ]


def section_links(thread: Thread) -> dict[str, list[SectionLink]]:
    """The sections that go on from each post, as links to them (by post id)."""
    links: dict[str, list[SectionLink]] = {}
    for section, name in zip(thread.sections, section_names(thread), strict=True):
        if not over_gap(section):  # (one that goes on from a post no longer there is pointed to by none)
            links.setdefault(section.after, []).append(SectionLink(section_anchor(section), name))
    return links


def _tweet_view(
    thread: Thread,
    tweet: ThreadTweet,
    number: int,
    site: Site,
    *,
    after_gap: bool,
    of: int,
    links: dict[str, list[SectionLink]],
) -> TweetView:
    withheld = hidden_note(tweet.withheld, site)
    return TweetView(
        anchor=anchor_of(tweet.id),
        number=number,
        url=status_url(thread.author.username, tweet.id),
        # The note is the site's English, not the post's language; a language X does not know (`und`, a post of links
        # or emoji: `qme`, `zxx`) is said unknown (""), not taken for the page's English.
        lang=None if withheld else (lang_of(tweet.lang) or ""),
        date=fmt_date(tweet.created_at),
        datetime=iso(tweet.created_at),
        paragraphs=paragraphs(tweet.segments),
        media=media_views(tweet.media),
        quote=quote_view(tweet.quoted, site) if tweet.quoted else None,
        poll=poll_view(tweet.poll, thread.fetched_at) if tweet.poll else None,
        edited=tweet.edited,
        after_gap=after_gap,
        withheld=withheld,
        sensitive=tweet.sensitive,
        answers=tweet.answers,
        answers_url=profile_url(tweet.answers) if tweet.answers else None,
        branches=tuple(status_url(thread.author.username, other) for other in thread.branches.get(tweet.id, [])),
        of=of,
        sections=tuple(links.get(tweet.id, [])),
        cards=() if withheld else tuple(card_views(tweet.cards)),
    )
