"""POST /2/tweets: create a post as the bot, under X's posting rules.

Since February 2026 a programmatic reply is accepted only when the post replied to mentions the
account or quotes one of its posts; the same text twice within 24 hours is refused as duplicate
content (https://docs.x.com/x-api/posts/manage-tweets/introduction).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.sandbox.model import Tweet, User
from bot.sandbox.params import ApiRequest
from bot.sandbox.problems import (
    ApiResponse,
    Problem,
    forbidden,
    invalid_request,
    oauth1_permissions,
    too_many_requests,
    unauthorized,
)
from bot.sandbox.render import texts
from bot.sandbox.text import MAX_WEIGHTED_LENGTH, link_body, mentioned_usernames, weighted_length
from bot.sandbox.world import World

REPLY_NOT_ALLOWED = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged "
    "by the author of the post you are replying to."
)
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
REPLY_TARGET_GONE = "You attempted to reply to a Tweet that is deleted or not visible to you."
QUOTE_TARGET_GONE = "You attempted to quote a Tweet that is deleted or not visible to you."
TOO_LONG = "Your Tweet text is too long."
DUPLICATE_WINDOW = timedelta(hours=24)


def daily_headers(world: World) -> dict[str, str]:
    """The x-user-limit-24hour-* and x-app-limit-24hour-* headers of POST /2/tweets."""
    user, app = world.limiter.daily(world.now().timestamp())
    return {**user.headers("x-user-limit-24hour"), **app.headers("x-app-limit-24hour")}


def create_tweet(world: World, request: ApiRequest) -> ApiResponse:
    """POST /2/tweets with `text`, optional `reply.in_reply_to_tweet_id` and `quote_tweet_id`."""
    me = request.me
    if me is None:
        raise unauthorized()
    body = request.body if isinstance(request.body, dict) else {}
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _body_error("$.text", "A post needs a non-empty `text` (this sandbox does not upload media)")
    reply_to = _reference(body.get("reply"), "in_reply_to_tweet_id", "$.reply.in_reply_to_tweet_id")
    quote_of = _reference(body, "quote_tweet_id", "$.quote_tweet_id")
    if not world.settings.write_permission:
        raise oauth1_permissions()
    user, app = world.limiter.daily(world.now().timestamp())
    if not (user.allowed and app.allowed):
        raise too_many_requests({})
    if weighted_length(link_body(text, seed="length").text) > MAX_WEIGHTED_LENGTH:
        raise forbidden(TOO_LONG)
    if reply_to is not None:
        target = world.tweets.get(reply_to)
        if target is None or world.visibility(target) != "ok":
            raise forbidden(REPLY_TARGET_GONE)
        if world.settings.reply_restriction and not engaged(world, target, me):
            raise forbidden(REPLY_NOT_ALLOWED)
    if quote_of is not None and world.visibility(world.tweets.get(quote_of)) != "ok":
        raise forbidden(QUOTE_TARGET_GONE)
    if world.settings.duplicate_check and _duplicate(world, text):
        raise forbidden(DUPLICATE)
    tweet = world.post(text, reply_to=reply_to, quote_of=quote_of)
    world.limiter.spend_post(world.now().timestamp())
    composed, _ = texts(world, tweet)
    data = {"id": tweet.id, "text": composed.text, "edit_history_tweet_ids": list(tweet.edit_history)}
    return ApiResponse(201, {"data": data})


def engaged(world: World, target: Tweet, me: User) -> bool:
    """Whether the bot may reply under `target`: its own post, a post mentioning it, or quoting it."""
    if target.author_id == me.id:
        return True
    names = {n.lower() for n in (*target.reply_prefix, *mentioned_usernames(target.typed_text))}
    if me.username.lower() in names:
        return True
    quoted = world.tweets.get(target.quote_of or "")
    return quoted is not None and quoted.author_id == me.id


def _duplicate(world: World, text: str) -> bool:
    since = world.now() - DUPLICATE_WINDOW
    return any(p.text.strip() == text.strip() and p.created_at > since for p in world.posted())


def _reference(container: Any, key: str, path: str) -> str | None:
    if not isinstance(container, dict) or container.get(key) is None:
        return None
    value = container[key]
    if not isinstance(value, str) or not value.isdigit() or len(value) > 19:
        raise _body_error(path, f"{path} must be a string of 1 to 19 digits, got {value!r}")
    return value


def _body_error(path: str, message: str) -> Problem:
    return invalid_request(path, [], message)
