"""Handled-request records as operators read them: a table, one request's story, filters (pure), and the one log
line each request gets (`request_handled`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import structlog

from bot.models import HandledRequest
from config.logging import AUDIT_LOGGER

COLUMNS = ("handled_at", "mention_id", "requester", "outcome", "tweets", "api", "reads", "latency", "link/reason")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_audit = structlog.get_logger(AUDIT_LOGGER)


def log_handled(handled: HandledRequest) -> None:
    """The request's audit line, at info on a logger of its own that every UNROLL_LOG_LEVEL keeps."""
    _audit.info("request_handled", **handled.model_dump(mode="json", exclude_none=True))


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """A point in time from an ISO timestamp or a duration back from now (`30m`, `2h`, `7d`)."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(value.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f'--since takes an ISO time or a duration like 30m, 2h, 7d, got "{value}"') from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def select(
    records: Iterable[HandledRequest], *, outcome: str | None = None, user: str | None = None
) -> list[HandledRequest]:
    """Records matching an outcome (`ignored` matches every `ignored:<reason>`) and a requester handle."""
    out = []
    for record in records:
        if outcome and record.outcome != outcome and record.outcome.split(":")[0] != outcome:
            continue
        if user and record.requester.lower() != user.lower().lstrip("@"):
            continue
        out.append(record)
    return out


def row(record: HandledRequest) -> tuple[str, ...]:
    """One record's cells. The last: X's refusal or the failure when there is one (then no reply was posted, and a
    link to the page, made before X refused the reply, was sent to nobody), else the link, else the reason."""
    return (
        record.handled_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        record.mention_id,
        "@" + record.requester if record.requester else "-",
        record.outcome,
        str(record.tweets),
        str(record.api_requests),
        str(record.tweets_read),
        f"{record.latency_s:.1f}s" if record.latency_s is not None else "-",
        record.error or record.link or record.reason or "-",
    )


def table(records: list[HandledRequest]) -> str:
    """A plain-text table of records, newest first, columns sized to their content."""
    rows = [COLUMNS, *(row(r) for r in records)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if not records:
        lines.append("(no handled requests)")
    return "\n".join(lines)


def story(record: HandledRequest) -> str:
    """Every field of one record, one per line."""
    data = record.model_dump(mode="json")
    width = max(len(k) for k in data)
    return "\n".join(f"{k.ljust(width)}  {'-' if v is None else v}" for k, v in data.items())
