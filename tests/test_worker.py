"""The worker on the sandbox and a real Redis: outcomes, exactly one reply, holds and failures."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from bot import processes, spending, worker
from bot.errors import AuthFailed, WriteRefused
from bot.models import Thread, UnrollRequest
from bot.poller import poll_once
from bot.processes import run_once
from bot.sandbox import SandboxServer
from bot.store import Store
from bot.worker import drain, work_once
from bot.xapi import POST_TWEETS, Window, XApi
from config.settings import Settings
from tests.conftest import CREDENTIALS
from tests.helpers import AUTHOR, READER, make_bot, post_thread, summon


def replies_to(sandbox: SandboxServer, mention_id: str) -> list[str]:
    return [p.text for p in sandbox.world.posted() if p.in_reply_to_tweet_id == mention_id]


def test_request_is_answered_and_recorded_with_its_cost(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The reply links to the thread; the record says who, what, how much and how long."""
    thread = post_thread(sandbox.world, 5)
    mention = summon(sandbox.world, thread[2])
    bot = make_bot(settings, store)

    assert 1 == run_once(bot)

    assert [f"Hi @{READER}, here is the thread unrolled: http://127.0.0.1:8000/thread/{thread[0]}"] == replies_to(
        sandbox, mention
    )
    record = store.handled_one(mention)
    assert record is not None
    assert ("replied", thread[0], 5, READER) == (record.outcome, record.root_id, record.tweets, record.requester)
    assert (3, 5) == (record.api_requests, record.tweets_read)  # root lookup, one search, the reply
    assert record.latency_s is not None and record.latency_s >= 0
    assert 0 == store.queue_depth()


def test_the_record_counts_the_posts_the_page_holds_branches_included(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The author answered their third post twice: the page holds both branches, and the record's `tweets` says
    as many posts as the page does."""
    thread = post_thread(sandbox.world, 4)
    sandbox.world.add_tweet(AUTHOR, "another way on", reply_to=thread[2])
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)

    run_once(bot)

    record = store.handled_one(mention)
    assert record is not None and ("replied", 5) == (record.outcome, record.tweets)


def test_mention_queued_twice_gets_one_reply(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """A duplicate entry on the stream finds the idempotency record and posts nothing more."""
    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    poll_once(bot)
    [request] = store.peek()
    store.enqueue([request])
    assert 2 == store.queue_depth()

    run_once(bot)

    assert 1 == len(replies_to(sandbox, mention))
    assert 0 == store.queue_depth()


def test_many_mentions_of_one_thread_cost_one_resolution(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Ten readers at once: the thread is searched once, each reader gets a reply."""
    thread = post_thread(sandbox.world, 4)
    mentions = [summon(sandbox.world, thread[-1], by=f"reader{i}") for i in range(10)]

    run_once(make_bot(settings, store))

    assert [1] * 10 == [len(replies_to(sandbox, m)) for m in mentions]
    assert 1 == sum(sandbox.world.request_counts()["GET /2/tweets/search/recent"].values())


def test_drain_reads_again_while_reads_come_back_full(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """More requests than one read takes: drain keeps reading until a read comes back short, and answers all."""
    thread = post_thread(sandbox.world, 3)
    mentions = [summon(sandbox.world, thread[-1], by=f"reader{i}") for i in range(7)]
    bot = make_bot(settings, store)
    poll_once(bot)

    assert 7 == drain(bot, "w1", count=3)  # reads of 3, 3 and 1

    assert [1] * 7 == [len(replies_to(sandbox, m)) for m in mentions]
    assert (0, 0) == (store.queue_depth(), store.pending_count())


def test_summon_under_a_single_tweet_gets_a_polite_no_thread_reply(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A lone tweet has nothing to unroll; the reader is told so."""
    [lone] = post_thread(sandbox.world, 1)
    mention = summon(sandbox.world, lone)

    run_once(make_bot(settings, store))

    assert [f"Hi @{READER}, this post is not part of a thread, so there is nothing to unroll."] == replies_to(
        sandbox, mention
    )
    record = store.handled_one(mention)
    assert record is not None and "no_thread" == record.outcome


def test_dry_run_logs_the_reply_instead_of_posting(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """In dry-run the thread is stored and rendered but nothing is posted."""
    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])

    run_once(make_bot(settings, store, dry_run=True))

    assert [] == sandbox.world.posted()
    record = store.handled_one(mention)
    assert record is not None and ("dry_run", 3) == (record.outcome, record.tweets)
    assert store.get_thread(thread[0]) is not None


def test_quotes_of_the_bots_own_replies_are_not_answered_so_no_bot_can_loop_it(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Another bot quoting each of the bot's replies with "@bot unroll": the quoted post is the bot's own (its link
    in the quote names the bot), no thread to unroll, and the bot stays silent, as for a reply to its reply (it
    answered "not part of a thread" twenty times an hour, each answer quoted again). The mention is recorded, its
    reason said, and nothing is read: the quote was looked up to learn whose post it quotes."""
    world = sandbox.world
    thread = post_thread(world, 3)
    summon(world, thread[-1])
    bot = make_bot(settings, store)
    run_once(bot)
    [answer] = [p.id for p in world.posted()]
    loops = []
    for _ in range(3):
        if world.find_user("otherbot") is None:
            world.add_user("otherbot")
        loops.append(world.add_tweet("otherbot", "@unrollbot unroll", quote_of=answer).id)
        run_once(bot)
        answer = world.posted()[-1].id
    records = [store.handled_one(m) for m in loops]
    assert (1, [("ignored:quotes_bot", "quotes_bot", 0)] * 3) == (
        len(world.posted()),
        [(r.outcome, r.reason, r.api_requests) for r in records if r is not None],
    )
    assert 1 == sum(world.request_counts()["GET /2/tweets"].values())  # the first thread's root, nothing since


def test_a_summon_that_only_links_a_post_of_the_thread_gets_the_thread(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """ "@bot unroll https://x.com/author/status/…" posted on its own (under nothing, quoting nothing) asks for
    the linked post's thread, as the link pasted on the site does (it was ignored, `not_under_a_thread`, and the
    reader never told); the reply goes to the mention, which names the bot."""
    world = sandbox.world
    thread = post_thread(world, 4)
    world.add_user(READER)
    linked = world.add_tweet(READER, f"@unrollbot unroll https://x.com/{AUTHOR}/status/{thread[1]}?s=20").id
    bare = world.add_tweet(READER, "@unrollbot unroll https://example.com/status/5").id

    run_once(make_bot(settings, store))

    record, other = store.handled_one(linked), store.handled_one(bare)
    assert (1, "replied", thread[0]) == (
        len(replies_to(sandbox, linked)),
        record and record.outcome,
        record and record.root_id,
    )
    assert ([], "ignored:not_under_a_thread") == (replies_to(sandbox, bare), other and other.outcome)


def test_deleted_mention_is_dropped(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """A mention deleted before the reply is recorded as not found and not retried."""
    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    poll_once(bot)
    sandbox.world.delete_tweet(mention)

    run_once(bot)

    record = store.handled_one(mention)
    assert record is not None and "not_found" == record.outcome
    assert 0 == store.queue_depth()


def test_second_request_by_the_same_reader_gets_a_varied_reply(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """X refuses the same text twice a day; a genuine second request still gets its reply."""
    thread = post_thread(sandbox.world, 3)
    first = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    run_once(bot)
    second = summon(sandbox.world, thread[0])

    run_once(bot)

    [one], [two] = replies_to(sandbox, first), replies_to(sandbox, second)
    assert one != two and two.startswith(one)


def test_replies_wait_while_the_daily_post_cap_is_spent(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """With the 24-hour post cap spent, requests stay on the stream and spend no reads."""
    sandbox.world.set_daily_post_limit(user=1)
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    run_once(bot)
    waiting = summon(sandbox.world, thread[0], by="late_reader")
    reads_before = sandbox.world.snapshot_stats().post_reads

    run_once(bot)

    assert [] == replies_to(sandbox, waiting)
    assert 1 == store.pending_count()
    assert reads_before == sandbox.world.snapshot_stats().post_reads
    assert store.handled_one(waiting) is None


def test_wrong_credentials_leave_the_request_to_the_next_worker_at_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A 401 is not retried and spends no try: work_once raises it (for `run --once` to exit 3) and the request is
    claimable at once, so the next worker with working credentials answers it, not a visibility timeout later."""
    thread = post_thread(sandbox.world, 2)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    poll_once(bot)
    sandbox.world.configure_credentials(consumer_key="another-key")

    with pytest.raises(AuthFailed):
        work_once(bot, "w1")
    assert 1 == store.pending_count()
    sandbox.world.configure_credentials(
        consumer_key=settings.x_api_key.get_secret_value() if settings.x_api_key else None
    )
    assert (1, 1) == (work_once(bot, "w2"), len(replies_to(sandbox, mention)))


@pytest.mark.parametrize(
    ("switch", "refused", "fix", "bearer"),
    [
        ("write_permission", WriteRefused, "Read and Write", True),
        ("bearer_in_project", AuthFailed, "set X_BEARER_TOKEN to the bearer token of the app", True),
        # The bot's own app taken out of its Project while it runs, reading with the user context (no bearer token).
        ("in_project", WriteRefused, "attached to a Project", False),
    ],
)
def test_an_app_x_refuses_for_good_loses_no_request_it_waits_then_replies_once(
    sandbox: SandboxServer,
    settings: Settings,
    store: Store,
    switch: str,
    refused: type[Exception],
    fix: str,
    bearer: bool,
) -> None:
    """X refuses every post of an app whose permission is Read only (403 `oauth1-permissions`), and every read made
    with an X_BEARER_TOKEN of an app attached to no Project (403 client-not-enrolled, while the OAuth 1.0a keys
    work): no request's final outcome, a credential refusal as a 401 is. The request stays on the stream with no
    try spent (the bearer token's refusal spent one per attempt until a dead letter), the worker says at error
    what to fix, and once X takes it the reader gets one reply."""
    thread = post_thread(sandbox.world, 2)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store) if bearer else make_bot(settings, store, x_bearer_token=None)
    poll_once(bot)
    sandbox.world.set_posting_rules(**{switch: False})

    with capture_logs() as events, pytest.raises(refused):
        work_once(bot, "w1")
    rejected = [e for e in events if e["event"] == "credentials_rejected"]
    assert (1, None, 0) == (store.pending_count(), store.handled_one(mention), store.failures(mention))
    assert 1 == len(rejected) and fix in rejected[0]["fix"]
    sandbox.world.set_posting_rules(**{switch: True})
    assert (1, 1) == (work_once(bot, "w2"), len(replies_to(sandbox, mention)))


def test_a_post_refused_for_no_reason_x_names_is_tried_again_then_dead_lettered_at_error(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A bare 403 on the reply ("Forbidden", no problem type, no detail about the post) is not taken as final
    for the request: each attempt spends a try, and after UNROLL_MAX_ATTEMPTS the request is a dead letter,
    said at error, to be requeued once the cause is mended."""
    thread = post_thread(sandbox.world, 2)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings.model_copy(update={"max_attempts": 2, "visibility_timeout": 0.2}), store)
    poll_once(bot)
    sandbox.world.inject_fault("POST", "/2/tweets", status=403, count=100)

    with capture_logs() as events:
        deadline = time.monotonic() + 10
        while not store.dead_letters() and time.monotonic() < deadline:
            work_once(bot, "w1", block_ms=100)
    levels = {e["event"]: e["log_level"] for e in events}
    assert ([mention], "error", "error") == (
        [letter["mention_id"] for letter in store.dead_letters()],
        levels.get("reply_refused"),
        levels.get("request_dead_lettered"),
    )
    assert "not_allowed" not in {e.get("outcome") for e in events}


def test_a_long_running_worker_refused_by_x_waits_and_answers_once_the_credentials_work(
    sandbox: SandboxServer, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker loop does not die on a 401 (in `run` its thread died while the web part kept the process up):
    it says so, waits, asks again, and answers once X takes the credentials."""
    monkeypatch.setattr(processes, "CREDENTIALS_WAIT", 0.2)
    thread = post_thread(sandbox.world, 2)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    poll_once(bot)
    sandbox.world.configure_credentials(consumer_key="another-key")
    stop = threading.Event()
    with capture_logs() as events:
        loop = processes.in_thread(processes.run_worker, bot, stop, "w1", name="worker")
        deadline = time.monotonic() + 10
        while not any(e["event"] == "worker_waiting_for_credentials" for e in events) and time.monotonic() < deadline:
            time.sleep(0.05)
        sandbox.world.configure_credentials(consumer_key=CREDENTIALS["x_api_key"])
        while not replies_to(sandbox, mention) and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        loop.join(timeout=10)
    assert (1, True, False) == (
        len(replies_to(sandbox, mention)),
        any(e["event"] == "credentials_rejected" for e in events),
        loop.is_alive(),
    )


def test_a_worker_whose_api_answers_404_leaves_requests_waiting_and_names_x_api_base_url(
    sandbox: SandboxServer, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running worker (its identity known) whose X_API_BASE_URL answers 404 where X never does: each
    request stays on the stream with no try spent, and the worker says at error what to fix; it is not taken
    for a deleted thread. Once the URL is mended, it is answered."""
    monkeypatch.setattr(worker, "FOREIGN_WAIT", 0.0)  # claimable again at once, not a minute later
    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])
    poll_once(make_bot(settings, store))
    wrong = make_bot(settings, store, x_api_base_url=f"{sandbox.url}/prefix")

    with capture_logs() as events:
        work_once(wrong, "w1")

    said = [(e["event"], e["log_level"]) for e in events if e["log_level"] in ("warning", "error")]
    assert [("x_api_base_url_wrong", "error")] == said
    assert (None, 1, 0) == (store.handled_one(mention), store.pending_count(), store.failures(mention))
    drain(make_bot(settings, store), "w2")
    assert ("replied", 1) == (getattr(store.handled_one(mention), "outcome", None), len(replies_to(sandbox, mention)))


def test_requests_wait_on_the_stream_once_the_daily_budget_is_spent(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Over UNROLL_DAILY_BUDGET with the `wait` policy, new requests stay queued and spend nothing."""
    thread = post_thread(sandbox.world, 3)
    first = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store, daily_budget=0.05)  # the first poll (a mention and its author) is under it
    run_once(bot)
    assert 1 == len(replies_to(sandbox, first))
    second = summon(sandbox.world, thread[0], by="late_reader")
    reads_before = sandbox.world.snapshot_stats().post_reads

    run_once(bot)

    assert [] == replies_to(sandbox, second)
    assert [second] == [r.mention_id for r in store.peek()]
    assert reads_before == sandbox.world.snapshot_stats().post_reads


def test_a_site_request_waits_for_tomorrows_budget_whatever_the_policy(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Over budget with UNROLL_OVER_BUDGET=reply_without_link, a mention gets the cheap reply; a request asked on the
    site has no reply to make cheaper: it reads nothing and waits on the stream for tomorrow's budget."""
    thread = post_thread(sandbox.world, 3)
    bot = make_bot(settings, store, daily_budget=0.01, over_budget="reply_without_link")
    spending.record(store, bot.settings, spending.Counts(post_read=10))
    store.enqueue(
        [UnrollRequest(source="web", mention_id=f"web-{thread[-1]}", requester_id="web", replied_to_id=thread[-1])]
    )
    before = sandbox.world.snapshot_stats().post_reads

    with capture_logs() as events:
        assert 0 == work_once(bot, "w1")

    assert (before, None, 1) == (
        sandbox.world.snapshot_stats().post_reads,
        store.handled_one(f"web-{thread[-1]}"),
        store.pending_count(),
    )
    assert ["request_waits_for_budget"] == [e["event"] for e in events if e["event"] == "request_waits_for_budget"]


@pytest.mark.parametrize("template", ["", "Hi @{requester}, out of budget today."])
def test_over_budget_with_the_cheap_reply_posts_its_template_or_nothing_when_it_is_empty(
    sandbox: SandboxServer, settings: Settings, store: Store, template: str
) -> None:
    """UNROLL_OVER_BUDGET=reply_without_link posts UNROLL_OVER_BUDGET_TEMPLATE and reads nothing; an empty template
    (silence, as for the other replies without a page) posts nothing, where it sent X an empty post. Either way the
    request is finished `over_budget`."""
    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store, daily_budget=0.01, over_budget="reply_without_link", over_budget_template=template)
    poll_once(bot)
    spending.record(store, bot.settings, spending.Counts(post_read=10))
    before = sandbox.world.snapshot_stats().post_reads

    assert 1 == work_once(bot, "w1")

    record = store.handled_one(mention)
    assert (before, "over_budget") == (sandbox.world.snapshot_stats().post_reads, record.outcome if record else None)
    expected = ["Hi @reader, out of budget today."] if template else []
    assert expected == [p.text for p in sandbox.world.posted()]


@pytest.mark.parametrize(("noted", "said_why"), [("", "window"), ("window", "window"), ("daily", "daily")])
def test_a_request_meeting_a_window_known_spent_says_so_quietly(
    sandbox: SandboxServer, settings: Settings, store: Store, noted: str, said_why: str
) -> None:
    """Replies are on hold (X's 429 on a post, told to every process): a request claimed meanwhile waits without
    asking X, and says so at info, not as a warning each time it is claimed again (hundreds of lines in an hour
    of a spent window), with the reason the process that met it noted: a 24-hour cap said "window" there."""
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    poll_once(bot)
    store.block_endpoint(bot.api.shared_name(POST_TWEETS), datetime.now(UTC) + timedelta(minutes=10), noted)

    with capture_logs() as events:
        assert 0 == work_once(bot, "w1")

    said = [(e["event"], e["log_level"], e["reason"]) for e in events if e["event"] == "request_rate_limited"]
    assert [("request_rate_limited", "info", said_why)] == said
    assert 0 == sandbox.world.snapshot_stats().post_reads


def test_requests_taken_with_the_poll_that_spent_the_budget_wait_too(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The budget was not spent when `run --once` began, and its poll's reads spent it: the requests the poll took
    ahead are not answered either; they wait, still on the stream, for another worker to claim them."""
    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store, daily_budget=0.01)  # the poll reads a mention and its author: over it

    assert 0 == run_once(bot)

    assert [] == replies_to(sandbox, mention)
    assert ([mention], 1) == ([r.mention_id for r in store.peek()], store.pending_count())
    assert 0 == sandbox.world.snapshot_stats().post_reads


def test_requests_of_one_batch_stop_where_their_answers_spent_the_budget(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Five summons of five new threads taken in one read by `run --once`, and a budget the first answers spend:
    the rest of the batch waits on the stream (exit 75 says so), where it answered them all, far over budget."""
    world = sandbox.world
    mentions = [summon(world, post_thread(world, 3, author=f"author{n}")[-1]) for n in range(5)]
    # About two answers: US$0.20 a reply with a link, and reads. One lane: lanes begun together may each pass the
    # budget by a request (tests/test_lanes.py).
    bot = make_bot(settings, store, daily_budget=0.5, worker_concurrency=1)

    finished = run_once(bot)

    answered = [m for m in mentions if replies_to(sandbox, m)]
    assert 1 <= finished == len(answered) < 5
    assert mentions[finished:] == [r.mention_id for r in store.peek()]
    assert spending.over_budget(store, bot.settings)
    # Left claimable at once, not held by the run that exited until the visibility timeout: the operator's next run
    # with a cheaper policy answers them all now.
    cheaper = make_bot(settings, store, daily_budget=0.5, over_budget="reply_without_link", worker_concurrency=1)
    again = processes.run_for_cron(cheaper)
    assert (5 - finished, 0) == (again.finished, again.waiting)


def test_a_cron_run_stopped_mid_batch_begins_no_other_request_and_leaves_them_to_the_next_run_at_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """`run --once` took three summons in one read; SIGTERM (a cron's timeout: `bot.stopping`) comes while the
    first is answered. That one is finished, no other is begun (it answered all three, and exited 0), and the two
    left are claimable at once: the next run answers them without waiting for the visibility timeout."""
    world = sandbox.world
    mentions = [summon(world, post_thread(world, 3, author=f"author{n}")[-1]) for n in range(3)]
    bot = make_bot(settings, store, visibility_timeout=600, worker_concurrency=1)  # lanes: tests/test_lanes.py

    def stop_after_a_reply(response: Any, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "POST":
            bot.stopping.set()

    bot.api.client.session.hooks["response"].append(stop_after_a_reply)
    with capture_logs() as logs:
        ran = processes.run_for_cron(bot)
    first = [len(replies_to(sandbox, m)) for m in mentions]
    again = processes.run_for_cron(make_bot(settings, store, visibility_timeout=600))

    assert ([1, 0, 0], 1, 2) == (first, ran.finished, ran.waiting)
    assert [2] == [e["left"] for e in logs if e["event"] == "requests_left_at_shutdown"]
    assert ([1, 1, 1], 2, 0) == ([len(replies_to(sandbox, m)) for m in mentions], again.finished, again.waiting)


def test_a_cron_run_stopped_during_its_poll_leaves_what_it_took_with_it_to_the_next_run_at_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """SIGTERM while `run --once` polls: the requests its poll's last write took (queued by an earlier poll) are
    begun by no one and left claimable at once, not held for the visibility timeout."""
    world = sandbox.world
    mentions = [summon(world, post_thread(world, 3, author=f"author{n}")[-1]) for n in range(2)]
    poll_once(make_bot(settings, store))  # queued, not taken
    bot = make_bot(settings, store, visibility_timeout=600)

    def stop_while_polling(response: Any, *args: Any, **kwargs: Any) -> None:
        if "/mentions" in response.request.url:
            bot.stopping.set()

    bot.api.client.session.hooks["response"].append(stop_while_polling)
    ran = processes.run_for_cron(bot)
    again = processes.run_for_cron(make_bot(settings, store, visibility_timeout=600))

    assert ((0, 2), (2, 0)) == ((ran.finished, ran.waiting), (again.finished, again.waiting))
    assert [1, 1] == [len(replies_to(sandbox, m)) for m in mentions]


class PostsHeldAfterTheSave(Store):
    """The bot's store, with X's POST window found spent (by another process, say) right after the thread's save."""

    api: XApi

    def save_thread(self, thread: Thread, **options: Any) -> bool:
        saved = super().save_thread(thread, **options)
        self.api.windows[POST_TWEETS] = Window(limit=1, remaining=0, reset_at=datetime.now(UTC) + timedelta(minutes=5))
        return saved


def test_a_reply_held_after_its_text_was_reserved_with_the_save_leaves_no_posting_mark(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Replies are found on hold after the save reserved the text: nothing was posted, so the mention is not left
    "posting" (its next attempt would search for a reply that was never made)."""
    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])
    held = PostsHeldAfterTheSave(store.redis, store.prefix)
    bot = make_bot(settings, held)
    held.api = bot.api

    assert 0 == run_once(bot)

    assert ([], None) == (replies_to(sandbox, mention), store.reply_record(mention))
    assert 1 == store.pending_count()


def test_over_budget_reply_without_link_is_short_and_cheap(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """With `reply_without_link`, a request over budget gets the short reply and no thread is fetched."""
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store, daily_budget=0.05, over_budget="reply_without_link")
    run_once(bot)
    second = summon(sandbox.world, thread[0], by="late_reader")
    searches = sum(sandbox.world.request_counts()["GET /2/tweets/search/recent"].values())

    run_once(bot)

    [text] = replies_to(sandbox, second)
    assert "http" not in text and "@late_reader" in text
    record = store.handled_one(second)
    assert record is not None and "over_budget" == record.outcome
    assert searches == sum(sandbox.world.request_counts()["GET /2/tweets/search/recent"].values())


def test_fresh_stored_thread_is_not_rewritten_for_another_mention(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A second mention within the freshness window reuses the stored copy without writing it again."""
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    run_once(bot)
    marker = "unchanged-marker"
    raw = store.redis.get(store.key("thread", thread[0]))
    assert isinstance(raw, str)
    store.redis.set(store.key("thread", thread[0]), raw.replace("1/ part 1", marker))
    second = summon(sandbox.world, thread[0], by="second_reader")

    run_once(bot)

    assert 1 == len(replies_to(sandbox, second))
    kept = store.redis.get(store.key("thread", thread[0]))
    assert isinstance(kept, str) and marker in kept


def test_summons_under_a_readers_lone_reply_search_their_posts_once_per_read(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Readers summoning under carol's comment on a thread stored a moment ago, in one poll: the first summon
    searches carol's posts in the conversation (she may have a thread answering it; she has not), the next does
    not search hers again (it looks her comment up, to place it). A summon made after that read searches hers
    again: she has since begun a thread below her comment, and its page is hers, not the thread she answered."""
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    run_once(bot)
    sandbox.world.add_user("carol")
    comment = sandbox.world.add_tweet("carol", "so true", reply_to=thread[1]).id
    first = summon(sandbox.world, comment, by="reader1")
    second = summon(sandbox.world, comment, by="reader2")
    run_once(bot)
    searches = sum(sandbox.world.request_counts()["GET /2/tweets/search/recent"].values())
    sandbox.world.add_tweet("carol", "and here is why, a thread", reply_to=comment)
    later = summon(sandbox.world, comment, by="reader3")
    run_once(bot)

    records = [store.handled_one(m) for m in (first, second, later)]
    assert [thread[0], thread[0], comment] == [r.root_id for r in records if r is not None]
    # the thread's first read, carol's posts once, the thread since its copy once: the second reader reads nothing
    assert 3 == searches


def test_readers_summoning_under_a_lone_post_in_one_poll_read_it_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Readers summoning under one lone post (a viral one) in one poll: the first reads it and finds no thread; the
    next, made before that read, is answered so with no read (each read the post and searched its replies again);
    a summon made after it reads again: the author may have gone on."""
    lone = post_thread(sandbox.world, 1)[0]
    first = summon(sandbox.world, lone, by="reader1")
    second = summon(sandbox.world, lone, by="reader2")
    bot = make_bot(settings, store)
    run_once(bot)
    later = summon(sandbox.world, lone, by="reader3")
    run_once(bot)

    records = [store.handled_one(m) for m in (first, second, later)]
    assert [("no_thread", "single_tweet")] * 3 == [(r.outcome, r.reason) for r in records if r is not None]
    reads = [r.tweets_read for r in records if r is not None]
    assert (True, 0, True) == (reads[0] > 0, reads[1], reads[2] > 0)


def test_every_variant_fits_the_room_templates_keep_for_it() -> None:
    """The suffixes that vary a repeated reply never push a valid template past 280 characters."""
    from bot.replier import VARIANTS
    from config.settings import VARIANT_ROOM

    assert VARIANT_ROOM >= max(len(v) for v in VARIANTS)
    assert len(VARIANTS) == len(set(VARIANTS))


def test_summon_under_a_lone_tweet_older_than_the_window_says_so(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Past the 7-day window, its author's timeline not read (UNROLL_OLD_THREAD_HOURS=0), later self-replies
    can't be seen, so the reply doesn't claim there is no thread."""
    [old] = post_thread(sandbox.world, 1, ago=timedelta(days=10))
    mention = summon(sandbox.world, old)

    run_once(make_bot(settings.model_copy(update={"old_thread_hours": 0}), store))

    [text] = replies_to(sandbox, mention)
    assert f"Hi @{READER}, this post is older than the 7 days X lets the bot search" in text
    record = store.handled_one(mention)
    assert record is not None and ("no_thread", "older_than_search_window") == (record.outcome, record.reason)


def test_summon_under_a_lone_tweet_older_than_the_window_reads_its_authors_timeline_after_it(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The author's timeline the day after it shows no self-reply: the reply says there is no thread to unroll."""
    [old] = post_thread(sandbox.world, 1, ago=timedelta(days=10))
    mention = summon(sandbox.world, old)

    run_once(make_bot(settings, store))

    [text] = replies_to(sandbox, mention)
    assert f"Hi @{READER}, this post is not part of a thread" in text
    record = store.handled_one(mention)
    assert record is not None and ("no_thread", "single_tweet") == (record.outcome, record.reason)


def test_author_who_says_delete_under_their_thread_has_their_threads_removed(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The author's "@bot delete" removes every stored thread of theirs and gets one reply saying so."""
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    run_once(bot)
    assert store.get_thread(thread[0]) is not None
    delete = summon(sandbox.world, thread[-1], by=AUTHOR, text="@unrollbot delete")

    run_once(bot)

    assert store.get_thread(thread[0]) is None
    assert store.was_removed(thread[0]) and store.is_opted_out(AUTHOR)
    assert [f"Hi @{AUTHOR}, done: your threads are removed and won't be unrolled here again."] == replies_to(
        sandbox, delete
    )
    record = store.handled_one(delete)
    assert record is not None and "removed" == record.outcome


def test_delete_by_someone_else_is_ignored(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """Only the thread's author can have it removed; a reader's "delete" changes nothing and gets no reply."""
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    run_once(bot)
    delete = summon(sandbox.world, thread[-1], by="prankster", text="@unrollbot delete")

    run_once(bot)

    assert store.get_thread(thread[0]) is not None and not store.is_opted_out(AUTHOR)
    assert [] == replies_to(sandbox, delete)
    record = store.handled_one(delete)
    assert record is not None and "ignored:not_author" == record.outcome


def test_opted_out_author_is_never_unrolled_again(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """After an opt-out, a reader's request for that author's thread stores nothing and says why."""
    thread = post_thread(sandbox.world, 3)
    store.opt_out(AUTHOR)
    mention = summon(sandbox.world, thread[-1])

    run_once(make_bot(settings, store))

    assert store.get_thread(thread[0]) is None
    assert [f"Hi @{READER}, the author of this thread asked for their threads not to be unrolled here."] == (
        replies_to(sandbox, mention)
    )
    record = store.handled_one(mention)
    assert record is not None and "opted_out" == record.outcome


def test_a_summon_under_an_opted_out_authors_post_reads_nothing_from_x(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The mention says whose post it answers: an author who opted out (by id, from their "delete") is known with
    the request's first round trip, and the reader is told so with no read spent on the thread; under a reader's
    reply in that thread, the thread's first post tells it, before the thread's search (the reader's own posts
    are searched: a thread of theirs answering it is not the author's)."""
    thread = post_thread(sandbox.world, 3)
    author = sandbox.world.find_user(AUTHOR)
    assert author is not None
    store.opt_out(AUTHOR, author.id)
    sandbox.world.add_user("carol")
    comment = sandbox.world.add_tweet("carol", "so true", reply_to=thread[1]).id
    direct = summon(sandbox.world, thread[-1])
    beside = summon(sandbox.world, comment, by="reader2")

    run_once(make_bot(settings, store))

    records = [store.handled_one(m) for m in (direct, beside)]
    assert [("opted_out", 1, 0)] == [(r.outcome, r.api_requests, r.tweets_read) for r in records[:1] if r]
    assert records[1] is not None and "opted_out" == records[1].outcome
    assert 1 == sum(sandbox.world.request_counts()["GET /2/tweets/search/recent"].values())  # carol's posts


def test_a_quote_or_a_pasted_link_of_an_opted_out_authors_post_reads_only_that_post(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """No mention says whose a quoted or pasted post is: the one lookup that reads it tells, and the request
    ends there (the thread's first post and its search are not read), however often it is asked."""
    thread = post_thread(sandbox.world, 3)
    author = sandbox.world.find_user(AUTHOR)
    assert author is not None
    store.opt_out(AUTHOR, author.id)
    sandbox.world.add_user(READER)
    quote = sandbox.world.add_tweet(READER, "@unrollbot unroll", quote_of=thread[1]).id
    store.enqueue(
        [UnrollRequest(source="web", mention_id=f"web-{thread[2]}", requester_id="web", replied_to_id=thread[2])]
    )

    run_once(make_bot(settings, store))

    records = [store.handled_one(m) for m in (quote, f"web-{thread[2]}")]
    # The quote's reply is a request of its own; the pasted link gets no reply.
    assert [("opted_out", 2, 1), ("opted_out", 1, 1)] == [
        (r.outcome, r.api_requests, r.tweets_read) for r in records if r is not None
    ]
    counts = sandbox.world.request_counts()
    assert (2, {}) == (sum(counts["GET /2/tweets"].values()), counts.get("GET /2/tweets/search/recent", {}))


def test_an_opt_out_outlives_a_new_handle(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    """The author opted out, then changed their handle: the opt-out holds by their numeric id."""
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    run_once(bot)
    store.opt_out(AUTHOR)  # by handle, as an operator would; the id is learnt from their stored thread
    author = sandbox.world.find_user(AUTHOR)
    assert author is not None
    sandbox.world.rename_user(author.id, "fresh_start")
    later = post_thread(sandbox.world, 3, author="fresh_start")
    mention = summon(sandbox.world, later[-1])

    run_once(bot)

    assert store.get_thread(later[0]) is None
    record = store.handled_one(mention)
    assert record is not None and "opted_out" == record.outcome
    assert store.is_opted_out("fresh_start", author.id) and not store.is_opted_out("fresh_start")

    store.opt_in(AUTHOR)  # lifted under the handle it was made with, ids included
    assert not store.is_opted_out(AUTHOR, author.id)


def test_a_reader_asking_again_the_same_day_gets_each_reply_in_a_new_wording(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """X refuses the same text twice a day: the second and later replies to one reader for one thread take the
    next free variant (found in one step however many are taken), and every summon is answered once."""
    thread = post_thread(sandbox.world, 3)
    bot = make_bot(settings, store)
    mentions = []
    for _ in range(4):
        mentions.append(summon(sandbox.world, thread[-1]))
        assert 1 == run_once(bot)
    base = f"Hi @{READER}, here is the thread unrolled: http://127.0.0.1:8000/thread/{thread[0]}"
    texts = [replies_to(sandbox, mention) for mention in mentions]
    assert [[base], [base + " ↻"], [base + " ↩"], [base + " ✓"]] == texts
    assert [("replied", t[0]) for t in texts] == [
        (store.reply_record(m).state, store.reply_record(m).text)  # type: ignore[union-attr]
        for m in mentions
    ]


def test_a_request_busy_elsewhere_leaves_its_threads_lock_free(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The thread's lock is taken with the request's first round trip; when another worker holds the mention,
    that lock is given back at once, so the thread's other mentions are not held up."""
    from bot.worker import handle

    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    poll_once(bot)
    [(entry_id, request)], _ = store.take("w1", 60_000)
    other = store.lock(f"mention:{mention}", 5)
    assert other.acquire_with(lambda pipe: None)[0]

    assert not handle(bot, "w1", entry_id, request)
    assert 0 == store.redis.exists(store.key("lock", f"thread:{request.conversation_id}"))
    other.release()
    assert handle(bot, "w1", entry_id, request)
    assert 1 == len(replies_to(sandbox, mention))
    assert 0 == store.redis.exists(store.key("lock", f"thread:{request.conversation_id}"))


def test_a_request_answered_before_leaves_its_threads_lock_free(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A redelivered request whose reply is on record never resolves its thread: the thread's lock, taken with
    its first round trip, is given back when it ends."""
    from bot.worker import handle

    thread = post_thread(sandbox.world, 3)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    poll_once(bot)
    [(entry_id, request)], _ = store.take("w1", 60_000)
    store.mark_replied(mention, "999", "an earlier reply")

    assert handle(bot, "w1", entry_id, request)
    assert ([], "999") == (replies_to(sandbox, mention), store.handled_one(mention).reply_id)  # type: ignore[union-attr]
    assert 0 == store.redis.exists(store.key("lock", f"thread:{request.conversation_id}"))


def test_requests_asked_on_the_site_are_recorded_as_unrolled_or_refreshed_not_replied(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A link pasted in the site's form and a page's "look for newer posts" post nothing on X: their records say
    so (they were "replied", and counted among the replies' outcomes in /metrics). The refresh asks X even for a
    copy stored a moment ago (a mention would be served that copy): a post added since is found."""
    thread = post_thread(sandbox.world, 4)
    asked = UnrollRequest(
        source="web", mention_id=f"web-{thread[1]}", requester_id="web", replied_to_id=thread[1], conversation_id=None
    )
    again = UnrollRequest(
        source="refresh",
        mention_id=f"refresh-{thread[0]}-1",
        requester_id="web",
        replied_to_id=thread[-1],
        conversation_id=thread[0],
    )
    bot = make_bot(settings, store)
    store.enqueue([asked])
    drain(bot, "worker")
    sandbox.world.add_tweet(AUTHOR, "5/ one more", reply_to=thread[-1])
    store.enqueue([again])
    drain(bot, "worker")

    records = [store.handled_one(asked.mention_id), store.handled_one(again.mention_id)]
    outcomes = [(r.outcome, r.root_id, r.tweets) for r in records if r is not None]
    assert [("unrolled", thread[0], 4), ("refreshed", thread[0], 5)] == outcomes
    assert [] == sandbox.world.posted()


@pytest.mark.parametrize("lag", [0.0, 2.0])
def test_a_summon_of_a_thread_being_written_waits_for_search_to_show_its_newest_posts(
    sandbox: SandboxServer, settings: Settings, store: Store, lag: float
) -> None:
    """A thread posted a second ago, summoned under its first post at once, on an API whose search leaves out its
    last 2 seconds (X's: 30, UNROLL_SEARCH_LAG): waiting until the posts made before the summon are searchable, the
    page holds all 5; not waiting (0), search shows none of the replies and the reader is told it is no thread."""
    world = sandbox.world
    world.set_search_lag(2.0)
    world.add_user(AUTHOR)
    start = world.now() - timedelta(seconds=1)
    ids: list[str] = []
    for i in range(5):
        post = world.add_tweet(AUTHOR, f"{i + 1}/ new", reply_to=ids[-1] if ids else None, created_at=start)
        ids.append(post.id)
    summon(world, ids[0])
    bot = make_bot(settings, store, search_lag=lag)

    with capture_logs() as logs:
        assert 1 == run_once(bot)

    thread = store.get_thread(ids[0])
    waited = [e for e in logs if e["event"] == "request_waits_for_search_index"]
    if lag:
        assert (ids, 1) == ([t.id for t in thread.tweets] if thread else [], len(waited))
        assert 0 < waited[0]["seconds"] <= lag + 1
    else:
        assert (None, [], [True]) == (thread, waited, ["is not part of a thread" in p.text for p in world.posted()])


def test_only_a_fresh_summon_waits_for_search_and_never_longer_than_the_lag() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def request(age: float, source: str = "mention") -> UnrollRequest:
        return UnrollRequest(mention_id="5", requester_id="6", created_at=now - timedelta(seconds=age), source=source)

    assert [31.0, 21.0, 0.0, 0.0, 0.0, 31.0] == [
        worker.settling(request(0), 30, now),
        worker.settling(request(10), 30, now),
        worker.settling(request(45), 30, now),
        worker.settling(request(0), 0, now),
        worker.settling(request(0, source="web"), 30, now),
        worker.settling(request(-60), 30, now),  # a clock ahead of ours: at most the lag
    ]


def test_the_replys_count_counts_the_branches_posts_too(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """{count} in the reply says how many posts the page shows: the thread's 3 and the other branch's 1."""
    world = sandbox.world
    thread = post_thread(world, 3)
    world.add_tweet(AUTHOR, "2b/ an aside", reply_to=thread[1])
    mention = summon(world, thread[-1])
    bot = make_bot(settings, store, reply_template="Hi @{requester}: {count} posts at {link}")

    assert 1 == run_once(bot)

    [reply] = [p.text for p in world.posted() if p.in_reply_to_tweet_id == mention]
    assert ": 4 posts at " in reply


def test_a_mention_x_gave_without_its_author_is_answered_naming_no_account(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The mentions page came without `includes.users`: the reply leaves the handle out ("Hi, here is…"), where it
    said "Hi @there", mentioning an account named there."""
    thread = post_thread(sandbox.world, 2)
    mention = summon(sandbox.world, thread[-1])
    bot = make_bot(settings, store)
    sandbox.world.inject_fault("GET", f"/2/users/{bot.user_id}/mentions", no_users=True)
    poll_once(bot)

    assert 1 == work_once(bot, "w1")
    [text] = replies_to(sandbox, mention)
    assert (True, False) == (text.startswith("Hi, here is the thread unrolled: "), "@" in text)
