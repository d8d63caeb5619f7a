"""The bot's own data: requests, threads as stored and rendered, and the handled-request record.

These are what the pipeline steps pass to each other and what the store keeps as JSON.
They hold text as the author typed it (unescaped, t.co links resolved), never the API's raw quirks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import regex
from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Author(_Model):
    """A tweet's author as the page shows them."""

    id: str
    username: str
    name: str = ""
    profile_image_url: str | None = None
    protected: bool = False

    @property
    def url(self) -> str:
        return f"https://x.com/{self.username}"


SegmentKind = Literal["text", "url", "mention", "hashtag", "cashtag"]


class Segment(_Model):
    """A run of a tweet's text: plain text, or a link with the text it shows and where it goes."""

    kind: SegmentKind = "text"
    text: str
    href: str | None = None


MediaType = Literal["photo", "video", "animated_gif"]


class Media(_Model):
    """A photo, video or GIF attached to a tweet; `url` is the photo or the best mp4 variant."""

    key: str
    type: MediaType
    url: str | None = None
    preview_url: str | None = None
    alt_text: str | None = None
    width: int | None = None
    height: int | None = None


class LinkCard(_Model):
    """A web page a post links to, as X described it (its title, description, preview image): shown under the post
    as a card, as X shows one."""

    url: str  # where the link goes (the page X landed on, else the link as typed)
    title: str
    description: str = ""
    image: str | None = None
    image_width: int | None = None
    image_height: int | None = None


class PollOption(_Model):
    """One choice of a poll and the votes it had when the thread was read."""

    label: str
    votes: int = 0


class Poll(_Model):
    """A post's poll: its choices in order, whether voting is over, and when it ends (or ended).

    No options: X said the post has a poll but did not give it (a post read as another's parent), so the page
    only says there is one."""

    id: str
    options: list[PollOption] = Field(default_factory=list)
    ended: bool = False
    end_at: datetime | None = None


class Withheld(_Model):
    """Where X withholds a post (ISO 3166-1 country codes), or that it does over a copyright claim.

    X expects apps not to show a withheld post where it is withheld; a page can't tell where its reader is, so
    it shows a note instead unless the operator chose otherwise (UNROLL_SHOW_WITHHELD)."""

    copyright: bool = False
    country_codes: list[str] = Field(default_factory=list)


class QuotedTweet(_Model):
    """A tweet quoted by a thread tweet, embedded as a card."""

    id: str
    author: Author | None = None
    created_at: datetime | None = None
    segments: list[Segment] = Field(default_factory=list)
    media: list[Media] = Field(default_factory=list)
    lang: str | None = None  # as X gives it, like a thread post's: the page makes it a `lang` attribute
    # X could not give it (deleted, or its author protected or suspended): a placeholder, nothing of it shown.
    unavailable: bool = False
    withheld: Withheld | None = None
    poll: Poll | None = None  # its poll, read with it (the quoted posts' lookup brings their polls)
    sensitive: bool = False  # X marks its media possibly sensitive: shown when the reader asks, as a post's are

    @property
    def text(self) -> str:
        return segments_text(self.segments)

    @property
    def url(self) -> str:
        handle = self.author.username if self.author else "i"
        return f"https://x.com/{handle}/status/{self.id}"


class ThreadTweet(_Model):
    """One tweet of a thread, ready to render."""

    id: str
    created_at: datetime
    segments: list[Segment] = Field(default_factory=list)
    lang: str | None = None
    media: list[Media] = Field(default_factory=list)
    quoted: QuotedTweet | None = None
    replied_to: str | None = None
    # The @handle (without @) of whom it answers when that is not the thread's author: the thread's first post
    # answering someone's post, or the author's answer to a reader that the thread went on from ("" if unknown).
    answers: str | None = None
    edited: bool = False  # the author edited it (X shows its last version, marked "Edited")
    poll: Poll | None = None
    withheld: Withheld | None = None
    sensitive: bool = False  # X marks its media possibly sensitive: shown when the reader asks
    cards: list[LinkCard] = Field(default_factory=list)  # the web pages it links to that X described

    @property
    def text(self) -> str:
        """The text as the author typed it, links shown by their expanded URL."""
        return segments_text(self.segments)


def segments_text(segments: list[Segment]) -> str:
    """Plain text of segments, with each link written out as the URL it points to."""
    return "".join(s.href if s.kind == "url" and s.href else s.text for s in segments)


class Section(_Model):
    """Another way the author went on from a post of the thread (they answered it twice): that branch's posts, in
    order, the first one answering `after` (a post of the thread, or of an earlier section)."""

    after: str
    tweets: list[ThreadTweet]


class Thread(_Model):
    """A whole thread: the root tweet and the author's chain of self-replies, in order."""

    root_id: str
    conversation_id: str
    author: Author
    tweets: list[ThreadTweet]
    fetched_at: datetime = Field(default_factory=utcnow)
    # The mention whose request read it last: a retry of that request after its worker died between saving the
    # thread and replying finds it fresh, and its audit record says "replied", not "cached".
    fetched_for: str | None = None
    # Why the thread may be incomplete (e.g. "older_than_search_window", "deleted_tweets"); empty if whole.
    gaps: list[str] = Field(default_factory=list)
    # The author's other answers to a post of the thread (branches it does not follow), by that post's id, whose
    # posts are not in `sections` (the page links them on X).
    branches: dict[str, list[str]] = Field(default_factory=dict)
    # The branches it does not follow whose posts were read (at no cost: the thread's search gives every post of
    # the author's), shown after the thread, so that no post of theirs is left off the page.
    sections: list[Section] = Field(default_factory=list)

    @property
    def last_id(self) -> str:
        return self.tweets[-1].id

    @property
    def every_tweet(self) -> list[ThreadTweet]:
        """The thread's posts, then its sections' posts."""
        return [*self.tweets, *(t for section in self.sections for t in section.tweets)]

    @property
    def newest_id(self) -> str:
        """The newest post of the thread or of its sections: a refresh asks for posts after it."""
        return max((t.id for t in self.every_tweet), key=int)

    @property
    def first(self) -> ThreadTweet:
        return self.tweets[0]

    @property
    def url(self) -> str:
        return f"https://x.com/{self.author.username}/status/{self.first.id}"  # the root, unless it was deleted


class UnrollRequest(_Model):
    """A mention that asks the bot to unroll: what goes on the work stream."""

    mention_id: str
    # "mention": reply on X; "web": asked through the site's form, no reply; "refresh": re-fetch newer tweets.
    source: Literal["mention", "web", "refresh"] = "mention"
    # "unroll"; or "delete": the thread's author asks for all their threads to be removed for good.
    action: Literal["unroll", "delete"] = "unroll"
    requester_id: str
    requester_username: str = ""
    conversation_id: str | None = None
    replied_to_id: str | None = None
    # Who wrote the post replied to (the mention's `in_reply_to_user_id`): the resolver knows whether the
    # summoned post is the thread author's before it reads it.
    replied_to_user_id: str | None = None
    quoted_id: str | None = None
    text: str = ""
    lang: str | None = None
    created_at: datetime | None = None
    # When the poller put it on the stream, to measure latency from mention to reply.
    queued_at: datetime = Field(default_factory=utcnow)

    @property
    def mention_url(self) -> str:
        handle = self.requester_username or "i"
        return f"https://x.com/{handle}/status/{self.mention_id}"


# Every outcome a handled request's record may say (`ignored` as `ignored:<reason>`).
Outcome = Literal[
    "replied",
    "cached",
    "no_thread",
    "not_found",
    "protected",
    "not_allowed",
    "rate_limited",
    "dead_letter",
    "dry_run",
    "over_budget",
    "removed",
    "opted_out",
    "ignored",
    "unrolled",  # asked on the site: the page is the answer
    "refreshed",  # a page's "look for newer posts"
]


class HandledRequest(_Model):
    """The audit record of one handled request: one per mention, kept in Redis and logged as one line."""

    mention_id: str
    request_id: str = ""
    mention_url: str = ""
    requester: str = ""
    requester_id: str = ""
    root_id: str | None = None
    author: str | None = None
    tweets: int = 0
    api_requests: int = 0
    tweets_read: int = 0
    outcome: str
    reason: str | None = None
    reply_id: str | None = None
    reply_text: str | None = None
    link: str | None = None
    attempts: int = 1
    latency_s: float | None = None
    error: str | None = None
    handled_at: datetime = Field(default_factory=utcnow)

    @property
    def log_key(self) -> str:
        """Its key in the log of handled requests: the mention's id (one record per mention); a post pasted on the
        site again and again (`web-<post id>`, one request at a time) is one request each, with its stream id."""
        if self.mention_id.startswith("web-") and self.request_id:
            return f"{self.mention_id}@{self.request_id}"
        return self.mention_id


class ThreadSummary(_Model):
    """What lists of threads show: the latest unrolled, an author's threads."""

    root_id: str
    author_username: str
    author_name: str = ""
    title: str
    tweets: int
    created_at: datetime | None = None
    unrolled_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def of(cls, thread: Thread) -> ThreadSummary:
        """The thread as lists show it, titled by its first post with text (a first post of photos only gives way
        to the next); never by a withheld post, whatever UNROLL_SHOW_WITHHELD says: the lists are stored, not
        rendered per site. No title when no post has one: lists then say whose thread it is."""
        # As the page's title shows it (`renderer.title`): links by their display text.
        titles = (tweet_title(tweet) for tweet in thread.tweets if not tweet.withheld)
        return cls(
            root_id=thread.root_id,
            author_username=thread.author.username,
            author_name=thread.author.name,
            title=next((found for found in titles if found), ""),
            tweets=len(thread.every_tweet),
            created_at=thread.first.created_at,
            unrolled_at=thread.fetched_at,
        )


# Embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI): in a line of the page's own
# making (a title, a description) one left open would turn what follows it around, the site's words included.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_GRAPHEME = regex.compile(r"\X")  # what a reader sees as one character (UAX #29 extended grapheme cluster)


def one_line(text: str) -> str:
    """A text on one line of the page's own (a title, a link card's summary): its whitespace runs as single spaces,
    without bidi controls (the line's direction is the reader's, each script showing its own way)."""
    return " ".join(text.translate(_BIDI_CONTROLS).split())


def clipped(line: str, limit: int) -> str:
    """A line at most `limit` characters long, "…" included when cut: at the last word boundary in the second half
    of the room (a long word early on would otherwise leave a few characters), else between two characters as a
    reader sees them (an emoji sequence, a flag, a letter and its accents are kept whole: a grapheme cluster)."""
    if len(line) <= limit:
        return line
    room = limit - 1
    end = 0
    for cluster in _GRAPHEME.finditer(line):
        if cluster.end() > room:
            break
        end = cluster.end()
    cut = line[: end or room]  # (a first cluster longer than the room itself, Zalgo say, is cut where it must)
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def title_of(text: str, limit: int = 80) -> str:
    """The opening of a text as a title: its first line, trimmed to `limit` characters (`clipped`)."""
    return clipped(one_line(text.split("\n", 1)[0]), limit)


def tweet_title(tweet: ThreadTweet) -> str:
    """A post's opening as a title, links by their display text; a post of links alone (and no word) is titled by
    the page it links to, when X described it (its card)."""
    card = page_linked_alone(tweet)
    return title_of(card.title if card else "".join(s.text for s in tweet.segments))


def page_linked_alone(tweet: ThreadTweet) -> LinkCard | None:
    """The card of the page a post of links alone (no word of its own) links to first; None for any other post."""
    if tweet.cards and not "".join(s.text for s in tweet.segments if s.kind != "url").strip():
        return tweet.cards[0]
    return None


class ReplyRecord(_Model):
    """The idempotency record of one mention: whether a reply is being posted or was posted."""

    state: Literal["posting", "replied", "final"]
    reply_id: str | None = None
    text: str | None = None
    at: datetime = Field(default_factory=utcnow)
    # "posting": when the post's call ended without an answer to read (a 5xx, a timeout): X made the post, if it did,
    # by then. None while the call is under way, or when its process died in it: by `at` and the call's deadline.
    ended_at: datetime | None = None

    def made_by(self, http_timeout: float) -> datetime:
        """The latest X may have made this record's post: when its call ended, else by the call's deadline."""
        return self.ended_at or self.at + timedelta(seconds=http_timeout)
