"""Redis: every key the bot keeps, and the operations on them (threads, cursor, work stream, audit log).

Nobody else spells a key: the parts of the store build them with `StoreBase.key()`. Every key lives under one
hash tag, `{<prefix>}:…`, so the multi-key transactions (enqueue + cursor, record + trim) stay in one slot,
as Redis Cluster requires.
"""

from __future__ import annotations

from bot.store.base import (
    DUPLICATE_WINDOW,
    GROUP,
    REPLY_RECORD_TTL,
    Lock,
    StoreBase,
    connect,
    embedded,
)
from bot.store.compliance import ComplianceStore
from bot.store.metrics import MetricsStore
from bot.store.records import ANSWERED, TAKEN_OVER, Attempt, RecordStore, Refusable, Reservation, elsewhere
from bot.store.renewals import keep_alive
from bot.store.stream import MentionGap, PagingGap, QueuedPoll, StreamStore, Taking
from bot.store.threads import Alone, FirstRead
from config.settings import Settings


class Store(ComplianceStore, StreamStore, RecordStore, MetricsStore, StoreBase):
    """All of the bot's state in Redis, behind plain methods over pydantic models."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(connect(settings), settings.key_prefix, handled_log_size=settings.handled_log_size)


__all__ = [
    "ANSWERED",
    "DUPLICATE_WINDOW",
    "GROUP",
    "REPLY_RECORD_TTL",
    "TAKEN_OVER",
    "Alone",
    "Attempt",
    "FirstRead",
    "Lock",
    "MentionGap",
    "PagingGap",
    "QueuedPoll",
    "Refusable",
    "Reservation",
    "Store",
    "StoreBase",
    "Taking",
    "connect",
    "elsewhere",
    "embedded",
    "keep_alive",
]
