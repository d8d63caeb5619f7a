"""`SandboxClient`: the control interface of a running sandbox, with the same methods as `World`.

For tests and rehearsals driving a sandbox in another process (`python -m bot sandbox`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import requests

from bot.sandbox.model import LinkPage, MediaSpec, PollSpec, Posted, Stats, TweetRef, UserRef


class SandboxError(Exception):
    """The sandbox refused a control request; the message says why."""


class SandboxClient:
    """Typed calls to /_sandbox/… of the sandbox at `base_url`."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self.session.request(
            method,
            f"{self.base_url}/_sandbox/{path}",
            json=dict(body) if body is not None else None,
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise SandboxError(f"{method} /_sandbox/{path} answered {response.status_code}: {message}")
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset")

    def now(self) -> datetime:
        return datetime.fromisoformat(self._call("GET", "clock")["now"])

    def set_now(self, when: datetime) -> None:
        self._call("POST", "clock", {"now": when.isoformat()})

    def set_clock_offset(self, seconds: float) -> None:
        self._call("POST", "clock", {"offset_seconds": seconds})

    def advance(self, seconds: float) -> None:
        self._call("POST", "clock", {"advance_seconds": seconds})

    def configure_credentials(
        self,
        *,
        consumer_key: str | None = None,
        access_token: str | None = None,
        bearer_token: str | None = None,
        consumer_secret: str | None = None,
        access_token_secret: str | None = None,
    ) -> None:
        body = {
            "consumer_key": consumer_key,
            "access_token": access_token,
            "bearer_token": bearer_token,
            "consumer_secret": consumer_secret,
            "access_token_secret": access_token_secret,
        }
        self._call("POST", "credentials", body)

    def enable_full_archive(self, enabled: bool = True) -> None:
        self._call("POST", "full_archive", {"enabled": enabled})

    def set_latency(self, seconds: float) -> None:
        self._call("POST", "latency", {"seconds": seconds})

    def set_search_lag(self, seconds: float) -> None:
        self._call("POST", "search_lag", {"seconds": seconds})

    def set_post_metrics(self, how: Literal["counted", "zeros", "absent"]) -> None:
        self._call("POST", "post_metrics", {"how": how})

    def hide_from_search(self, tweet_id: str) -> None:
        self._call("POST", "unsearchable", {"id": tweet_id})

    def set_rate_limit(self, endpoint: str, limit: int, *, context: Literal["app", "user", "both"] = "both") -> None:
        self._call("POST", "rate_limits", {"endpoint": endpoint, "limit": limit, "context": context})

    def set_daily_post_limit(self, *, user: int | None = None, app: int | None = None) -> None:
        self._call("POST", "daily_post_limits", {"user": user, "app": app})

    def set_posting_rules(
        self,
        *,
        reply_restriction: bool | None = None,
        duplicate_check: bool | None = None,
        write_permission: bool | None = None,
        in_project: bool | None = None,
        bearer_in_project: bool | None = None,
    ) -> None:
        rules = {
            "reply_restriction": reply_restriction,
            "duplicate_check": duplicate_check,
            "write_permission": write_permission,
            "in_project": in_project,
            "bearer_in_project": bearer_in_project,
        }
        self._call("POST", "posting_rules", rules)

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        protected: bool = False,
        suspended: bool = False,
        verified: bool = False,
        profile_image_url: str | None = None,
        description: str = "",
        id: str | None = None,
        me: bool = False,
    ) -> UserRef:
        body = {
            "username": username,
            "name": name,
            "protected": protected,
            "suspended": suspended,
            "verified": verified,
            "profile_image_url": profile_image_url,
            "description": description,
            "id": id,
            "me": me,
        }
        return UserRef.from_json(self._call("POST", "users", body))

    def find_user(self, username: str) -> UserRef | None:
        try:
            return UserRef.from_json(self._call("GET", f"users/{username}"))
        except SandboxError as exc:
            if " 404:" in str(exc):
                return None
            raise

    def add_tweet(
        self,
        author: str,
        text: str,
        *,
        created_at: datetime | str | None = None,
        reply_to: str | None = None,
        quote_of: str | None = None,
        media: Sequence[MediaSpec | Mapping[str, Any]] = (),
        id: str | None = None,
        lang: str | None = None,
        poll: PollSpec | Mapping[str, Any] | None = None,
    ) -> TweetRef:
        when = created_at.isoformat() if isinstance(created_at, datetime) else created_at
        body = {
            "author": author,
            "text": text,
            "created_at": when,
            "reply_to": reply_to,
            "quote_of": quote_of,
            "media": [m.to_json() if isinstance(m, MediaSpec) else dict(m) for m in media],
            "id": id,
            "lang": lang,
            "poll": poll.to_json() if isinstance(poll, PollSpec) else poll,
        }
        return TweetRef.from_json(self._call("POST", "tweets", body))

    def edit_tweet(self, tweet_id: str, text: str) -> TweetRef:
        return TweetRef.from_json(self._call("POST", f"tweets/{tweet_id}/edits", {"text": text}))

    def withhold(self, tweet_id: str, country_codes: Sequence[str] = (), *, copyright: bool = False) -> None:
        body = {"country_codes": list(country_codes), "copyright": copyright}
        self._call("POST", f"tweets/{tweet_id}/withheld", body)

    def set_link_page(self, url: str, page: LinkPage) -> None:
        self._call("POST", "link_pages", {"url": url, **dataclasses.asdict(page)})

    def delete_tweet(self, tweet_id: str) -> None:
        self._call("DELETE", f"tweets/{tweet_id}")

    def inject_fault(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int | None = None,
        count: int = 1,
        delay: float = 0.0,
        drop: bool = False,
        reset_in: float | None = None,
        after: bool = False,
        usage_capped: bool = False,
        empty_page: bool = False,
        errors_only: bool = False,
        drip: float = 0.0,
        malformed: bool = False,
        skip: int = 0,
        no_users: bool = False,
    ) -> None:
        body = {
            "method": method,
            "path_prefix": path_prefix,
            "status": status,
            "count": count,
            "delay": delay,
            "drop": drop,
            "reset_in": reset_in,
            "after": after,
            "usage_capped": usage_capped,
            "empty_page": empty_page,
            "errors_only": errors_only,
            "drip": drip,
            "malformed": malformed,
            "skip": skip,
            "no_users": no_users,
        }
        self._call("POST", "faults", body)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def posted(self) -> list[Posted]:
        return [Posted.from_json(item) for item in self._call("GET", "posted")]

    def request_counts(self) -> dict[str, dict[int, int]]:
        return self.snapshot_stats().requests

    def snapshot_stats(self) -> Stats:
        return Stats.from_json(self._call("GET", "stats"))
