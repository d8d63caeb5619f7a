"""Stored threads, their indexes and versions, the bot's identity, and authors' opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from bot.models import Thread, ThreadSummary
from bot.store.base import StoreBase


class ThreadStore(StoreBase):
    """Stored threads, their indexes and versions, the bot's identity, and authors' opt-outs."""

    # --- threads --------------------------------------------------------------------------------------
    def save_thread(self, thread: Thread) -> None:
        """Store a thread, index its tweets by id, and put it at the top of the latest threads."""
        summary = ThreadSummary.of(thread)
        score = thread.fetched_at.timestamp()
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.key("thread", thread.root_id), thread.model_dump_json())
        pipe.hset(self.key("fetched"), thread.root_id, thread.fetched_at.isoformat())
        pipe.hset(self.key("tweet-root"), mapping={t.id: thread.root_id for t in thread.tweets})
        pipe.hset(self.key("summaries"), thread.root_id, summary.model_dump_json())
        pipe.zadd(self.key("latest"), {thread.root_id: score})
        pipe.zadd(self.key("author", thread.author.username.lower()), {thread.root_id: score})
        pipe.execute()

    def get_thread(self, root_id: str) -> Thread | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key("thread", root_id))
        pipe.hget(self.key("fetched"), root_id)
        raw, fetched = pipe.execute()
        if not raw:
            return None
        thread = Thread.model_validate_json(raw)
        if fetched:  # checked for newer tweets since it was written (see touch_thread)
            thread.fetched_at = datetime.fromisoformat(fetched)
        return thread

    def thread_version(self, root_id: str) -> str | None:
        """When a stored thread was last fetched, without reading the thread: what page caches key on."""
        return cast(str | None, self.redis.hget(self.key("fetched"), root_id))

    def touch_thread(self, root_id: str, fetched_at: datetime) -> None:
        """Note that a stored thread was checked and nothing changed, without rewriting it."""
        self.redis.hset(self.key("fetched"), root_id, fetched_at.isoformat())

    def root_of(self, tweet_id: str) -> str | None:
        """The root id of a stored thread that contains this tweet, if any."""
        return cast(str | None, self.redis.hget(self.key("tweet-root"), tweet_id))

    def delete_thread(self, root_id: str) -> bool:
        """Remove a stored thread and every index entry pointing at it."""
        thread = self.get_thread(root_id)
        if thread is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key("thread", root_id))
        pipe.hdel(self.key("fetched"), root_id)
        pipe.hdel(self.key("tweet-root"), *[t.id for t in thread.tweets])
        pipe.hdel(self.key("summaries"), root_id)
        pipe.zrem(self.key("latest"), root_id)
        pipe.zrem(self.key("author", thread.author.username.lower()), root_id)
        pipe.execute()
        return True

    def latest(self, limit: int = 10) -> list[ThreadSummary]:
        """The most recently unrolled threads, newest first."""
        ids = self.redis.zrevrange(self.key("latest"), 0, max(limit, 1) - 1) if limit else []
        return self._summaries(cast(list[str], ids))

    def threads_by_author(self, username: str, limit: int = 100) -> list[ThreadSummary]:
        ids = self.redis.zrevrange(self.key("author", username.lower()), 0, limit - 1)
        return self._summaries(cast(list[str], ids))

    def all_thread_ids(self) -> list[str]:
        return cast(list[str], self.redis.zrevrange(self.key("latest"), 0, -1))

    def _summaries(self, ids: list[str]) -> list[ThreadSummary]:
        if not ids:
            return []
        raws = cast(list[str | None], self.redis.hmget(self.key("summaries"), ids))
        return [ThreadSummary.model_validate_json(raw) for raw in raws if raw]

    # --- the bot's identity (GET /2/users/me is asked once) ---------------------------------------
    def get_identity(self) -> dict[str, str] | None:
        raw = cast(dict[str, str], self.redis.hgetall(self.key("me")))
        return raw or None

    def set_identity(self, user_id: str, username: str) -> None:
        self.redis.hset(self.key("me"), mapping={"id": user_id, "username": username})

    # --- authors' control: opt-outs ------------------------------------------------------------------
    def opt_out(self, username: str) -> list[str]:
        """Record that an author wants none of their threads unrolled; removes the stored ones."""
        handle = username.lower()
        removed = [
            root
            for root in cast(list[str], self.redis.zrange(self.key("author", handle), 0, -1))
            if self.delete_thread(root)
        ]
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(self.key("opt-out"), handle)
        if removed:
            pipe.sadd(self.key("removed"), *removed)
        pipe.execute()
        return removed

    def opt_in(self, username: str) -> None:
        self.redis.srem(self.key("opt-out"), username.lower())

    def is_opted_out(self, username: str) -> bool:
        return bool(self.redis.sismember(self.key("opt-out"), username.lower()))

    def was_removed(self, root_id: str) -> bool:
        """True for a thread removed at its author's request (its page answers 410)."""
        return bool(self.redis.sismember(self.key("removed"), root_id))
