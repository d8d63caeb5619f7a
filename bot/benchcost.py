"""Measure 1, API cost: requests, posts read and US dollars per handled mention over a fixed mix, against the bound.

The bounds are the resolver's (bot/resolver.py docstring), plus what every mention costs whatever the
thread: its share of the mentions page (1 request per 100 mentions polled), one mention read, its author read
(a user: who to answer), and one reply with a link (a post with a URL); a thread's author is read once a UTC
day (X bills a resource once a day). What the bot spent is what the sandbox billed (its request counter and read
meters), not the bot's own meter, so a miscount in the bot cannot hide a cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from bot.benchtable import AT_MOST_BOUND, Row
from bot.benchworld import add_mentions, add_thread
from bot.processes import run_once
from bot.runtime import Bot
from bot.sandbox import SandboxServer
from config.settings import Settings

log = structlog.get_logger(__name__)

RECENT_PAGE = 100  # recent search: posts per page
MENTIONS_PAGE = 100  # mentions timeline: posts per page
CONTINUED_BY = 3  # posts added to a thread after it was unrolled
OLD_AGE = timedelta(days=10)  # older than recent search's 7 days


@dataclass(frozen=True)
class Spend:
    """What a piece of work cost on X, in the units X bills."""

    requests: float
    posts_read: float
    mention_reads: float
    posts_with_url: float
    plain_posts: float = 0.0
    user_reads: float = 0.0

    def dollars(self, settings: Settings) -> float:
        return (
            self.posts_read * settings.price_post_read
            + self.mention_reads * settings.price_mention_read
            + self.user_reads * settings.price_user_read
            + self.posts_with_url * settings.price_post_with_url
            + self.plain_posts * settings.price_post_write
        )

    def per(self, mentions: int) -> Spend:
        return Spend(
            self.requests / mentions,
            self.posts_read / mentions,
            self.mention_reads / mentions,
            self.posts_with_url / mentions,
            self.plain_posts / mentions,
            self.user_reads / mentions,
        )


def answered(mentions: int, resolve_requests: int, posts_read: int, *, authors: int = 1) -> Spend:
    """The bound for one poll of `mentions` mentions of one thread: the poll, one resolution, a reply each;
    users: each mention's author, and the thread's (`authors`: 0 when read earlier the same UTC day)."""
    pages = max(1, math.ceil(mentions / MENTIONS_PAGE))
    return Spend(pages + resolve_requests + mentions, posts_read, mentions, mentions, user_reads=mentions + authors)


def new_recent(size: int) -> tuple[int, int]:
    """Requests and posts read to resolve a new thread of `size` posts inside the search window."""
    return 1 + max(1, math.ceil((size - 1) / RECENT_PAGE)), size


def stored_continued(added: int) -> tuple[int, int]:
    """Requests and posts read to refresh a stored thread that got `added` posts since."""
    return max(1, math.ceil(added / RECENT_PAGE)), added


def older_than_window(depth: int) -> tuple[int, int]:
    """Requests and posts read for a thread older than the window, the mention under the post at `depth`:
    one search, ⌈depth/2⌉ lookups (the floor knowing the depth; the resolver, which does not, takes one
    more for an even depth rather than read the root twice), and one page of the author's timeline in the hour
    after the summoned post: only it tells whether the thread went on (a deleted post's answers are in no reply
    count; the bench's author posted nothing since, and X's counts then end the walk)."""
    return 3 + math.ceil(max(depth - 2, 0) / 2), depth + 1


@dataclass(frozen=True)
class Case:
    """One situation of the mix: how to set it up, how many mentions it answers, and its bound."""

    name: str
    setup: Callable[[SandboxServer, Bot], int]  # builds the world; returns how many mentions were added
    bound: Spend


def _new_thread(size: int, author: str, readers: int = 1) -> Callable[[SandboxServer, Bot], int]:
    def setup(sandbox: SandboxServer, bot: Bot) -> int:
        ids = add_thread(sandbox.world, author, size)
        return len(add_mentions(sandbox.world, ids[-1], [f"{author[:8]}_r{i}" for i in range(readers)]))

    return setup


def _continued(sandbox: SandboxServer, bot: Bot) -> int:
    """A thread unrolled before (long enough ago to be asked again), then continued by its author."""
    world = sandbox.world
    ids = add_thread(world, "continued", 12)
    add_mentions(world, ids[-1], ["early_reader"])
    run_once(bot)
    stored = bot.store.get_thread(ids[0])
    if stored is None:
        raise RuntimeError("the thread to continue was not stored by the first unroll")
    stale = stored.fetched_at - timedelta(minutes=10)  # past the resolver's FRESH_FOR
    bot.store.save_thread(stored.model_copy(update={"fetched_at": stale}))
    for _ in range(CONTINUED_BY):
        ids.append(world.add_tweet("continued", "And one more thing, added later.", reply_to=ids[-1]).id)
    return len(add_mentions(world, ids[-1], ["late_reader"]))


def _old(sandbox: SandboxServer, bot: Bot) -> int:
    ids = add_thread(sandbox.world, "archivist", 12, age=OLD_AGE)
    return len(add_mentions(sandbox.world, ids[-1], ["old_reader"]))


def mix() -> list[Case]:
    """The fixed mix of issue 8."""
    return [
        Case("new 12-post thread", _new_thread(12, "short_author"), answered(1, *new_recent(12))),
        Case("new 250-post thread", _new_thread(250, "long_author"), answered(1, *new_recent(250))),
        Case(
            "unrolled before, since continued",
            _continued,
            answered(1, *stored_continued(CONTINUED_BY), authors=0),  # its author was read by the first unroll
        ),
        Case("10 mentions of one thread, one poll", _new_thread(12, "popular", 10), answered(10, *new_recent(12))),
        Case("older than the search window", _old, answered(1, *older_than_window(11))),
    ]


def spent(sandbox: SandboxServer, bot: Bot) -> tuple[Spend, int]:
    """Poll once and drain, as `run --once` does; what the sandbox billed for it and how many were handled."""
    world = sandbox.world
    before, posted_before = world.snapshot_stats(), len(world.posted())
    with bot.api.metered() as usage:
        handled = run_once(bot)
    after, replies = world.snapshot_stats(), world.posted()[posted_before:]
    requests = sum(sum(c.values()) for c in after.requests.values()) - sum(
        sum(c.values()) for c in before.requests.values()
    )
    with_url = sum(1 for reply in replies if "http" in reply.text)
    spend = Spend(
        requests,
        after.post_reads - before.post_reads,
        after.mention_reads - before.mention_reads,
        with_url,
        len(replies) - with_url,
        after.user_reads - before.user_reads,
    )
    if (usage.requests, usage.tweets_read, usage.mentions_read) != (requests, spend.posts_read, spend.mention_reads):
        log.warning(
            "bench_meter_disagrees",
            bot=[usage.requests, usage.tweets_read, usage.mentions_read],
            sandbox=[requests, spend.posts_read, spend.mention_reads],
        )
    return spend, handled


def measure_cost(sandbox: SandboxServer, bot: Bot) -> list[Row]:
    """The cost rows: each case of the mix polled and answered on its own, then the mix as a whole."""
    rows: list[Row] = []
    total, total_bound, mentions = 0.0, 0.0, 0
    settings = bot.settings
    for case in mix():
        added = case.setup(sandbox, bot)
        spend, handled = spent(sandbox, bot)
        if handled != added:
            raise RuntimeError(f"{case.name}: {added} mention(s) added but {handled} handled")
        actual, bound = spend.per(added), case.bound.per(added)
        log.info("bench_cost_case", case=case.name, actual=actual.__dict__, bound=bound.__dict__)
        rows += [
            Row(f"cost · {case.name}: requests / mention", actual.requests, bound.requests, goal=AT_MOST_BOUND),
            Row(f"cost · {case.name}: posts read / mention", actual.posts_read, bound.posts_read, goal=AT_MOST_BOUND),
            Row(
                f"cost · {case.name}: US$ / 1,000 mentions",
                1000 * actual.dollars(settings),
                1000 * bound.dollars(settings),
                unit="$",
                goal=AT_MOST_BOUND,
            ),
        ]
        total += spend.dollars(settings)
        total_bound += case.bound.dollars(settings)
        mentions += added
    rows.append(
        Row(
            "cost · whole mix: US$ / 1,000 mentions",
            1000 * total / mentions,
            1000 * total_bound / mentions,
            unit="$",
            goal=AT_MOST_BOUND,
        )
    )
    return rows
