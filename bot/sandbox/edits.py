"""Post edits as X has them: each edit is a new post, within 30 minutes of the original, at most 5 times.

https://docs.x.com/x-api/fundamentals/edit-posts: every version keeps the whole chain in
`edit_history_tweet_ids` (oldest first); replies to others (not a self-thread) cannot be edited, nor can
posts with polls. Pure functions; `World.edit_tweet` stores the result.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox import derive
from bot.sandbox.model import Tweet, iso

EDIT_WINDOW = timedelta(minutes=30)
MAX_EDITS = 5


def is_edit_eligible(tweet: Tweet) -> bool:
    """Whether X lets the post be edited at all: not when it replies to another account's post or has a poll."""
    return tweet.poll is None and tweet.in_reply_to_user_id in (None, tweet.author_id)


def edits_made(tweet: Tweet) -> int:
    """How many times the chain the post belongs to was edited."""
    return len(tweet.edit_history) - 1


def editable_until(original: Tweet) -> datetime:
    """The end of the edit window, which runs from the original version, not from the latest edit."""
    return original.created_at + EDIT_WINDOW


def edit_controls(tweet: Tweet, original: Tweet) -> dict[str, Any]:
    """The `edit_controls` field: the same for every version of a chain."""
    return {
        "edits_remaining": MAX_EDITS - edits_made(tweet),
        "is_edit_eligible": is_edit_eligible(tweet),
        "editable_until": iso(editable_until(original)),
    }


def refusal(tweet: Tweet, original: Tweet, now: datetime) -> str | None:
    """Why X would not let this post (of the chain that `original` began) be edited now, or None if it would."""
    if tweet.deleted:
        return f"no post {tweet.id} to edit"
    if not tweet.is_latest:
        return f"post {tweet.id} is not the latest version of its edit chain; edit {tweet.edit_history[-1]} instead"
    if tweet.poll is not None:
        return f"post {tweet.id} has a poll, and X does not let posts with polls be edited"
    if not is_edit_eligible(tweet):
        return f"post {tweet.id} replies to another account's post, and X does not let such replies be edited"
    if edits_made(tweet) >= MAX_EDITS:
        return f"post {tweet.id} was already edited {MAX_EDITS} times, the most X allows"
    if now > editable_until(original):
        return (
            f"post {tweet.id} could be edited until {iso(editable_until(original))} (30 minutes after the "
            f"original), and the sandbox clock says {iso(now)}"
        )
    return None


def edited(tweet: Tweet, text: str, new_id: str, when: datetime) -> Tweet:
    """The new version: new id, text and time; author, conversation, reply target, quote and media kept."""
    return replace(
        tweet,
        id=new_id,
        typed_text=text,
        created_at=when,
        lang=derive.language(text),
        composed=None,
        note=None,
        is_long=False,
        edit_history=(*tweet.edit_history, new_id),
    )
