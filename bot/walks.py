"""Past recent search's window, without full archive: an old thread followed past its last post found by reading
its author's timeline (GET /2/users/:id/tweets), span after span (`UNROLL_OLD_THREAD_HOURS`) while each finds a
post of the thread. Search cannot see those posts, and the climb reads only up from the summoned post: without
this, a thread summoned under its first post (or mid-way) stopped there.

Cost: every post of the author's in a span is billed, the thread's or not (the timeline has no filter of the
conversation), so a span ends `UNROLL_OLD_THREAD_HOURS` after the thread's newest post found, spans never overlap
(no post read twice), and the walk stops at recent search's window (the thread's search reads what is in it) or
after `UNROLL_OLD_THREAD_PAGES` pages. A thread whose author paused longer than a span is followed only to the
pause. X gives only an author's latest 3,200 posts: when a walk finds nothing, the thread's newest post is asked
for alone (+1 request, +1 post read again), so that a thread beyond that reach is told from one that ended, and
its page still says it may stop early.

The same timeline reads what a deleted post cut off in an old thread: the climb from the summoned post stops at
it, and the author's posts between the post before the gap and the one after it come from one page (each read
once), so the page goes on over the gap instead of leaving out the posts above it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from itertools import pairwise

import structlog

from bot.climbs import Climbs
from bot.errors import InvalidRequest, NotAllowed, NotFound, UserUnavailable
from bot.models import Author, ThreadTweet
from bot.store import Store
from bot.tweettext import snowflake_time
from bot.window import RECENT_WINDOW, WINDOW_MARGIN
from bot.xapi import XApi

log = structlog.get_logger(__name__)

# What X answers an app it does not give users' timelines: 403 (its access level), 404 (an API without the endpoint),
# 400 (parameters it does not take there).
TIMELINE_REFUSALS = (NotAllowed, NotFound, InvalidRequest)
TIMELINES_REFUSED_FOR = 3600.0  # seconds users' timelines are not asked for again after X refused the app them
SECOND = timedelta(seconds=1)
TIMELINE_REACH = 3200  # the latest posts of a user X's timeline gives (https://docs.x.com/x-api/posts/timelines)


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
    """An old thread's author's timeline, read after its newest post found, and across a gap the climb met."""

    def follow_old_thread(self, root_id: str, author_id: str, target: str, *, since: datetime | None = None) -> None:
        """Read the author's posts after the thread's newest post found, when that post is older than recent
        search's window, and between the posts around a gap the climb met there; `since`: a stored copy read whole
        then (`refresh`): only what it could not see, from that time on. Sets `walked` when the walk ran to its
        end (the page need not say it may stop early); what it read is connected (`connect_walked`)."""
        if self.settings.old_thread_hours <= 0:
            return
        chain = self.thread(root_id, Author(id=author_id, username=""), target, complete=False)
        newest = max((t.id for t in chain.every_tweet), key=int, default=None)
        after = newest if newest is not None and not self.in_window(newest) else None
        gaps = self.gaps_between(chain.tweets)  # (in the old part of a thread that went on into the window, too)
        # Asked of Redis (another process's refusal) only when there is something to read.
        if (after is None and not gaps) or timelines_refused(self.fetched.api, self.store):
            return
        conversations = {self.conv or root_id, root_id}
        read = True  # whatever was read before a refusal is connected all the same
        try:
            across = [
                self.fetched.timeline(
                    author_id,
                    conversations,
                    since_id=before,
                    start_time=None,
                    end_time=None,
                    until_id=gap_end,
                    pages=self.settings.old_thread_pages,
                )[0]
                for before, gap_end in gaps
            ]
            read = (after is not None and self.walk(author_id, conversations, after, since)) or any(across)
        except UserUnavailable as exc:
            log.info("old_thread_not_followed", author_id=author_id, error=str(exc))
        except TIMELINE_REFUSALS as exc:
            self.fetched.api.timelines_refused_at = time.monotonic()
            self.store.note_refused("timelines", TIMELINES_REFUSED_FOR)  # for every process
            log.error(
                "user_timeline_refused",
                error=str(exc),
                effect="threads older than 7 days stop at the summoned post",
                fix="set UNROLL_OLD_THREAD_HOURS=0, or UNROLL_FULL_ARCHIVE=true with full-archive access",
                asked_again_in=TIMELINES_REFUSED_FOR,
            )
        if read:
            self.connect_walked(root_id, author_id, target)

    def gaps_between(self, tweets: list[ThreadTweet]) -> list[tuple[str, str]]:
        """The old posts of the chain that follow a post X said is gone (deleted, out of sight), each with the post
        before it on the page: the author's posts between them were out of the climb's reach."""
        problems = self.fetched.problems
        return [
            (before.id, after.id)
            for before, after in pairwise(tweets)
            if after.replied_to not in (None, before.id)
            and after.replied_to in problems
            and not self.in_window(after.id)
        ]

    def walk(self, author_id: str, conversations: set[str], newest: str, since: datetime | None) -> bool:
        """The spans after `newest` (from `since` when given), each to a span after the newest post of the thread
        found, until one finds none, recent search's window or the page cap; whether it found posts."""
        span = timedelta(hours=self.settings.old_thread_hours)
        # The thread's search reads on from the window's start: the walk stops a second before it.
        limit = whole_second(self.now - RECENT_WINDOW + WINDOW_MARGIN) - SECOND
        anchor = snowflake_time(newest)
        since_id: str | None = newest
        start: datetime | None = None
        if since is not None and since > anchor:
            since_id, start = None, whole_second(since)
        pages = self.settings.old_thread_pages
        found = False
        while (end := min(whole_second(anchor + span), limit)) > (start or anchor):
            kept, used, more = self.fetched.timeline(
                author_id, conversations, since_id=since_id, start_time=start, end_time=end, pages=pages
            )
            pages -= used
            own = [t for t in kept if t.author_id == author_id]
            if more:
                return found or bool(own)  # pages spent before the span's end: the page says it may stop early
            if not own and not found and not self.within_reach(author_id, newest):
                log.info("old_thread_beyond_timeline_reach", author_id=author_id, post=newest)
                return False
            found = found or bool(own)
            if end >= limit or not own:
                break
            anchor = max(snowflake_time(t.id) for t in own)
            since_id, start = None, end + SECOND
        self.walked = True
        return found

    def within_reach(self, author_id: str, post_id: str) -> bool:
        """Whether the author's timeline still reaches `post_id` (X gives only their latest 3,200 posts, retweets
        counted): a span that found nothing says as much of a thread that ended as of one beyond reach. An author
        of 3,200 posts or fewer in all (`public_metrics`, read with them) is within it; else that post is asked
        for alone, within its own second, at the price of the post read again."""
        user = self.fetched.users.get(author_id)
        made = user.public_metrics.tweet_count if user is not None and user.public_metrics is not None else None
        if made is not None and made <= TIMELINE_REACH:
            return True
        when = whole_second(snowflake_time(post_id))
        page = self.fetched.api.user_posts(author_id, since_id=str(int(post_id) - 1), end_time=when, max_results=5)
        return any(t.id == post_id or post_id in t.edit_history_tweet_ids for t in page.data)

    def connect_walked(self, root_id: str, author_id: str, target: str) -> None:
        """The posts a walk found, connected as the thread's search's are: a missing link asked for alone (the
        author's posts around it were read), the readers' replies the author answered and went on from read."""
        self.climb(root_id, author_id, target, follow_target=False, connect=True, links_alone=True)
        self.read_answered_reply(root_id, author_id, target)
