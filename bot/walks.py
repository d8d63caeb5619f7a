"""Past recent search's window, without full archive: an old thread followed past its last post found by reading
its author's timeline (GET /2/users/:id/tweets), span after span (`UNROLL_OLD_THREAD_HOURS`) while each finds a
post of the thread. Search cannot see those posts, and the climb reads only up from the summoned post: without
this, a thread summoned under its first post (or mid-way) stopped there.

Cost: every post of the author's in a span is billed, the thread's or not (the timeline has no filter of the
conversation), so a span ends `UNROLL_OLD_THREAD_HOURS` after the thread's newest post found, spans never overlap
(no post read twice), and the walk stops at recent search's window (the thread's search reads what is in it) or
after `UNROLL_OLD_THREAD_PAGES` pages. X gives only an author's latest 3,200 posts: a thread further back than
that is found as before, up from the summoned post."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import structlog

from bot.climbs import Climbs
from bot.errors import InvalidRequest, NotAllowed, NotFound, UserUnavailable
from bot.models import Author
from bot.store import Store
from bot.tweettext import snowflake_time
from bot.window import RECENT_WINDOW, WINDOW_MARGIN
from bot.xapi import XApi

log = structlog.get_logger(__name__)

TIMELINES_REFUSED_FOR = 3600.0  # seconds users' timelines are not asked for again after X refused the app them
SECOND = timedelta(seconds=1)


def timelines_refused(api: XApi, store: Store) -> bool:
    """Whether X refused the app users' timelines lately (`TIMELINES_REFUSED_FOR`): this process, or another (a
    `run --once` before this one) that noted it in Redis."""
    refused = api.timelines_refused_at
    if refused is not None and time.monotonic() - refused < TIMELINES_REFUSED_FOR:
        return True
    if store.refused("timelines"):
        api.timelines_refused_at = time.monotonic()
        return True
    return False


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


class Walks(Climbs):
    """An old thread's author's timeline, read after its newest post found."""

    def follow_old_thread(self, root_id: str, author_id: str, target: str, *, since: datetime | None = None) -> bool:
        """Read the author's posts after the thread's newest post found, when that post is older than recent
        search's window; `since`: a stored copy read whole then (`refresh`): only what it could not see, from that
        time on. Sets `walked` when the walk ran to its end (the page need not say it may stop early). Whether it
        found posts of the thread: the caller connects and assembles them."""
        posts = [
            t.id for t in self.thread(root_id, Author(id=author_id, username=""), target, complete=False).every_tweet
        ]
        if not posts or self.in_window(newest := max(posts, key=int)):
            return False
        hours = self.settings.old_thread_hours
        if hours <= 0 or timelines_refused(self.fetched.api, self.store):
            return False
        span = timedelta(hours=hours)
        limit = (
            whole_second(self.now - RECENT_WINDOW + WINDOW_MARGIN) - SECOND
        )  # the thread's search reads on from here
        anchor = snowflake_time(newest)
        since_id: str | None = newest
        start: datetime | None = None
        if since is not None and since > anchor:
            since_id, start = None, whole_second(since)
        pages = self.settings.old_thread_pages
        conversations = {self.conv or root_id, root_id}
        found = False
        while True:
            end = min(whole_second(anchor + span), limit)
            if (start or anchor) >= end:
                self.walked = True
                return found
            try:
                kept, used, more = self.fetched.timeline(
                    author_id, conversations, since_id=since_id, start_time=start, end_time=end, pages=pages
                )
            except UserUnavailable as exc:
                log.info("old_thread_not_followed", author_id=author_id, error=str(exc))
                return found
            except (NotAllowed, NotFound, InvalidRequest) as exc:
                self.fetched.api.timelines_refused_at = time.monotonic()
                self.store.note_refused("timelines", TIMELINES_REFUSED_FOR)  # for every process
                log.error(
                    "user_timeline_refused",
                    error=str(exc),
                    effect="threads older than 7 days stop at the summoned post",
                    fix="set UNROLL_OLD_THREAD_HOURS=0, or UNROLL_FULL_ARCHIVE=true with full-archive access",
                    asked_again_in=TIMELINES_REFUSED_FOR,
                )
                return found
            pages -= used
            own = [t for t in kept if t.author_id == author_id]
            found = found or bool(own)
            if more:
                return found  # pages spent before the span's end: the page says it may stop early
            if end >= limit or not own:
                self.walked = True
                return found
            anchor = max(snowflake_time(t.id) for t in own)
            since_id, start = None, end + SECOND

    def connect_walked(self, root_id: str, author_id: str, target: str) -> None:
        """The posts a walk found, connected as the thread's search's are: a missing link asked for alone (the
        author's posts around it were read), the readers' replies the author answered and went on from read."""
        self.climb(root_id, author_id, target, follow_target=False, connect=True, links_alone=True)
        self.read_answered_reply(root_id, author_id, target)
