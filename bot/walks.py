"""Past recent search's window, without full archive: an old thread followed past its last post found by reading
its author's timeline (GET /2/users/:id/tweets), span after span (`UNROLL_OLD_THREAD_HOURS`) while each finds a
post of the thread. Search cannot see those posts, and the climb reads only up from the summoned post: without
this, a thread summoned under its first post (or mid-way) stopped there.

Cost: every post of the author's in a span is billed, the thread's or not (the timeline has no filter of the
conversation), so a span ends `UNROLL_OLD_THREAD_HOURS` after the thread's newest post found, spans never overlap
(no post read twice), and the walk stops at recent search's window (the thread's search reads what is in it) or
after `UNROLL_OLD_THREAD_PAGES` pages. X gives a timeline newest first: a span of more than a page (a prolific
author) is read from the thread's side first (`Ahead`), so the cap cuts the hours furthest from the thread. A
thread whose author paused longer than a span is followed only to the pause. X gives only an author's latest 3,200
posts: when a walk finds nothing, the thread's newest post is asked for alone (+1 request, +1 post read again), so
that a thread beyond that reach is told from one that ended, and its page still says it may stop early.

X counts each post's replies (`public_metrics.reply_count`, read with it): a thread none of whose posts found has a
reply but those read (the next post, the summon under the last) has no post left to find, so after the first read
(an hour, `FIRST_READ`) the walk ends there (`may_go_on`). The first is read whatever the counts say: what answered
a post of the thread since deleted is in no count, and is most often posted within the hour. Counts that disagree
with what was read (zeros where the thread's own posts reply), an edited post's (each version has its own), and
any when a post read is gone are not taken. A reader's reply to any post of the thread keeps the walk going: the
count cannot tell it from the author's.

The same timeline reads what a deleted post cut off in an old thread: the climb from the summoned post stops at
it, and the author's posts between the post before the gap and the one after it come from one page (each read
once), so the page goes on over the gap instead of leaving out the posts above it."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import NamedTuple

import structlog

from bot.climbs import Climbs
from bot.errors import InvalidRequest, NotAllowed, NotFound, UserUnavailable
from bot.models import Author, ThreadTweet
from bot.refusals import REFUSED_FOR, note_refusal, refused
from bot.tweettext import snowflake_time
from bot.window import RECENT_WINDOW, WINDOW_MARGIN

log = structlog.get_logger(__name__)

# What X answers an app it does not give users' timelines: 403 (its access level), 404 (an API without the endpoint),
# 400 (parameters it does not take there).
TIMELINE_REFUSALS = (NotAllowed, NotFound, InvalidRequest)
SECOND = timedelta(seconds=1)
# The walk's first read: most threads are posted within minutes, and X's reply counts then tell that the thread
# ended (`may_go_on`), so the author's posts of the rest of the span need not be read (and billed); when they do
# not, the next reads are sized from how fast the author posted (`PAGE_FILL`).
FIRST_READ = timedelta(hours=1)
# Posts a read is sized to hold, from how fast the author posted in the last: most of a page (100), as a read that
# overflows leaves its oldest few posts to a request of their own.
PAGE_FILL = 85
TIMELINE_REACH = 3200  # the latest posts of a user X's timeline gives (https://docs.x.com/x-api/posts/timelines)


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


class Edge(NamedTuple):
    """An end of a timeline read: a post's id (exclusive: `since_id`, `until_id`) or a whole second (inclusive:
    `start_time`, `end_time`)."""

    id: str | None
    time: datetime | None

    @property
    def moment(self) -> datetime:
        if self.id is not None:
            return snowflake_time(self.id)
        assert self.time is not None
        return self.time


class Ahead(NamedTuple):
    """A timeline page read ahead of the walk: every post of the author's from `oldest` to `upper` (whole second,
    inclusive) was read."""

    oldest: str
    upper: datetime


def upper_edge(lower: Edge, length: timedelta, ahead: str | None, end: datetime, limit: datetime) -> Edge:
    """Where the read from `lower` stops: `length` on, but never past the page read ahead (just before its oldest
    post, `ahead`), the span's `end` or recent search's window (`limit`)."""
    stop = whole_second(lower.moment + length)
    if ahead is not None:
        return Edge(None, stop) if stop < whole_second(snowflake_time(ahead)) else Edge(ahead, None)
    return Edge(None, min(stop, end, limit))


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
        posts = [t.id for t in chain.every_tweet]
        summoned = self.fetched.get(target)
        if summoned is not None and summoned.author_id == author_id and summoned.id not in posts:
            # The author's answer to a reader, summoned: whether they went on from it (a detour, the thread through
            # it) is for the walk to tell, from after it, not from the chain's end hours before.
            posts.append(summoned.id)
        # After the thread's newest post found as first written: a post edited later is newer than the posts that
        # answered it before the edit.
        newest = max((self.first_version(post) for post in posts), key=int, default=None)
        after = newest if newest is not None and not self.in_window(newest) else None
        gaps = self.gaps_between(chain.tweets)  # (in the old part of a thread that went on into the window, too)
        # Asked of Redis (another process's refusal) only when there is something to read.
        if (after is None and not gaps) or refused(self.fetched.api, self.store, "timelines"):
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
                ).kept
                for before, gap_end in gaps
            ]
            # A lone post quoting another (someone's "this 🧵"): its summons want the quoted thread, which a busy
            # quoter's timeline must not starve of the request's pages; one page tells whether they went on.
            lone = self.fetched.get(posts[0]) if len(posts) == 1 else None
            cap = 1 if lone is not None and lone.referenced("quoted") is not None else self.settings.old_thread_pages
            walked = after is not None and self.walk(author_id, conversations, after, since, posts, cap)
            read = walked or any(across)
        except UserUnavailable as exc:
            log.info("old_thread_not_followed", author_id=author_id, error=str(exc))
        except TIMELINE_REFUSALS as exc:
            note_refusal(self.fetched.api, self.store, "timelines")  # for every process
            log.error(
                "user_timeline_refused",
                error=str(exc),
                effect="threads older than 7 days stop at the summoned post",
                fix="set UNROLL_OLD_THREAD_HOURS=0, or UNROLL_FULL_ARCHIVE=true with full-archive access",
                asked_again_in=REFUSED_FOR,
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

    def first_version(self, post_id: str) -> str:
        """The id a post had as first written (an edit is a new post, its earlier versions in its history)."""
        return min(self.versions(post_id), key=int)

    def walk(
        self,
        author_id: str,
        conversations: set[str],
        newest: str,
        since: datetime | None,
        posts: list[str],
        cap: int,
    ) -> bool:
        """The author's timeline after `newest` (from `since` when given) to a span after the newest post of the
        thread found, until recent search's window or the page cap; whether it found posts.

        One page per read (`cap` pages in all), the oldest side first: the first an hour long (`FIRST_READ`), each
        next one as long as a page of the author's posts took in the last (the rest of the span when it held
        none). X gives a timeline newest first, so a read that finds more than a page (a prolific author) keeps
        that page as read ahead (`Ahead`) and reads what lies before it, whole when that page's pace says it is
        less than a read, else half by half; once the first hour is read, it skips it when no post of the thread
        made before that page has a reply not read. The page cap then cuts the far end of the walk, not the
        minutes after the thread's last post found, where the rest of it is; no post is read twice. Once the
        first hour is read (its pages read ahead too), the walk ends as soon as X's reply counts say no post of
        the thread is left to find (`may_go_on`): that hour is read whatever they say, as what answered a post of
        the thread since deleted (in no count) is most often in it."""
        span = timedelta(hours=self.settings.old_thread_hours)
        # The thread's search reads on from the window's start: the walk stops a second before it.
        limit = whole_second(self.now - RECENT_WINDOW + WINDOW_MARGIN) - SECOND
        last = newest  # the thread's newest post found: the span runs to `span` after it

        def span_end() -> datetime:
            return whole_second(snowflake_time(last) + span)

        lower = Edge(newest, None)
        if since is not None and since > snowflake_time(newest):
            lower = Edge(None, whole_second(since))
        ahead: list[Ahead] = []  # pages read ahead of `lower`, the nearest last
        length, pages, found = min(span, FIRST_READ), cap, False
        first_end = whole_second(lower.moment + length)  # read whole whatever X's counts say (with what it reads ahead)
        reach_asked = False  # whether `within_reach` was asked (and said yes)
        while (ahead or min(span_end(), limit) > lower.moment) and (lower.moment <= first_end or self.may_go_on(posts)):
            if ahead and lower.moment > first_end and not self.may_go_on(posts, before=ahead[-1].oldest):
                # No post of the thread before the page read ahead has a reply not read: what lies between holds
                # none of the thread (each would answer one of them), and the walk goes on after that page.
                lower = Edge(None, ahead.pop().upper + SECOND)
                continue
            if pages <= 0:
                return found  # pages spent before the span's end: the page says it may stop early
            upper = upper_edge(lower, length, ahead[-1].oldest if ahead else None, span_end(), limit)
            read = self.fetched.timeline(
                author_id,
                conversations,
                since_id=lower.id,
                start_time=lower.time,
                until_id=upper.id,
                end_time=upper.time,
                pages=pages,
                until_posts=True,  # (a page may come empty with a next_token: X pages on)
            )
            pages -= read.pages
            if read.more and read.oldest is None:
                return found  # pages spent on empty pages X said more follow: the page says it may stop early
            empty = not found and not read.held and not read.more and not ahead
            if empty and not reach_asked and self.prolific(author_id):
                # Nothing after the thread's newest post found, an hour on, by an author of more posts than the
                # timeline reaches: it may no longer reach the thread. Asked now, before spans later still are read
                # (and billed) for nothing.
                if not self.within_reach(author_id, newest):
                    log.info("old_thread_beyond_timeline_reach", author_id=author_id, post=newest)
                    return False
                reach_asked = True
            own = [t.id for t in read.kept if t.author_id == author_id]
            last, posts, found = max([last, *own], key=int), [*posts, *own], found or bool(own)
            if read.more:
                assert read.oldest is not None and read.newest is not None  # (an empty page returned above)
                # Posts before this page's oldest are not read yet: read ahead. What is left before it is read whole
                # next when, at this page's pace, it holds less than a read; else half of it (the page may be a
                # burst of the author's, far from the thread: its pace says nothing of the hours between), halved
                # again while it holds more than a page.
                oldest = snowflake_time(read.oldest)
                left, page_took = oldest - lower.moment, snowflake_time(read.newest) - oldest
                whole = left * read.held <= page_took * PAGE_FILL
                length = max(SECOND, left + SECOND if whole else left / 2)
                if upper.id is not None:
                    ahead[-1] = Ahead(read.oldest, ahead[-1].upper)  # (the page reached the one read ahead)
                else:
                    assert upper.time is not None
                    ahead.append(Ahead(read.oldest, upper.time))
                continue
            # Next, as long as a page of the author's posts took here (the rest of the span when none came).
            took = (upper.moment if upper.id is not None else upper.moment + SECOND) - lower.moment
            length = span if not read.held else min(span, max(SECOND, took * (PAGE_FILL / read.held)))
            lower = Edge(None, (ahead.pop().upper if upper.id is not None else upper.time or limit) + SECOND)
        if not found and pages < cap and not reach_asked and not self.within_reach(author_id, newest):
            log.info("old_thread_beyond_timeline_reach", author_id=author_id, post=newest)
            return False
        self.walked = True
        return found

    def may_go_on(self, posts: list[str], *, before: str | None = None) -> bool:
        """Whether the thread of `posts` (those found) may have a post not read yet: X counts a post's replies
        (`public_metrics.reply_count`), and a post of the thread not read replies to one of them (it or a post
        above it not read either), which then counts a reply more than those read (the next post, the summon).
        Counts that `reply_counts` does not take say nothing: it may. X gives each version of an edited post its
        own, and the replies to its earlier versions are not in the latest's: when only those are missing, the
        earlier versions are read for theirs (one request, those posts), where the timeline would bill a day.
        `before`: whether any post made before that one may have one, i.e. whether the unread posts before it
        may hold one of the thread's."""
        taken = self.reply_counts()
        if taken is None:
            return True
        counts, replies = taken
        if before is not None:  # only the posts made before it
            posts = [post for post in posts if int(self.first_version(post)) < int(before)]
        versions = [version for post in posts for version in self.versions(post)]
        if any(counts.get(v, 0) > len(replies.get(v, ())) for v in versions):
            return True
        unread = [v for v in dict.fromkeys(versions) if v not in counts]
        if not unread:
            return False
        if self.versions_read or not all(v in self.fetched.latest for v in unread):
            return True  # (posts read without counts: a stored copy's, say)
        self.versions_read = True
        self.fetched.absorb(self.fetched.api.lookup(unread, referenced=False, bare=True))
        return self.may_go_on(posts, before=before)

    def versions(self, post_id: str) -> list[str]:
        """Every version's id of a post read (its own alone unless it was edited)."""
        tweet = self.fetched.get(post_id)
        return list(tweet.edit_history_tweet_ids) if tweet is not None and tweet.edit_history_tweet_ids else [post_id]

    def reply_counts(self) -> tuple[dict[str, int], dict[str, set[str]]] | None:
        """X's reply count of each post read, and the replies read of each post (the summon's among them); None
        unless the counts agree with what was read: every post read whose replies were read counts at least
        those, one such post at least (placeholder zeros, a proxy's, and answers without them are not taken)."""
        read = [*self.fetched.tweets.values(), *self.fetched.earlier.values()]
        replies: dict[str, set[str]] = {}
        for tweet in read:
            if tweet.replied_to is not None:  # (a reply edited is one reply: its versions, one post)
                replies.setdefault(tweet.replied_to, set()).add(self.fetched.canon(tweet.id))
        if self.request is not None and self.request.replied_to_id is not None:
            replies.setdefault(self.request.replied_to_id, set()).add(self.request.mention_id)
        counts = {
            t.id: t.public_metrics.reply_count
            for t in read
            if t.public_metrics is not None and t.public_metrics.reply_count is not None
        }
        checked = [post for post in replies if post in counts]
        if not checked or any(counts[post] < len(replies[post]) for post in checked):
            return None
        return counts, replies

    def posts_made(self, author_id: str) -> int | None:
        """How many posts the author has made in all (`public_metrics`, read with them); None when not known."""
        user = self.fetched.users.get(author_id)
        return user.public_metrics.tweet_count if user is not None and user.public_metrics is not None else None

    def prolific(self, author_id: str) -> bool:
        """Whether the author is known to have made more posts than X's timeline reaches (their latest 3,200)."""
        made = self.posts_made(author_id)
        return made is not None and made > TIMELINE_REACH

    def within_reach(self, author_id: str, post_id: str) -> bool:
        """Whether the author's timeline still reaches `post_id` (X gives only their latest 3,200 posts, retweets
        counted): a span that found nothing says as much of a thread that ended as of one beyond reach. An author
        of 3,200 posts or fewer in all (`posts_made`) is within it; else that post is asked for alone, within its
        own second, at the price of the post read again."""
        made = self.posts_made(author_id)
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
