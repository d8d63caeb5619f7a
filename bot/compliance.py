"""Stored threads kept in step with X: posts deleted since, and authors protected, suspended or gone, leave the site.

X's developer terms ask that stored content follow what people do on X: a deleted post, a protected or suspended
account must not stay on a page. Checking each stored post would bill every one of them again; X's batch
compliance jobs (https://docs.x.com/x-api/compliance/batch-compliance/introduction) take the ids in bulk and
list only those with an event. Every `UNROLL_COMPLIANCE_INTERVAL` seconds a round starts: one job for the stored
posts (the threads' posts and the posts they quote) and one for the threads' authors. The poll process checks on
them every few minutes; once a job is complete its events are applied: a deleted post leaves its thread (the page
notes the gap), a quoted one becomes "unavailable", and a thread with no post left, or whose author is gone,
protected or suspended, is removed (its page answers 410). A job's id stays in Redis until its events are applied,
so a crash, a busy thread or an error only delays them to the next check. Jobs take the bearer token (app-only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from bot import metrics
from bot.apimodels import ComplianceEvent
from bot.errors import ApiError, ApiUnavailable, InvalidRequest, NotFound, RateLimited
from bot.models import QuotedTweet, Thread, ThreadTweet, utcnow
from bot.runtime import Bot
from bot.store import keep_alive

log = structlog.get_logger(__name__)

KINDS = ("tweets", "users")
CHECK_EVERY = 300.0  # seconds between two looks at jobs in flight (X's jobs take minutes to hours)
UPLOAD_WINDOW = timedelta(minutes=15)  # X's upload URLs expire 15 minutes after the job is created
ROUND_LOCK = 600.0  # seconds one process holds the compliance round against others
REFUSED_FIX = "check X_BEARER_TOKEN, and that the app has batch compliance (/2/compliance/jobs) in its access"


@dataclass
class Tally:
    """What a compliance check did."""

    started: dict[str, int] = field(default_factory=dict)  # kind → ids uploaded
    events: int = 0
    posts_removed: int = 0
    quotes_hidden: int = 0
    threads_trimmed: int = 0
    threads_removed: int = 0
    in_flight: list[str] = field(default_factory=list)  # kinds whose job is still running
    skipped: str = ""  # why nothing was done, when nothing was


def trimmed(thread: Thread, gone: set[str]) -> Thread | None:
    """The thread without the posts in `gone` (its sections' too: a section left with none goes) and with those it
    quotes among them shown as unavailable; None when none of the thread's own posts is left. The same thread
    (unchanged) when nothing of it is in `gone`."""
    every = thread.every_tweet
    if not any(t.id in gone or hidden(t, gone) for t in every):
        return thread
    tweets = _trim(thread.tweets, gone)
    if not tweets:
        return None
    sections = [s.model_copy(update={"tweets": kept}) for s in thread.sections if (kept := _trim(s.tweets, gone))]
    noted = not any(t.id in gone for t in every) or "deleted_tweets" in thread.gaps
    gaps = thread.gaps if noted else [*thread.gaps, "deleted_tweets"]
    return thread.model_copy(update={"tweets": tweets, "sections": sections, "gaps": gaps})


def _trim(tweets: list[ThreadTweet], gone: set[str]) -> list[ThreadTweet]:
    """The posts not in `gone`, a quoted post among them shown as unavailable."""
    return [
        t.model_copy(update={"quoted": QuotedTweet(id=t.quoted.id, unavailable=True)})
        if hidden(t, gone) and t.quoted is not None
        else t
        for t in tweets
        if t.id not in gone
    ]


def hidden(tweet: ThreadTweet, gone: set[str]) -> bool:
    """Whether the post X says is gone is one this tweet quotes and still shows."""
    return tweet.quoted is not None and tweet.quoted.id in gone and not tweet.quoted.unavailable


# X's batch results say "delete" for every event, the reason telling why (deleted, protected, suspended,
# deactivated, scrub_geo); its compliance streams name events by what happened (user_protect, drop…). Either way,
# these take the post or the author's threads off the site; their reversals (undelete, unprotect…) and a scrubbed
# geo (no place is stored) take nothing.
REMOVING = frozenset(
    {"delete", "drop", "protect", "suspend", "deactivate", "user_delete", "user_protect", "user_suspend"}
)
KEEPING = frozenset(
    {"scrub_geo", "undelete", "undrop", "unprotect", "unsuspend", "reactivate", "user_undelete", "user_unprotect"}
    | {"user_unsuspend", "tweet_edit", "edit", "status_withheld", "user_withheld"}
)
GONE_REASONS = frozenset({"deleted", "protected", "suspended", "deactivated"})


def removes(event: ComplianceEvent, job_id: str = "") -> bool:
    """Whether an event takes its post, or its author's threads, off the site. An action X does not document is
    taken at its reason's word (a reason that says gone removes), and logged."""
    action, reason = event.action.strip().lower(), event.reason.strip().lower()
    if action in REMOVING:
        return reason != "scrub_geo"  # ("delete" of a post's place: none is stored)
    if action not in KEEPING:
        log.warning("compliance_event_unknown", job_id=job_id, id=event.id, action=event.action, reason=event.reason)
        return reason in GONE_REASONS
    return False


def due(finished_at: str | None, interval: float, now: datetime) -> bool:
    """Whether a new round is due: never run, or the last one ended `interval` seconds ago or more."""
    return finished_at is None or now - datetime.fromisoformat(finished_at) >= timedelta(seconds=interval)


def comply_once(bot: Bot, *, force: bool = False, start: bool = True) -> Tally:
    """Check the jobs in flight, apply those complete, and start a new round when one is due (or `force`d; never
    without `start`: waiting for a round's jobs). X's errors are logged and leave everything in Redis for the next
    check; only Redis's own are raised."""
    tally = Tally()
    settings = bot.settings
    if settings.x_bearer_token is None:
        tally.skipped = "no_bearer_token"
        return tally
    lock = bot.store.lock("compliance", timeout=ROUND_LOCK)
    if not lock.acquire(blocking=False):
        tally.skipped = "another_process"
        return tally
    try:
        with keep_alive(ROUND_LOCK / 3, lock.reacquire):  # a round over many threads may outlast the lock
            _check(bot, tally)
            state = bot.store.compliance_state()
            idle = not any(state.get(f"job:{kind}") for kind in KINDS)
            if start and idle and (force or due(state.get("finished_at"), settings.compliance_interval, utcnow())):
                _start(bot, tally)
    except (ApiUnavailable, RateLimited) as exc:  # for now: the next check tries again
        log.warning("compliance_failed", error=str(exc), endpoint=exc.endpoint, status=exc.status)
        tally.skipped = "api_error"
    except NotFound as exc:  # an API without batch compliance (a simulator, a proxy): the next round tries again
        log.warning("compliance_unsupported", error=str(exc), fix="X_API_BASE_URL serves no /2/compliance/jobs")
        bot.store.finish_compliance(utcnow())
        tally.skipped = "unsupported"
    except ApiError as exc:  # refused (401, 403, 400): not asked again before the next round
        log.warning("compliance_refused", error=str(exc), endpoint=exc.endpoint, status=exc.status, fix=REFUSED_FIX)
        bot.store.finish_compliance(utcnow())
        tally.skipped = "refused"
    finally:
        if lock.owned():  # (not when it expired while the round worked)
            lock.release()
    return tally


def _check(bot: Bot, tally: Tally) -> None:
    state = bot.store.compliance_state()
    for kind in KINDS:
        job_id = state.get(f"job:{kind}")
        if not job_id:
            continue
        try:
            job = bot.api.compliance_job(job_id)
        except (InvalidRequest, NotFound) as exc:  # X knows no such job (another app's, or long gone)
            log.warning("compliance_job_lost", kind=kind, job_id=job_id, error=str(exc))
            bot.store.end_compliance_job(kind)
            continue
        if job.status == "created" and job.created_at and utcnow() - job.created_at > UPLOAD_WINDOW:
            # X's upload URL has expired: the job can never start; the round ends and the next one starts anew.
            log.warning("compliance_job_ended", kind=kind, job_id=job_id, status="upload_expired")
            bot.store.end_compliance_job(kind)
        elif job.status == "created":  # its upload never arrived (the process stopped, storage failed): again
            posts, authors = bot.store.stored_ids()
            bot.api.upload_compliance_ids(job, posts if kind == "tweets" else authors)
            tally.in_flight.append(kind)
        elif job.status == "complete":
            events = bot.api.compliance_events(job)
            gone = {e.id for e in events if removes(e, job_id)}
            before = (tally.posts_removed, tally.quotes_hidden, tally.threads_removed)
            complete = _apply(bot, kind, gone, tally)
            after = (tally.posts_removed, tally.quotes_hidden, tally.threads_removed)
            metrics.observe_compliance(bot.store, *(a - b for a, b in zip(after, before, strict=True)))
            if not complete:
                tally.in_flight.append(kind)
                continue
            tally.events += len(events)
            bot.store.end_compliance_job(kind)
            log.info("compliance_applied", kind=kind, job_id=job_id, events=len(events))
        elif job.status in ("failed", "expired"):
            log.warning("compliance_job_ended", kind=kind, job_id=job_id, status=job.status)
            bot.store.end_compliance_job(kind)
        else:
            tally.in_flight.append(kind)
    state = bot.store.compliance_state()
    if state.get("started_at") and not any(state.get(f"job:{kind}") for kind in KINDS):
        bot.store.finish_compliance(utcnow())


def _start(bot: Bot, tally: Tally) -> None:
    posts, authors = bot.store.stored_ids()
    bot.store.start_compliance(utcnow())
    for kind, ids in (("tweets", posts), ("users", authors)):
        if not ids:
            continue
        job = bot.api.create_compliance_job(kind, f"unroll-bot {kind}")
        bot.store.note_compliance_job(kind, job.id)  # before the upload: a failed upload is a job that expires
        bot.api.upload_compliance_ids(job, ids)
        tally.started[kind] = len(ids)
        tally.in_flight.append(kind)
        log.info("compliance_job_started", kind=kind, job_id=job.id, ids=len(ids))
    if not tally.started:
        bot.store.finish_compliance(utcnow())


def _apply(bot: Bot, kind: str, gone: set[str], tally: Tally) -> bool:
    """Each stored thread touched by the events: trimmed, or removed, under the thread's own lock, as a worker
    saving it holds it. False when a thread stayed busy: the job is kept and applied again at the next check
    (what was applied already is found applied)."""
    if not gone:
        return True
    for thread in bot.store.stored_threads():
        root_id = thread.root_id
        every = thread.every_tweet
        quoted = {t.quoted.id for t in every if t.quoted is not None}
        touched = thread.author.id in gone if kind == "users" else bool(gone & {t.id for t in every} or gone & quoted)
        if not touched:
            continue
        lock = bot.store.lock(f"thread:{thread.conversation_id}", timeout=bot.settings.visibility_timeout)
        if not lock.acquire(blocking=True, blocking_timeout=bot.settings.visibility_timeout):
            log.warning("compliance_thread_busy", root_id=root_id, kind=kind)
            return False
        try:
            current = bot.store.get_thread(root_id)
            if current is None:
                continue
            after = None if kind == "users" else trimmed(current, gone)
            if after is None:
                bot.store.withdraw_thread(root_id)
                tally.threads_removed += 1
                log.info("compliance_thread_removed", root_id=root_id, kind=kind)
            elif after is not current:
                removed = [t.id for t in current.every_tweet if t.id in gone]
                bot.store.replace_thread(after, removed)
                tally.threads_trimmed += 1
                tally.posts_removed += len(removed)
                tally.quotes_hidden += sum(1 for t in current.every_tweet if t.id not in gone and hidden(t, gone))
        finally:
            if lock.owned():
                lock.release()
    return True
