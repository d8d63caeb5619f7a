"""`python -m bot doctor`: is this deployment ready to run? One line per check, each failing one with its fix.

Checks the credentials (GET /2/users/me, and the app bearer token when set; an answer no X API gives there fails
X_API_BASE_URL instead), the bot's handle, Redis (reached, and taking REDIS_URL's password and database) and its
persistence, that PUBLIC_BASE_URL reaches the web process and who may read its /metrics, the rate-limit budget,
today's spending, and the poller and queue. The exit code is 1 when a check fails (warnings don't fail), 75 when
none failed but the credentials could not be checked (X rate-limited GET /2/users/me: run it again after the
reset), else 0, so deploy scripts can call it and go live on 0 alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import redis
import requests
import structlog

from bot import spending
from bot.apimodels import ApiUser
from bot.errors import (
    BEARER_FIX,
    EX_TEMPFAIL,
    WRITE_FIX,
    ApiError,
    ApiUnavailable,
    AuthFailed,
    BearerRefused,
    NotAllowed,
    RateLimited,
    StoreRefused,
    StoreUnavailable,
    WriteRefused,
)
from bot.runtime import BASE_URL_FIX, foreign, not_the_x_api
from bot.store import Store
from bot.store.base import REFUSED_FIX
from bot.walks import TIMELINE_REFUSALS
from bot.xapi import Window, XApi
from config.settings import CREDENTIALS, Settings, local_host, redacted_value

log = structlog.get_logger(__name__)

Status = Literal["ok", "warn", "fail", "skip"]
MARKS: dict[Status, str] = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"}
NAME_WIDTH = 12
URL_TIMEOUT = 5.0  # seconds: the public URL answers fast or readers' clicks fail too
REDIS_TIMEOUT = 5.0
# Tweet 1 never existed: looking it up answers 200 with an error entry and bills no post read.
BEARER_PROBE_ID = "1"
CREDENTIALS_FIX = (
    f"check {', '.join(CREDENTIALS)}: the consumer pair of the bot's app and the access pair of the bot's account "
    "(regenerate them in the X developer portal)"
)


@dataclass(frozen=True)
class Check:
    """The verdict of one check: what was found and, unless all is well, what to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    # Not checked for now (a rate limit): no verdict, which a deploy script must not take for a pass.
    inconclusive: bool = False

    def line(self) -> str:
        fix = f" → fix: {self.fix}" if self.fix else ""
        return f"{MARKS[self.status]}  {self.name.ljust(NAME_WIDTH)}  {self.detail}{fix}"


def run_doctor(settings: Settings, out: Callable[[str], None], *, store: Store | None = None) -> int:
    """Run every check, print one line each and a summary; 1 when any check failed, 75 when none did but one that
    going live depends on could not be made now (`Check.inconclusive`), else 0."""
    checks: list[Check] = []
    for check in checks_of(settings, store):
        checks.append(check)
        out(check.line())
        log.debug("doctor_check", check=check.name, status=check.status)
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    out("")
    summary = f"{len(checks)} checks: {failed} failed, {warned} warning{'' if warned == 1 else 's'}."
    unchecked = [c.name for c in checks if c.inconclusive]
    if failed:
        summary += " Fix the FAIL lines first."
    elif unchecked:
        summary += f" Not checked now: {', '.join(unchecked)}; run doctor again after the reset (exit 75)."
    out(summary)
    return 1 if failed else EX_TEMPFAIL if unchecked else 0


def checks_of(settings: Settings, store: Store | None = None) -> Iterator[Check]:
    """Every check in order; later checks are skipped when what they need failed."""
    missing = settings.missing_credentials()
    yield configuration(settings, missing)
    api = XApi(settings)
    me: ApiUser | None = None
    elsewhere = False  # X_API_BASE_URL answers as no X API does: what else asks it would say the same
    if missing:
        yield Check("credentials", "skip", f"not checked: {', '.join(missing)} not set")
    else:
        me, check = credentials(api)
        elsewhere = check.name == "x api"
        yield check
    if settings.x_bearer_token and elsewhere:
        yield Check("bearer token", "skip", "not checked: X_API_BASE_URL does not answer as the X API")
    elif settings.x_bearer_token:
        yield bearer(api)
    if settings.full_archive and me is not None:
        yield full_archive(api, me)
    elif settings.old_thread_hours > 0 and me is not None:
        yield old_threads(api, me)
    yield handle(settings, me)
    store, check = connect(settings, store)
    yield check
    if store is not None:
        yield persistence(store)
    site = public_url(settings)
    yield site
    yield metrics_access(settings, site)
    yield rate_limits(api.windows, store.windows() if store is not None else {})
    if store is not None:
        yield spend(store, settings)
        yield queue(store, settings)
    yield compliance(settings, store)


# --- the checks ------------------------------------------------------------------------------------------
def configuration(settings: Settings, missing: list[str]) -> Check:
    if missing and settings.dry_run:
        return Check("config", "warn", f"dry run: {', '.join(missing)} not set, the bot will not post")
    if missing:
        return Check(
            "config",
            "fail",
            f"{', '.join(missing)} not set",
            "set them to the bot account's credentials from the X developer portal, or set UNROLL_DRY_RUN=true",
        )
    mode = "dry run (replies are logged, not posted)" if settings.dry_run else "posting replies"
    return Check(
        "config", "ok", f"settings valid, credentials set, {mode}, X API at {redacted_value(settings.x_api_base_url)}"
    )


def credentials(api: XApi) -> tuple[ApiUser | None, Check]:
    """GET /2/users/me with the OAuth 1.0a user credentials (answered as no X API does: X_API_BASE_URL)."""
    try:
        me = api.me()
    except ApiError as exc:
        return None, me_refused(api.settings, exc)
    whose = f"the credentials are @{me.username}'s (id {me.id}), GET /2/users/me"
    if api.access_level == "read":  # X says so on every user-context answer; a post would be refused (403)
        said = f"{whose}, but X says their access is Read only (x-access-level: read): every reply would be refused"
        return me, Check("credentials", "warn" if api.settings.dry_run else "fail", said, WRITE_FIX)
    return me, Check("credentials", "ok", whose)


def me_refused(settings: Settings, exc: ApiError) -> Check:
    """The check's verdict on an error of GET /2/users/me."""
    if foreign(exc, unreadable=True):
        return Check("x api", "fail", not_the_x_api(settings, exc), BASE_URL_FIX)
    if isinstance(exc, WriteRefused):  # an app attached to no Project: X refuses it everything
        return Check("credentials", "fail", str(exc), exc.fix)
    if isinstance(exc, AuthFailed):
        return Check("credentials", "fail", "GET /2/users/me answered 401 Unauthorized", CREDENTIALS_FIX)
    if isinstance(exc, RateLimited) and exc.reason == "usage_cap":
        return Check(
            "credentials",
            "fail",
            "X refuses every request: the usage cap is reached (credits spent, a spending limit, or the "
            "monthly post reads); nothing is lost, the bot asks again every 15 minutes",
            "add credits or raise the limit in the X Developer Console",
        )
    if isinstance(exc, RateLimited):
        return Check(
            "credentials",
            "warn",
            f"GET /2/users/me is rate limited until {_at(exc.reset_at, datetime.now(UTC))}: not checked",
            "run doctor again after the window resets",
            inconclusive=True,
        )
    if isinstance(exc, ApiUnavailable):
        return Check("credentials", "fail", f"the X API did not answer ({exc})", "check X_API_BASE_URL and the network")
    return Check("credentials", "fail", f"GET /2/users/me failed: {exc}", CREDENTIALS_FIX)


def bearer(api: XApi) -> Check:
    """An app-only read with X_BEARER_TOKEN (a lookup of a tweet that never existed: no post read billed)."""
    try:
        api.lookup([BEARER_PROBE_ID])
    except BearerRefused as exc:  # its app is in no Project: refused for good, not a moment's trouble
        return Check("bearer token", "fail", str(exc), exc.fix)
    except AuthFailed:
        return Check(
            "bearer token",
            "fail",
            "GET /2/tweets with X_BEARER_TOKEN answered 401 Unauthorized",
            BEARER_FIX,
        )
    except ApiError as exc:
        return Check("bearer token", "warn", f"GET /2/tweets with X_BEARER_TOKEN: {exc}", "run doctor again later")
    return Check("bearer token", "ok", "X_BEARER_TOKEN is accepted for reads (app rate limits)")


def full_archive(api: XApi, me: ApiUser) -> Check:
    """UNROLL_FULL_ARCHIVE is on: one full-archive search that can match nothing (a conversation that never
    existed), to learn whether X gives this app full-archive access at all."""
    try:
        api.search(f"conversation_id:{BEARER_PROBE_ID} from:{me.id}", full_archive=True, max_results=10)
    except NotAllowed as exc:
        return Check(
            "full archive",
            "fail",
            f"UNROLL_FULL_ARCHIVE is on, but X refuses this app full-archive search: {exc}",
            "set UNROLL_FULL_ARCHIVE=false (old threads are then climbed post by post), or get the app access",
        )
    except ApiError as exc:
        return Check("full archive", "warn", f"GET /2/tweets/search/all: {exc}", "run doctor again later")
    return Check("full archive", "ok", "full-archive search answers (UNROLL_FULL_ARCHIVE is on)")


# Before any post: X's timelines take no earlier end_time (https://docs.x.com/x-api/posts/user-posts-timeline-by-user-id).
TIMELINE_PROBE_END = datetime(2010, 11, 6, 0, 0, 1, tzinfo=UTC)


def old_threads(api: XApi, me: ApiUser) -> Check:
    """Without full archive, old threads are followed through their authors' timelines (UNROLL_OLD_THREAD_HOURS):
    one page of the bot's own timeline ending before any post was made, to learn whether X gives the app users'
    timelines at all, reading nothing."""
    try:
        api.user_posts(me.id, end_time=TIMELINE_PROBE_END, max_results=5)
    except TIMELINE_REFUSALS as exc:
        return Check(
            "old threads",
            "warn",
            f"X refuses this app users' timelines (GET /2/users/:id/tweets): {exc}; threads older than 7 days will "
            "stop at the summoned post",
            "set UNROLL_OLD_THREAD_HOURS=0 to stop asking, or UNROLL_FULL_ARCHIVE=true with full-archive access",
        )
    except ApiError as exc:
        return Check("old threads", "warn", f"GET /2/users/:id/tweets: {exc}", "run doctor again later")
    return Check("old threads", "ok", "users' timelines answer: threads older than 7 days are followed past their end")


def handle(settings: Settings, me: ApiUser | None) -> Check:
    if me is None:
        configured = f"@{settings.bot_handle}" if settings.bot_handle else "not set"
        return Check("handle", "skip", f"UNROLL_BOT_HANDLE {configured}; not compared (no answer from /2/users/me)")
    if not settings.bot_handle:
        return Check(
            "handle",
            "warn",
            f"UNROLL_BOT_HANDLE is not set; the bot answers as @{me.username}",
            f"set UNROLL_BOT_HANDLE={me.username} so a token of the wrong account stops start-up",
        )
    if settings.bot_handle.lower() != me.username.lower():
        return Check(
            "handle",
            "fail",
            f"UNROLL_BOT_HANDLE is @{settings.bot_handle} but the credentials are @{me.username}'s",
            "fix UNROLL_BOT_HANDLE, or X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET of the bot's account",
        )
    return Check("handle", "ok", f"@{me.username} as UNROLL_BOT_HANDLE says")


def connect(settings: Settings, store: Store | None) -> tuple[Store | None, Check]:
    """Reach Redis (with short timeouts, so a wrong REDIS_URL fails fast)."""
    where = (
        redacted_value(settings.redis_url) if settings.redis_url else f"embedded, in {settings.data_dir / 'redis.db'}"
    )
    try:
        if store is None:
            store = Store(_client(settings), settings.key_prefix, handled_log_size=settings.handled_log_size)
        store.ping()
    except StoreRefused as exc:
        return None, Check("redis", "fail", f"{exc} (at {where})", f"check REDIS_URL: {REFUSED_FIX}")
    except (StoreUnavailable, redis.RedisError, OSError) as exc:
        return None, Check(
            "redis",
            "fail",
            f"not reachable at {where}: {exc}",
            "check REDIS_URL (host, port, password, rediss:// for TLS), or unset it to use the embedded Redis",
        )
    return store, Check("redis", "ok", f"answers at {where}")


def persistence(store: Store) -> Check:
    try:
        config = store.persistence()
    except redis.RedisError:
        return Check(
            "persistence",
            "warn",
            "this Redis does not show its persistence settings (CONFIG is disabled)",
            "make sure your provider persists data (AOF or snapshots), or a restart loses the queue and the cursor",
        )
    return judge_persistence(config)


def judge_persistence(config: Mapping[str, str]) -> Check:
    """Whether Redis keeps its data across a restart, from CONFIG GET appendonly and save (pure)."""
    aof = config.get("appendonly", "no") == "yes"
    save = config.get("save", "").strip()
    if aof:
        return Check("persistence", "ok", "append-only file on" + (f", snapshots too (save {save})" if save else ""))
    if save:
        return Check("persistence", "ok", f"snapshots (save {save}); append-only file off")
    return Check(
        "persistence",
        "warn",
        "neither the append-only file nor snapshots are on: a restart loses the queue, the cursor and the pages",
        "CONFIG SET appendonly yes (and in redis.conf), or turn on persistence at your provider",
    )


def public_url(settings: Settings) -> Check:
    url = f"{settings.public_base_url}/healthz"
    try:
        response = requests.get(url, timeout=URL_TIMEOUT)
    except requests.RequestException as exc:
        return Check(
            "public url",
            "fail",
            f"{url} did not answer ({type(exc).__name__})",
            "start the web process (`python -m bot web` or `run`), or set PUBLIC_BASE_URL to its public address",
        )
    if response.status_code == 503:
        return Check(
            "public url", "fail", f"{url} answered 503: the web process can't reach Redis", "check its REDIS_URL"
        )
    if response.status_code != 200 or "queue_depth" not in response.text:
        return Check(
            "public url",
            "fail",
            f"{url} answered {response.status_code}, not the bot's health check",
            "point PUBLIC_BASE_URL (and the proxy in front) at the bot's web process",
        )
    host = urlsplit(settings.public_base_url).hostname or ""
    if local_host(host):
        return Check(
            "public url",
            "fail" if settings.posts_to_x() else "warn",  # replies on X would link where no reader gets
            f"{url} answers, but readers can't open links to {host}",
            "set PUBLIC_BASE_URL to the address readers reach (https://…)",
        )
    return Check("public url", "ok", f"{url} answers")


def metrics_access(settings: Settings, site: Check) -> Check:
    """Who can read /metrics at PUBLIC_BASE_URL (it shows the spending and the rate limits): asked of the web
    process itself, without the token and, when this process has one, with it."""
    if site.status == "fail":
        return Check("metrics", "skip", "not checked: the web process did not answer")
    url = f"{settings.public_base_url}/metrics"
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    try:
        anyone = requests.get(url, timeout=URL_TIMEOUT).status_code
        shown = (
            requests.get(url, timeout=URL_TIMEOUT, headers={"authorization": f"Bearer {token}"}).status_code
            if token is not None
            else anyone
        )
    except requests.RequestException as exc:
        return Check("metrics", "warn", f"{url} did not answer ({type(exc).__name__})", "run doctor again")
    host = urlsplit(settings.public_base_url).hostname or ""
    return metrics_verdict(url, host, token is not None, anyone, shown, bound=settings.host)


def metrics_verdict(
    url: str, host: str, token_set: bool, anyone: int, shown: int, *, bound: str = "127.0.0.1"
) -> Check:
    """The metrics check from what /metrics answered without the token (`anyone`) and with this process's
    (`shown`; no header when it has none). `bound`: the interface the web process listens on (HOST): on all
    of them, or a public one, /metrics is open to whoever reaches the machine, whatever the links say."""
    if token_set and anyone == 401 and shown == 200:
        return Check("metrics", "ok", f"{url} answers only with UNROLL_METRICS_TOKEN")
    if token_set and anyone == 401:
        return Check(
            "metrics",
            "fail",
            f"{url} refuses this process's UNROLL_METRICS_TOKEN ({shown}): the web process has another",
            "give the web process and your Prometheus the same UNROLL_METRICS_TOKEN",
        )
    if anyone == 401:
        return Check(
            "metrics",
            "warn",
            f"{url} asks for a token (the web process has UNROLL_METRICS_TOKEN); this process has none",
            "set the same UNROLL_METRICS_TOKEN here",
        )
    if anyone != 200:
        return Check("metrics", "warn", f"{url} answered {anyone}", "point PUBLIC_BASE_URL at the bot's web process")
    if token_set:
        return Check(
            "metrics",
            "warn",
            f"{url} answers anyone: the web process has no UNROLL_METRICS_TOKEN",
            "set UNROLL_METRICS_TOKEN on the web process too, then restart it",
        )
    if local_host(host) and _is_loopback(bound):
        return Check("metrics", "ok", f"{url} is open, reachable from {host} only")
    if local_host(host):
        return Check(
            "metrics",
            "warn",
            f"{url} is open, and the web process listens on {bound or 'every interface'} (HOST): anyone who "
            "reaches this machine's PORT reads it (the spending, the rate limits)",
            "set UNROLL_METRICS_TOKEN and give it to your Prometheus, or HOST=127.0.0.1 behind a proxy",
        )
    return Check(
        "metrics",
        "warn",
        f"{url} is open to anyone who reaches {host}: it shows the spending and the rate limits",
        "set UNROLL_METRICS_TOKEN and give it to your Prometheus (README, Health and metrics)",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def rate_limits(
    fresh: Mapping[str, Window],
    seen: Mapping[str, tuple[int | None, int | None, datetime | None]],
    now: datetime | None = None,
) -> Check:
    """The rate-limit windows: this run's (GET /2/users/me) and the ones the running bot last saw (in Redis)."""
    now = now or datetime.now(UTC)
    windows = dict(seen)
    windows.update({name: (w.limit, w.remaining, w.reset_at) for name, w in fresh.items() if w.remaining is not None})
    parts, spent = [], []
    for name, (limit, remaining, reset_at) in sorted(windows.items()):
        if remaining is None or (reset_at is not None and reset_at <= now):
            continue  # the window has reset since it was seen
        resets = f", resets {_at(reset_at, now)}" if reset_at else ""
        parts.append(f"{name} {remaining}/{limit if limit is not None else '?'}{resets}")
        if remaining == 0:
            spent.append(f"{name} until {_at(reset_at, now)}" if reset_at else name)
    if not parts:
        return Check("rate limits", "skip", "no rate-limit headers seen yet")
    if spent:
        return Check(
            "rate limits",
            "warn",
            "spent: " + "; ".join(spent) + " — " + "; ".join(parts),
            "nothing to do: the bot waits for the reset (poll less often with UNROLL_POLL_INTERVAL if it recurs)",
        )
    return Check("rate limits", "ok", "; ".join(parts))


def _at(moment: datetime, now: datetime) -> str:
    """A time of day in UTC, with its date when that is not today's (a daily cap resets tomorrow, not at this
    very minute)."""
    moment = moment.astimezone(UTC)
    return f"{moment:%H:%M}Z" if moment.date() == now.astimezone(UTC).date() else f"{moment:%b %d %H:%M}Z"


def spend(store: Store, settings: Settings) -> Check:
    today = spending.spent_today(store, settings)
    if today.over:
        policy = (
            "new requests wait on the stream until 00:00 UTC"
            if settings.over_budget == "wait"
            else "requests get a short reply without the link"
        )
        return Check("spending", "warn", f"{today.summary()}; {policy}", "raise UNROLL_DAILY_BUDGET to resume now")
    return Check("spending", "ok", today.summary())


def queue(store: Store, settings: Settings) -> Check:
    depth, pending, dead = store.queue_depth(), store.pending_count(), store.dead_count()
    last = store.last_poll()
    figures = f"{depth} queued ({pending} being handled), {dead} dead letters"
    if last is None:
        return Check(
            "poller",
            "warn",
            f"has never polled; {figures}",
            "start `python -m bot poll` or `run` (or cron `run --once`)",
        )
    age = (datetime.now(UTC) - last).total_seconds()
    figures = f"last poll {age:.0f}s ago; {figures}"
    waiting = [
        *(["older mentions to page down to (the timeline failed part-way)"] if store.paging_gap() else []),
        *([f"{gaps} range(s) beyond the timeline's reach"] if (gaps := len(store.mention_gaps())) else []),
    ]
    if waiting:  # (the next poll reads them: nothing to do)
        figures += f"; the next poll reads {' and '.join(waiting)}"
    if age > max(3 * settings.poll_interval, 300):
        return Check("poller", "warn", figures, "check the poll process is running and its logs (`poll_failed`)")
    if dead:
        return Check("poller", "warn", figures, "`python -m bot dead-letters` lists them, `--requeue` retries them")
    return Check("poller", "ok", figures)


# --- helpers ---------------------------------------------------------------------------------------------
def _client(settings: Settings) -> redis.Redis:
    if settings.redis_url:
        return redis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
    return Store.from_settings(settings).redis


def compliance(settings: Settings, store: Store | None) -> Check:
    """Whether compliance rounds run (`bot.compliance`), and where the last one stands."""
    if not settings.compliance_interval:
        return Check(
            "compliance",
            "warn",
            "off: posts deleted on X and protected or suspended authors stay on the pages",
            "set UNROLL_COMPLIANCE_INTERVAL (X's developer terms ask stored posts to follow X)",
        )
    if settings.x_bearer_token is None:
        return Check("compliance", "warn", "X's batch compliance jobs take app-only auth", "set X_BEARER_TOKEN")
    every = f"a round every {settings.compliance_interval:.0f} s"
    state = store.compliance_state() if store is not None else {}
    running = [kind for kind in ("tweets", "users") if state.get(f"job:{kind}")]
    if running:
        return Check("compliance", "ok", f"{every}; X is working on the {' and '.join(running)} job(s)")
    last = state.get("finished_at")
    return Check("compliance", "ok", f"{every}; " + (f"the last ended {last}" if last else "none has run yet"))
