"""What the sandbox world holds: users, posts as typed, their media and polls, and what callers get back.

Input shapes (`MediaSpec`, `PollSpec`) and results (`UserRef`, `TweetRef`, `Posted`) travel as JSON over the
control interface, so each has `to_json` / `from_json`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from bot.sandbox.text import Composed

MediaType = Literal["photo", "video", "animated_gif"]
MEDIA_TYPES: tuple[MediaType, ...] = ("photo", "video", "animated_gif")
Meter = Literal["posts", "mentions", "users"]


def iso(when: datetime) -> str:
    """A timestamp as X writes it: `2024-01-15T10:30:00.000Z`."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Variant:
    """One encoding of a video or GIF; HLS playlists have no bit rate."""

    url: str
    content_type: str
    bit_rate: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"content_type": self.content_type, "url": self.url}
        if self.bit_rate is not None:
            data["bit_rate"] = self.bit_rate
        return data


@dataclass(frozen=True)
class MediaSpec:
    """A photo, video or GIF to attach to a post; what is left out gets realistic defaults."""

    type: MediaType = "photo"
    url: str | None = None
    alt_text: str | None = None
    width: int | None = None
    height: int | None = None
    preview_image_url: str | None = None
    variants: tuple[Variant, ...] = ()
    duration_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for name in ("url", "alt_text", "width", "height", "preview_image_url", "duration_ms"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.variants:
            data["variants"] = [variant.to_json() for variant in self.variants]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MediaSpec:
        kind = data.get("type", "photo")
        if kind not in MEDIA_TYPES:
            raise ValueError(f"media type must be one of {', '.join(MEDIA_TYPES)}, got {kind!r}")
        variants = tuple(
            Variant(str(v["url"]), str(v.get("content_type", "video/mp4")), v.get("bit_rate"))
            for v in data.get("variants") or ()
        )
        return cls(
            type=kind,
            url=data.get("url"),
            alt_text=data.get("alt_text"),
            width=data.get("width"),
            height=data.get("height"),
            preview_image_url=data.get("preview_image_url"),
            variants=variants,
            duration_ms=data.get("duration_ms"),
        )


# What a poll can be (X's OpenAPI `Poll` schema, https://api.x.com/2/openapi.json, and its create-post `poll`):
# 2 to 4 options of at most 25 characters, open for 5 minutes to 7 days; never beside media or a quote.
POLL_OPTIONS = (2, 4)
POLL_LABEL_MAX = 25
POLL_MINUTES = (5, 10080)


@dataclass(frozen=True)
class PollSpec:
    """A poll to attach to a post: its options in order, the votes each has had, and how long voting lasts."""

    options: tuple[str, ...]
    votes: tuple[int, ...] = ()  # per option; none given: no votes yet
    duration_minutes: int = 1440

    def __post_init__(self) -> None:
        low, high = POLL_OPTIONS
        if not low <= len(self.options) <= high:
            raise ValueError(f"a poll has {low} to {high} options, got {len(self.options)}")
        if any(not 1 <= len(label) <= POLL_LABEL_MAX for label in self.options):
            raise ValueError(f"a poll option is 1 to {POLL_LABEL_MAX} characters, got {list(self.options)!r}")
        if self.votes and (len(self.votes) != len(self.options) or min(self.votes) < 0):
            raise ValueError(f"a poll needs one vote count (0 or more) per option, got {list(self.votes)!r}")
        shortest, longest = POLL_MINUTES
        if not shortest <= self.duration_minutes <= longest:
            raise ValueError(f"a poll lasts {shortest} to {longest} minutes, got {self.duration_minutes}")

    def to_json(self) -> dict[str, Any]:
        return {"options": list(self.options), "votes": list(self.votes), "duration_minutes": self.duration_minutes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PollSpec:
        return cls(
            tuple(str(o) for o in data.get("options") or ()),
            tuple(int(v) for v in data.get("votes") or ()),
            int(data.get("duration_minutes", 1440)),
        )


@dataclass(frozen=True)
class Poll:
    """A stored poll: its id, options with their votes, and when voting ends (by the sandbox clock)."""

    id: str
    options: tuple[tuple[str, int], ...]
    duration_minutes: int
    end_datetime: datetime


@dataclass(frozen=True)
class Media:
    """A stored attachment with its media key."""

    media_key: str
    type: MediaType
    url: str | None
    preview_image_url: str | None
    alt_text: str | None
    width: int
    height: int
    variants: tuple[Variant, ...]
    duration_ms: int | None


_COUNTRY_CODE = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class LinkPage:
    """What X learnt of a linked web page (its enhanced URL metadata): the address it lands on after redirects, its
    HTTP status, title, description and preview image, given in the link's `entities.urls` item
    (https://docs.x.com/x-api/fundamentals/data-dictionary)."""

    title: str
    description: str = ""
    unwound_url: str | None = None
    status: int = 200
    image: str | None = None  # the page's preview image (X's `images`: this size and a 150×150 thumbnail)

    def to_json(self, expanded_url: str) -> dict[str, Any]:
        """The link's enhanced metadata as its `entities.urls` item carries it."""
        data: dict[str, Any] = {"status": self.status, "unwound_url": self.unwound_url or expanded_url}
        if self.title:
            data["title"] = self.title
        if self.description:
            data["description"] = self.description
        if self.image:
            data["images"] = [
                {"url": self.image, "width": 1200, "height": 630},
                {"url": f"{self.image}?name=150x150", "width": 150, "height": 150},
            ]
        return data


@dataclass(frozen=True)
class Withholding:
    """Where X withholds a post (ISO 3166-1 alpha-2 codes, upper case), or that it does over a copyright claim."""

    country_codes: tuple[str, ...] = ()
    copyright: bool = False

    def __post_init__(self) -> None:
        wrong = [code for code in self.country_codes if not _COUNTRY_CODE.fullmatch(code)]
        if wrong:
            raise ValueError(f"country codes are two upper-case letters (ISO 3166-1 alpha-2), got {wrong!r}")

    def to_json(self) -> dict[str, Any]:
        """The post's `withheld` field as X sends it (https://docs.x.com/x-api/fundamentals/data-dictionary)."""
        return {"copyright": self.copyright, "country_codes": list(self.country_codes), "scope": "tweet"}


@dataclass
class User:
    """An account in the sandbox; `me` marks the bot's own account."""

    id: str
    username: str
    name: str
    created_at: datetime
    protected: bool = False
    suspended: bool = False
    verified: bool = False
    profile_image_url: str = ""
    description: str = ""
    me: bool = False


@dataclass
class Tweet:
    """A post as its author typed it, plus what X derived when it was posted."""

    id: str
    author_id: str
    typed_text: str
    created_at: datetime
    conversation_id: str
    reply_to: str | None = None
    in_reply_to_user_id: str | None = None
    quote_of: str | None = None
    media: tuple[Media, ...] = ()
    poll: Poll | None = None
    reply_prefix: tuple[str, ...] = ()  # the usernames X puts in front of a reply
    lang: str = "und"
    deleted: bool = False
    via_api: bool = False
    composed: Composed | None = None  # the rendered text, made on first read
    note: Composed | None = None
    is_long: bool = False
    edit_history: tuple[str, ...] = ()  # every version's id, oldest first, the same on each version
    withheld: Withholding | None = None
    possibly_sensitive: bool = False  # X marks the post's media as possibly sensitive

    def __post_init__(self) -> None:
        if not self.edit_history:
            self.edit_history = (self.id,)

    @property
    def is_latest(self) -> bool:
        """Whether this is the newest version of its edit chain (what search and timelines list)."""
        return self.edit_history[-1] == self.id


@dataclass(frozen=True)
class UserRef:
    """A user the sandbox created."""

    id: str
    username: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "name": self.name}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserRef:
        return cls(str(data["id"]), str(data["username"]), str(data.get("name", "")))


@dataclass(frozen=True)
class TweetRef:
    """A post the sandbox created: its id, conversation and time."""

    id: str
    conversation_id: str
    author_id: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "author_id": self.author_id,
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TweetRef:
        return cls(
            str(data["id"]),
            str(data["conversation_id"]),
            str(data["author_id"]),
            datetime.fromisoformat(str(data["created_at"])),
        )


@dataclass(frozen=True)
class Posted:
    """A post the bot created through POST /2/tweets."""

    id: str
    text: str
    in_reply_to_tweet_id: str | None
    created_at: datetime
    quote_tweet_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "in_reply_to_tweet_id": self.in_reply_to_tweet_id,
            "quote_tweet_id": self.quote_tweet_id,
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Posted:
        return cls(
            str(data["id"]),
            str(data["text"]),
            data.get("in_reply_to_tweet_id"),
            datetime.fromisoformat(str(data["created_at"])),
            data.get("quote_tweet_id"),
        )


@dataclass(frozen=True)
class Fault:
    """What to do instead of answering the next `count` requests matching method and path prefix."""

    method: str
    path_prefix: str
    count: int = 1
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    reset_in: float | None = None  # seconds until x-rate-limit-reset on an injected 429 (None: 15 min)
    after: bool = False  # with drop: handle the request (a post is created), then drop instead of answering
    usage_capped: bool = False  # answer X's 429 usage-capped problem; the rate-limit window is not spent out
    empty_page: bool = False  # answer a page of a list with no posts but a next_token to the same place
    errors_only: bool = False  # answer 200 with an `errors` array only: no data, no meta
    truncate: bool = False  # handle the request, then send half its answer's body and close the connection
    drip: float = 0.0  # handle the request, then send its answer's body a piece at a time over this many seconds
    malformed: bool = False  # handle the request, then answer with half its JSON body, whole as HTTP goes
    skip: int = 0  # let this many matching requests through first (a fault on the second page of a list)
    no_users: bool = False  # handle the request, then answer without `includes.users` and no error saying why

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path_prefix": self.path_prefix,
            "count": self.count,
            "status": self.status,
            "delay": self.delay,
            "drop": self.drop,
            "reset_in": self.reset_in,
            "after": self.after,
            "usage_capped": self.usage_capped,
            "empty_page": self.empty_page,
            "errors_only": self.errors_only,
            "truncate": self.truncate,
            "drip": self.drip,
            "malformed": self.malformed,
            "skip": self.skip,
            "no_users": self.no_users,
        }


@dataclass
class Stats:
    """Request counts per endpoint and status, and billed reads.

    X bills a post or user once per UTC day however often it is returned
    (https://docs.x.com/x-api/fundamentals/post-cap, https://docs.x.com/x-api/getting-started/pricing), so
    each meter counts a resource id once a day; `billed` remembers what each meter already charged.
    """

    requests: dict[str, dict[int, int]] = field(default_factory=dict)
    post_reads: int = 0
    mention_reads: int = 0
    user_reads: int = 0
    billed: dict[tuple[Meter, date], set[str]] = field(default_factory=dict, repr=False)
    in_flight: int = 0  # requests being answered now
    most_in_flight: int = 0  # the most answered at once so far: how many requests a client had open together

    def bill(self, meter: Meter, day: date, ids: Iterable[str]) -> int:
        """Charge the ids this meter has not charged on `day` (a UTC date); how many were new."""
        seen = self.billed.setdefault((meter, day), set())
        fresh = set(ids) - seen
        seen |= fresh
        if meter == "posts":
            self.post_reads += len(fresh)
        elif meter == "mentions":
            self.mention_reads += len(fresh)
        else:
            self.user_reads += len(fresh)
        return len(fresh)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": {key: {str(k): v for k, v in codes.items()} for key, codes in self.requests.items()},
            "reads": {"posts": self.post_reads, "mentions": self.mention_reads, "users": self.user_reads},
            "most_in_flight": self.most_in_flight,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stats:
        reads = data.get("reads", {})
        return cls(
            requests={key: {int(k): int(v) for k, v in codes.items()} for key, codes in data["requests"].items()},
            post_reads=int(reads.get("posts", 0)),
            mention_reads=int(reads.get("mentions", 0)),
            user_reads=int(reads.get("users", 0)),
            most_in_flight=int(data.get("most_in_flight", 0)),
        )
