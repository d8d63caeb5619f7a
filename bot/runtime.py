"""The running bot's parts, built once per process from the settings: API adapter, store and identity."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from bot import metrics
from bot.apimodels import ApiUser
from bot.errors import ApiError, ApiUnavailable, ConfigError, NotFound
from bot.store import Store
from bot.xapi import XApi
from config.settings import Settings, redacted_url

log = structlog.get_logger(__name__)

BASE_URL_FIX = (
    f"set X_API_BASE_URL to {Settings.model_fields['x_api_base_url'].default} (its default), or to a proxy that "
    "forwards /2/… there unchanged"
)


@dataclass
class Bot:
    """What every step needs: settings, the X API adapter, the store, and who the bot is on X."""

    settings: Settings
    api: XApi
    store: Store
    user_id: str
    username: str
    # Set when the process is asked to stop: long waits inside a request (for search to show a reply) end then.
    stopping: threading.Event = field(default_factory=threading.Event)
    # Leaves the request this worker lane has in hand (`processes.lanes`) to another worker at once (None between
    # requests): called when the process must exit while that request is still in a call to X (its grace ran out).
    in_hand: Callable[[], None] | None = None
    # When (monotonic) X last refused the credentials to this process's poller: it asks again a minute later.
    refused_at: float | None = None
    # The newest mention this process's polls read past: Redis losing the cursor is told from a first start.
    last_cursor: str | None = None
    # Polls that found Redis unreachable in a row, and when (monotonic) the poller asks again.
    redis_failures: int = 0
    redis_retry_at: float = 0.0
    # The poll interval last said stretched (`processes.poll_interval`): said again only when it changes.
    stretched_to: float | None = None
    # The reset of the mentions window last said spent (`poll_rate_limited`): the ticks until it only at DEBUG.
    limited_until: datetime | None = None


def identify(api: XApi, store: Store, settings: Settings) -> tuple[str, str]:
    """The bot's user id and handle: from Redis, else from GET /2/users/me once (then kept in Redis). A handle
    other than the one kept is asked of X: the same account renamed is kept so; another account's credentials
    on this prefix stop start-up (ConfigError naming UNROLL_KEY_PREFIX)."""
    known = store.get_identity()
    if known and (not settings.bot_handle or known["username"].lower() == settings.bot_handle.lower()):
        return known["id"], known["username"]
    me = whoami(api)
    if settings.bot_handle and me.username.lower() != settings.bot_handle.lower():
        raise ConfigError(
            f'UNROLL_BOT_HANDLE is "{settings.bot_handle}" but the credentials belong to @{me.username}: '
            "fix the handle or the X_ACCESS_TOKEN of the bot's account"
        )
    if known and known["id"] != me.id:
        # Another account's state (cursor, queue, reply records) under this prefix: sharing it, each bot's
        # worker would take the other's requests (X refusing its replies) and one poller would poll for both.
        raise ConfigError(
            f"this Redis holds the state of @{known['username']} under UNROLL_KEY_PREFIX={settings.key_prefix}, and "
            f"the credentials are @{me.username}'s: give each bot account its own UNROLL_KEY_PREFIX (or Redis "
            "database); a new prefix starts polling from UNROLL_LOOKBACK"
        )
    store.set_identity(me.id, me.username)
    log.info("bot_identified", user_id=me.id, username=me.username)
    return me.id, me.username


def whoami(api: XApi) -> ApiUser:
    """GET /2/users/me: the account the credentials are of. An answer X never gives there raises ConfigError
    naming X_API_BASE_URL, so a process stops at once instead of waiting for an X that is not where it asks."""
    try:
        return api.me()
    except ApiError as exc:
        if foreign(exc, unreadable=True):
            raise ConfigError(f"{not_the_x_api(api.settings, exc)}; {BASE_URL_FIX}") from exc
        raise


def foreign(exc: ApiError, *, unreadable: bool = False) -> bool:
    """Whether an error of GET /2/users/me or of the mentions timeline is an answer X never gives there: a 404
    (both endpoints exist, and a user that is gone comes back as a 200 with `errors`) or a status X does not use
    (405, 410…). X_API_BASE_URL then points elsewhere: a wrong path prefix, a proxy, some other web server.
    With `unreadable`, a 2xx body that is not X's JSON counts too: GET /2/users/me answers with the account or a
    refusal, where a poll's odd page is retried by the next poll anyway; not when it came with X's rate-limit
    headers (X's answer, broken on its way: retried)."""
    if unreadable and isinstance(exc, ApiUnavailable) and exc.status is not None and exc.status < 500:
        return not exc.from_x
    if isinstance(exc, NotFound):
        return not exc.from_x  # X's own 404 (its problem JSON, its headers): a failure of the request, retried
    return type(exc) is ApiError and exc.status is not None and exc.status < 500


def not_the_x_api(settings: Settings, exc: ApiError) -> str:
    """What X_API_BASE_URL answered where the X API would not: the URL tried and the answer (BASE_URL_FIX: what
    to do)."""
    method, _, path = exc.endpoint.partition(" ")
    said = " ".join(str(exc).removeprefix(f"{exc.endpoint}: ").removeprefix(str(exc.status)).split())
    if isinstance(exc, ApiUnavailable):
        said = "a body that is not the X API's JSON"
    return (
        f"X_API_BASE_URL does not look like the X API: {method} {redacted_url(settings.x_api_base_url)}{path} answered "
        f"{exc.status} ({said[:100]})"
    )


def build(
    settings: Settings,
    *,
    store: Store | None = None,
    api: XApi | None = None,
    stopping: threading.Event | None = None,
) -> Bot:
    """Connect to Redis and the X API and learn who the bot is (`stopping`: the process's stop event)."""
    store = store or Store.from_settings(settings)
    store.ping()  # a Redis that refuses REDIS_URL (a password, a database index) stops start-up here, said plainly
    api = api or metrics.instrumented_api(settings, store)
    user_id, username = identify(api, store, settings)
    bot = Bot(settings=settings, api=api, store=store, user_id=user_id, username=username)
    if stopping is not None:
        bot.stopping = stopping
    return bot
