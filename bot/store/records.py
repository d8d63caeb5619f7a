"""Records: one reply per mention, handled requests (the audit log), poller health, shared rate limits."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, cast

from bot.models import HandledRequest, ReplyRecord, utcnow
from bot.store.base import DUPLICATE_WINDOW, REPLY_RECORD_TTL, StoreBase


class RecordStore(StoreBase):
    """Records: one reply per mention, handled requests (the audit log), poller health, shared rate limits."""

    # --- idempotency: one reply per mention -----------------------------------------------------------
    def reply_record(self, mention_id: str) -> ReplyRecord | None:
        raw = self.redis.get(self.key("reply", mention_id))
        return ReplyRecord.model_validate_json(raw) if raw else None

    def mark_posting(self, mention_id: str, text: str | None = None) -> None:
        """Note that a reply to this mention is about to be posted; its outcome is uncertain until recorded."""
        record = ReplyRecord(state="posting", text=text)
        self.redis.set(self.key("reply", mention_id), record.model_dump_json(), ex=REPLY_RECORD_TTL)

    def clear_posting(self, mention_id: str) -> None:
        """Forget an attempt X answered without posting (429, a refusal): the next attempt starts clean."""
        self.redis.delete(self.key("reply", mention_id))

    def claim_text(self, text: str, mention_id: str) -> tuple[str, bool]:
        """Reserve a reply text for one mention for a day (X refuses the same text twice a day).

        Returns the mention that holds it and whether this call reserved it, so a duplicate-content refusal
        can be told apart: our own earlier attempt went through, or the text belongs to another request.
        """
        digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        key = self.key("reply-text", digest)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, mention_id, nx=True, ex=DUPLICATE_WINDOW)
        pipe.get(key)
        new, owner = pipe.execute()
        return cast(str, owner or mention_id), bool(new)

    def mark_replied(self, mention_id: str, reply_id: str | None, text: str | None, state: str = "replied") -> None:
        record = ReplyRecord(state=cast(Any, state), reply_id=reply_id, text=text)
        self.redis.set(self.key("reply", mention_id), record.model_dump_json(), ex=REPLY_RECORD_TTL)

    def failures(self, mention_id: str) -> int:
        """How many attempts at this request have failed so far."""
        return int(cast(str | None, self.redis.get(self.key("failures", mention_id))) or 0)

    def add_failure(self, mention_id: str) -> int:
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(self.key("failures", mention_id))
        pipe.expire(self.key("failures", mention_id), REPLY_RECORD_TTL)
        return int(pipe.execute()[0])

    # --- handled-request log ---------------------------------------------------------------------------
    def record(self, handled: HandledRequest) -> None:
        """Keep the audit record of a handled request; the oldest beyond the configured size are dropped."""
        order = self.key("handled", "order")
        records = self.key("handled", "records")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(records, handled.mention_id, handled.model_dump_json())
        pipe.zadd(order, {handled.mention_id: handled.handled_at.timestamp()})
        pipe.zcard(order)
        excess = int(pipe.execute()[-1]) - self.handled_log_size
        if excess > 0:
            old = cast(list[str], self.redis.zrange(order, 0, excess - 1))
            if old:
                pipe = self.redis.pipeline(transaction=True)
                pipe.zrem(order, *old)
                pipe.hdel(records, *old)
                pipe.execute()

    def handled(self, limit: int = 50, since: datetime | None = None) -> list[HandledRequest]:
        """Handled requests, newest first."""
        low = since.timestamp() if since else "-inf"
        ids = cast(
            list[str],
            self.redis.zrevrangebyscore(self.key("handled", "order"), "+inf", low, start=0, num=limit),
        )
        if not ids:
            return []
        raws = cast(list[str | None], self.redis.hmget(self.key("handled", "records"), ids))
        return [HandledRequest.model_validate_json(raw) for raw in raws if raw]

    def handled_one(self, mention_id: str) -> HandledRequest | None:
        raw = self.redis.hget(self.key("handled", "records"), mention_id)
        return HandledRequest.model_validate_json(cast(str, raw)) if raw else None

    # --- poller health -----------------------------------------------------------------------------
    def mark_polled(self, at: datetime | None = None) -> None:
        self.redis.set(self.key("last-poll"), (at or utcnow()).isoformat())

    def last_poll(self) -> datetime | None:
        raw = cast(str | None, self.redis.get(self.key("last-poll")))
        return datetime.fromisoformat(raw).astimezone(UTC) if raw else None

    # --- rate limits shared by every process --------------------------------------------------------
    def block_endpoint(self, endpoint: str, until: datetime) -> None:
        """Remember across processes that an endpoint may not be called before `until`."""
        ttl = int((until - utcnow()).total_seconds()) + 1
        if ttl > 0:
            self.redis.set(self.key("blocked", endpoint), until.isoformat(), ex=ttl)

    def endpoint_blocked(self, endpoint: str) -> datetime | None:
        raw = cast(str | None, self.redis.get(self.key("blocked", endpoint)))
        if not raw:
            return None
        until = datetime.fromisoformat(raw)
        return until if until > utcnow() else None

    def count_request(self, requester_id: str, mention_id: str, window: float) -> int:
        """Count this reader's request in the current window, once per mention (a re-read poll doesn't count
        it again); returns how many requests the reader made in the window so far."""
        bucket = int(utcnow().timestamp() // window)
        key = self.key("requester", requester_id, str(bucket))
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(key, mention_id)
        pipe.expire(key, int(window) + 1)
        pipe.scard(key)
        return int(pipe.execute()[2])
