"""X's search windows, told from a post's snowflake id alone (https://docs.x.com/resources/fundamentals/x-ids)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.tweettext import snowflake_time

RECENT_WINDOW = timedelta(days=7)  # https://docs.x.com/x-api/posts/search/introduction
ARCHIVE_DEFAULT = timedelta(days=30) - timedelta(minutes=5)  # full-archive search without start_time, less a margin
WINDOW_MARGIN = timedelta(minutes=5)  # clock skew, and the time the resolution itself takes


def in_recent_window(tweet_id: str, now: datetime) -> bool:
    """Whether recent search still finds this tweet (and takes it as since_id), from its snowflake id alone."""
    return snowflake_time(tweet_id) > now - RECENT_WINDOW + WINDOW_MARGIN
