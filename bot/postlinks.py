"""Links to posts on X: the post id a status link (x.com, twitter.com and their mirrors) or a bare id names (pure).
The site's form takes one pasted; a mention that neither replies to nor quotes a post may carry one."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.apimodels import ApiTweet

_POST_URL = re.compile(
    r"(?:https?://)?(?:(?:www|mobile|m)\.)?(?:x|twitter|fxtwitter|vxtwitter|fixupx)\.com"
    r"/(?P<handle>[A-Za-z0-9_]{1,15}|i(?:/web)?)/status(?:es)?/(?P<id>[0-9]{1,25})(?:[/?#].*)?",
    re.IGNORECASE,
)
TWEET_ID = re.compile(r"[0-9]{1,25}")
MAX_POST_ID = 2**63 - 1


def parse_tweet_id(text: str) -> str | None:
    """The post id in a pasted x.com / twitter.com status link or a bare id, else None: one X could have given (a
    snowflake, from 1 to 2⁶³−1: https://docs.x.com/resources/fundamentals/x-ids), or asking X would only fail,
    again and again, into the dead letters."""
    text = text.strip()
    match = TWEET_ID.fullmatch(text) or _POST_URL.fullmatch(text)
    if not match:
        return None
    found = match.group("id") if match.re is _POST_URL else match.group(0)
    return found if 0 < int(found) <= MAX_POST_ID else None


def _expanded_urls(tweet: ApiTweet) -> Iterator[str]:
    """The expanded URLs of a tweet's links, the long text's first (`note_tweet`)."""
    for entity in (tweet.note_tweet.entities if tweet.note_tweet else None, tweet.entities):
        for url in entity.urls if entity else []:
            if url.expanded_url:
                yield url.expanded_url


def linked_post(tweet: ApiTweet) -> str | None:
    """The first post a tweet links to (its links' expanded URLs, the long text's first), other than itself: for
    "@bot unroll https://x.com/author/status/…" posted on its own, which neither replies to nor quotes it."""
    for url in _expanded_urls(tweet):
        found = parse_tweet_id(url)
        if found and found != tweet.id:
            return found
    return None


def linked_handle(tweet: ApiTweet, post_id: str) -> str | None:
    """The handle a tweet's link to `post_id` names (x.com/<handle>/status/<id>, lowercased), if it links to it by
    one: a quote carries the quoted post's link too, as X gives it. None without such a link, or by `i/status`."""
    for url in _expanded_urls(tweet):
        match = _POST_URL.fullmatch(url.strip())
        if match and match.group("id") == post_id and match.group("handle").lower() not in ("i", "i/web"):
            return match.group("handle").lower()
    return None
