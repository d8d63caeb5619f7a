"""Stored posts, users and media as X's v2 JSON, honouring `tweet.fields`, `expansions` and friends.

Like X, a post has only `id`, `text` and `edit_history_tweet_ids` unless more fields are asked for,
a user only `id`, `name`, `username`, and `includes` holds only what an expansion asked for
(https://docs.x.com/x-api/fundamentals/fields, https://docs.x.com/x-api/fundamentals/expansions).
The caller holds `world.lock`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.edits import edit_controls
from bot.sandbox.fields import (
    MEDIA_FIELDS,
    POLL_FIELDS,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    USER_EXPANSIONS,
    USER_FIELDS,
)
from bot.sandbox.ids import short_code
from bot.sandbox.model import LinkPage, Media, Poll, Tweet, User, iso
from bot.sandbox.problems import invalid_request, resource_error
from bot.sandbox.text import (
    MAX_WEIGHTED_LENGTH,
    Composed,
    Trailer,
    UrlSpan,
    compose,
    display_url,
    link_body,
    truncation_point,
    weighted_length,
)
from bot.sandbox.world import World


@dataclass(frozen=True)
class Selection:
    """The fields and expansions one request asked for."""

    tweet_fields: frozenset[str] = frozenset()
    expansions: frozenset[str] = frozenset()
    user_fields: frozenset[str] = frozenset()
    media_fields: frozenset[str] = frozenset()
    poll_fields: frozenset[str] = frozenset()


def parse_list(params: Mapping[str, str], name: str, allowed: Sequence[str]) -> frozenset[str]:
    """A comma-separated parameter, every value checked against X's list for it."""
    raw = params.get(name)
    if raw is None:
        return frozenset()
    values = [value for value in raw.split(",")]
    for value in values:
        if value not in allowed:
            raise invalid_request(
                name, [value], f"The `{name}` query parameter value [{value}] is not one of [{','.join(allowed)}]"
            )
    return frozenset(values)


def tweet_selection(params: Mapping[str, str]) -> Selection:
    return Selection(
        parse_list(params, "tweet.fields", TWEET_FIELDS),
        parse_list(params, "expansions", TWEET_EXPANSIONS),
        parse_list(params, "user.fields", USER_FIELDS),
        parse_list(params, "media.fields", MEDIA_FIELDS),
        parse_list(params, "poll.fields", POLL_FIELDS),
    )


def user_selection(params: Mapping[str, str]) -> Selection:
    return Selection(
        parse_list(params, "tweet.fields", TWEET_FIELDS),
        parse_list(params, "expansions", USER_EXPANSIONS),
        parse_list(params, "user.fields", USER_FIELDS),
    )


def texts(world: World, tweet: Tweet) -> tuple[Composed, Composed | None]:
    """The post's `text` as X sends it, and for a long post its note_tweet (made once, then kept)."""
    if tweet.composed is None:
        author = world.users[tweet.author_id]
        linked = link_body(tweet.typed_text, seed=tweet.id)
        trailers = []
        if tweet.quote_of:
            quoted = world.tweets[tweet.quote_of]
            url = f"https://x.com/{world.users[quoted.author_id].username}/status/{quoted.id}"
            trailers.append(Trailer(url, display_url(url)))
        if tweet.media:
            kind = "video" if tweet.media[0].type == "video" else "photo"
            url = f"https://x.com/{author.username}/status/{tweet.id}/{kind}/1"
            keys = tuple(m.media_key for m in tweet.media)
            trailers.append(Trailer(url, f"pic.x.com/{short_code(tweet.id)}", keys))
        tweet.is_long = weighted_length(linked.text) > MAX_WEIGHTED_LENGTH
        cut = truncation_point(linked) if tweet.is_long else None
        tweet.composed = compose(tweet.reply_prefix, linked, trailers, seed=tweet.id, cut=cut)
        tweet.note = compose((), linked, (), seed=tweet.id) if tweet.is_long else None
    return tweet.composed, tweet.note


@dataclass
class Page:
    """`data`, `includes` and partial `errors` of one response, plus what it bills."""

    data: list[dict[str, Any]]
    includes: dict[str, list[dict[str, Any]]]
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tweet_ids(self) -> list[str]:
        """The posts the response returned, in data or includes: what X bills as post reads."""
        return [t["id"] for t in (*self.data, *self.includes.get("tweets", []))]

    @property
    def user_ids(self) -> list[str]:
        return [u["id"] for u in self.includes.get("users", [])]


@dataclass
class _Found:
    """What a page's expansions pulled in, each once, in the order first met."""

    users: dict[str, User] = field(default_factory=dict)
    tweets: dict[str, Tweet] = field(default_factory=dict)
    versions: dict[str, Tweet] = field(default_factory=dict)  # other versions of an edited primary post
    media: dict[str, Media] = field(default_factory=dict)
    polls: dict[str, Poll] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add_user(self, user: User | None) -> None:
        if user is not None and not user.suspended:
            self.users.setdefault(user.id, user)


class Renderer:
    """Renders for one request's selection."""

    def __init__(self, world: World, selection: Selection) -> None:
        self.world = world
        self.selection = selection

    def page(self, tweets: Sequence[Tweet]) -> Page:
        """Primary posts with the includes their expansions ask for."""
        found = _Found()
        for tweet in tweets:
            self._expand(tweet, found)
        wanted = self.selection.expansions
        for ref in found.tweets.values():
            if "referenced_tweets.id.author_id" in wanted:
                found.add_user(self.world.users[ref.author_id])
            if "referenced_tweets.id.attachments.media_keys" in wanted:
                found.media.update((m.media_key, m) for m in ref.media)
        includes: dict[str, list[dict[str, Any]]] = {}
        if found.users:
            includes["users"] = [self.user(u) for u in found.users.values()]
        if found.tweets or found.versions:
            included = {**found.tweets, **found.versions}
            includes["tweets"] = [self.tweet(t) for t in included.values()]
        if found.media:
            includes["media"] = [self.media(m) for m in found.media.values()]
        if found.polls:
            includes["polls"] = [self.poll(p) for p in found.polls.values()]
        return Page([self.tweet(t) for t in tweets], includes, found.errors)

    def _expand(self, tweet: Tweet, found: _Found) -> None:
        """Collect what the expansions ask for about one primary post."""
        wanted = self.selection.expansions
        composed, _ = texts(self.world, tweet)
        if "author_id" in wanted:
            found.add_user(self.world.users[tweet.author_id])
        if "in_reply_to_user_id" in wanted and tweet.in_reply_to_user_id:
            found.add_user(self.world.users.get(tweet.in_reply_to_user_id))
        if "entities.mentions.username" in wanted:
            for mention in composed.mentions:
                found.add_user(self.world.user_by_username(mention.tag))
        if "attachments.media_keys" in wanted:
            found.media.update((m.media_key, m) for m in tweet.media)
        if "attachments.poll_ids" in wanted and tweet.poll is not None:
            found.polls.setdefault(tweet.poll.id, tweet.poll)
        if "edit_history_tweet_ids" in wanted:
            versions = (self.world.tweets[v] for v in tweet.edit_history if v != tweet.id)
            found.versions.update((v.id, v) for v in versions)
        if "referenced_tweets.id" not in wanted:
            return
        for _, ref_id in _references(tweet):
            ref = self.world.tweets.get(ref_id)
            seen = self.world.visibility(ref)
            if ref is not None and seen == "ok":
                found.tweets.setdefault(ref.id, ref)
            else:
                kind = "protected" if seen == "protected" else "not_found"
                found.errors.append(resource_error(kind, "tweet", "referenced_tweets.id", ref_id))

    def tweet(self, tweet: Tweet) -> dict[str, Any]:
        composed, note = texts(self.world, tweet)
        fields = self.selection.tweet_fields
        data: dict[str, Any] = {
            "id": tweet.id,
            "text": composed.text,
            "edit_history_tweet_ids": list(tweet.edit_history),
        }
        references = _references(tweet)
        optional: dict[str, Any] = {
            "author_id": tweet.author_id,
            "conversation_id": tweet.conversation_id,
            "created_at": iso(tweet.created_at),
            "in_reply_to_user_id": tweet.in_reply_to_user_id,
            "referenced_tweets": [{"type": kind, "id": ref} for kind, ref in references] or None,
            "attachments": _attachments(tweet),
            "entities": self._entities(composed),
            "display_text_range": list(composed.display_text_range),
            "lang": tweet.lang,
            "note_tweet": self._note(note),
            "possibly_sensitive": tweet.possibly_sensitive,
            "reply_settings": "everyone",
            "public_metrics": self._metrics(tweet) if "public_metrics" in fields else None,
            "edit_controls": edit_controls(tweet, self.world.tweets[tweet.edit_history[0]]),
            "withheld": tweet.withheld.to_json() if tweet.withheld else None,
        }
        for name, value in optional.items():
            if name in fields and value is not None:
                data[name] = value
        return data

    def user(self, user: User) -> dict[str, Any]:
        data: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        optional: dict[str, Any] = {
            "created_at": iso(user.created_at),
            "description": user.description,
            "profile_image_url": user.profile_image_url,
            "protected": user.protected,
            "verified": user.verified,
            "verified_type": "blue" if user.verified else "none",
            "url": "",
            "public_metrics": {"followers_count": 0, "following_count": 0, "tweet_count": 0, "listed_count": 0},
        }
        if "public_metrics" in self.selection.user_fields:
            # Posts the user made (X counts retweets too; the sandbox has none), deleted ones gone from the count.
            mine = (t for t in self.world.tweets.values() if t.author_id == user.id)
            posts = sum(1 for t in mine if t.is_latest and not t.deleted)
            optional["public_metrics"]["tweet_count"] = posts
        for name, value in optional.items():
            if name in self.selection.user_fields:
                data[name] = value
        return data

    def media(self, media: Media) -> dict[str, Any]:
        data: dict[str, Any] = {"media_key": media.media_key, "type": media.type}
        optional: dict[str, Any] = {
            "url": media.url,
            "preview_image_url": media.preview_image_url,
            "alt_text": media.alt_text,
            "width": media.width,
            "height": media.height,
            "duration_ms": media.duration_ms,
            "variants": [v.to_json() for v in media.variants] or None,
        }
        for name, value in optional.items():
            if name in self.selection.media_fields and value is not None:
                data[name] = value
        return data

    def poll(self, poll: Poll) -> dict[str, Any]:
        """A poll as X sends it: `id` and `options` always, the rest when `poll.fields` asks; voting is
        closed once the sandbox clock passes its end."""
        options = [{"position": n, "label": label, "votes": votes} for n, (label, votes) in enumerate(poll.options, 1)]
        data: dict[str, Any] = {"id": poll.id, "options": options}
        optional: dict[str, Any] = {
            "voting_status": "closed" if self.world.now() >= poll.end_datetime else "open",
            "end_datetime": iso(poll.end_datetime),
            "duration_minutes": poll.duration_minutes,
        }
        for name, value in optional.items():
            if name in self.selection.poll_fields:
                data[name] = value
        return data

    def _entities(self, composed: Composed) -> dict[str, Any] | None:
        entities: dict[str, Any] = {}
        if composed.urls:
            entities["urls"] = [_url_json(span, self.world.link_pages.get(span.expanded_url)) for span in composed.urls]
        if composed.mentions:
            entities["mentions"] = [self._mention(m.start, m.end, m.tag) for m in composed.mentions]
        for name, spans in (("hashtags", composed.hashtags), ("cashtags", composed.cashtags)):
            if spans:
                entities[name] = [{"start": s.start, "end": s.end, "tag": s.tag} for s in spans]
        return entities or None

    def _mention(self, start: int, end: int, username: str) -> dict[str, Any]:
        data: dict[str, Any] = {"start": start, "end": end, "username": username}
        user = self.world.user_by_username(username)
        if user is not None:
            data["username"] = user.username
            data["id"] = user.id
        return data

    def _note(self, note: Composed | None) -> dict[str, Any] | None:
        if note is None:
            return None
        data: dict[str, Any] = {"text": note.text}
        entities = self._entities(note)
        if entities:
            data["entities"] = entities
        return data

    def _metrics(self, tweet: Tweet) -> dict[str, int] | None:
        how = self.world.settings.post_metrics
        if how == "absent":
            return None
        replies, quotes = self.world.metrics(tweet) if how == "counted" else (0, 0)
        return {
            "retweet_count": 0,
            "reply_count": replies,
            "like_count": 0,
            "quote_count": quotes,
            "bookmark_count": 0,
            "impression_count": 0,
        }


def _attachments(tweet: Tweet) -> dict[str, Any] | None:
    attachments: dict[str, Any] = {}
    if tweet.media:
        attachments["media_keys"] = [m.media_key for m in tweet.media]
    if tweet.poll is not None:
        attachments["poll_ids"] = [tweet.poll.id]
    return attachments or None


def _references(tweet: Tweet) -> list[tuple[str, str]]:
    refs = []
    if tweet.reply_to:
        refs.append(("replied_to", tweet.reply_to))
    if tweet.quote_of:
        refs.append(("quoted", tweet.quote_of))
    return refs


def _url_json(span: UrlSpan, page: LinkPage | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "start": span.start,
        "end": span.end,
        "url": span.url,
        "expanded_url": span.expanded_url,
        "display_url": span.display_url,
    }
    if span.media_key:
        data["media_key"] = span.media_key
    elif page is not None:
        data.update(page.to_json(span.expanded_url))
    return data
