"""The identifiers the sandbox hands out: snowflake ids, media keys, t.co codes and page tokens.

Snowflakes follow https://docs.x.com/resources/fundamentals/x-ids: milliseconds since the X epoch
shifted left 22 bits, then a worker and a sequence, so an id sorts by the time it was created.
"""

from __future__ import annotations

import hashlib
import string
from datetime import UTC, datetime

X_EPOCH_MS = 1288834974657
_WORKER = 1  # bits 12-21: a fixed "datacenter/worker" so ids look like real ones
_ALPHABET = string.digits + string.ascii_letters
_BASE36 = string.digits + string.ascii_lowercase


def snowflake(when: datetime, sequence: int) -> int:
    """The id of the `sequence`-th object created in the millisecond of `when`."""
    ms = int(when.timestamp() * 1000) - X_EPOCH_MS
    if ms < 0:
        raise ValueError(f"created_at must be after 2010-11-04 (the X epoch), got {when.isoformat()}")
    return (ms << 22) | (_WORKER << 12) | (sequence & 0xFFF)


def snowflake_time(snowflake_id: int) -> datetime:
    """When the object with this snowflake id was created."""
    return datetime.fromtimestamp(((snowflake_id >> 22) + X_EPOCH_MS) / 1000, tz=UTC)


def short_code(seed: str, length: int = 10) -> str:
    """A stable pseudo-random code of letters and digits, as in t.co links and pic.x.com paths."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def tco_url(seed: str) -> str:
    """A t.co link: always 23 characters, as X counts and shows them."""
    return f"https://t.co/{short_code(seed)}"


def media_key(kind: str, media_id: int) -> str:
    """The media key X gives a photo (3_), video (7_) or GIF (16_)."""
    prefix = {"photo": "3", "video": "7", "animated_gif": "16"}[kind]
    return f"{prefix}_{media_id}"


def page_token(cursor_id: int, *, newer: bool = False) -> str:
    """An opaque pagination token that resumes below `cursor_id` (the last id already returned), or with
    `newer` above it (a user timeline's previous_token: the page before the one that began at `cursor_id`)."""
    digits = []
    number = cursor_id
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    body = "".join(reversed(digits)) or "0"
    return body + _check(body, newer)


def read_page_token(token: str) -> int | None:
    """The cursor id inside a token made by `page_token`, or None when the token is not one of ours (a token
    made with `newer` is not one: only `read_newer_token` reads it)."""
    return _read(token, newer=False)


def read_newer_token(token: str) -> int | None:
    """The cursor id inside a token made by `page_token(…, newer=True)`, or None when it is not one."""
    return _read(token, newer=True)


def _check(body: str, newer: bool) -> str:
    return short_code(f"{'newer' if newer else 'page'}:{body}", 4).lower()


def _read(token: str, *, newer: bool) -> int | None:
    body, check = token[:-4], token[-4:]
    if not body or any(char not in _BASE36 for char in body):
        return None
    if _check(body, newer) != check:
        return None
    return int(body, 36)
