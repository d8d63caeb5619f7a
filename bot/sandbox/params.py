"""Query-parameter checks shared by the endpoints, with X's 400 messages.

Each check either returns the typed value or raises a `Problem` whose body names the parameter
and the value, as X's `Invalid Request` errors do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.ids import read_page_token
from bot.sandbox.limits import Context
from bot.sandbox.model import User
from bot.sandbox.problems import invalid_request

_ID = re.compile(r"^[0-9]{1,19}$")


@dataclass
class ApiRequest:
    """One authenticated API request as the endpoints see it."""

    endpoint: str
    params: Mapping[str, str]
    path_params: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    context: Context = "user"
    me: User | None = None
    base_url: str = ""  # where the sandbox was reached: the storage URLs of compliance jobs point there


def check_known(params: Mapping[str, str], allowed: Sequence[str]) -> None:
    """400 for a query parameter the endpoint does not take, as X answers."""
    for name, value in params.items():
        if name not in allowed:
            raise invalid_request(name, [value], f"The query parameter [{name}] is not one of [{','.join(allowed)}]")


def int_range(params: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid_request(
            name, [raw], f"The `{name}` query parameter value [{raw}] is not between {low} and {high}"
        )
    return int(raw)


def snowflake_id(name: str, raw: str) -> int:
    if not _ID.match(raw):
        raise invalid_request(name, [raw], f"The `{name}` query parameter value [{raw}] does not match ^[0-9]{{1,19}}$")
    return int(raw)


def optional_id(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    return None if raw is None else snowflake_id(name, raw)


def id_list(params: Mapping[str, str], name: str = "ids", most: int = 100) -> list[str]:
    raw = params.get(name, "")
    if not raw:
        raise invalid_request(name, [raw], f"The `{name}` query parameter can not be empty")
    values = raw.split(",")
    if len(values) > most:
        raise invalid_request(
            name,
            [raw],
            f"The number of values in the `{name}` query parameter list [{len(values)}] is not between 1 and {most}",
        )
    for value in values:
        snowflake_id(name, value)
    return list(dict.fromkeys(values))


def time_param(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise invalid_request(
            name, [raw], f"Invalid '{name}':'{raw}'. '{name}' must be a valid RFC3339 date-time (YYYY-MM-DDTHH:mm:ssZ)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def short_time(when: datetime) -> str:
    """A time as X writes it in its parameter errors: `2024-01-15T10:30Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def cursor(params: Mapping[str, str], *names: str) -> int | None:
    """The id a pagination token resumes below, or None on the first page."""
    for name in names:
        raw = params.get(name)
        if raw is None:
            continue
        value = read_page_token(raw)
        if value is None:
            raise invalid_request(name, [raw], f"The `{name}` query parameter value [{raw}] is not valid")
        return value
    return None


def time_error(name: str, raw: datetime, rule: str) -> Exception:
    """400 for a time or id outside what the endpoint can reach."""
    shown = short_time(raw)
    return invalid_request(name, [shown], f"Invalid '{name}':'{shown}'. {rule}")
