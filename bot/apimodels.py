"""Pydantic models of the X API v2 JSON the bot reads: tweets, users, media, polls and their envelopes.

Field names follow https://docs.x.com/x-api/fundamentals/data-dictionary exactly, so a response
body validates straight into them. Unknown fields are ignored; missing optional ones stay None.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# What the bot asks for on every tweet read: only what the page and the resolver need.
TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "in_reply_to_user_id",
    "referenced_tweets",
    "entities",
    "attachments",
    "note_tweet",
    "display_text_range",
    "lang",
    # How many replies a post has: an old thread whose newest post has none besides those read ended there
    # (`bot.walks`), and its author's timeline after it need not be read.
    "public_metrics",
    # Whether X withholds the post in some countries or over a copyright claim: the page then shows a note
    # in its place (https://docs.x.com/x-api/fundamentals/data-dictionary, Tweet `withheld`).
    "withheld",
    # Whether X marks the post's media possibly sensitive: the page shows them only when the reader asks, and
    # never as the page's preview image.
    "possibly_sensitive",
]
# Lookups expand referenced tweets: a lookup then climbs two levels of a reply chain and brings quoted posts.
EXPANSIONS = [
    "author_id",
    "attachments.media_keys",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    # The media of posts read in `includes` (parents met while climbing, quoted posts): without it their
    # photos and videos would be missing from the page.
    "referenced_tweets.id.attachments.media_keys",
    # A post's poll, in `includes.polls`: without it a post asking "which?" shows with no options at all
    # (https://docs.x.com/x-api/fundamentals/data-dictionary, Poll). Polls are no billed resource (the price
    # list bills posts, users, media…), and only the posts asked for bring theirs: X has no expansion for the
    # polls of referenced posts, and a parent met while climbing shows its poll as "see it on X".
    "attachments.poll_ids",
]
# What the bot can do without, should an API refuse it (a 400 naming it): the lookup goes on without.
OPTIONAL_EXPANSIONS = frozenset({"referenced_tweets.id.attachments.media_keys"})
# Likewise of tweet.fields, on every endpoint: without reply counts, an old thread's timeline is read whole.
OPTIONAL_TWEET_FIELDS = frozenset({"public_metrics", "possibly_sensitive"})
# Searches of a thread don't: every self-reply's parent is in the thread already, and X bills each post
# in `includes` as a read, so the expansion would double the bill. Quoted posts are looked up in one batch.
# Polls are asked for: they add no post to `includes`, so nothing is billed twice.
SEARCH_EXPANSIONS = ["author_id", "attachments.media_keys", "attachments.poll_ids"]
# Mentions: only who wrote them (the mention's conversation and parent ids are tweet fields).
MENTION_EXPANSIONS = ["author_id"]
# public_metrics: how many posts a user made, which tells whether their timeline (their latest 3,200) reaches back
# to an old thread of theirs (`bot.walks`).
USER_FIELDS = ["name", "username", "profile_image_url", "protected", "verified", "public_metrics"]
MEDIA_FIELDS = ["media_key", "type", "url", "preview_image_url", "alt_text", "width", "height", "variants"]
# `id` and `options` come by default; whether voting is over and when it ends say "final results" or "open until".
POLL_FIELDS = ["options", "voting_status", "end_datetime", "duration_minutes"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UrlImage(_Wire):
    url: str
    width: int | None = None
    height: int | None = None


class UrlEntity(_Wire):
    start: int
    end: int
    url: str
    expanded_url: str | None = None
    display_url: str | None = None
    media_key: str | None = None
    # What X learnt of the linked page (https://docs.x.com/x-api/fundamentals/data-dictionary): where it lands after
    # redirects, its HTTP status, title, description and preview images; absent for many links.
    unwound_url: str | None = None
    status: int | None = None
    title: str | None = None
    description: str | None = None
    images: list[UrlImage] = Field(default_factory=list)


class MentionEntity(_Wire):
    start: int
    end: int
    username: str
    id: str | None = None


class TagEntity(_Wire):
    start: int
    end: int
    tag: str


class Entities(_Wire):
    urls: list[UrlEntity] = Field(default_factory=list)
    mentions: list[MentionEntity] = Field(default_factory=list)
    hashtags: list[TagEntity] = Field(default_factory=list)
    cashtags: list[TagEntity] = Field(default_factory=list)


class NoteTweet(_Wire):
    text: str
    entities: Entities | None = None


# A post's id as X gives it: a snowflake, digits only (https://docs.x.com/resources/fundamentals/x-ids). Ids are
# compared as numbers (their order is their time): one that is not is a malformed answer, retried, not a crash.
PostId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]


class ReferencedTweet(_Wire):
    # replied_to, quoted, retweeted; a kind X adds is ignored (`ApiTweet.referenced`), not a page refused: one
    # post the bot cannot place must not keep every mention on its page from being read.
    type: str
    id: PostId


class Attachments(_Wire):
    media_keys: list[str] = Field(default_factory=list)
    poll_ids: list[str] = Field(default_factory=list)


class ApiWithheld(_Wire):
    """Where and why X withholds a post: `country_codes` (ISO 3166-1 alpha-2) or a copyright claim."""

    copyright: bool = False
    country_codes: list[str] = Field(default_factory=list)
    scope: str | None = None  # "tweet", or "user": the author is withheld there


class TweetMetrics(_Wire):
    reply_count: int | None = None  # posts replying to it, as X counts them


class ApiTweet(_Wire):
    id: PostId
    text: str
    author_id: str | None = None
    conversation_id: PostId | None = None
    created_at: datetime | None = None
    in_reply_to_user_id: str | None = None
    referenced_tweets: list[ReferencedTweet] = Field(default_factory=list)
    entities: Entities | None = None
    attachments: Attachments | None = None
    note_tweet: NoteTweet | None = None
    display_text_range: tuple[int, int] | None = None
    lang: str | None = None
    withheld: ApiWithheld | None = None
    possibly_sensitive: bool = False
    public_metrics: TweetMetrics | None = None
    # Every version's id, oldest first (a default field): an edit is a new post with a new id, and
    # lookups by an earlier id answer with that earlier version (https://docs.x.com/x-api/fundamentals/edit-posts).
    edit_history_tweet_ids: list[PostId] = Field(default_factory=list)

    @property
    def latest_id(self) -> str:
        """The id of this post's latest version known to X when it answered: itself unless it was edited."""
        return max(self.edit_history_tweet_ids, key=int, default=self.id)

    def referenced(self, kind: str) -> str | None:
        """The id of the tweet this one references as `kind` (replied_to, quoted, retweeted)."""
        return next((ref.id for ref in self.referenced_tweets if ref.type == kind), None)

    @property
    def replied_to(self) -> str | None:
        return self.referenced("replied_to")


class UserMetrics(_Wire):
    tweet_count: int | None = None  # posts made, retweets included


class ApiUser(_Wire):
    id: str
    username: str
    name: str = ""
    profile_image_url: str | None = None
    protected: bool = False
    verified: bool = False
    public_metrics: UserMetrics | None = None


class Variant(_Wire):
    url: str
    content_type: str = ""
    bit_rate: int | None = None


class ApiMedia(_Wire):
    media_key: str
    type: str  # photo, video, animated_gif; a kind X adds is left off the page (`tweettext.media_of`)
    url: str | None = None
    preview_image_url: str | None = None
    alt_text: str | None = None
    width: int | None = None
    height: int | None = None
    variants: list[Variant] = Field(default_factory=list)


class ApiPollOption(_Wire):
    position: int
    label: str
    votes: int = 0


class ApiPoll(_Wire):
    """A post's poll (`includes.polls`, with the `attachments.poll_ids` expansion)."""

    id: str
    options: list[ApiPollOption] = Field(default_factory=list)
    voting_status: str | None = None  # "open" or "closed"
    end_datetime: datetime | None = None
    duration_minutes: int | None = None


class Includes(_Wire):
    users: list[ApiUser] = Field(default_factory=list)
    tweets: list[ApiTweet] = Field(default_factory=list)
    media: list[ApiMedia] = Field(default_factory=list)
    polls: list[ApiPoll] = Field(default_factory=list)


class ApiProblem(_Wire):
    """A partial error inside a 200 response, e.g. one id of a lookup that no longer exists."""

    title: str = ""
    detail: str = ""
    type: str = ""
    value: str | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    parameter: str | None = None

    @property
    def post_id(self) -> str | None:
        """The post a lookup's problem is about, or None when it is about something else (a user met in
        `includes`, say). Usually `resource_id` (a post deleted, or its author protected); a problem of the post's
        author may name the author there (a suspended account: `resource_type` "user"), the post asked for
        being the `value` of the `id`/`ids` parameter."""
        if self.resource_type in (None, "tweet"):
            return self.resource_id or self.value
        if self.parameter in ("id", "ids") and self.value:
            return self.value
        return None


class Meta(_Wire):
    result_count: int | None = None
    newest_id: str | None = None
    oldest_id: str | None = None
    next_token: str | None = None


class TweetsPage(_Wire):
    """One page of a tweets response: lookup, mentions or search."""

    data: list[ApiTweet] = Field(default_factory=list)
    includes: Includes = Field(default_factory=Includes)
    errors: list[ApiProblem] = Field(default_factory=list)
    meta: Meta = Field(default_factory=Meta)


class UserResponse(_Wire):
    data: ApiUser


class UserLookup(_Wire):
    """GET /2/users/by/username/:username: the user, or errors (not found, suspended) with no data."""

    data: ApiUser | None = None
    errors: list[ApiProblem] = []


class CreatedTweet(_Wire):
    id: str
    text: str = ""


class CreateTweetResponse(_Wire):
    data: CreatedTweet


class ComplianceJob(_Wire):
    """A batch compliance job (https://docs.x.com/x-api/compliance/batch-compliance/introduction): the post or
    user ids go to `upload_url`, the results come from `download_url` once `status` is `complete`."""

    id: str
    type: Literal["tweets", "users"]
    status: str  # created, in_progress, complete, failed, expired
    upload_url: str = ""
    download_url: str = ""
    created_at: datetime | None = None


class ComplianceJobResponse(_Wire):
    data: ComplianceJob


class ComplianceEvent(_Wire):
    """One line of a job's results: an id X wants deleted (`action` "delete") and why (`reason`: deleted,
    suspended, protected, deactivated…); ids without an event are not listed."""

    id: str
    action: str = "delete"
    reason: str = ""
