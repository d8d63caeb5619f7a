"""The long-running processes: the poll schedule (APScheduler), the worker loop, and `run --once`.

A worker process handles UNROLL_WORKER_CONCURRENCY requests at once, each in a lane (a thread) of its own with
its own request in hand (`lanes`), all reading the work stream as the process's one consumer. SIGTERM and SIGINT
set a stop event: the poller stops scheduling, each lane finishes the request in hand or leaves it to another
worker at once (a try that fails for now is not retried), and the process exits; a call to X still running after
the grace period is abandoned, its request left first (exit 75).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from redis.backoff import AbstractBackoff, ExponentialBackoff

from bot.compliance import CHECK_EVERY, comply_once
from bot.errors import ApiError, ApiUnavailable, AuthFailed, ConfigError, RateLimited, StoreRefused, StoreUnavailable
from bot.models import UnrollRequest
from bot.poller import poll_once
from bot.runtime import BASE_URL_FIX, Bot, build, foreign, not_the_x_api
from bot.store import Taking
from bot.worker import drain, drain_shared, leave_now, take_ahead, visibility_ms, waits_for_budget, work_once
from config.settings import Settings, redacted_url

log = structlog.get_logger(__name__)

CONSUMER_FORGOTTEN_MS = 24 * 3600 * 1000  # a worker silent for a day and holding nothing is gone

SHUTDOWN_GRACE = 20.0  # seconds a stopping process gives the request in hand (Procfile platforms wait ~30)
READ_BLOCK_MS = 2000
RECONNECT_WAIT = 2.0
# While Redis or X stays away: 2, 4, 8, 16, then every 30 seconds (not a warning line every 2 s for hours).
RECONNECT_BACKOFF = ExponentialBackoff(cap=30.0, base=RECONNECT_WAIT)
CREDENTIALS_WAIT = 60.0  # seconds a worker whose credentials X refused waits before it asks again
FIRST_COMPLIANCE_CHECK = 60.0  # seconds after start: the first polls go first


def consumer_name() -> str:
    """A consumer name unique to this process within the group."""
    return f"{socket.gethostname()}-{os.getpid()}"


def stop_on_signals(stop: threading.Event) -> None:
    """Turn SIGTERM / SIGINT into the stop event (main thread only)."""

    def handler(signum: int, frame: Any) -> None:
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def due(bot: Bot, now: datetime | None = None) -> bool:
    """Whether a poll is due: the last one (by any poller) is older than the interval the window allows."""
    last = bot.store.last_poll()
    if last is None:
        return True
    elapsed = ((now or datetime.now(UTC)) - last).total_seconds()
    # Scheduler ticks come every UNROLL_POLL_INTERVAL; half a tick of slack keeps ticks from being skipped.
    return elapsed >= poll_interval(bot) - bot.settings.poll_interval / 2


def guarded_poll(bot: Bot) -> None:
    """One scheduled poll; errors are logged, never raised into the scheduler (the next run retries)."""
    try:
        waited = time.monotonic() - bot.refused_at if bot.refused_at is not None else CREDENTIALS_WAIT
        if waited < CREDENTIALS_WAIT:  # a minute between two asks, as the worker waits, whatever the poll interval
            log.debug("poll_waiting_for_credentials", retry_in=round(CREDENTIALS_WAIT - waited))
            return
        if time.monotonic() < bot.redis_retry_at:  # Redis away: asked again on the worker's backoff, not every tick
            return
        interval = poll_interval(bot)
        if interval > bot.settings.poll_interval and interval != bot.stretched_to:
            # X's mentions window would be spent polling this often: said once, at info, not only at DEBUG
            log.info("poll_interval_stretched", configured=bot.settings.poll_interval, interval=round(interval, 1))
            bot.stretched_to = interval
        if not due(bot):
            log.debug("poll_not_due", interval=interval)
            return
        poll_once(bot)
        bot.refused_at, bot.redis_failures = None, 0
    except RateLimited as exc:
        said = bot.limited_until == exc.reset_at  # the same spent window, said at the tick that found it
        (log.debug if said else log.warning)("poll_rate_limited", reset_at=exc.reset_at.isoformat())
        bot.limited_until = exc.reset_at
    except AuthFailed as exc:
        bot.refused_at = time.monotonic()
        log.error("credentials_rejected", endpoint=exc.endpoint, fix=exc.fix, retry_in=CREDENTIALS_WAIT)
    except ApiError as exc:
        if foreign(exc):  # no wait mends it: said at error, every poll, until X_API_BASE_URL is fixed
            log.error("x_api_base_url_wrong", error=not_the_x_api(bot.settings, exc), fix=BASE_URL_FIX)
        else:
            log.warning("poll_failed", error=str(exc))
    except (redis.ConnectionError, redis.TimeoutError, StoreUnavailable) as exc:
        # Said as the worker says it, and asked again after 2, 4, 8, 16, then every 30 s: one line each.
        wait = RECONNECT_BACKOFF.compute(bot.redis_failures)
        bot.redis_failures += 1
        bot.redis_retry_at = time.monotonic() + wait
        log.warning("redis_unreachable", error=str(exc), retry_in=wait)
    except redis.RedisError as exc:
        log.warning("poll_failed", error=str(exc))
    except Exception as exc:
        log.exception("poll_crashed", error=str(exc))


def guarded_comply(bot: Bot) -> None:
    """One scheduled compliance check (`bot.compliance`); errors are logged, never raised into the scheduler."""
    try:
        tally = comply_once(bot)
        if tally.skipped == "no_bearer_token":
            log.warning("compliance_off", fix="set X_BEARER_TOKEN: X's batch compliance jobs take app-only auth")
    except (StoreUnavailable, redis.RedisError) as exc:
        log.warning("compliance_failed", error=str(exc))
    except Exception as exc:
        log.exception("compliance_crashed", error=str(exc))


def poll_interval(bot: Bot) -> float:
    """The configured interval, stretched when the mentions window could not sustain it."""
    interval = bot.settings.poll_interval
    window = bot.api.windows.get("GET /2/users/:id/mentions")
    if window and window.limit:
        interval = max(interval, 15 * 60 / window.limit)  # never faster than the 15-minute window allows
    return interval


def start_poller(bot: Bot) -> BackgroundScheduler:
    """The poll schedule: one instance at a time, missed runs coalesced, first run right away."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        guarded_poll,
        "interval",
        args=[bot],
        seconds=poll_interval(bot),
        id="poll",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    if bot.settings.compliance_interval:
        scheduler.add_job(
            guarded_comply,
            "interval",
            args=[bot],
            seconds=min(CHECK_EVERY, bot.settings.compliance_interval),
            id="compliance",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC) + timedelta(seconds=FIRST_COMPLIANCE_CHECK),
        )
    scheduler.start()
    log.info("poller_started", interval=poll_interval(bot))
    return scheduler


def build_when_ready(
    settings: Settings, stop: threading.Event, backoff: AbstractBackoff = RECONNECT_BACKOFF
) -> Bot | None:
    """The bot's parts, once Redis and the X API answer: a process started during an outage waits for them
    instead of exiting (None if stopped first), longer the longer it lasts; a spent rate-limit window is waited
    out to its reset, not asked again. Wrong credentials or settings (a Redis refusing REDIS_URL too) still stop it
    at once."""
    failures = 0
    while not stop.is_set():
        try:
            return build(settings, stopping=stop)
        except StoreRefused:  # Redis answers, and says no to REDIS_URL: no wait mends that
            raise
        except RateLimited as exc:  # GET /2/users/me's window: another ask before the reset is refused too
            error, wait = str(exc), max(RECONNECT_WAIT, (exc.reset_at - datetime.now(UTC)).total_seconds())
        except (redis.ConnectionError, redis.TimeoutError, StoreUnavailable) as exc:
            error, wait = f"{exc}; check REDIS_URL (unset it to use the embedded Redis)", backoff.compute(failures)
            failures += 1
        except ApiUnavailable as exc:
            error, wait = f"{exc}; X_API_BASE_URL is {redacted_url(settings.x_api_base_url)}", backoff.compute(failures)
            failures += 1
        log.warning("waiting_to_start", error=error, retry_in=round(wait, 2))
        stop.wait(wait)
    return None


def lanes(bot: Bot) -> list[Bot]:
    """The bot once per request its process handles at once (UNROLL_WORKER_CONCURRENCY), `bot` first: each lane
    has a request in hand of its own (`Bot.in_hand`, left by a shutdown whose grace runs out) and shares the rest:
    settings, the X API adapter and its HTTP session, the store and its Redis connections, the stop event."""
    return [bot, *(replace(bot, in_hand=None) for _ in range(bot.settings.worker_concurrency - 1))]


def run_worker(
    bot: Bot | Sequence[Bot],
    stop: threading.Event,
    consumer: str | None = None,
    backoff: AbstractBackoff = RECONNECT_BACKOFF,
) -> None:
    """Handle requests until stopped, in each lane given (`lanes`: the first in this thread, the others in threads of
    their own) as one consumer of the group; Redis outages are waited out, never fatal."""
    bots = [bot] if isinstance(bot, Bot) else list(bot)
    consumer = consumer or consumer_name()
    log.info("worker_started", consumer=consumer, concurrency=len(bots))
    try:
        pruned = bots[0].store.prune_consumers(CONSUMER_FORGOTTEN_MS)
        if pruned:
            log.info("consumers_pruned", consumers=pruned)
    except redis.RedisError as exc:  # housekeeping only: the work goes on without it
        log.warning("consumers_not_pruned", error=str(exc))
    others = [
        in_thread(work_until, lane, stop, consumer, backoff, name=f"worker-{number}")
        for number, lane in enumerate(bots[1:], start=2)
    ]
    work_until(bots[0], stop, consumer, backoff)
    for other in others:
        other.join()
    log.info("worker_stopped", consumer=consumer)


def work_until(bot: Bot, stop: threading.Event, consumer: str, backoff: AbstractBackoff = RECONNECT_BACKOFF) -> None:
    """One lane of a worker: take requests one at a time and handle them until stopped."""
    failures = 0
    while not stop.is_set():
        try:
            work_once(bot, consumer, count=1, block_ms=READ_BLOCK_MS)  # one at a time: prompt shutdown
            failures = 0
        except AuthFailed as exc:
            # Said at error (credentials_rejected) and asked again a minute later, as the poller does: X also
            # answers 401 for a moment at times, and a worker that exits (or dies in its thread, as one did while
            # `run`'s web part kept the process looking healthy) leaves every request waiting for a restart.
            log.warning("worker_waiting_for_credentials", endpoint=exc.endpoint, retry_in=CREDENTIALS_WAIT)
            stop.wait(CREDENTIALS_WAIT)
        except (redis.ConnectionError, redis.TimeoutError, StoreUnavailable) as exc:
            wait = backoff.compute(failures)
            failures += 1
            log.warning("redis_unreachable", error=str(exc), retry_in=wait)
            stop.wait(wait)
        except Exception as exc:
            log.exception("worker_loop_error", error=str(exc))
            stop.wait(RECONNECT_WAIT)


def run_poller(bot: Bot, stop: threading.Event) -> None:
    scheduler = start_poller(bot)
    stop.wait()
    scheduler.shutdown(wait=True)
    log.info("poller_stopped")


def run_once(bot: Bot) -> int:
    """One poll, then drain the queue (stale requests of dead workers included) in every lane; returns requests
    finished. The drain's first read rides on the poll's last write."""
    consumer = consumer_name()
    taking = take_ahead(bot, consumer)
    poll_once(bot, take=taking)
    return drain_lanes(lanes(bot), consumer, taken=taking)


def drain_lanes(
    bots: Sequence[Bot], consumer: str, *, taken: Taking | None = None, stop: Callable[[], bool] = lambda: False
) -> int:
    """`drain` in each lane at once (`lanes`), as one consumer. The requests taken ahead (`taken`, else read here)
    go in two rounds, each request to the first lane free: the first request of each conversation (the one that
    reads its thread), then the rest (they answer from that copy side by side, and a mention queued twice finds
    its record: none waits for a lane reading its thread). Then each lane reads the stream one request at a time
    while reads come back full. Returns how many were finished once every lane is done; what a lane raised is
    raised then, after its round (what is left is claimable at once)."""
    if len(bots) == 1:
        return drain(bots[0], consumer, stop=stop, taken=taken)
    first = taken.taken if taken is not None else None
    if first is None:
        if stop() or waits_for_budget(bots[0]):
            return 0
        first = bots[0].store.take(consumer, visibility_ms(bots[0]))
    entries, more = first
    conversations: dict[str, list[tuple[str, UnrollRequest]]] = {}
    for entry in entries:
        conversations.setdefault(entry[1].conversation_id or entry[1].mention_id, []).append(entry)
    firsts = deque([batch[0]] for batch in conversations.values())
    rest = deque([entry] for batch in conversations.values() for entry in batch[1:])
    onward = more and not rest  # the stream's next requests, after this round (or after the second, when one)
    busy = len(bots) if onward else len(firsts)
    try:
        finished = in_lanes(bots, busy, lambda lane: drain_shared(lane, consumer, firsts, more=onward, stop=stop))
    except BaseException:
        if rest:  # begun by no one: any worker's at once, not this consumer's until the visibility timeout
            leave_now(bots[0], consumer, [entry for batch in rest for entry in batch])
        raise
    if rest:
        busy = len(bots) if more else len(rest)
        finished += in_lanes(bots, busy, lambda lane: drain_shared(lane, consumer, rest, more=more, stop=stop))
    return finished


def in_lanes(bots: Sequence[Bot], busy: int, work: Callable[[Bot], int]) -> int:
    """`work` in the first `busy` lanes at once (the first in this thread; none started for a lane with nothing to
    do); the sum of what they return, once every one is done. What one raised is raised then."""
    finished = [0] * len(bots)
    failed: list[BaseException] = []

    def lane(index: int) -> None:
        try:
            finished[index] = work(bots[index])
        except BaseException as exc:  # raised again once every lane is done: exit codes are the caller's
            failed.append(exc)

    others = [in_thread(lane, index, name=f"lane-{index + 1}") for index in range(1, min(busy, len(bots)))]
    lane(0)
    for other in others:
        other.join()
    if failed:
        raise failed[0]
    return sum(finished)


@dataclass(frozen=True)
class CronRun:
    """What `run --once` did: requests finished, requests still on the stream (left for a retry or a rate-limit
    window's reset), and the poll's failure when X could not be polled."""

    finished: int
    waiting: int
    poll_failed: ApiUnavailable | RateLimited | None = None
    gaps: int = 0  # ranges of mentions beyond the timeline's reach still to be searched for
    paging: bool = False  # mentions the timeline failed to page down to, read at the next poll
    dead_lettered: int = 0  # requests that kept failing and went to the dead letters in this run
    elsewhere: int = 0  # of those waiting, the ones another worker or run holds (not this run's to answer)
    stopped: bool = False  # the run was asked to stop (SIGTERM, SIGINT): what it left is the next run's


def run_for_cron(bot: Bot, bots: Sequence[Bot] | None = None) -> CronRun:
    """`run --once`: one poll, then drain the queue even when the poll failed (what was queued before is worth
    answering now) in each lane (`bots`, else `lanes(bot)`); says what is left, so that cron hears "run again
    later" while anything waits."""
    bots = bots or lanes(bot)
    failed: ApiUnavailable | RateLimited | None = None
    consumer = consumer_name()
    dead_before = bot.store.dead_count()
    taking = take_ahead(bot, consumer)  # the drain's first read rides on the poll's last write
    try:
        poll_once(bot, take=taking)
    except (ApiUnavailable, RateLimited) as exc:
        log.warning("poll_failed", error=str(exc), endpoint=exc.endpoint)
        failed = exc
    except ApiError as exc:
        if not foreign(exc):
            raise
        # A cached identity skipped GET /2/users/me: the poll is where a wrong X_API_BASE_URL shows. Nothing is
        # drained with it: every read would answer 404 too (each request left waiting for the URL to be mended).
        raise ConfigError(f"{not_the_x_api(bot.settings, exc)}; {BASE_URL_FIX}") from exc
    finished = drain_lanes(bots, consumer, taken=taking, stop=bot.stopping.is_set)
    try:
        bot.store.forget_consumer(consumer)
    except redis.RedisError as exc:  # housekeeping only: a worker's start prunes it a day later
        log.warning("consumer_not_forgotten", consumer=consumer, error=str(exc))
    gaps, paging = len(bot.store.mention_gaps()), bot.store.paging_gap() is not None
    dead = max(bot.store.dead_count() - dead_before, 0)  # (another process may have requeued some meanwhile)
    waiting = bot.store.queue_depth()
    elsewhere = min(bot.store.held_by_others(consumer), waiting) if waiting else 0
    return CronRun(finished, waiting, failed, gaps, paging, dead, elsewhere, bot.stopping.is_set())


def cron_within_grace(bot: Bot, grace: float = SHUTDOWN_GRACE) -> CronRun | None:
    """`run_for_cron` within the shutdown grace: asked to stop (`bot.stopping`), the run gets `grace` seconds to
    finish the request in hand; None when it is still in a call to X then (UNROLL_HTTP_TIMEOUT above the grace):
    that request is left to the next run at once (`wait_for`), and the process may exit in the call's middle. What
    the run raised is raised here."""
    done: list[CronRun] = []
    failed: list[BaseException] = []
    bots = lanes(bot)

    def run() -> None:
        try:
            done.append(run_for_cron(bot, bots))
        except BaseException as exc:  # raised again in the caller's thread: exit codes are the CLI's
            failed.append(exc)

    running = in_thread(run, name="once")
    while running.is_alive() and not bot.stopping.is_set():
        running.join(timeout=0.5)
    if running.is_alive() and not wait_for(bot.stopping, [running], bots, grace=grace):
        return None
    running.join()
    if failed:
        raise failed[0]
    return done[0]


def in_thread(target: Callable[..., None], *args: Any, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def wait_for(
    stop: threading.Event,
    threads: list[threading.Thread],
    bot: Bot | Sequence[Bot] | None = None,
    grace: float = SHUTDOWN_GRACE,
) -> bool:
    """Wait for the stop event, then give the threads a bounded time to finish; False when one still runs then
    (a call to X longer than the grace: UNROLL_HTTP_TIMEOUT): the process exits in its middle, so the request in
    hand of each lane (`bot`: one, or every lane of the worker, `lanes`) is left to another worker first, at once,
    not held until its claim's timeout."""
    while not stop.is_set():
        stop.wait(0.5)
    deadline = time.monotonic() + grace
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0))
    running = [thread.name for thread in threads if thread.is_alive()]
    if not running:
        return True
    log.warning("shutdown_grace_expired", grace=grace, running=running)
    for lane in [bot] if isinstance(bot, Bot) else bot or []:
        leave = lane.in_hand
        if leave is None:
            continue
        try:
            leave()
        except redis.RedisError as exc:  # held until its claim's timeout, as a killed worker's request is
            log.warning("request_not_left", error=str(exc))
    return False
