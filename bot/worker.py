"""Request → resolve → store → link → reply → record, with one `work_once()` for the loop, cron and tests.

Requests come from the Redis stream through one consumer group, so several workers share them; a request
stays pending until it is acknowledged, and one left idle past the visibility timeout (its worker died) is
claimed by another. Transient failures are retried with capped exponential backoff; a request that keeps
failing goes to the dead-letter stream with its last error.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
import structlog

from bot import metrics, renderer, spending
from bot.audit import log_handled
from bot.errors import (
    AnsweredElsewhere,
    ApiError,
    ApiUnavailable,
    AuthFailed,
    NotAllowed,
    NotFound,
    RateLimited,
    Refused,
    ShuttingDown,
    ThreadBusy,
)
from bot.models import HandledRequest, ReplyRecord, Thread, UnrollRequest, utcnow
from bot.reads import Reads
from bot.replier import compose, post_once, reserve_ahead, wait_for_search
from bot.replytext import template_for
from bot.resolver import FRESH_FOR, Resolution, first_lookup, resolve
from bot.runtime import BASE_URL_FIX, Bot, foreign, not_the_x_api
from bot.store import Attempt, FirstRead, Lock, Reservation, Store, Taking, keep_alive
from bot.xapi import POST_TWEETS, Usage

log = structlog.get_logger(__name__)

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
QUICK_RETRIES = 3  # in-process retries of a transient failure before the request is left for later
SHORT_WAIT = 10.0  # a rate limit that resets sooner than this is waited out in place
THREAD_BUSY_WAIT = 2.0  # seconds a request whose thread another worker is still reading is left before a retry
FOREIGN_WAIT = 60.0  # seconds a request is left while X_API_BASE_URL answers what X never does (a 404…)
RETRY_WAIT_LONGEST = 3600.0  # seconds between two attempts of a failing request, at most
DEAD_LETTER_FIX = "see `python -m bot dead-letters`; once the cause is mended, `dead-letters --requeue` answers it"


def backoff(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait before retry `attempt` (1-based): capped exponential with full jitter."""
    return float(random.uniform(0, min(cap, base * 2 ** (attempt - 1))))


def work_once(bot: Bot, consumer: str, *, count: int = 10, block_ms: int | None = None) -> int:
    """Handle stale requests of dead workers, then new ones; returns how many were finished."""
    return _work(bot, consumer, count=count, block_ms=block_ms)[0]


def _work(
    bot: Bot,
    consumer: str,
    *,
    count: int,
    block_ms: int | None = None,
    taken: tuple[list[tuple[str, UnrollRequest]], bool] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[int, bool]:
    """`work_once`, also saying whether more requests may be waiting (the read came back full). `taken`: what a
    read made ahead (`take_ahead`) took, handled instead of reading. Once `stop` says so, the batch's requests not
    begun are left to the next worker at once (a cron run stopped by its timeout begins no other)."""
    store = bot.store
    if waits_for_budget(bot):
        if taken is not None and taken[0]:  # taken ahead, begun by no one: any worker's once the budget allows
            leave_now(bot, consumer, taken[0])
        if block_ms:
            time.sleep(block_ms / 1000)  # as if the read had blocked: no busy loop while requests wait
        return 0, False
    if taken is not None:
        entries, more = taken
    else:
        entries, more = store.take(consumer, visibility_ms(bot), count=count, block_ms=block_ms)
    done = 0
    for index, (entry_id, request) in enumerate(entries):
        if stop():
            log.info("requests_left_at_shutdown", left=leave_now(bot, consumer, entries[index:]))
            return done, False
        if index and waits_for_budget(bot):
            # The budget ran out on this batch's requests: the rest are left claimable at once, answered by whichever
            # worker (or cron run) finds the budget allowing: tomorrow's, or another UNROLL_OVER_BUDGET.
            log.info("requests_wait_for_budget", left=leave_now(bot, consumer, entries[index:]))
            return done, False
        if handle(bot, consumer, entry_id, request):
            done += 1
    return done, more


def leave_now(bot: Bot, consumer: str, entries: Sequence[tuple[str, UnrollRequest]]) -> int:
    """Leave requests this consumer took and did not begin claimable by any worker at once (not held until the
    visibility timeout); how many."""
    bot.store.claimable_at(consumer, [entry for entry, _ in entries], utcnow(), visibility_ms(bot))
    return len(entries)


def waits_for_budget(bot: Bot) -> bool:
    """Whether requests wait for tomorrow's budget: today's is spent and the operator chose to wait."""
    return bot.settings.over_budget == "wait" and spending.over_budget(bot.store, bot.settings)


def visibility_ms(bot: Bot) -> int:
    """How long a taken request may sit idle before another worker claims it (its worker is deemed dead)."""
    return int(bot.settings.visibility_timeout * 1000)


def take_ahead(bot: Bot, consumer: str, count: int = 10) -> Taking | None:
    """The worker's first read of the stream, to make with the poll's last write when the same process polls and
    then drains (`run --once`): one round trip fewer. None when requests wait for the budget (nothing is taken);
    the drain asks again after the poll, whose reads may have spent the rest of it."""
    return None if waits_for_budget(bot) else bot.store.taking(consumer, visibility_ms(bot), count)


def drain(
    bot: Bot,
    consumer: str,
    *,
    stop: Callable[[], bool] = lambda: False,
    count: int = 10,
    taken: Taking | None = None,
) -> int:
    """Work until nothing more can be finished now (`run --once`); returns how many were finished. `taken`: the
    first read, made ahead with the poll (`take_ahead`); when it did not run, the first read is made here.

    It stops once a read comes back short (the stream held nothing more then) or finishes nothing."""
    total = 0
    first = taken.taken if taken is not None else None
    while first is not None or not stop():  # (those taken ahead, once stopping, are left to the next at once)
        handled, more = _work(bot, consumer, count=count, taken=first, stop=stop)
        first = None
        total += handled
        if not handled or not more:
            break
    return total


def drain_shared(
    bot: Bot,
    consumer: str,
    shared: deque[list[tuple[str, UnrollRequest]]],
    *,
    more: bool,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """One lane of a drain in lanes (`processes.drain_lanes`): the requests taken ahead, `shared` by every lane
    in batches (each popped by the first lane free, its requests handled in order), then, when that read came back
    full (`more`), the stream's one request at a time, as `drain` goes on. Returns how many this lane finished."""
    total = 0
    while True:
        try:
            batch = shared.popleft()
        except IndexError:
            break
        handled, _ = _work(bot, consumer, count=len(batch), taken=(batch, False), stop=stop)
        total += handled
    if more and not stop():
        total += drain(bot, consumer, stop=stop, count=1)
    return total


def handle(bot: Bot, consumer: str, entry_id: str, request: UnrollRequest) -> bool:
    """Handle one request; True when it is finished (acknowledged), False when it stays pending for a retry."""
    store = bot.store
    structlog.contextvars.bind_contextvars(request_id=entry_id, mention_id=request.mention_id)
    # One worker at a time per mention, even if it was queued twice (e.g. by a poller whose lock expired); the
    # thread's lock and the resolver's first read of the store ride on the same round trip.
    thread = thread_lock_of(bot, request)
    first = first_lookup(request)
    ahead = store.first_read(*first, thread, request.replied_to_user_id) if first is not None else None
    attempt = store.begin_attempt(
        request.mention_id, bot.settings.visibility_timeout, also=ahead.queue if ahead is not None else None
    )
    lock = attempt.lock
    if ahead is not None:
        ahead.received(attempt.answers)
    try:
        if lock is None:
            log.info("request_busy_elsewhere")
            return False
        progress = Progress()
        bot.in_hand = lambda: leave_in_hand(bot, consumer, entry_id, lock, thread, progress=progress)
        renew = max(bot.settings.visibility_timeout / 3, 0.2)
        with store.batched():
            # The thread's lock too, once taken: mentions of the thread wait for this resolution, however long.
            renew_thread = (lambda: thread.held() and thread.reacquire()) if thread is not None else lambda: None
            with keep_alive(renew, lambda: store.keep_claim(consumer, entry_id), lock.reacquire, renew_thread):
                done = _handle(bot, entry_id, request, attempt, thread, ahead, progress)
            if isinstance(done, Deferred):  # claimable again when the window resets, not a timeout later
                store.claimable_at(consumer, entry_id, done.until, visibility_ms(bot))
                if done.refused is not None:
                    raise done.refused
                return False
            if done is None:
                return False
            handled, ack = done
            finish(bot, ack, handled, release=lock)
            return True
    finally:
        bot.in_hand = None
        structlog.contextvars.unbind_contextvars("request_id", "mention_id")
        # Not given back with the request's last write: left for a retry, a failure, or a path that never
        # resolved the thread (its lock was taken with the request's first round trip all the same).
        for held, event in ((lock, "request_lock_lost"), (thread, "thread_lock_lost")):
            if held is not None and held.held():
                try:
                    held.release()
                except Exception as exc:  # expired while Redis was away: nothing to release
                    log.warning(event, error=str(exc))


def leave_in_hand(
    bot: Bot, consumer: str, entry_id: str, *locks: Lock | None, progress: Progress | None = None
) -> None:
    """Leave a request whose call to X still runs to another worker at once: the process exits now, its shutdown
    grace spent. Its reply record stays as it is ("posting" while a post's fate is unknown: whoever takes the
    request searches for the reply before posting, and repeats its exact text, which X refuses as a duplicate).
    What its attempt read and spent so far (`progress`) is kept, as for an attempt left for later: the next one
    starts from it, the record counts it, and so does the day's spending tally."""
    if progress is not None:
        progress.leave(bot)
    for held in locks:
        if held is not None and held.held():
            with suppress(redis.exceptions.LockError):  # expired meanwhile: nothing to give back
                held.release()
    bot.store.claimable_at(consumer, entry_id, utcnow(), visibility_ms(bot))
    log.warning("request_left_at_shutdown", request_id=entry_id, why="the shutdown grace ran out during a call to X")


@dataclass
class Progress:
    """How far `process` got in the tries of one attempt: its record as filled so far (the thread it resolved and
    stored, once it got that far), which a dead letter's record keeps (the page exists: the operator may hand out its
    link); and what the attempt read and spent, which a shutdown leaving it mid-call keeps (`leave`)."""

    handled: HandledRequest | None = None
    # While an attempt runs: what it read (`Reads`), what all its tries spent, and what the try under way spent so
    # far (not yet in the spending tally), for a shutdown that leaves it mid-call (`leave`).
    mention_id: str | None = None
    reads: Reads | None = None
    whole: Usage | None = None
    usage: Usage | None = None

    def leave(self, bot: Bot) -> None:
        """The attempt is left mid-call: note what it read and spent (`Store.note_attempt`), and tally the try's
        spending, as its end would have."""
        whole, usage, self.whole, self.usage = self.whole, self.usage, None, None
        if whole is not None and self.mention_id is not None:
            snapshot = self.reads.snapshot() if self.reads is not None else None
            bot.store.note_attempt(self.mention_id, snapshot, whole.requests, whole.tweets_read)
        if usage is not None:
            spending.record(bot.store, bot.settings, usage)

    @staticmethod
    def trying(progress: Progress | None, usage: Usage) -> None:
        """The try under way's meter: tallied by a shutdown that leaves it mid-call, or by the try's end (`_tally`)."""
        if progress is not None:
            progress.usage = usage

    def settle(self) -> bool:
        """The try ends: whether its spending is still to tally (a shutdown's `leave` has not)."""
        left, self.usage = self.usage is None, None
        return not left

    @staticmethod
    def keep(progress: Progress | None, handled: HandledRequest) -> HandledRequest:
        """`handled`, kept in `progress` (when there is one) as the record being filled."""
        if progress is not None:
            progress.handled = handled
        return handled

    def dead_letter(self, handled: HandledRequest) -> HandledRequest:
        """A dead letter's record, with the thread the tries read and stored (when they got that far)."""
        got = self.handled
        if got is not None and got.root_id is not None:
            handled.root_id, handled.author, handled.tweets = got.root_id, got.author, got.tweets
            handled.link = got.link
        return handled


@dataclass(frozen=True)
class Deferred:
    """A request left pending because a rate-limit window is spent until `until` (or another worker reads its
    thread, the process stops, X's URL is wrong); `refused`: X refused the credentials, raised once the request is
    left, for the process to decide (`run --once` exits 3, a worker waits and asks again)."""

    until: datetime
    refused: AuthFailed | None = None
    failed: bool = False  # the attempt failed (its backoff): a try spent, whatever it asked of X


def _handle(
    bot: Bot,
    entry_id: str,
    request: UnrollRequest,
    attempt: Attempt,
    thread: Lock | None,
    ahead: FirstRead | None,
    progress: Progress,
) -> tuple[HandledRequest, str | None] | Deferred | None:
    """Process a request with quick retries; what to finish it with (its record, the entry to acknowledge), or
    Deferred when it waits: for a rate-limit window, or after a failed attempt for its backoff (`retry_wait`).
    `thread`, `ahead`: the thread's lock and the resolver's first read, made with the request's first round trip
    (the read serves the first try only)."""
    if attempt.retry_at is not None and attempt.retry_at > utcnow():
        # Claimed again (a visibility timeout later) before its backoff after a failed attempt ran out: no try.
        bot.store.give_back_try(request.mention_id)
        log.info("request_waits_for_retry", retry_at=attempt.retry_at.isoformat())
        return Deferred(attempt.retry_at)
    reads = Reads(bot.api)  # kept across quick retries: a post read by a failed try is not asked for again
    if attempt.reads:
        reads.restore(attempt.reads)  # …and across attempts: what an earlier one read before it was left
    with bot.api.metered() as whole:  # every quick try's requests and reads, for the audit record
        progress.mention_id, progress.reads, progress.whole = request.mention_id, reads, whole
        try:
            done = _tries(bot, entry_id, request, attempt, reads, whole, thread, ahead, progress)
        finally:
            # Noted below, or counted by the record: not again by a shutdown's `leave`, which noted it if it ran.
            left, progress.whole = progress.whole is None, None
    if isinstance(done, Deferred) and not whole.requests and not done.failed:
        # Left for a window known to be spent without asking X (claimed again before the reset): no attempt.
        bot.store.give_back_try(request.mention_id)
    elif not isinstance(done, tuple):  # left for later: the next attempt starts from what this one read
        if not left:
            bot.store.note_attempt(request.mention_id, reads.snapshot(), whole.requests, whole.tweets_read)
    elif done[0].request_id == entry_id:  # this attempt's record (not one found from an earlier entry)
        done[0].api_requests += attempt.spent_requests  # …counting what earlier attempts spent
        done[0].tweets_read += attempt.spent_reads
        if done[0].outcome == "dead_letter":  # what it read is kept for a requeue (its spend by the record's end)
            bot.store.note_attempt(request.mention_id, reads.snapshot(), 0, 0)
    return done


def _tries(
    bot: Bot,
    entry_id: str,
    request: UnrollRequest,
    attempt: Attempt,
    reads: Reads,
    whole: Usage,
    thread: Lock | None,
    ahead: FirstRead | None,
    progress: Progress,
) -> tuple[HandledRequest, str | None] | Deferred | None:
    """`_handle`'s quick retries over one `Reads`; `whole` meters them all."""
    store = bot.store
    last_error = ""
    record, attempts = attempt.record, attempt.tries
    for quick in range(1, QUICK_RETRIES + 1):
        try:
            if quick > 1:
                store.send_held()  # what the failed try noted (its reply, if it posted) before reading it back
                record = store.reply_record(request.mention_id)
                ahead = None
            handled = process(
                bot,
                entry_id,
                request,
                attempts,
                record,
                claim=attempt.lock,
                guard=thread,
                ahead=ahead,
                reads=reads,
                progress=progress,
            )
            if quick > 1:  # the record counts every try of this attempt, not only the last
                handled.api_requests, handled.tweets_read = whole.requests, whole.tweets_read
            return handled, entry_id
        except RateLimited as exc:
            wait = (exc.reset_at - datetime.now(UTC)).total_seconds()
            # X's 429 is news (a warning); a window known spent before asking (claimed again while it waits, or
            # another process met it) was told once already.
            said = log.warning if exc.status == 429 else log.info
            said(
                "request_rate_limited",
                endpoint=exc.endpoint,
                reason=exc.reason,
                reset_at=exc.reset_at.isoformat(),
                wait=wait,
            )
            # A short wait is waited out in place, unless the process is asked to stop meanwhile: no try begins then.
            if (
                wait <= SHORT_WAIT
                and quick < QUICK_RETRIES
                and not bot.stopping.wait(max(wait, 0) + random.random() / 2)
            ):
                continue
            return Deferred(exc.reset_at)  # stays pending until the reset; not a failure of the request
        except (ShuttingDown, ThreadBusy, AnsweredElsewhere) as exc:
            return _left_aside(bot, exc)
        except AuthFailed as exc:  # no try of the request's: claimable at once, by a worker whose credentials work
            log.error("credentials_rejected", endpoint=exc.endpoint, fix=exc.fix)
            return Deferred(utcnow(), refused=exc)
        except ApiUnavailable as exc:
            last_error = str(exc)
            log.warning("request_failed_transient", error=last_error, retry=quick)
            if stops_before_retry(bot, quick):
                return _left_aside(bot, ShuttingDown(f"stopping after a failed try ({last_error})"))
            continue
        except (redis.ConnectionError, redis.TimeoutError):
            raise  # Redis is away: not this request's failure; the worker loop waits for it
        except Exception as exc:  # a bug or malformed data must not kill the worker
            if isinstance(exc, ApiError) and foreign(exc):
                return _left_aside(bot, exc)
            last_error = _failed(exc)
            break
    failures = store.add_failure(request.mention_id)
    if failures >= bot.settings.max_attempts:
        store.dead_letter(entry_id, request, last_error, failures)  # acknowledged there
        log.error("request_dead_lettered", attempts=failures, error=last_error, fix=DEAD_LETTER_FIX)
        handled = progress.dead_letter(base_record(request, entry_id, max(failures, attempts)))
        handled.outcome, handled.error = "dead_letter", last_error
        handled.api_requests, handled.tweets_read = whole.requests, whole.tweets_read
        return handled, None
    # Tried again after a wait doubling with each failure (a visibility timeout, then 2, 4, 8…): an X outage of
    # some minutes does not spend every try of the requests it meets.
    retry_at = utcnow() + timedelta(seconds=retry_wait(bot.settings.visibility_timeout, failures))
    store.retry_after(request.mention_id, retry_at)
    log.warning("request_left_for_retry", attempts=failures, error=last_error, retry_at=retry_at.isoformat())
    return Deferred(retry_at, failed=True)


def stops_before_retry(bot: Bot, quick: int) -> bool:
    """After quick try `quick` failed for now: wait for its backoff (none after the last); True when the process is
    asked to stop first. No other try begins then: a retry would post the reply again where the failed post's fate
    is unknown, and outlive the platform's grace. The request is left to another worker at once, its record still
    "posting" then, so that worker searches for the reply before posting."""
    return bot.stopping.is_set() or (quick < QUICK_RETRIES and bot.stopping.wait(backoff(quick)))


def retry_wait(visibility_timeout: float, failures: int) -> float:
    """Seconds before a request that failed `failures` times is tried again: the visibility timeout, doubled
    with each failure past the first, at most an hour."""
    return float(min(visibility_timeout * 2.0 ** max(failures - 1, 0), RETRY_WAIT_LONGEST))


def _failed(exc: Exception) -> str:
    """Say why a try failed, and return it: X refusing the post without saying it is final (`Refused`: the
    request is tried again) at error; anything else, a bug or data the bot cannot read, with its traceback."""
    if isinstance(exc, Refused):
        log.error("reply_refused", error=str(exc))
        return str(exc)
    error = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ApiError) and exc.status is not None:
        # X's own answer (a 400 refusing a query, say): its words say what happened, no traceback of the bot's.
        log.error("request_failed", error=error, status=exc.status, endpoint=exc.endpoint)
        return error
    log.exception("request_failed", error=error)
    return error


def _left_aside(bot: Bot, exc: Exception) -> Deferred:
    """A request left pending, no try of its spent: the process stops (another worker may claim it at once), its
    thread is being read by another worker (taken up once that is stored), or X_API_BASE_URL answers what X
    never does (X answers a post that is gone with a 200 and `errors`, never a 404: a long-running worker with
    a cached identity finds a wrong URL here; the request waits for it to be mended, not dead-lettered)."""
    if isinstance(exc, ShuttingDown):
        log.info("request_left_at_shutdown", why=str(exc))
        return Deferred(utcnow())
    if isinstance(exc, AnsweredElsewhere):  # its entry acknowledged by that worker: nothing is left to claim
        log.warning("request_answered_elsewhere", why=str(exc))
        return Deferred(utcnow())
    if isinstance(exc, ThreadBusy):
        log.info("request_waits_for_thread", why=str(exc))
        return Deferred(utcnow() + timedelta(seconds=THREAD_BUSY_WAIT))
    assert isinstance(exc, ApiError)
    log.error("x_api_base_url_wrong", error=not_the_x_api(bot.settings, exc), fix=BASE_URL_FIX)
    return Deferred(utcnow() + timedelta(seconds=FOREIGN_WAIT))


def settle(bot: Bot, request: UnrollRequest) -> None:
    """Wait until recent search shows the posts made before the summon (`settling`), unless the process stops
    first (then the request is left to another worker)."""
    if (seconds := settling(request, bot.settings.search_lag)) > 0:
        log.info("request_waits_for_search_index", seconds=round(seconds, 1))
        wait_for_search(bot, seconds, "the posts made before the summon")


def settling(request: UnrollRequest, lag: float, now: datetime | None = None) -> float:
    """Seconds a summon waits before its thread is read: until every post made before it shows in recent search,
    which may leave out its last `lag` seconds (UNROLL_SEARCH_LAG), plus a second for clocks apart. A thread being
    written when the reader summoned (a new thread summoned under its first post, a post in the middle of one)
    would otherwise be read without its newest posts: "not part of a thread", or a page stopping short."""
    if request.source != "mention" or request.created_at is None or lag <= 0:
        return 0.0
    age = ((now or utcnow()) - request.created_at).total_seconds()
    return min(max(lag + 1.0 - age, 0.0), lag + 1.0)


def finish(bot: Bot, entry_id: str | None, handled: HandledRequest, *, release: Lock | None = None) -> None:
    """Record the outcome with its counters, acknowledge and give the mention's lock back, in one step; then
    log the one line per handled request."""
    handled.handled_at = utcnow()  # when it was finished, not when its last attempt began
    metrics.observe_handled(bot.store, handled)
    if not bot.store.finish(handled, entry_id, release=release):
        # Held up past its claim (a paused process) while its reply went through: the worker that took the mention
        # over found that reply and recorded the request; a second record (and line) would say it twice.
        log.warning("request_answered_elsewhere", why="finished by the worker that took the mention over")
        return
    log_handled(handled)


def base_record(request: UnrollRequest, entry_id: str, attempts: int) -> HandledRequest:
    return HandledRequest(
        mention_id=request.mention_id,
        request_id=entry_id,
        mention_url=request.mention_url if request.source == "mention" else "",
        requester=request.requester_username,
        requester_id=request.requester_id,
        outcome="replied",
        attempts=attempts,
    )


def process(
    bot: Bot,
    entry_id: str,
    request: UnrollRequest,
    attempts: int,
    done: ReplyRecord | None,
    *,
    claim: Lock | None = None,
    guard: Lock | None = None,
    ahead: FirstRead | None = None,
    reads: Reads | None = None,
    progress: Progress | None = None,
) -> HandledRequest:
    """Resolve, store, link and reply for one request (`done`: its reply record as read when the attempt began,
    holding the mention's lock, `claim`: the reply is reserved only while that lock is still this attempt's;
    `guard`: the thread's lock, `ahead`: the resolver's first read, when the caller made them; `progress`: where
    the record being filled is kept, should a step fail); returns its audit record."""
    settings, store = bot.settings, bot.store
    handled = Progress.keep(progress, base_record(request, entry_id, attempts))
    if done and done.state in ("replied", "final"):
        previous = store.handled_one(request.mention_id)
        if previous is not None:
            return previous
        handled.reply_id, handled.reply_text = done.reply_id, done.text
        return handled
    if request.action == "delete":
        return remove_threads(bot, request, handled, done, claim)
    if settings.daily_budget and spending.over_budget(store, settings):
        if request.source == "mention" and settings.over_budget == "reply_without_link":
            return over_budget_reply(bot, request, handled, done, claim)
        # Asked on the site (no reply to make cheaper), or the budget ran out while this batch was taken: the
        # request waits for tomorrow's budget, as UNROLL_OVER_BUDGET=wait has every request do.
        resumes = spending.next_day()
        log.info("request_waits_for_budget", resumes_at=resumes.isoformat())
        raise RateLimited("today's budget is spent", reset_at=resumes, status=None, endpoint="budget", reason="budget")
    # Replies are on hold (daily cap): don't spend reads on a reply we can't post. Unless one may have been posted
    # already (its answer lost): search tells, and the request is done without waiting for the window.
    if request.source == "mention" and not settings.dry_run and (done is None or done.state != "posting"):
        bot.api.check(POST_TWEETS)
    settle(bot, request)
    with bot.api.metered() as usage, thread_lock(bot, request, guard) as lock:
        Progress.trying(progress, usage)
        try:
            with metrics.timed(store, "resolve_seconds"):
                # A page's "look for newer posts" asks X whatever the stored copy's age (it is asked at most every
                # five minutes per thread); a mention is served a copy fetched less than a minute ago.
                fresh_for = 0.0 if request.source == "refresh" else FRESH_FOR
                started = utcnow()
                resolution = resolve(
                    bot.api,
                    store,
                    request,
                    settings,
                    lock=lock,
                    ahead=ahead,
                    reads=reads,
                    now=started,
                    fresh_for=fresh_for,
                    bot_id=bot.user_id,
                )
            note_lone(store, resolution, started)
            thread = resolution.thread
            handled.outcome = resolution.outcome if resolution.outcome != "resolved" else "replied"
            handled.reason = resolution.reason
            if resolution.own and handled.outcome == "cached":  # read by an earlier try of this request
                handled.outcome, handled.reason = "replied", None  # (its copy "fresh": this request's own read)
            link = renderer.link(settings, thread.root_id) if thread is not None else None
            ahead_reply = linked_reply_ahead(bot, request, thread, link, done, claim)
            if thread is not None and not keep(store, resolution, thread, release=lock, reserve=ahead_reply):
                # The author had their threads removed: never unrolled again while the opt-out stands.
                handled.outcome, handled.reason, handled.author, thread, link = (
                    "opted_out",
                    "author_opted_out",
                    thread.author.username,
                    None,
                    None,
                )
            if thread is not None:
                handled.root_id, handled.author, handled.tweets, handled.link = (
                    thread.root_id,
                    thread.author.username,
                    len(thread.every_tweet),  # as the page counts them: branches included
                    link,
                )
            text = reply_text(bot, request, thread, link, handled.outcome, resolution.reason)
            if request.source == "mention" and text:
                send_reply(bot, request, text, done, handled, ahead_reply, claim)
            elif request.source != "mention" and handled.outcome in ("replied", "cached"):
                # Asked on the site (its form, or a page's "look for newer posts"): the page is the answer.
                handled.outcome = "refreshed" if request.source == "refresh" else "unrolled"
        except Exception:
            # A failed try's reads are billed all the same, and so is a post whose answer was lost (found on the
            # retry, counted then): the tally keeps what this try read.
            _tally(bot, usage, progress)
            raise
    _tally(bot, usage, progress, reply_text=handled.reply_text)
    handled.api_requests, handled.tweets_read = usage.requests, usage.tweets_read
    if request.created_at is not None:
        handled.latency_s = round((datetime.now(UTC) - request.created_at).total_seconds(), 3)
    return handled


def _tally(bot: Bot, usage: Usage, progress: Progress | None, *, reply_text: str | None = None) -> None:
    """Add a try's spending to the day's tally, unless a shutdown that left it mid-call did (`Progress.leave`)."""
    if progress is None or progress.settle():
        spending.record(bot.store, bot.settings, usage, reply_text=reply_text)


def note_lone(store: Store, resolution: Resolution, read_at: datetime) -> None:
    """What the resolution found alone, as read at `read_at`, noted for a minute: someone's reply in no thread of
    theirs (a summon under it made before then searches nothing), a conversation's first post with no thread (a
    summon under it made before then reads nothing)."""
    if resolution.lone_reply is not None:
        store.note_alone("reply", resolution.lone_reply, read_at, FRESH_FOR)
    if resolution.lone_post is not None:
        store.note_alone("post", resolution.lone_post, read_at, FRESH_FOR)


def linked_reply_ahead(
    bot: Bot,
    request: UnrollRequest,
    thread: Thread | None,
    link: str | None,
    record: ReplyRecord | None,
    claim: Lock | None = None,
) -> Reservation | None:
    """The reply that links to the thread, its text to be reserved with the thread's write (one round trip
    fewer than reserving it before the post); None when the reply will reserve its text itself."""
    if thread is None or not link or request.source != "mention":
        return None
    text = reply_text(bot, request, thread, link, "replied")
    return reserve_ahead(bot, text, record, request.mention_id, claim)


def send_reply(
    bot: Bot,
    request: UnrollRequest,
    text: str,
    record: ReplyRecord | None,
    handled: HandledRequest,
    ahead: Reservation | None = None,
    claim: Lock | None = None,
) -> None:
    """Post the reply once and note it in the record; X's final refusals become the request's outcome. `ahead`:
    its text's reservation, when made on the thread's write; `claim`: the mention's lock (`post_once`)."""
    try:
        handled.reply_id, handled.reply_text = post_once(bot, request, text, record, ahead, claim)
    except NotAllowed as exc:  # X says why: not mentioned, or the mention is deleted or hidden now
        gone = "deleted" in str(exc).lower() or "not visible" in str(exc).lower()
        handled.outcome, handled.error = ("not_found" if gone else "not_allowed"), str(exc)
    except NotFound as exc:  # the mention was deleted before we could answer it
        handled.outcome, handled.error = "not_found", str(exc)
    if bot.settings.dry_run and handled.outcome in ("replied", "cached"):
        handled.outcome = "dry_run"


def remove_threads(
    bot: Bot, request: UnrollRequest, handled: HandledRequest, record: ReplyRecord | None, claim: Lock | None = None
) -> HandledRequest:
    """An author's "delete" under their own thread: remove all their threads for good, and say so once.

    Only the author of the thread the mention sits under may ask; anyone else's "delete" is ignored.
    """
    store, settings = bot.store, bot.settings
    root_id = request.conversation_id or request.replied_to_id or request.quoted_id or ""
    with bot.api.metered() as usage:
        stored = store.get_thread(root_id) if root_id else None
        if stored is not None:
            author_id, username = stored.author.id, stored.author.username
        else:  # one lookup of the root tells whose thread it is
            page = bot.api.lookup([root_id]) if root_id else None
            root = next((t for t in page.data if t.id == root_id), None) if page else None
            user = next((u for u in page.includes.users if root and u.id == root.author_id), None) if page else None
            author_id, username = (user.id, user.username) if user else ("", "")
        if not author_id or author_id != request.requester_id:
            handled.outcome, handled.reason = "ignored:not_author", "not_author"
        else:
            removed = store.opt_out(username, author_id)
            handled.outcome, handled.author, handled.reason = "removed", username, f"{len(removed)} thread(s) removed"
            log.info("author_opted_out", author=username, removed=removed)
            if settings.removed_template:
                said = compose(settings.removed_template, requester=username)
                send_reply(bot, request, said, record, handled, claim=claim)
    spending.record(store, settings, usage, reply_text=handled.reply_text)
    handled.api_requests, handled.tweets_read = usage.requests, usage.tweets_read
    return handled


def keep(
    store: Store,
    resolution: Resolution,
    thread: Thread,
    *,
    release: Lock | None = None,
    reserve: Reservation | None = None,
) -> bool:
    """Store what the resolution learnt: nothing for a fresh copy, the check's time when nothing was new;
    the thread's lock (`release`) goes back with the write, and the reply's text is reserved with it
    (`reserve`, answered only when a write was made). A fresh copy gives the lock back at once: the thread's
    other summons (a worker's other lanes) answer from it while this reply is posted, not one after the other.

    False when the author opted out (nothing stored). A stored copy is never an opted-out author's: an opt-out
    is noted before their threads are removed, and no thread of theirs is saved after it (`save_thread`).
    """
    if resolution.outcome == "cached" and resolution.reason == "fresh":
        if release is not None and release.held():
            with suppress(redis.exceptions.LockError):  # expired meanwhile: nothing to give back
                release.release()
        return True
    if resolution.outcome == "cached":
        store.touch_thread(thread.root_id, thread.fetched_at, release=release, reserve=reserve)
        return True
    return store.save_thread(thread, release=release, renamed_from=resolution.renamed_from, reserve=reserve)


def over_budget_reply(
    bot: Bot, request: UnrollRequest, handled: HandledRequest, record: ReplyRecord | None, claim: Lock | None = None
) -> HandledRequest:
    """The daily budget is spent and the operator chose a short reply without the link (a cheap post)."""
    handled.outcome, handled.reason = "over_budget", "daily_budget_spent"
    if not bot.settings.over_budget_template.strip():  # the operator chose silence: nothing posted, nothing spent
        return handled
    text = compose(bot.settings.over_budget_template, requester=request.requester_username)
    with bot.api.metered() as usage:
        handled.reply_id, handled.reply_text = post_once(bot, request, text, record, claim=claim)
    spending.record(bot.store, bot.settings, usage, reply_text=handled.reply_text)
    return handled


def thread_lock_of(bot: Bot, request: UnrollRequest) -> Lock | None:
    """The lock of the thread a request is under (not taken), None when its conversation is unknown."""
    if not request.conversation_id:
        return None
    return bot.store.lock(f"thread:{request.conversation_id}", timeout=bot.settings.visibility_timeout)


@contextmanager
def thread_lock(bot: Bot, request: UnrollRequest, lock: Lock | None = None) -> Iterator[Lock | None]:
    """Mentions of one thread resolve one at a time, so the second finds the first's fresh copy: one resolution.

    The lock (`lock`, else the request's own) is taken with the resolver's first read of the store (same round
    trip, or the request's first) and given back with the thread's write (`keep`); whatever path the request
    takes, it is given back when the block ends.
    """
    lock = lock or thread_lock_of(bot, request)
    if lock is None:
        yield None
        return
    try:
        yield lock
    finally:
        if lock.held():
            try:
                lock.release()
            except Exception as exc:
                log.warning("thread_lock_lost", error=str(exc))


def reply_text(
    bot: Bot, request: UnrollRequest, thread: Thread | None, link: str | None, outcome: str, reason: str | None = None
) -> str:
    """The reply for an outcome; empty when the bot should stay silent."""
    settings = bot.settings
    requester = request.requester_username
    if thread is not None and link:
        return compose(
            template_for(settings, request.lang),
            requester=requester,
            author=thread.author.username,
            link=link,
            count=len(thread.every_tweet),
        )
    if outcome == "opted_out":
        return compose(settings.opted_out_template, requester=requester) if settings.opted_out_template else ""
    if outcome == "no_thread" and reason == "older_than_search_window":
        # Later self-replies may exist but recent search cannot see them: don't claim there is no thread.
        return compose(settings.too_old_template, requester=requester) if settings.too_old_template else ""
    if outcome == "no_thread" and reason == "bots_own_post":
        # A quote of the bot's own post (its reply with a link): silence, as for a reply to it (`reply_to_bot`):
        # another bot quoting each answer would otherwise be answered in a loop.
        return ""
    if outcome == "no_thread" and settings.single_tweet == "reply":
        return compose(settings.no_thread_template, requester=requester)
    if outcome in ("not_found", "protected") and settings.unavailable_template:
        return compose(settings.unavailable_template, requester=requester)
    return ""
