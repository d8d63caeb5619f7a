"""Accesses X refuses an app for good (full-archive search, users' timelines: 403 for its access level): noted in
this process and in Redis for every process (a later `run --once` too), and asked for again only `REFUSED_FOR`
later, when access may have been granted meanwhile, at the price of one refused request."""

from __future__ import annotations

import time

from bot.store import Refusable, Store
from bot.xapi import XApi

REFUSED_FOR = 3600.0  # seconds an access X refused the app is not asked for again


def refused(api: XApi, store: Store, what: Refusable, *, shared: bool = True, once: bool = False) -> bool:
    """Whether X refused the app `what` lately: this process, or (`shared`: a round trip to Redis, asked only when
    the access may be needed; `once`: only the first time this process asks) another process that noted it."""
    at = api.refusals.get(what)
    if at is not None and time.monotonic() - at < REFUSED_FOR:
        return True
    if once:
        shared = shared and what not in api.refusals_read
        api.refusals_read.add(what)
    if shared and store.refused(what):
        api.refusals[what] = time.monotonic()
        return True
    return False


def note_refusal(api: XApi, store: Store, what: Refusable) -> None:
    """X refused the app `what`: no process asks for it for `REFUSED_FOR`."""
    api.refusals[what] = time.monotonic()
    store.note_refused(what, REFUSED_FOR)
