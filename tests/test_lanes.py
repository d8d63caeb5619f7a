"""A worker process handles UNROLL_WORKER_CONCURRENCY requests at once, in lanes sharing its consumer: a backlog
is answered several at a time, each mention once; mentions of one thread still read it once; a shutdown whose
grace runs out leaves every lane's request to another worker; a lane's failure is raised once the others are done.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from bot import spending
from bot.errors import AuthFailed
from bot.poller import poll_once
from bot.processes import in_thread, lanes, run_for_cron, run_once, run_worker, wait_for
from bot.sandbox import SandboxClient, SandboxServer
from bot.sandbox.samples import add_unroll_request
from bot.store import Store
from bot.worker import work_once
from config.settings import Settings
from tests.conftest import BOT_HANDLE, PREFIXES
from tests.helpers import make_bot, post_thread


def summons(sandbox: SandboxServer, threads: int, *, posts: int = 3, readers: int = 1) -> list[str]:
    """`readers` summons under the last post of each of `threads` new threads; the mentions' ids."""
    mentions = []
    for index in range(threads):
        ids = post_thread(sandbox.world, posts, author=f"author{index}")
        for reader in range(readers):
            mentions.append(add_unroll_request(sandbox.world, ids[-1], by=f"reader{index}x{reader}", bot=BOT_HANDLE).id)
    return mentions


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_backlog_is_answered_that_many_at_a_time_each_mention_once(
    sandbox: SandboxServer, settings: Settings, store: Store, concurrency: int
) -> None:
    """Eight summons under eight threads, one `run --once`: with 4 lanes, up to 4 requests are at X together (the
    sandbox counts the most it answered at once), never more; with 1, one at a time as before. Either way every
    mention gets one reply."""
    bot = make_bot(settings, store, worker_concurrency=concurrency)
    mentions = summons(sandbox, 8)
    sandbox.world.set_latency(0.05)  # each request at X for a moment: lanes at X together overlap
    try:
        finished = run_once(bot)
    finally:
        sandbox.world.set_latency(0.0)
    replied = sorted(p.in_reply_to_tweet_id for p in sandbox.world.posted())
    most = sandbox.world.most_in_flight()
    client = SandboxClient(sandbox.url)
    said = client.snapshot_stats().most_in_flight  # what GET /_sandbox/stats tells an operator rehearsing
    client.close()
    assert (8, sorted(mentions)) == (finished, replied)
    assert (most > 1, most <= concurrency, most) == (concurrency > 1, True, said)


def test_mentions_of_one_thread_in_lanes_read_it_once_as_one_at_a_time_does(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Six readers summon under one new thread in one poll: the lanes taking them at once wait for the one that
    reads the thread (its lock in Redis) and answer from its copy. X bills what one lane at a time is billed."""
    billed = []
    for concurrency in (1, 4):
        sandbox.world.reset()
        sandbox.world.add_user(BOT_HANDLE, me=True)
        PREFIXES.add(f"{store.prefix}-lanes{concurrency}")  # deleted at the run's end on a shared Redis
        prefixed = Store(store.redis, f"{store.prefix}-lanes{concurrency}")
        bot = make_bot(settings, prefixed, worker_concurrency=concurrency)
        summons(sandbox, 1, posts=12, readers=6)
        sandbox.world.set_latency(0.05)
        try:
            assert 6 == run_once(bot)
        finally:
            sandbox.world.set_latency(0.0)
        stats = sandbox.world.snapshot_stats()
        billed.append((stats.requests, stats.post_reads, len(sandbox.world.posted())))
        most = stats.most_in_flight
    assert billed[0] == billed[1]
    assert 6 == billed[1][2]
    assert most > 1  # once the first read the thread, the other five replies were posted side by side


def test_a_workers_lanes_answer_summons_of_a_stored_thread_side_by_side(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A thread stored moments ago and six more summons of it taken by a `work` process's 4 lanes: each answers
    from the copy and gives the thread's lock back at once, so their replies are posted side by side (the lock
    was held through each reply's POST, and the lanes answered one after the other). Nothing more is read."""
    bot = make_bot(settings, store, worker_concurrency=4)
    ids = post_thread(sandbox.world, 5, author="author")
    add_unroll_request(sandbox.world, ids[-1], by="first_reader", bot=BOT_HANDLE)
    assert 1 == run_once(bot)
    read = sandbox.world.snapshot_stats().post_reads
    for reader in range(6):
        add_unroll_request(sandbox.world, ids[-1], by=f"reader{reader}", bot=BOT_HANDLE)
    poll_once(bot)
    assert 1 == sandbox.world.most_in_flight()  # so far, one request at a time
    workers = lanes(bot)
    sandbox.world.set_latency(0.3)
    worker = in_thread(run_worker, workers, bot.stopping, "lanes", name="worker")
    try:
        deadline = time.monotonic() + 20
        while len(sandbox.world.posted()) < 7 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        bot.stopping.set()
        sandbox.world.set_latency(0.0)
        worker.join(timeout=10)
    stats = sandbox.world.snapshot_stats()
    assert (7, read) == (len(sandbox.world.posted()), stats.post_reads)
    assert stats.most_in_flight >= 3  # one at a time, at most the first's reply beside the second's


def test_a_shutdown_past_its_grace_leaves_the_request_in_hand_of_every_lane(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Two lanes each in the POST of a reply that outlasts the grace: both requests are left (each lane's
    `in_hand`, where only the first lane's was), and another worker finishes both at once, posting nothing again."""
    bot = make_bot(settings, store, http_timeout=30.0, visibility_timeout=60.0, worker_concurrency=2)
    mentions = summons(sandbox, 2)
    poll_once(bot)
    sandbox.world.inject_fault("POST", "/2/tweets", drop=True, after=True, delay=4.0, count=2)
    workers = lanes(bot)
    stop = bot.stopping
    with capture_logs() as events:
        worker = in_thread(run_worker, workers, stop, "slow", name="worker")
        deadline = time.monotonic() + 10
        while len(sandbox.world.posted()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        stopped = wait_for(stop, [worker], workers, grace=0.5)
        left = [e for e in events if e["event"] == "request_left_at_shutdown"]
    later = make_bot(settings, store, visibility_timeout=60.0)
    finished = work_once(later, "later", count=2) + work_once(later, "later", count=2)
    worker.join(timeout=15)
    assert (False, 2) == (stopped, len(left))
    assert (2, sorted(mentions)) == (finished, sorted(p.in_reply_to_tweet_id for p in sandbox.world.posted()))
    assert 2 == sum(sandbox.world.request_counts()["POST /2/tweets"].values())


def test_a_cron_run_stopped_mid_drain_finishes_what_its_lanes_hold_and_begins_no_other(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """SIGTERM (`bot.stopping`) at the first reply of a cron run with 2 lanes and 6 summons under 6 threads: the
    lanes finish the requests they hold (at most 2), begin no other, and leave the rest claimable at once: the next
    run answers them, each mention once."""
    bot = make_bot(settings, store, visibility_timeout=600, worker_concurrency=2)
    mentions = summons(sandbox, 6)

    def stop_after_a_reply(response: Any, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "POST":
            bot.stopping.set()

    bot.api.client.session.hooks["response"].append(stop_after_a_reply)
    ran = run_for_cron(bot)
    again = run_for_cron(make_bot(settings, store, visibility_timeout=600, worker_concurrency=2))
    assert (True, 6, True, 0) == (1 <= ran.finished <= 2, ran.finished + ran.waiting, ran.stopped, ran.elsewhere)
    assert (6 - ran.finished, 0) == (again.finished, again.waiting)
    assert sorted(mentions) == sorted(p.in_reply_to_tweet_id for p in sandbox.world.posted())


def test_lanes_pass_the_daily_budget_by_at_most_a_request_each_and_leave_the_rest_waiting(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Eight summons under eight threads, a budget of about two answers, 2 lanes: each lane checks the budget as it
    begins a request, so the day passes it by at most one request per lane (what README tells operators), and the
    rest wait on the stream for tomorrow."""
    bot = make_bot(settings, store, daily_budget=0.5, worker_concurrency=2)
    summons(sandbox, 8)
    finished = run_once(bot)
    assert (True, 8 - finished) == (1 <= finished <= 2 + 2, store.queue_depth())
    assert spending.over_budget(store, bot.settings)


def test_a_lane_refused_by_x_is_raised_once_the_other_lanes_are_done(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """One reply of three refused with a 401 in a cron run of 3 lanes: the run raises it (exit 3), after the
    other lanes answered theirs; the refused request waits on the stream for the next run, which answers it."""
    bot = make_bot(settings, store, worker_concurrency=3)
    mentions = summons(sandbox, 3)
    sandbox.world.inject_fault("POST", "/2/tweets", status=401, count=1)
    with pytest.raises(AuthFailed):
        run_for_cron(bot)
    answered = len(sandbox.world.posted())
    waiting = store.queue_depth()
    again = run_for_cron(make_bot(settings, store, worker_concurrency=3))
    assert (2, 1) == (answered, waiting)
    assert (1, 0) == (again.finished, again.waiting)
    assert sorted(mentions) == sorted(p.in_reply_to_tweet_id for p in sandbox.world.posted())


def test_a_summon_that_waited_for_its_thread_while_its_author_opted_out_reads_nothing(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A reader's request waits for the thread's lock while another worker (a lane of the same process, in a
    clean-room run) handles the author's "delete": once it has the lock, it asks again whether the author opted
    out, and stops there with nothing read. It read the whole thread again, each such reader, for a save refused."""
    bot = make_bot(settings, store, worker_concurrency=1)
    ids = post_thread(sandbox.world, 4, author="author")
    add_unroll_request(sandbox.world, ids[-1], by="reader", bot=BOT_HANDLE)
    poll_once(bot)
    holder = store.lock(f"thread:{ids[0]}", timeout=settings.visibility_timeout)
    assert holder.acquire(blocking=False)
    asked = sandbox.world.snapshot_stats().requests
    worker = in_thread(lambda: work_once(bot, "reader-lane", count=1), name="reader-lane")
    time.sleep(0.5)  # the reader's request is in hand, waiting for the thread's lock
    author = sandbox.world.find_user("author")
    assert author is not None
    store.opt_out("author", author.id)
    holder.release()
    worker.join(timeout=10)
    (record,) = store.handled(limit=1)
    reads = {
        endpoint: codes for endpoint, codes in sandbox.world.snapshot_stats().requests.items() if "GET" in endpoint
    }
    assert ("author_opted_out", 0) == (record.reason, record.tweets_read)
    assert {endpoint: codes for endpoint, codes in asked.items() if "GET" in endpoint} == reads  # nothing read


def test_a_lane_refused_in_the_first_round_leaves_the_second_rounds_requests_claimable_at_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Two summons of one thread and one of another in a cron run of 2 lanes: the first round (each thread's first
    summon) meets a 401 and the run raises it (exit 3). The second round's summon, begun by no one, is claimable
    at once: the next run answers both that are left, where it was held for the visibility timeout."""
    bot = make_bot(settings, store, worker_concurrency=2, visibility_timeout=600)
    ids = post_thread(sandbox.world, 3, author="author")
    mentions = [add_unroll_request(sandbox.world, ids[-1], by=f"reader{n}", bot=BOT_HANDLE).id for n in range(2)]
    mentions += summons(sandbox, 1)
    sandbox.world.inject_fault("POST", "/2/tweets", status=401, count=1)
    with pytest.raises(AuthFailed):
        run_for_cron(bot)
    answered = len(sandbox.world.posted())
    again = run_for_cron(make_bot(settings, store, worker_concurrency=2, visibility_timeout=600))
    assert (1, 2, 0) == (answered, again.finished, again.waiting)
    assert sorted(mentions) == sorted(p.in_reply_to_tweet_id for p in sandbox.world.posted())
