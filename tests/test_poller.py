"""The poller on the sandbox and a real Redis: which mentions become requests, and the cursor."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from bot import poller, spending
from bot.apimodels import ApiTweet, ReferencedTweet, TweetsPage
from bot.cli import never_queued
from bot.poller import PollResult, beyond_reach, earlier_seen, poll_once, why_ignored
from bot.postlinks import linked_handle
from bot.processes import due, guarded_poll, poll_interval
from bot.runtime import Bot
from bot.sandbox import SandboxServer, World
from bot.spending import spent_today
from bot.store import PagingGap, QueuedPoll, Store
from bot.tweettext import snowflake_at
from bot.xapi import Usage, XApi
from config.settings import Settings
from tests.helpers import READER, make_bot, post_thread, summon


def queued(store: Store) -> list[str]:
    """Mention ids waiting on the stream, in order."""
    return [r.mention_id for _, r in store.read("probe", count=1000)]


def test_first_poll_looks_back_no_further_than_the_lookback(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """On the very first start, mentions older than UNROLL_LOOKBACK are not answered."""
    world = sandbox.world
    thread = post_thread(world, 3, ago=timedelta(hours=5))
    world.add_user(READER)
    old = world.add_tweet(READER, "@unrollbot unroll", reply_to=thread[-1], created_at=world.now() - timedelta(hours=2))
    new = summon(world, thread[-1])
    bot = make_bot(settings, store, lookback=3600)

    result = poll_once(bot)

    assert [new] == result.queued
    assert old.id not in queued(store)
    assert new == store.get_cursor()


class HeldUpPastTheLock(Store):
    """The bot's store as a poller paused past its lock finds it: another poller took the lock, queued the
    mentions and moved the cursor on while this one was reading them."""

    def queue_poll(self, requests: list[Any], **options: Any) -> QueuedPoll:
        release = options["release"]
        self.redis.set(release.name, "another-pollers-token")
        self.redis.set(self.key("cursor"), "9" * 19)
        return super().queue_poll(requests, **options)


class QueuedMeanwhile(Store):
    """As `HeldUpPastTheLock`, and the other poller gave its lock back when done: nobody holds it."""

    def queue_poll(self, requests: list[Any], **options: Any) -> QueuedPoll:
        release = options["release"]
        super().queue_poll(requests, **{**options, "release": None, "cursor": "9" * 19, "take": None})
        self.redis.delete(release.name)
        return super().queue_poll(requests, **options)


def test_a_poller_held_up_past_its_lock_queues_nothing_and_leaves_the_cursor(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Paused past the poller lock (a frozen process), a poll resumes after another poller queued its mentions and
    moved the cursor on: it queues none of them again and moves the cursor back to nothing; it says so."""
    thread = post_thread(sandbox.world, 2)
    summon(sandbox.world, thread[-1])
    late = make_bot(settings, HeldUpPastTheLock(store.redis, store.prefix))

    with capture_logs() as events:
        result = poll_once(late)

    assert (False, [], "9" * 19) == (result.polled, queued(store), store.get_cursor())
    assert ["poll_taken_over"] == [e["event"] for e in events if e["log_level"] == "warning"]


def test_a_poller_held_up_while_another_queued_its_mentions_and_gave_the_lock_back_queues_none_twice(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Paused past the poller lock, a poll resumes after another poller queued its mentions and gave the lock back
    (nobody holds it): none is queued a second time (each was worked twice, two audit lines for one mention), and
    it says so."""
    thread = post_thread(sandbox.world, 2)
    mention = summon(sandbox.world, thread[-1])
    late = make_bot(settings, QueuedMeanwhile(store.redis, store.prefix))

    with capture_logs() as events:
        result = poll_once(late)

    assert ([], [mention], "9" * 19) == (result.queued, queued(store), store.get_cursor())
    assert ["poll_taken_over"] == [e["event"] for e in events if e["log_level"] == "warning"]


def test_cursor_survives_restart_so_nothing_is_handled_twice_or_skipped(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A second poll (even by a new process) queues only mentions newer than the cursor."""
    world = sandbox.world
    thread = post_thread(world, 2)
    first = summon(world, thread[-1])
    assert [first] == poll_once(make_bot(settings, store)).queued
    assert [] == poll_once(make_bot(settings, store)).queued
    second = summon(world, thread[0])
    assert [second] == poll_once(make_bot(settings, store)).queued
    assert [first, second] == queued(store)


def test_a_poller_whose_redis_lost_its_data_says_so_and_goes_on_from_the_cursor_it_saw(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Redis restarted empty under a running poller (no persistence): going on from the look-back would queue the
    mentions it answered again, their reply records gone too. It says so at error, once, and goes on from the
    cursor it last saw, kept in Redis again even when no newer mention came."""
    world = sandbox.world
    thread = post_thread(world, 2)
    answered = summon(world, thread[-1])
    bot = make_bot(settings, store, lookback=3600)
    assert [answered] == poll_once(bot).queued
    store.redis.delete(*store.redis.keys(store.key("*")))  # as a Redis restarted without its data

    with capture_logs() as events:
        quiet = poll_once(bot)
        later = summon(world, thread[0])
        after = poll_once(bot)

    lost = [e for e in events if e["event"] == "redis_state_lost"]
    assert ([], [later]) == (quiet.queued, after.queued)
    assert (1, "error", answered) == (len(lost), lost[0]["log_level"], lost[0]["cursor"])
    assert later == store.get_cursor()


def test_every_page_of_mentions_is_read_before_the_cursor_moves(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """250 new mentions span three pages; all are queued once, oldest first."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    poll_once(bot)
    mentions = [summon(world, thread[-1]) for _ in range(250)]

    result = poll_once(bot)

    assert mentions == result.queued
    assert mentions == queued(store)
    assert mentions[-1] == store.get_cursor()
    assert 3 == world.request_counts()["GET /2/users/:id/mentions"][200] - 1


def test_mentions_that_are_not_requests_are_ignored_with_a_reason(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """No keyword, a blocked user, a reply to the bot itself and a top-level mention are not queued."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, blocked_users="pest")
    chatter = summon(world, thread[-1], text="@unrollbot hello there")
    blocked = summon(world, thread[-1], by="pest")
    top_level = world.add_tweet(READER, "@unrollbot unroll").id
    wanted = summon(world, thread[-1])
    bots_reply = world.post("Hi, here it is", reply_to=wanted)
    loop = summon(world, bots_reply.id, by="otherbot")
    # A link to the bot's own reply, posted on its own: the link names the bot, so nothing is looked up (it cost a
    # lookup and a post read to learn whose post it is, for no reply)
    linked = world.add_tweet(READER, f"@unrollbot unroll https://x.com/unrollbot/status/{bots_reply.id}").id

    result = poll_once(bot)

    assert [wanted] == result.queued
    assert {
        chatter: "no_keyword",
        blocked: "blocked_user",
        top_level: "not_under_a_thread",
        loop: "reply_to_bot",
        linked: "quotes_bot",
    } == result.ignored
    record = store.handled_one(blocked)
    assert record is not None and "ignored:blocked_user" == record.outcome
    assert store.handled_one(chatter) is None  # plain chatter is not worth an audit line


@pytest.mark.parametrize(
    ("url", "handle"),
    [
        ("https://x.com/UnrollBot/status/42", "unrollbot"),
        ("https://twitter.com/ivan/status/42?s=20", "ivan"),
        ("https://x.com/i/status/42", None),  # names no one
        ("https://x.com/i/web/status/42", None),
        ("https://x.com/unrollbot/status/43", None),  # another post
    ],
)
def test_the_handle_a_link_to_a_post_names(url: str, handle: str | None) -> None:
    """Whose post a mention's link (or a quote's, as X gives it) says it is: its handle, for that very post only."""
    tweet = ApiTweet.model_validate(
        {
            "id": "1",
            "text": "@unrollbot unroll https://t.co/abc",
            "entities": {"urls": [{"start": 18, "end": 35, "url": "https://t.co/abc", "expanded_url": url}]},
        }
    )
    assert handle == linked_handle(tweet, "42")


def test_a_reader_over_the_hourly_limit_is_ignored(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """UNROLL_REQUESTER_LIMIT caps one reader's requests per hour."""
    world = sandbox.world
    thread = post_thread(world, 2)
    mentions = [summon(world, thread[-1]) for _ in range(4)]

    result = poll_once(make_bot(settings, store, requester_limit=3))

    assert mentions[:3] == result.queued
    assert {mentions[3]: "requester_limit"} == result.ignored


def test_only_one_poller_polls_at_a_time(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """While one poller holds the lock, another skips its turn without calling X."""
    bot = make_bot(settings, store)
    lock = store.lock("poller", timeout=10)
    assert lock.acquire(blocking=False)
    try:
        result = poll_once(bot)
    finally:
        lock.release()
    assert not result.polled
    assert "GET /2/users/:id/mentions" not in sandbox.world.request_counts()


def test_polls_slow_down_to_what_the_mentions_window_allows(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """With 3 mentions requests per 15 minutes, a poll is due only every 300 seconds."""
    sandbox.world.set_rate_limit("GET /2/users/:id/mentions", 3)
    bot = make_bot(settings, store, poll_interval=5)
    assert due(bot)
    poll_once(bot)

    assert 300.0 == poll_interval(bot)
    assert not due(bot)
    last = store.last_poll()
    assert last is not None
    assert not due(bot, now=last + timedelta(seconds=290))
    assert due(bot, now=last + timedelta(seconds=299))
    # said once at info, what the operator set and what the window allows
    with capture_logs() as events:
        guarded_poll(bot)
        guarded_poll(bot)
    stretched = [(e["configured"], e["interval"]) for e in events if e["event"] == "poll_interval_stretched"]
    assert [(5.0, 300.0)] == stretched


def test_a_spent_mentions_window_is_said_once_at_warning_not_at_every_tick(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The mentions window spent: the tick that finds it says so at warning; the ticks until its reset, which ask X
    nothing, say it only at DEBUG (the same warning every tick filled the log)."""
    bot = make_bot(settings, store)
    sandbox.world.inject_fault("GET", f"/2/users/{bot.user_id}/mentions", status=429, reset_in=600)
    with capture_logs() as events:
        for _ in range(3):
            guarded_poll(bot)
    said = [e["log_level"] for e in events if e["event"] == "poll_rate_limited"]
    assert ["warning", "debug", "debug"] == said


def test_retweets_and_the_bots_own_tweets_are_never_requests(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A retweet of a summon, or a tweet by the bot itself, is not a request even with the keyword."""
    bot = make_bot(settings, store)
    page = TweetsPage()
    retweet = ApiTweet(
        id="5",
        text="RT @reader: @unrollbot unroll",
        author_id="42",
        referenced_tweets=[ReferencedTweet(type="retweeted", id="4")],
    )
    own = ApiTweet(
        id="6",
        text="@unrollbot unroll",
        author_id=bot.user_id,
        referenced_tweets=[ReferencedTweet(type="replied_to", id="3")],
    )
    assert "retweet" == why_ignored(bot, retweet, page)
    assert "own_tweet" == why_ignored(bot, own, page)


def test_delete_keyword_queues_a_delete_request_unless_unroll_is_asked_too(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """ "@bot delete" is a delete request; a mention with both words is an unroll (the harmless reading)."""
    thread = post_thread(sandbox.world, 2)
    delete = summon(sandbox.world, thread[-1], text="@unrollbot delete")
    both = summon(sandbox.world, thread[-1], text="@unrollbot unroll before they delete it")

    poll_once(make_bot(settings, store))

    assert {delete: "delete", both: "unroll"} == {r.mention_id: r.action for r in store.peek()}


def test_the_earlier_versions_an_earlier_poll_read_are_those_up_to_the_cursor() -> None:
    """X gives an edit a new id, newer than the cursor: its earlier versions up to the cursor were read by an
    earlier poll; a mention edited before any poll read it has none."""
    cursor = "1000"
    edited_after = ApiTweet(id="1500", text="@bot unroll", edit_history_tweet_ids=["900", "1500"])
    edited_before = ApiTweet(id="1500", text="@bot unroll", edit_history_tweet_ids=["1200", "1500"])
    never_edited = ApiTweet(id="1500", text="@bot unroll", edit_history_tweet_ids=["1500"])
    assert ["900"] == earlier_seen(edited_after, cursor)
    assert [] == earlier_seen(edited_before, cursor)
    assert [] == earlier_seen(never_edited, cursor)
    assert [] == earlier_seen(edited_after, None)  # the first poll: nothing was read before


def test_a_quote_summon_edited_after_a_poll_read_it_is_asked_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A quote can be edited (a reply to someone else's post cannot): its edit comes back from the mentions
    timeline under a new id, newer than the cursor. Not a second summon; one edited before any poll read it
    is the summon."""
    world = sandbox.world
    thread = post_thread(world, 3)
    world.add_user(READER)
    first = world.add_tweet(READER, "@unrollbot unroll", quote_of=thread[-1]).id
    bot = make_bot(settings, store)
    assert [first] == poll_once(bot).queued

    edit = world.edit_tweet(first, "@unrollbot unroll this one please").id
    later = world.add_tweet(READER, "@unrollbot unrol", quote_of=thread[0]).id
    fixed = world.edit_tweet(later, "@unrollbot unroll").id
    result = poll_once(bot)

    assert [fixed] == result.queued
    assert "edited_mention" == result.ignored[edit]


def test_a_mention_edited_into_a_request_after_a_poll_read_it_is_one(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """ "@bot unrol", read by a poll (no request), then mended to "unroll": the first version asked for nothing,
    so the edit is the summon; an edit of that one is not a second."""
    world = sandbox.world
    thread = post_thread(world, 3)
    world.add_user(READER)
    typo = world.add_tweet(READER, "@unrollbot unrol", quote_of=thread[-1]).id
    bot = make_bot(settings, store)
    read = poll_once(bot)
    assert ([], "no_keyword") == (read.queued, read.ignored[typo])

    fixed = world.edit_tweet(typo, "@unrollbot unroll").id
    mended = poll_once(bot)
    again = world.edit_tweet(fixed, "@unrollbot unroll, thanks").id
    repeated = poll_once(bot)

    assert ([fixed], [], "edited_mention") == (mended.queued, repeated.queued, repeated.ignored.get(again))


def test_an_empty_page_that_goes_on_is_not_the_end_of_the_mentions(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """X pages "until no next_token is returned": a page may come back empty with more after it. Stopping there
    would move the cursor past the mentions not read yet, and those readers would never get a reply."""
    world = sandbox.world
    thread = post_thread(world, 3)
    bot = make_bot(settings, store)
    poll_once(bot)  # the cursor is set: what follows is newer
    mentions = [summon(world, thread[-1], by=f"reader{n}") for n in range(3)]
    world.inject_fault("GET", f"/2/users/{bot.user_id}/mentions", empty_page=True)

    result = poll_once(bot)

    assert sorted(mentions) == sorted(result.queued)


def test_an_api_paging_nowhere_is_left_after_three_empty_pages_and_asked_again_at_the_next_poll(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Empty page after empty page, each saying there is more: the poll stops after three (not 32 requests), the
    cursor stays, and the next poll reads the mentions."""
    world = sandbox.world
    thread = post_thread(world, 3)
    bot = make_bot(settings, store)
    poll_once(bot)
    mentions = [summon(world, thread[-1], by=f"reader{n}") for n in range(2)]
    world.inject_fault("GET", f"/2/users/{bot.user_id}/mentions", empty_page=True, count=3)
    before = world.request_counts()["GET /2/users/:id/mentions"][200]

    first = poll_once(bot)
    pages = world.request_counts()["GET /2/users/:id/mentions"][200] - before
    second = poll_once(bot)

    assert (3, [], sorted(mentions)) == (pages, first.queued, sorted(second.queued))


def test_a_request_says_whose_post_it_answers(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """The mention's in_reply_to_user_id rides on the request: the resolver knows the summoned post is the
    thread author's before reading it (a quote summon names no one)."""
    world = sandbox.world
    thread = post_thread(world, 2)
    under = summon(world, thread[-1])
    quoting = world.add_tweet(READER, "@unrollbot unroll", quote_of=thread[0]).id
    poll_once(make_bot(settings, store))

    requests = {r.mention_id: r for _, r in store.read("probe", count=10)}

    assert world.tweets[thread[-1]].author_id == requests[under].replied_to_user_id
    assert requests[quoting].replied_to_user_id is None


def assert_all_queued_and_the_oldest_recovered_at_info(
    world: World,
    bot: Bot,
    store: Store,
    result: PollResult,
    events: list[MutableMapping[str, Any]],
    mentions: list[str],
    recovered: int,
    cursor: str | None,
) -> None:
    """Every mention queued once, oldest first, the cursor at the newest; the `recovered` oldest found by one
    recent search from `cursor` (None: the look-back's start), said at info, neither warned of, counted nor kept
    as a gap, and billed as posts read beside the timeline's 800 mentions read."""
    assert mentions == result.queued
    assert mentions == queued(store)
    assert mentions[-1] == store.get_cursor()
    said = [e for e in events if e["event"] == "mentions_recovered_by_search"]
    assert [(recovered, cursor, "info")] == [(e["count"], e["cursor"], e["log_level"]) for e in said]
    assert [] == [e for e in events if e["event"] == "mentions_beyond_reach"]
    assert ({}, []) == (store.counters("mentions_beyond_reach"), store.mention_gaps())
    assert 1 == world.request_counts()["GET /2/tweets/search/recent"][200]
    billed = spent_today(store, bot.settings).counts
    assert (recovered, 800) == (billed.post_read, billed.mention_read)


def test_mentions_beyond_the_timelines_reach_are_recovered_by_recent_search(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """850 summons since the last poll: X's mentions timeline lists only the latest 800 and stops paging, so the
    50 oldest are looked for in recent search, between the cursor and the oldest mention read. All 850 are
    queued once, oldest first, said at info (not warned of nor counted), and billed as posts read."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    cursor = poll_once(bot).cursor
    mentions = [summon(world, thread[-1]) for _ in range(850)]

    with capture_logs() as events:
        result = poll_once(bot)

    assert_all_queued_and_the_oldest_recovered_at_info(world, bot, store, result, events, mentions, 50, cursor)


def test_recovery_search_reads_only_mentions_that_ask_for_something(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Recent search bills every post it returns at five times a mention read: the mentions beyond the timeline's
    reach that ask for nothing (readers chatting with the bot) are left out by the query, the requests in the gap
    ("#unroll", "Unroll!", a delete from the author) are all found."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    poll_once(bot)
    chatter = [summon(world, thread[-1], text=f"@unrollbot nice one {n}") for n in range(30)]
    texts = ("@unrollbot #unroll", "@unrollbot Unroll!", "@unrollbot unroll")
    asks = [summon(world, thread[-1], text=t) for t in texts]
    mentions = [summon(world, thread[-1]) for _ in range(800)]

    result = poll_once(bot)

    assert asks + mentions == result.queued  # oldest first
    assert not set(chatter) & set(queued(store))
    billed = spent_today(store, bot.settings).counts
    assert (3, 800) == (billed.post_read, billed.mention_read)


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        (["unroll"], "@unrollbot -is:retweet -from:42 (unroll OR #unroll)"),
        (["#Unroll", "delete"], "@unrollbot -is:retweet -from:42 (delete OR #delete OR unroll OR #unroll)"),
        (["unroll", "déroule"], "@unrollbot -is:retweet -from:42"),  # X would fold the accent: every mention
        (["unroll", "thread-me"], "@unrollbot -is:retweet -from:42"),  # X splits it in two: every mention
        ([f"k{n:03}" for n in range(60)], "@unrollbot -is:retweet -from:42"),  # past 512 characters
    ],
)
def test_the_recovery_query_names_the_keywords_only_when_x_matches_them_as_the_trigger_does(
    keywords: list[str], expected: str
) -> None:
    assert expected == poller.recovery_query("unrollbot", "42", keywords)


def test_mentions_beyond_reach_are_not_searched_for_past_the_daily_budget(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Searching bills posts: with UNROLL_DAILY_BUDGET spent, the poll queues what the timeline gave and says
    why the rest was not looked for."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0, daily_budget=1.0)
    poll_once(bot)
    spending.record(store, bot.settings, Usage(tweets_read=400))  # $2 of posts read today
    mentions = [summon(world, thread[-1]) for _ in range(850)]

    with capture_logs() as events:
        result = poll_once(bot)

    assert mentions[50:] == result.queued
    assert "GET /2/tweets/search/recent" not in world.request_counts()
    warned = [e for e in events if e["event"] == "mentions_beyond_reach"]
    assert 1 == len(warned) and "daily budget" in warned[0]["done"]
    assert 1 == len(store.mention_gaps())  # searched once the budget allows


def test_a_failed_search_keeps_the_gap_for_the_next_poll_which_queues_the_rest(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """When recent search fails (an outage, a rate limit), the poll does not: it queues the latest 800 the
    timeline gave, says (`mentions_beyond_reach`, naming the cursor, the oldest mention read and the failure) that
    the 50 oldest are not read yet, and keeps the gap in Redis; the next poll searches it again and queues them.
    Nothing is lost, nothing is counted lost, and `run --once` hears "run again later" meanwhile."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    cursor = poll_once(bot).cursor
    mentions = [summon(world, thread[-1]) for _ in range(850)]
    world.inject_fault("GET", "/2/tweets/search/recent", status=503, count=5)

    with capture_logs() as events:
        result = poll_once(bot)

    assert mentions[50:] == result.queued
    assert mentions[-1] == store.get_cursor()
    warned = [e for e in events if e["event"] == "mentions_beyond_reach"]
    assert [(cursor, mentions[50], 0, "warning")] == [
        (e["cursor"], e["oldest_read"], e["recovered"], e["log_level"]) for e in warned
    ]
    assert "recent search failed" in warned[0]["done"] and "searched again at the next poll" in warned[0]["done"]
    assert ({}, [(cursor, mentions[50])]) == (store.counters("mentions_beyond_reach"), store.mention_gaps())
    assert never_queued(mentions[0], store).startswith(f"The poll cursor ({mentions[-1]}) is past it")

    world.clear_faults()
    later = poll_once(bot)

    assert (mentions[:50], []) == (later.queued, store.mention_gaps())
    assert mentions[50:] + mentions[:50] == queued(store)  # each once, the recovered ones after
    # the cursor stays where the timeline left it (the recovered mentions are older): nothing is read again
    assert (mentions[-1], []) == (store.get_cursor(), poll_once(bot).queued)


def test_a_mentions_page_failing_part_way_queues_what_was_read_and_the_next_poll_pages_down_to_the_rest(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """250 new mentions, the second of their three pages failing: the first page's 100 are queued at once and the
    cursor moves to the newest; the next poll reads what is new since, then pages down from the oldest read to the
    old cursor (since_id and until_id), reading each mention once: 5 pages for 250 mentions, not 3 + 3."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    cursor = poll_once(bot).cursor
    mentions = [summon(world, thread[-1]) for _ in range(250)]
    world.inject_fault("GET", f"/2/users/{bot.user_id}/mentions", status=503, skip=1)
    path = "GET /2/users/:id/mentions"
    before = world.request_counts()[path][200]

    with capture_logs() as events:
        first = poll_once(bot)

    assert (mentions[150:], mentions[-1]) == (first.queued, store.get_cursor())
    assert PagingGap(cursor or "", mentions[150], 100) == store.paging_gap()
    warned = [e for e in events if e["event"] == "mentions_paging_failed"]
    assert [(100, mentions[150], "warning")] == [(e["read"], e["oldest_read"], e["log_level"]) for e in warned]
    assert never_queued(mentions[0], store).startswith("It is among the mentions the last poll could not page")

    newer = [summon(world, thread[-1]) for _ in range(3)]
    later = poll_once(bot)

    assert (mentions[:150] + newer, None, newer[-1]) == (later.queued, store.paging_gap(), store.get_cursor())
    assert mentions[150:] + mentions[:150] + newer == queued(store)  # each once
    assert 1 + 1 + 2 == world.request_counts()[path][200] - before  # page 1; then the new one, and two pages down
    assert (newer[-1], []) == (store.get_cursor(), poll_once(bot).queued)


def test_paging_down_that_fails_again_keeps_what_it_read_and_goes_on_from_there(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The timeline failing again while the poll pages down: the page it read is queued, the gap shrinks to below
    it, and the poll after that reads only the rest; an outage at the first page down keeps the gap as it was."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    cursor = poll_once(bot).cursor or ""
    mentions = [summon(world, thread[-1]) for _ in range(350)]
    me = f"/2/users/{bot.user_id}/mentions"
    world.inject_fault("GET", me, status=503, skip=1)
    assert mentions[250:] == poll_once(bot).queued

    world.inject_fault("GET", me, status=503, skip=1)  # the new mentions' page passes; paging down fails
    assert ([], PagingGap(cursor, mentions[250], 100)) == (poll_once(bot).queued, store.paging_gap())

    world.inject_fault("GET", me, status=503, skip=2)  # the new mentions' page and one page down pass
    assert (mentions[150:250], PagingGap(cursor, mentions[150], 200)) == (poll_once(bot).queued, store.paging_gap())

    assert (mentions[:150], None) == (poll_once(bot).queued, store.paging_gap())
    assert mentions[250:] + mentions[150:250] + mentions[:150] == queued(store)


def test_mentions_left_to_page_down_to_that_the_timeline_no_longer_reaches_are_searched_for(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """800 mentions came since a poll failed part-way: the timeline (the latest 800) no longer reaches the ones it
    left, so recent search looks for them, as for any beyond its reach; nothing is lost."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    poll_once(bot)
    mentions = [summon(world, thread[-1]) for _ in range(150)]
    world.inject_fault("GET", f"/2/users/{bot.user_id}/mentions", status=503, skip=1)
    assert mentions[50:] == poll_once(bot).queued
    burst = [summon(world, thread[-1]) for _ in range(750)]

    result = poll_once(bot)

    assert (mentions[:50] + burst, None, []) == (result.queued, store.paging_gap(), store.mention_gaps())
    assert 1 == world.request_counts()["GET /2/tweets/search/recent"][200]
    assert sorted(mentions + burst, key=int) == sorted(queued(store), key=int)


def test_a_search_that_stops_at_its_page_cap_queues_what_it_found_and_the_next_poll_the_rest(
    sandbox: SandboxServer, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gap bigger than the search pages a poll spends: the newest part of it is queued, the warning names the
    oldest mention search found, and the gap below it is kept for the next poll, which queues the rest."""
    monkeypatch.setattr(poller, "SEARCH_PAGES", 1)
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    cursor = poll_once(bot).cursor
    mentions = [summon(world, thread[-1]) for _ in range(1000)]

    with capture_logs() as events:
        result = poll_once(bot)

    assert mentions[100:] == result.queued
    warned = [e for e in events if e["event"] == "mentions_beyond_reach"]
    assert [(cursor, mentions[100], 100)] == [(e["cursor"], e["oldest_read"], e["recovered"]) for e in warned]
    assert ({}, [(cursor, mentions[100])]) == (store.counters("mentions_beyond_reach"), store.mention_gaps())
    assert (mentions[:100], []) == (poll_once(bot).queued, store.mention_gaps())


def test_mentions_beyond_reach_wholly_older_than_search_s_seven_days_are_not_searched_for(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The timeline's oldest mention read is itself older than recent search's window (a first start with a
    30-day look-back): no search can find what lies below it (X refuses the request), so none is made, and the
    mentions are said lost for that reason."""
    bot = make_bot(settings, store)
    now = datetime.now(UTC)
    since, oldest = now - timedelta(days=30), snowflake_at(now - timedelta(days=9))
    searched = sandbox.world.request_counts().get("GET /2/tweets/search/recent", {})

    recovery = poller.recover_beyond_reach(bot, since, oldest)

    assert searched == sandbox.world.request_counts().get("GET /2/tweets/search/recent", {})
    assert ("older than recent search's 7 days", False) == (recovery.lost, recovery.retry)


def test_mentions_beyond_reach_are_searched_again_when_x_refused_the_bearer_token(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Recent search refused X_BEARER_TOKEN (its app in no Project: 403 client-not-enrolled, a credential the
    operator is told to mend): the gap is kept for the next poll, not given up as refused for good."""
    bot = make_bot(settings, store)
    poll_once(bot)
    now = datetime.now(UTC)
    sandbox.world.set_posting_rules(bearer_in_project=False)

    recovery = poller.recover_beyond_reach(bot, now - timedelta(hours=2), snowflake_at(now - timedelta(hours=1)))

    assert (True, True) == ("403" in recovery.lost, recovery.retry)


def test_a_cursor_older_than_search_s_seven_days_recovers_from_the_window_s_start(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Recent search refuses a since_id older than its 7 days: a cursor that old is searched from the window's
    start, the mentions within it are queued, and the warning says the older ones are lost."""
    world = sandbox.world
    now = world.now()
    thread = post_thread(world, 2, ago=timedelta(days=10))
    bot = make_bot(settings, store, requester_limit=0)
    cursor = snowflake_at(now - timedelta(days=9))
    store.enqueue([], cursor=cursor)
    world.add_user(READER)

    def old_summon(days: int) -> str:
        created = now - timedelta(days=days)
        return world.add_tweet(READER, "@unrollbot unroll", reply_to=thread[-1], created_at=created).id

    lost = [old_summon(8) for _ in range(5)]
    within = [old_summon(3) for _ in range(5)]
    latest = [summon(world, thread[-1]) for _ in range(800)]

    with capture_logs() as events:
        result = poll_once(bot)

    assert within + latest == result.queued
    assert not set(lost) & set(queued(store))
    warned = [e for e in events if e["event"] == "mentions_beyond_reach"]
    assert [(cursor, within[0], 5)] == [(e["cursor"], e["oldest_read"], e["recovered"]) for e in warned]
    assert "older than recent search's 7 days" in warned[0]["done"]
    assert now - timedelta(days=7) < datetime.fromisoformat(warned[0]["until"]) < now - timedelta(days=6)
    assert {(): 1} == store.counters("mentions_beyond_reach")


def test_a_poll_that_reads_everything_since_the_cursor_warns_of_nothing(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Fewer mentions than the timeline's reach: all are read, no warning, nothing counted."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0)
    poll_once(bot)
    mentions = [summon(world, thread[-1]) for _ in range(120)]

    with capture_logs() as events:
        result = poll_once(bot)

    assert (mentions, []) == (result.queued, [e for e in events if e["event"] == "mentions_beyond_reach"])
    assert {} == store.counters("mentions_beyond_reach")


def test_a_first_poll_recovers_the_mentions_beyond_the_timelines_reach_within_the_lookback(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """830 summons waiting at the very first start, all within UNROLL_LOOKBACK (5 days): the timeline lists only
    the latest 800, so the 30 oldest are looked for in recent search from the look-back's start. All 830 are
    queued once, oldest first, said at info (not warned of nor counted), and billed as posts read."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0, lookback=5 * 24 * 3600)
    mentions = [summon(world, thread[-1]) for _ in range(830)]

    with capture_logs() as events:
        result = poll_once(bot)

    assert_all_queued_and_the_oldest_recovered_at_info(world, bot, store, result, events, mentions, 30, None)


def test_a_first_poll_s_lookback_past_search_s_seven_days_is_searched_from_the_window_s_start(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """UNROLL_LOOKBACK of 10 days at the very first start, 830 summons since then and one more 8 days old: the
    timeline gives the latest 800, recent search the 30 before them (it reaches 7 days back, from its window's
    start); the one older than that is not answered, and the warning says so and is counted."""
    world = sandbox.world
    now = world.now()
    thread = post_thread(world, 2, ago=timedelta(days=12))
    world.add_user(READER)
    lost = world.add_tweet(READER, "@unrollbot unroll", reply_to=thread[-1], created_at=now - timedelta(days=8)).id
    mentions = [summon(world, thread[-1]) for _ in range(830)]
    bot = make_bot(settings, store, requester_limit=0, lookback=10 * 24 * 3600)

    with capture_logs() as events:
        result = poll_once(bot)

    assert mentions == result.queued
    assert lost not in queued(store)
    warned = [e for e in events if e["event"] == "mentions_beyond_reach"]
    assert [(None, mentions[0], 30, "warning")] == [
        (e["cursor"], e["oldest_read"], e["recovered"], e["log_level"]) for e in warned
    ]
    assert "older than recent search's 7 days" in warned[0]["done"]
    assert now - timedelta(days=10, minutes=1) < datetime.fromisoformat(warned[0]["since"]) < now - timedelta(days=9)
    assert now - timedelta(days=7) < datetime.fromisoformat(warned[0]["until"]) < now - timedelta(days=6)
    assert ({(): 1}, []) == (store.counters("mentions_beyond_reach"), store.mention_gaps())
    assert 1 == world.request_counts()["GET /2/tweets/search/recent"][200]
    billed = spent_today(store, bot.settings).counts
    assert (30, 800) == (billed.post_read, billed.mention_read)


def test_a_first_poll_s_failed_search_keeps_the_lookback_s_range_for_the_next_poll(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """When recent search fails at the very first poll, the range beyond the timeline's reach is kept in Redis from
    the look-back's start (a time: there is no cursor yet) to the oldest mention read; the next poll searches it
    from that time again and queues the 30 oldest. Nothing is lost, nothing is counted lost."""
    world = sandbox.world
    thread = post_thread(world, 2)
    bot = make_bot(settings, store, requester_limit=0, lookback=86400)
    mentions = [summon(world, thread[-1]) for _ in range(830)]
    world.inject_fault("GET", "/2/tweets/search/recent", status=503, count=5)

    before = datetime.now(UTC)
    with capture_logs() as events:
        result = poll_once(bot)

    assert mentions[30:] == result.queued
    warned = [e for e in events if e["event"] == "mentions_beyond_reach"]
    assert [(None, mentions[30], 0)] == [(e["cursor"], e["oldest_read"], e["recovered"]) for e in warned]
    assert "searched again at the next poll" in warned[0]["done"]
    [(start, until)] = store.mention_gaps()
    assert isinstance(start, datetime) and mentions[30] == until
    assert before - timedelta(days=1, seconds=5) < start <= datetime.now(UTC) - timedelta(days=1)

    world.clear_faults()
    later = poll_once(bot)

    assert (mentions[:30], []) == (later.queued, store.mention_gaps())
    assert {} == store.counters("mentions_beyond_reach")
    assert (mentions[-1], []) == (store.get_cursor(), poll_once(bot).queued)


LOOKBACK_START = datetime(2026, 11, 20, tzinfo=UTC)
AFTER_LOOKBACK_START = int(snowflake_at(LOOKBACK_START)) + 1000


@pytest.mark.parametrize(
    ("since", "read", "exhausted", "expected"),
    [
        (LOOKBACK_START, 799, False, None),  # first start: everything since the look-back's start was read
        (LOOKBACK_START, 800, False, str(AFTER_LOOKBACK_START)),  # the reach used up within the look-back
        ("100", 0, False, None),  # nothing new
        ("100", 799, False, None),  # X stopped paging short of its reach: everything was read
        ("100", 800, False, "1000"),  # X stopped at its reach: what lies between may be lost
        ("100", 300, True, "1000"),  # the poll gave up with more to page through
        ("5000", 800, False, None),  # the oldest read is not newer than the cursor
    ],
)
def test_beyond_reach_only_when_the_reach_was_used_up_above_the_cursor_or_the_lookback_start(
    since: str | datetime, read: int, exhausted: bool, expected: str | None
) -> None:
    first = AFTER_LOOKBACK_START if isinstance(since, datetime) else 1000
    tweets = [ApiTweet(id=str(first + n), text="@unrollbot unroll") for n in range(read)]
    assert expected == beyond_reach(since, tweets, exhausted)


def test_a_mention_on_two_pages_of_one_poll_is_one_mention() -> None:
    """X pages by position: a mention posted while a poll pages can come again on the next page, and an API
    repeating a page gives the same mentions twice. Each is queued (and logged) once, as first read."""
    page = TweetsPage.model_validate({"data": [{"id": "12", "text": "@unrollbot unroll"}], "meta": {"result_count": 1}})
    again = TweetsPage.model_validate(
        {"data": [{"id": "12", "text": "@unrollbot unroll"}, {"id": "11", "text": "x"}], "meta": {"result_count": 2}}
    )
    listing = poller.Listing([page, again, again])
    assert [("12", page), ("11", again)] == [(t.id, p) for t, p in listing.tweets]


@pytest.mark.parametrize("field", ["id", "conversation_id"])
def test_a_mention_whose_id_is_not_a_number_is_a_malformed_page_not_a_crash(field: str) -> None:
    """Ids are snowflakes, compared as numbers (their order is their time): a page with one that is not one is
    malformed (logged and asked again), not a ValueError in the middle of the poll."""
    mention = {"id": "12", "text": "@unrollbot unroll", field: "abc"}
    with pytest.raises(ValidationError):
        TweetsPage.model_validate({"data": [mention], "meta": {"result_count": 1}})


class SinceIgnored(XApi):
    """The X API adapter on a proxy that drops since_id from the mentions timeline (a simulator's shortcut)."""

    def mentions(self, user_id: str, **params: Any) -> TweetsPage:
        return super().mentions(user_id, **{**params, "since_id": None})


def test_mentions_an_api_gives_at_or_below_the_cursor_are_not_queued_again(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """X gives only mentions newer than since_id; an API that gives the older ones too does not get them queued
    (and answered as duplicates, and logged) again at every poll."""
    world = sandbox.world
    thread = post_thread(world, 2)
    first = summon(world, thread[-1])
    bot = make_bot(settings, store, requester_limit=0)
    bot.api = SinceIgnored(bot.settings)
    assert [first] == poll_once(bot).queued
    second = summon(world, thread[0])
    assert ([second], []) == (poll_once(bot).queued, poll_once(bot).queued)
    assert [first, second] == queued(store)


def test_paging_stops_when_an_api_gives_the_same_page_and_way_on_again() -> None:
    """An API answering every page with the same mentions and the same next_token would be paged 32 times a poll
    (and searched beyond): paging stops at the first repeat, each mention read once."""

    class Circle:
        calls = 0

        def mentions(self, user_id: str, **params: Any) -> TweetsPage:
            self.calls += 1
            return TweetsPage.model_validate(
                {"data": [{"id": "12", "text": "@unrollbot unroll"}], "meta": {"result_count": 1, "next_token": "T"}}
            )

    api = Circle()
    listing = poller.fetch_mentions(cast(Bot, SimpleNamespace(api=api, user_id="1")), "10")
    assert (2, False, ["12"]) == (api.calls, listing.exhausted, [t.id for t, _ in listing.tweets])
