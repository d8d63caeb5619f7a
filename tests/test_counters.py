"""Counter batches (one EVAL of APPLY) against a plain model of what each write does, on a real Redis."""

from __future__ import annotations

from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.store import Store
from bot.store.counters import Counters

KEYS = ["a", "b"]
FIELDS = ["x", "y\tz", "bucket:+Inf"]

incr = st.tuples(st.just("incr"), st.sampled_from(KEYS), st.sampled_from(FIELDS), st.integers(-5, 5))
incr_float = st.tuples(  # a histogram's sum: a field only ever added floats to
    st.just("incr_float"), st.sampled_from(KEYS), st.just("sum"), st.sampled_from([0.5, 0.25, 2.0])
)
set_ = st.tuples(st.just("set"), st.just("w"), st.sampled_from(FIELDS), st.text("ab\t1", max_size=4))
write = st.one_of(incr, incr_float, set_)
step = st.one_of(write, st.tuples(st.just("once"), st.sampled_from(["t1", "t2"]), st.lists(write, max_size=3)))


def apply_model(model: dict[str, dict[str, Any]], seen: set[str], steps: list[Any]) -> None:
    for kind, key, field, *rest in steps:
        if kind == "once":
            if key not in seen:
                seen.add(key)
                apply_model(model, seen, field)
            continue
        value = rest[0]
        fields = model.setdefault(key, {})
        if kind == "set":
            fields[field] = value
        else:
            fields[field] = fields.get(field, 0) + value


def add(batch: Counters, store: Store, steps: list[Any]) -> None:
    for kind, key, field, *rest in steps:
        if kind == "once":
            batch.once(store.key("once", key), 60, lambda b, inner=field: add(b, store, inner))
        else:
            getattr(batch, kind)(store.key(key), field, rest[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(step, max_size=6), min_size=1, max_size=3))
def test_a_batch_does_what_its_writes_do_one_by_one(redis_client: redis.Redis, batches: list[list[Any]]) -> None:
    """Whatever the mix of increments, sets and count-once groups, Redis ends as the writes say, in order."""
    store = Store(redis_client, "counters-test")
    for key in redis_client.scan_iter(match="{counters-test}:*"):
        redis_client.delete(key)
    model: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for steps in batches:
        batch = Counters()
        add(batch, store, steps)
        batch.queue_on(redis_client)
        apply_model(model, seen, steps)
    for key in ("a", "b"):
        expected = {field: float(value) for field, value in model.get(key, {}).items()}
        assert expected == {field: float(v) for field, v in redis_client.hgetall(store.key(key)).items()}
    assert model.get("w", {}) == redis_client.hgetall(store.key("w"))


def test_counters_held_while_batched_are_sent_with_finish_or_at_the_end(store: Store) -> None:
    """Held counters reach Redis in one step with the request's record, or when the block ends."""
    from bot.models import HandledRequest

    with store.batched():
        store.count("requests", ("replied",))
        store.count("requests", ("replied",))
        assert {} == store.counters("requests")  # held, not sent yet
        store.finish(HandledRequest(mention_id="1", outcome="replied"), None)
        assert {("replied",): 2} == store.counters("requests")
        store.count("mentions_seen", by=3)
    assert {(): 3} == store.counters("mentions_seen")
    store.count("mentions_seen")  # not batched: sent at once
    assert {(): 4} == store.counters("mentions_seen")
