"""Counter writes as data: many hash increments, sent to Redis as one script call.

Metrics and spending tallies are what the hot path writes most. Collected in a `Counters` batch they cost
one command however many there are (one EVAL of APPLY), where redis-py's own cost per command, not Redis,
is what the bot's time per request is made of.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

# Apply a batch: ARGV[1] is a JSON list of writes, each [op, key index, field, value], in order.
#   i: HINCRBY   f: HINCRBYFLOAT   s: HSET   e: EXPIRE (value: seconds)
#   o: once — SET the key NX with expiry `value`; when it was already set, skip the next `field` writes.
#   a: add new — SADD the members listed in `field`; each [key index, field] of `value` grows by how many were new.
# One JSON argument rather than four per write: redis-py's cost is per argument, Redis's cjson is quick.
APPLY = """
local writes = cjson.decode(ARGV[1])
local i = 1
while i <= #writes do
  local op, key, field, value = writes[i][1], KEYS[writes[i][2]], writes[i][3], writes[i][4]
  if op == 'i' then redis.call('HINCRBY', key, field, value)
  elseif op == 'f' then redis.call('HINCRBYFLOAT', key, field, value)
  elseif op == 's' then redis.call('HSET', key, field, value)
  elseif op == 'e' then redis.call('EXPIRE', key, value)
  elseif op == 'o' and not redis.call('SET', key, '1', 'NX', 'EX', value) then i = i + tonumber(field)
  elseif op == 'a' then
    local added = 0
    for j = 1, #field, 500 do  -- (unpack's stack is limited: 500 members a call)
      added = added + redis.call('SADD', key, unpack(field, j, math.min(j + 499, #field)))
    end
    for _, target in ipairs(value) do redis.call('HINCRBY', KEYS[target[1]], target[2], added) end
  end
  i = i + 1
end
return #writes
"""


class Counters:
    """A batch of counter writes, queued on a pipeline as one command (`queue_on`)."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}  # key → its 1-based index in KEYS
        self.writes: list[list[Any]] = []

    def __len__(self) -> int:
        return len(self.writes)

    def _op(self, op: str, key: str, field: str | int, value: str | int) -> None:
        index = self.keys.setdefault(key, len(self.keys) + 1)
        self.writes.append([op, index, field, str(value)])

    def incr(self, key: str, field: str, by: int = 1) -> None:
        self._op("i", key, field, by)

    def incr_float(self, key: str, field: str, by: float) -> None:
        self._op("f", key, field, repr(float(by)))

    def set(self, key: str, field: str, value: str) -> None:
        self._op("s", key, field, value)

    def expire(self, key: str, seconds: int) -> None:
        self._op("e", key, "", seconds)

    def once(self, token_key: str, ttl: int, then: Callable[[Counters], object]) -> None:
        """The writes `then` adds happen only the first time `token_key` is seen within `ttl` seconds."""
        self._op("o", token_key, 0, ttl)
        mark = len(self.writes) - 1
        then(self)
        self.writes[mark][2] = str(len(self.writes) - 1 - mark)  # how many to skip when it was seen

    def add_new(self, set_key: str, members: Iterable[str], counters: Iterable[tuple[str, str]]) -> None:
        """Add `members` to the set at `set_key`; each hash field of `counters` ((key, field)) grows by how many of
        them were new to it."""
        listed = list(members)
        if listed:
            index = self.keys.setdefault(set_key, len(self.keys) + 1)
            targets = [[self.keys.setdefault(key, len(self.keys) + 1), name] for key, name in counters]
            self.writes.append(["a", index, listed, targets])

    def queue_on(self, pipe: Any) -> Any:
        """Queue the batch on a redis-py pipeline (or run it on a client) as one EVAL."""
        return pipe.eval(APPLY, len(self.keys), *self.keys, json.dumps(self.writes, separators=(",", ":")))
