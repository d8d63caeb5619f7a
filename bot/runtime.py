"""The running bot's parts, built once per process from the settings: API adapter, store and identity."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import structlog

from bot import metrics
from bot.errors import ConfigError
from bot.store import Store
from bot.xapi import XApi
from config.settings import Settings

log = structlog.get_logger(__name__)


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


def identify(api: XApi, store: Store, settings: Settings) -> tuple[str, str]:
    """The bot's user id and handle: from Redis, else from GET /2/users/me once (then kept in Redis)."""
    known = store.get_identity()
    if known and (not settings.bot_handle or known["username"].lower() == settings.bot_handle.lower()):
        return known["id"], known["username"]
    me = api.me()
    if settings.bot_handle and me.username.lower() != settings.bot_handle.lower():
        raise ConfigError(
            f'UNROLL_BOT_HANDLE is "{settings.bot_handle}" but the credentials belong to @{me.username}: '
            "fix the handle or the X_ACCESS_TOKEN of the bot's account"
        )
    store.set_identity(me.id, me.username)
    log.info("bot_identified", user_id=me.id, username=me.username)
    return me.id, me.username


def build(
    settings: Settings,
    *,
    store: Store | None = None,
    api: XApi | None = None,
    stopping: threading.Event | None = None,
) -> Bot:
    """Connect to Redis and the X API and learn who the bot is (`stopping`: the process's stop event)."""
    store = store or Store.from_settings(settings)
    api = api or metrics.instrumented_api(settings, store)
    user_id, username = identify(api, store, settings)
    bot = Bot(settings=settings, api=api, store=store, user_id=user_id, username=username)
    if stopping is not None:
        bot.stopping = stopping
    return bot
