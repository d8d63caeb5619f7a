"""Threads older than recent search's 7 days, without full archive: followed past their last post found through
their author's timeline (GET /2/users/:id/tweets, `bot.walks`), on the sandbox with a real Redis."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from bot.resolver import resolve
from bot.sandbox import SandboxServer, World
from bot.store import Store
from bot.xapi import USER_POSTS, XApi
from config.settings import Settings
from tests.conftest import BOT_HANDLE
from tests.test_resolver import (
    AUTHOR,
    READER,
    answering_thread,
    cost,
    gaps_of,
    ids_of,
    numbered,
    post_thread,
    post_thread_after,
    summon,
)

TIMELINE = "GET /2/users/:id/tweets"


# Properties run many examples on one sandbox: each starts from a world of its own (`fresh`).
PROPERTY = hypothesis_settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def fresh(sandbox: SandboxServer) -> World:
    """The sandbox's world emptied, with the bot, the thread's author and a reader."""
    world = sandbox.world
    world.reset()
    world.add_user(BOT_HANDLE, me=True)
    for name in (AUTHOR, READER):
        world.add_user(name)
    return world


@pytest.fixture
def world(sandbox: SandboxServer) -> World:
    """The sandbox world with the thread's author and a reader who summons the bot."""
    for name in (AUTHOR, READER):
        sandbox.world.add_user(name)
    return sandbox.world


def test_an_old_thread_summoned_under_its_first_post_is_unrolled_whole(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Twelve posts 30 days old, summoned under the first: search sees none of them, the climb has nothing to
    climb; the author's timeline in the hour after the first post gives the other eleven, and the page says
    nothing is missing. The author's other post three hours later is not read: X counts no reply under the last
    post (nor under any other but the next post and the summon), so the thread ended there."""
    thread = post_thread(world, numbered(12), start=world.now() - timedelta(days=30))
    world.add_tweet(AUTHOR, "lunch", created_at=world.now() - timedelta(days=30) + timedelta(hours=3))

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert ("resolved", thread, []) == (result.outcome, ids_of(result), gaps_of(result))
    # The window's search (nothing), the first post's lookup, the hour after the first post on the timeline (11
    # posts): each post read once.
    assert {"GET /2/tweets/search/recent": 1, "GET /2/tweets": 1, TIMELINE: 1} == result.usage.by_endpoint
    assert (3, 1 + 11) == cost(result)


def test_an_old_thread_summoned_under_the_authors_answer_hours_later_is_followed_from_that_answer(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Nine days old: the first post, a reader's question two hours later, the author's answer four hours after
    the first post and two more posts under it. Summoned under the answer, the walk starts after it (the reader's
    summoned post, the author's), not after the first post, whose hour holds nothing: the page is the thread
    through the answer (it said "not part of a thread")."""
    start = world.now() - timedelta(days=9)
    first = world.add_tweet(AUTHOR, "1/ the start", created_at=start).id
    question = world.add_tweet(READER, "what then?", reply_to=first, created_at=start + timedelta(hours=2))
    answer = post_thread_after(
        world,
        question.id,
        ["2/ then this", "3/ and this", "4/ the end"],
        [start + timedelta(hours=4, minutes=m) for m in (0, 1, 2)],
    )

    result = resolve(api, store, summon(world, answer[0]), settings)

    assert ("resolved", [first, *answer]) == (result.outcome, [t for t in ids_of(result) if t != question.id])
    # The window's search (nothing), the answer with the question, the first post, the hour after the answer on
    # the timeline (2 posts): each post read once.
    assert (4, 5) == cost(result)


def test_an_old_thread_summoned_midway_gets_the_posts_after_the_summoned_one(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Summoned under post 3 of 5, 30 days old: the climb reads 1–3, the timeline 4 and 5."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(days=30))

    result = resolve(api, store, summon(world, thread[2]), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    assert {"GET /2/tweets": 2, "GET /2/tweets/search/recent": 1, TIMELINE: 1} == result.usage.by_endpoint
    assert 5 == cost(result)[1]  # each post read once


def test_a_thread_continued_within_a_day_of_its_last_post_is_followed_span_after_span(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A post every 20 hours for four days, 30 days ago: each span (a day after the newest post found) finds the
    next, so the walk goes on; spans never overlap (no post read twice). A post of the thread 3 days after its
    last is beyond the walk (no span reaches it): the page ends before it, as the author's silence said."""
    start = world.now() - timedelta(days=30)
    root = post_thread(world, numbered(1), start=start)[0]
    later = post_thread_after(
        world, root, [f"{n}/ day by day" for n in range(2, 6)], [start + timedelta(hours=20 * n) for n in range(1, 5)]
    )
    stray = world.add_tweet(AUTHOR, "6/ much later", reply_to=later[-1], created_at=start + timedelta(days=7))

    before = world.snapshot_stats().post_reads
    result = resolve(api, store, summon(world, root), settings)

    assert ([root, *later], []) == (ids_of(result), gaps_of(result))
    assert stray.id not in ids_of(result)
    walks = result.usage.by_endpoint[TIMELINE]
    assert walks >= 2  # one span could not reach the fifth post
    assert 5 == cost(result)[1] == world.snapshot_stats().post_reads - before  # no post billed twice


def test_the_walk_stops_at_recent_searchs_window(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """Began 8 days ago and went on into the window: the window's search and the climb join the two halves;
    nothing older than the window is left after the thread's newest post, so no timeline is read."""
    old = post_thread(world, numbered(3), start=world.now() - timedelta(days=8))
    recent = post_thread_after(world, old[-1], ["4/ later"], [world.now() - timedelta(days=2)])

    result = resolve(api, store, summon(world, old[0]), settings)

    assert ([*old, *recent], []) == (ids_of(result), gaps_of(result))
    assert TIMELINE not in result.usage.by_endpoint


def test_full_archive_needs_no_timeline(world: World, api: XApi, store: Store, settings: Settings) -> None:
    world.enable_full_archive()
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(days=30))

    result = resolve(api, store, summon(world, thread[2]), settings.model_copy(update={"full_archive": True}))

    assert (thread, []) == (ids_of(result), gaps_of(result))
    assert TIMELINE not in result.usage.by_endpoint


def chatter(world: World, start: datetime, count: int, every: timedelta) -> None:
    """The author's other posts, one every `every` from `start`: billed when a span of the timeline holds them."""
    for n in range(count):
        world.add_tweet(AUTHOR, f"chatter {n}", created_at=start + n * every)


def test_a_prolific_authors_thread_costs_the_hour_after_it_not_the_day(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """An author who posted 400 other things in the day after a 3-post thread: the walk reads the hour after the
    first post first, finds the rest of the thread there, and X's reply counts say nothing is under any post of
    it but what was read (the next post, the summon): the other 19 hours are not read, nor billed (each post
    read once: the thread's three and the first hour's 20 others)."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(3), start=start)
    chatter(world, start + timedelta(minutes=3), 400, timedelta(minutes=3))

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    assert 1 == result.usage.by_endpoint[TIMELINE]
    assert 3 + 20 == result.usage.tweets_read == world.snapshot_stats().post_reads


def test_pages_spent_before_the_spans_end_leave_the_note(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A prolific author (250 posts in the hour after the thread's first post): one page allowed, its 100 posts
    are the newest of the span, the thread's are further back: the page says it may stop early."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(3), start=start)
    chatter(world, start + timedelta(minutes=5), 250, timedelta(seconds=10))

    result = resolve(api, store, summon(world, thread[1]), settings.model_copy(update={"old_thread_pages": 1}))

    assert (thread[:2], ["older_than_search_window"]) == (ids_of(result), gaps_of(result))
    assert 1 == result.usage.by_endpoint[TIMELINE]


def test_a_prolific_authors_walk_reads_the_minutes_after_the_thread_first(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The same author, two pages allowed: X gives a timeline newest first, so the second page is not the next one
    down (more of the same hour's chatter) but the minutes just after the summoned post, sized by how fast the
    first page's posts came: the thread's last post is on it. The hour after the summoned post is read whole
    whatever X's counts say (what answered a deleted post is in none), and two pages do not: the page says it
    may stop early."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(3), start=start)
    chatter(world, start + timedelta(minutes=5), 250, timedelta(seconds=10))

    result = resolve(api, store, summon(world, thread[1]), settings.model_copy(update={"old_thread_pages": 2}))

    assert (thread, ["older_than_search_window"]) == (ids_of(result), gaps_of(result))
    assert 2 == result.usage.by_endpoint[TIMELINE]
    assert result.usage.tweets_read < 3 + 250  # the middle of the hour not read


def test_a_prolific_authors_walk_with_pages_enough_reads_each_post_once(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A reader answered the thread's last post (X counts a reply the bot has not read: the thread may go on), so
    the walk reads the whole day after it, the pages read ahead left out of the spans after them: every post of
    the author's billed once, and the page says nothing is missing."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(3), start=start)
    world.add_tweet(READER, "and then?", reply_to=thread[-1])
    chatter(world, start + timedelta(minutes=5), 250, timedelta(seconds=10))
    before = world.snapshot_stats().post_reads

    result = resolve(api, store, summon(world, thread[1]), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    assert 3 + 250 == world.snapshot_stats().post_reads - before == result.usage.tweets_read


@pytest.mark.parametrize(("metrics", "lunch"), [("counted", 0), ("zeros", 1), ("absent", 1)])  # lunch: read or not
def test_an_old_thread_whose_last_post_has_no_reply_but_the_summon_reads_only_the_hour_after(
    world: World,
    api: XApi,
    store: Store,
    settings: Settings,
    metrics: Literal["counted", "zeros", "absent"],
    lunch: int,
) -> None:
    """Summoned under its last post, the summon its only reply (X's reply_count, read with every post): the hour
    after it is read all the same (what answered a deleted post of the thread is in no count), then the counts
    end the walk: the author's lunch three hours later is neither read nor billed. Counts that disagree with what
    was read (zeros: the thread's own posts each have a reply) or none at all are not taken: the rest of the day
    after it is read too, lunch and all."""
    world.set_post_metrics(metrics)
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(days=30))
    world.add_tweet(AUTHOR, "lunch", created_at=world.now() - timedelta(days=30) + timedelta(hours=3))

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    assert 1 + lunch == result.usage.by_endpoint[TIMELINE]
    assert 4 + lunch == result.usage.tweets_read == world.snapshot_stats().post_reads


def test_a_timeline_x_refuses_is_not_asked_again_for_a_while(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """403 on the timeline (an access level without it): the thread is answered as before, the refusal logged
    with what to do, and the next old thread does not ask again."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(days=30))
    world.add_tweet(READER, "great thread", reply_to=thread[-1])  # (the thread may go on under its last post)
    world.inject_fault("GET", f"/2/users/{world.find_user(AUTHOR).id}/tweets", status=403)  # type: ignore[union-attr]

    with capture_logs() as logs:
        first = resolve(api, store, summon(world, thread[1]), settings)
    second = resolve(api, store, summon(world, thread[3]), settings, fresh_for=0)

    assert (thread[:2], ["older_than_search_window"]) == (ids_of(first), gaps_of(first))
    refused = [line for line in logs if line["event"] == "user_timeline_refused"]
    assert refused and "UNROLL_OLD_THREAD_HOURS" in refused[0]["fix"]
    assert (thread, ["older_than_search_window"]) == (ids_of(second), gaps_of(second))
    assert TIMELINE not in second.usage.by_endpoint
    # …nor another process (a later `run --once`): the refusal is kept in Redis.
    other = post_thread(world, numbered(2), start=world.now() - timedelta(days=20))
    elsewhere = resolve(XApi(settings), store, summon(world, other[0]), settings)
    assert TIMELINE not in elsewhere.usage.by_endpoint
    assert {403: 1} == world.request_counts()[TIMELINE]


def test_a_stored_old_thread_that_may_stop_early_is_followed_at_its_refresh(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A copy stored before the timeline could be read (it says it may stop early) is followed from its newest
    post when summoned again: the posts after it come, read once."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(days=30))
    early = resolve(api, store, summon(world, thread[2]), settings.model_copy(update={"old_thread_hours": 0}))
    assert early.thread is not None
    store.save_thread(early.thread)

    later = resolve(api, store, summon(world, thread[2]), settings, fresh_for=0)

    assert (thread, []) == (ids_of(later), gaps_of(later))
    # The day after post 3, then the minutes after 5 add: the copy's posts were not read again, so X's counts of
    # their replies are not known (one may have a new one), and the span after the thread's newest post is read.
    assert 2 == later.usage.by_endpoint[TIMELINE]
    assert 2 == cost(later)[1]  # posts 4 and 5


def test_a_walk_that_finds_nothing_more_is_kept_so_that_the_next_summon_walks_no_more(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A stored copy that said it may stop early, followed and found whole: the page changes (the note goes), so
    the copy is saved again, and the next summon reads no timeline (the copy was read whole since)."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(days=30))
    early = resolve(api, store, summon(world, thread[-1]), settings.model_copy(update={"old_thread_hours": 0}))
    assert early.thread is not None
    store.save_thread(early.thread)

    later = resolve(api, store, summon(world, thread[-1]), settings, fresh_for=0)
    assert later.thread is not None
    store.save_thread(later.thread)
    again = resolve(api, store, summon(world, thread[-1]), settings, fresh_for=0)

    assert ("resolved", thread, []) == (later.outcome, ids_of(later), gaps_of(later))
    # The hour after its last post, then the rest of the day (the copy's posts were not read again: no counts)
    # find nothing, and a copy does not say how many posts its author made: that post, asked for alone, says the
    # timeline still reaches it (the thread ended; not beyond X's 3,200).
    assert (3, 1) == (later.usage.by_endpoint[TIMELINE], later.usage.tweets_read)
    assert ("cached", "nothing_new", []) == (again.outcome, again.reason, gaps_of(again))
    assert TIMELINE not in again.usage.by_endpoint


def test_a_copy_read_whole_inside_the_window_is_followed_from_when_it_was_read(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A thread read whole 10 days ago (then inside the window), continued 20 hours after it began: today that
    post is older than the window and newer than the copy; the timeline from the copy's reading finds it, and
    nothing older than that reading is read again."""
    start = world.now() - timedelta(days=10, hours=2)
    thread = post_thread(world, numbered(3), start=start)
    world.set_now(start + timedelta(hours=1))
    read = resolve(api, store, summon(world, thread[-1]), settings, now=world.now())
    world.set_clock_offset(0)
    assert read.thread is not None and [] == read.thread.gaps
    store.save_thread(read.thread)
    more = world.add_tweet(AUTHOR, "4/ one more", reply_to=thread[-1], created_at=start + timedelta(hours=20))

    later = resolve(api, store, summon(world, thread[0]), settings, fresh_for=0)

    assert ([*thread, more.id], []) == (ids_of(later), gaps_of(later))
    assert TIMELINE in later.usage.by_endpoint
    assert 1 == cost(later)[1]  # the new post alone


def test_the_endpoint_name_is_the_adapters() -> None:
    assert TIMELINE == USER_POSTS


@hypothesis_settings(PROPERTY, max_examples=40)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=23 * 60), min_size=1, max_size=12),
    chatter=st.lists(st.integers(min_value=0, max_value=60 * 60), max_size=30),
    summoned=st.integers(min_value=0),
    age=st.integers(min_value=8, max_value=60),
)
def test_an_old_thread_whose_posts_are_less_than_a_span_apart_is_found_whole_each_post_billed_once(
    sandbox: SandboxServer,
    api: XApi,
    store: Store,
    settings: Settings,
    gaps: list[int],
    chatter: list[int],
    summoned: int,
    age: int,
) -> None:
    """Any old thread (no full archive) whose posts are less than UNROLL_OLD_THREAD_HOURS apart (minutes `gaps`),
    the author posting other things in between (`chatter`, minutes after the first post), summoned under any of
    its posts: the page holds the whole thread and says nothing is missing, and no post is billed twice (what the
    sandbox billed is at most every post there is, and what the bot counted)."""
    world = fresh(sandbox)
    start = world.now() - timedelta(days=age)
    times = [start]
    for gap in gaps:
        times.append(times[-1] + timedelta(minutes=gap))
    times = [t for t in times if t < world.now() - timedelta(days=7, minutes=10)]  # all of it older than the window
    thread: list[str] = []
    for index, when in enumerate(times):
        parent = thread[-1] if thread else None
        thread.append(world.add_tweet(AUTHOR, f"{index + 1}/ part", created_at=when, reply_to=parent).id)
    for minutes in chatter:
        world.add_tweet(
            AUTHOR, f"something else at {minutes}", created_at=start + timedelta(minutes=minutes, seconds=30)
        )
    request = summon(world, thread[summoned % len(thread)])

    # A span finding posts takes a request, and the minutes it adds after them one more: 2 per post at most.
    pages = {"single_tweet": "unroll", "old_thread_pages": 2 * len(times) + 1}
    result = resolve(api, store, request, settings.model_copy(update=pages))

    assert (thread, []) == (ids_of(result), gaps_of(result))
    billed = world.snapshot_stats().post_reads
    assert billed == result.usage.tweets_read
    # …but the thread's newest post, read again when a span finds nothing (does the timeline still reach it?)
    assert billed <= len(thread) + len(chatter) + 1


@hypothesis_settings(PROPERTY, max_examples=25)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=20 * 60), min_size=1, max_size=6),
    chatter=st.integers(min_value=0, max_value=400),
    every=st.integers(min_value=1, max_value=30),
    summoned=st.integers(min_value=0),
    answered=st.lists(st.integers(min_value=0), max_size=3),
)
def test_an_old_thread_of_a_prolific_author_is_found_whole_each_post_billed_once(
    sandbox: SandboxServer,
    api: XApi,
    store: Store,
    settings: Settings,
    gaps: list[int],
    chatter: int,
    every: int,
    summoned: int,
    answered: list[int],
) -> None:
    """Any old thread whose author posted up to 400 other things meanwhile, one every `every` minutes from its
    first post (pages of X's timeline full, newest first), readers answering some of its posts (`answered`: X's
    reply counts then say it may go on): with pages enough, the whole thread, nothing said missing, and no post
    billed twice (the pages read ahead are never read again)."""
    world = fresh(sandbox)
    start = world.now() - timedelta(days=30)
    times = [start]
    for gap in gaps:
        times.append(times[-1] + timedelta(minutes=gap))
    thread: list[str] = []
    for index, when in enumerate(times):
        parent = thread[-1] if thread else None
        thread.append(world.add_tweet(AUTHOR, f"{index + 1}/ part", created_at=when, reply_to=parent).id)
    for n in range(chatter):
        world.add_tweet(AUTHOR, f"chatter {n}", created_at=start + timedelta(minutes=every * n, seconds=20))
    for index in answered:
        world.add_tweet(READER, "nice", reply_to=thread[index % len(thread)])
    request = summon(world, thread[summoned % len(thread)])

    update = {"single_tweet": "unroll", "old_thread_pages": 32}
    result = resolve(api, store, request, settings.model_copy(update=update))

    assert (thread, []) == (ids_of(result), gaps_of(result))
    billed = world.snapshot_stats().post_reads
    assert billed == result.usage.tweets_read
    assert billed <= len(thread) + chatter + 1


def test_a_thread_beyond_its_authors_timeline_reach_is_never_called_a_lone_post(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """An author who posted 3,300 times since: X's timeline (their latest 3,200) no longer reaches the thread, so a
    span after it finds nothing, as after a thread that ended. The author's post count (public_metrics) says it
    may be out of reach: the thread's newest post, asked for alone, does not come. Summoned under the first post:
    too old (not "not part of a thread"); under the third: its page says it may stop early."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(4), start=start)
    for n in range(3300):
        world.add_tweet(AUTHOR, f"chatter {n}", created_at=start + timedelta(hours=30, minutes=n))

    under_first = resolve(api, store, summon(world, thread[0]), settings)
    under_third = resolve(api, store, summon(world, thread[2]), settings, fresh_for=0)

    assert ("no_thread", "older_than_search_window") == (under_first.outcome, under_first.reason)
    assert (thread[:3], ["older_than_search_window"]) == (ids_of(under_third), gaps_of(under_third))
    assert 0 == under_third.usage.tweets_read - 3  # the climb's three posts; nothing came from the timeline


def test_a_thread_beyond_the_timelines_reach_is_known_so_before_the_day_after_it_is_read(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author went on posting every minute an hour after the thread, 3,300 times (the timeline's oldest posts
    now come a day later), and a reader answered the thread: the hour after it comes empty, so whether the
    timeline still reaches the thread is asked at once (it does not), not after the whole day's posts were read
    and billed (some 340 of them, for a "can't be unrolled" all the same)."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(4), start=start)
    world.add_tweet(READER, "and then?", reply_to=thread[-1], created_at=start + timedelta(minutes=30))
    for n in range(3300):
        world.add_tweet(AUTHOR, f"chatter {n}", created_at=start + timedelta(minutes=61 + n))

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert ("no_thread", "older_than_search_window") == (result.outcome, result.reason)
    assert result.usage.by_endpoint[TIMELINE] <= 2 and result.usage.tweets_read <= 2


def test_an_author_within_the_timelines_reach_costs_no_second_read(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The same thread by an author of a few posts: their post count says the timeline reaches it, so the span
    that finds nothing is the thread's end, and no post is asked for again (a reader answered the last post: the
    thread may have gone on under it)."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(days=30))
    world.add_tweet(READER, "and then?", reply_to=thread[-1])

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    # The hour after the last post, then the rest of the day (X counts a reply not read: the reader's): 2 requests
    assert (2, 4) == (result.usage.by_endpoint[TIMELINE], result.usage.tweets_read)


def test_a_deleted_post_in_the_old_part_of_a_thread_that_went_on_into_the_window_cuts_nothing_off(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Begun 8 days ago, post 3 deleted, continued two days ago: the window's search gives 5, the climb 4 and stops at
    3; the timeline between the first post and 4 gives 2. No timeline after 5: it is in the window."""
    old = post_thread(world, numbered(4), start=world.now() - timedelta(days=8))
    recent = post_thread_after(world, old[-1], ["5/ later"], [world.now() - timedelta(days=2)])
    world.delete_tweet(old[2])

    result = resolve(api, store, summon(world, recent[0]), settings)

    assert ([*old[:2], old[3], *recent], ["deleted_tweets"]) == (ids_of(result), gaps_of(result))
    assert 1 == result.usage.by_endpoint[TIMELINE]
    assert 4 == cost(result)[1]  # each post once


@pytest.mark.parametrize("under", [0, 2, 4])
def test_an_old_thread_answering_someone_elses_post_is_followed_too(
    world: World, api: XApi, store: Store, settings: Settings, under: int
) -> None:
    """alice's 5-post thread answering bob's post, both a month old: summoned under her first post it was "not
    part of a thread", under the third it stopped there. Her timeline in the hour after the summoned post gives
    the rest, and X's reply counts then say nothing follows."""
    world.add_user("bob")
    _, thread = answering_thread(world, asked=timedelta(days=30), answered=timedelta(days=29))

    result = resolve(api, store, summon(world, thread[under]), settings)

    assert ("resolved", thread, []) == (result.outcome, ids_of(result), gaps_of(result))
    assert 1 == result.usage.by_endpoint[TIMELINE]
    assert 1 + len(thread) == result.usage.tweets_read  # bob's post and hers, each once


@pytest.mark.parametrize(("deleted", "under"), [(1, 0), (2, 1)])
def test_what_answered_a_deleted_post_of_an_old_thread_is_found_though_no_count_shows_it(
    world: World, api: XApi, store: Store, settings: Settings, deleted: int, under: int
) -> None:
    """Six posts a minute apart, a month old, one deleted below the summoned post: X's reply counts leave the
    deleted post out, so the summoned post seems to have no reply but the summon. The hour after it is read
    whatever the counts say: the posts that answered the deleted one are there, and the page goes on over it."""
    thread = post_thread(world, numbered(6), start=world.now() - timedelta(days=30))
    world.delete_tweet(thread[deleted])

    result = resolve(api, store, summon(world, thread[under]), settings)

    kept = [post for index, post in enumerate(thread) if index != deleted]
    assert ("resolved", kept, ["deleted_tweets"]) == (result.outcome, ids_of(result), gaps_of(result))


def test_an_old_thread_edited_after_it_went_on_is_followed_from_the_first_version(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Post 3 of 6 edited a quarter of an hour after it was made, when posts 4–6 already answered its first
    version: the edit is newer than them, and X counts their replies on the version they answered. The walk
    starts after post 3 as first written, and an edited post's count is not taken: the page is whole."""
    world.set_clock_offset(-30 * 86400)
    thread = post_thread(world, numbered(6), start=world.now() - timedelta(minutes=20))
    edit = world.edit_tweet(thread[2], "3/ part 3, corrected")
    world.set_clock_offset(0)

    result = resolve(api, store, summon(world, edit.id), settings)

    assert ([*thread[:2], edit.id, *thread[3:]], []) == (ids_of(result), gaps_of(result))


def test_an_empty_timeline_page_that_says_more_follow_is_paged_on(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """X applies `exclude=retweets` after `max_results`: a page may come empty with a next_token, and paging goes
    on until none comes. The walk's first answer is such a page: the next one holds the thread."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(days=30))
    world.inject_fault("GET", f"/2/users/{world.find_user(AUTHOR).id}/tweets", empty_page=True)  # type: ignore[union-attr]

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert ("resolved", thread, []) == (result.outcome, ids_of(result), gaps_of(result))
    assert 2 == result.usage.by_endpoint[TIMELINE]


def test_a_summon_under_a_busy_readers_old_quote_of_a_thread_gets_the_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """dan quotes alice's month-old thread ("this 🧵") and goes on posting 40 times an hour; carol answers his
    quote, so X counts a reply the bot has not read. Summoned under dan's quote: one page of his timeline tells
    he did not go on from it (the request's other pages are not spent on him), and the page is alice's thread."""
    world.add_user("dan")
    world.add_user("carol")
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(4), start=start)
    quote = world.add_tweet("dan", "this 🧵 is great", quote_of=thread[0], created_at=start + timedelta(hours=5)).id
    for n in range(400):
        world.add_tweet("dan", f"dan says {n}", created_at=start + timedelta(hours=5, seconds=90 * (n + 1)))
    world.add_tweet("carol", "agreed", reply_to=quote)

    result = resolve(api, store, summon(world, quote), settings)

    assert ("resolved", thread) == (result.outcome, ids_of(result))
    assert 2 == result.usage.by_endpoint[TIMELINE]  # a page of dan's, the hour after alice's last post
    assert result.usage.tweets_read <= 1 + 100 + len(thread)  # the quote, a page of dan's, the thread


def test_one_page_allowed_reads_the_hour_after_not_the_far_end_of_the_day(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """UNROLL_OLD_THREAD_PAGES=1 and an author who posted 400 other things that day: the one page is the hour after
    the summoned post (most threads are posted within it), not the day's newest 100 posts (X gives a timeline
    newest first), and X's counts then say the thread ended there."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(4), start=start)
    chatter(world, start + timedelta(minutes=5), 400, timedelta(minutes=3))

    result = resolve(api, store, summon(world, thread[0]), settings.model_copy(update={"old_thread_pages": 1}))

    assert (thread, [], 1) == (ids_of(result), gaps_of(result), result.usage.by_endpoint[TIMELINE])


def test_a_branch_hours_later_is_found_without_reading_the_far_end_of_the_day(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author posts 30 other things an hour, and adds a post under post 2 five hours after the thread (X
    counts it: post 2 has a reply not read). Each read after the first is sized from how fast they posted: the
    walk reads on from the thread's side, finds the branch, and X's counts then end it, well before the day's
    far end (720 posts, 7 pages or more read newest first)."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(3), start=start)
    chatter(world, start + timedelta(minutes=3), 720, timedelta(minutes=2))
    branch = world.add_tweet(AUTHOR, "2b/ more on 2", reply_to=thread[1], created_at=start + timedelta(hours=5)).id

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert result.thread is not None
    assert {*thread, branch} == {t.id for t in result.thread.every_tweet}
    assert [] == gaps_of(result)
    assert result.usage.tweets_read <= len(thread) + 1 + 30 * 8  # the thread, the branch, some hours of chatter


def test_a_busy_first_hour_is_read_whole_before_the_counts_end_the_walk(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Post 2 of 6 deleted, the author posting 150 other things in the hour after the first: the first page is
    the newest 100 of that hour, and X's counts (the deleted post in none) say the first post has no reply but
    the summon. The hour is read to its end all the same: posts 3–6, which answered the deleted one, are found."""
    start = world.now() - timedelta(days=30)
    thread = post_thread(world, numbered(6), start=start)
    world.delete_tweet(thread[1])
    chatter(world, start + timedelta(minutes=10), 150, timedelta(seconds=20))

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert ([thread[0], *thread[2:]], ["deleted_tweets"]) == (ids_of(result), gaps_of(result))


def test_a_busy_quoter_who_went_on_under_his_quote_gets_his_own_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """dan quotes alice's month-old thread and, five minutes later, goes on under his quote with a thread of his
    own, posting 40 other things an hour: his one page is the hour after his quote, which holds his thread, and
    the summon under his quote gets it (not alice's)."""
    world.add_user("dan")
    start = world.now() - timedelta(days=30)
    quoted = post_thread(world, numbered(3), start=start)
    quote = world.add_tweet("dan", "this 🧵, and my take 1/", quote_of=quoted[0], created_at=start + timedelta(hours=5))
    take = world.add_tweet("dan", "2/ my take", reply_to=quote.id, created_at=start + timedelta(hours=5, minutes=5))
    for n in range(400):
        world.add_tweet("dan", f"dan says {n}", created_at=start + timedelta(hours=5, seconds=90 * (n + 1) + 7))

    result = resolve(api, store, summon(world, quote.id), settings)

    assert ("resolved", [quote.id, take.id]) == (result.outcome, ids_of(result))


def test_an_edited_posts_earlier_versions_are_read_for_their_counts_not_the_day(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The thread's last post was edited (a new id; X counts each version's replies on it): its latest version's
    count says nothing of the first's. The first version is read for its count (one request, one post) and the
    walk ends after the hour after the thread, where reading the author's 400 other posts of the day would not."""
    world.set_clock_offset(-30 * 86400)
    start = world.now() - timedelta(minutes=20)
    thread = post_thread(world, numbered(4), start=start)
    edit = world.edit_tweet(thread[-1], "4/ the end, corrected")
    chatter(world, start + timedelta(hours=2), 400, timedelta(minutes=3))
    world.set_clock_offset(0)

    result = resolve(api, store, summon(world, edit.id), settings)

    assert ([*thread[:3], edit.id], []) == (ids_of(result), gaps_of(result))
    assert 1 == result.usage.by_endpoint[TIMELINE]
    assert result.usage.tweets_read <= 4 + 2  # the thread, the edit's first version (maybe twice)


def going_on(world: World, start: datetime, after: timedelta) -> tuple[list[str], list[str]]:
    """A 3-post thread from `start`, and 3 more posts going on with it `after` it, a minute apart."""
    thread = post_thread(world, numbered(3), start=start)
    texts, times = ["4/ later", "5/ on", "6/ end"], [start + after + timedelta(minutes=m) for m in range(3)]
    return thread, post_thread_after(world, thread[-1], texts, times)


@pytest.mark.parametrize(
    ("going", "burst", "bound"),
    [
        (3, (8, 800, 4), 6 + 30 + 100),  # the thread, some quiet hours, one page of the burst
        (18, (6, 600, 6), 6 + 72 + 600 - 1),  # the burst not read whole
    ],
)
def test_a_burst_of_the_authors_between_the_thread_and_its_rest_costs_the_thread_nothing(
    world: World,
    api: XApi,
    store: Store,
    settings: Settings,
    going: int,
    burst: tuple[int, int, int],
    bound: int,
) -> None:
    """An author posting 3 things an hour goes on with the thread `going` hours after it, and posts hundreds of
    things in an hour in between (`burst`: hours after, how many, seconds apart). A read that overflows into the
    burst keeps its newest page (read ahead). Going on 3 hours later: the hours before the burst are read half
    by half, not at the burst's pace a few minutes a request, and the thread's rest is found within the page
    cap. Going on 18 hours later, post 4 on the page read ahead: X's counts say no post of the thread before it
    has a reply not read (post 3's is post 4), so the burst before it holds none of the thread and is skipped."""
    start = world.now() - timedelta(days=30)
    thread, later = going_on(world, start, timedelta(hours=going))
    chatter(world, start + timedelta(minutes=10), 72, timedelta(minutes=20))
    at, count, every = burst
    chatter(world, start + timedelta(hours=at, seconds=1), count, timedelta(seconds=every))

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert ([*thread, *later], []) == (ids_of(result), gaps_of(result))
    assert result.usage.tweets_read <= bound


def test_a_busy_hours_leftover_is_read_in_one_request(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """An author posting 150 things an hour all day goes on with the thread 5 hours after it. The first hour
    overflows (its newest page read ahead); the 50 posts left before that page, at its pace less than a read,
    are read in one request, not halved into two, and the ten pages reach the rest of the thread."""
    start = world.now() - timedelta(days=30)
    thread, later = going_on(world, start, timedelta(hours=5))
    chatter(world, start + timedelta(minutes=3), 900, timedelta(seconds=24))

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert ([*thread, *later], []) == (ids_of(result), gaps_of(result))
