"""The control interface under /_sandbox/…: the `World` methods over HTTP, for other processes.

Every route takes and returns JSON; a wrong value answers 400 `{"error": "…"}` naming what to fix.
`SandboxClient` is the typed caller of these routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.model import LinkPage, MediaSpec, PollSpec, iso
from bot.sandbox.world import World

Action = Callable[[dict[str, Any]], Any]
Endpoint = Callable[[Request], Awaitable[Response]]
_USER_OPTIONS = ("name", "protected", "suspended", "verified", "profile_image_url", "description", "id", "me")
_TWEET_OPTIONS = ("created_at", "reply_to", "quote_of", "id", "lang")
_FAULT_OPTIONS = (
    "status",
    "count",
    "delay",
    "drop",
    "reset_in",
    "after",
    "usage_capped",
    "empty_page",
    "errors_only",
    "truncate",
    "drip",
    "malformed",
    "skip",
    "no_users",
)


def _endpoint(run: Action) -> Endpoint:
    """A route that passes the JSON body (plus path parameters) to `run` and answers its result."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        try:
            body = (await request.json()) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            body.update(request.path_params)
            result = run(body)
        except KeyError as exc:
            return JSONResponse({"error": f"the request body lacks the field {exc.args[0]!r}"}, 400)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({} if result is None else result)

    return endpoint


def _given(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: body[key] for key in keys if body.get(key) is not None}


class _Control:
    """The actions behind each route, on one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def clock(self, body: dict[str, Any]) -> dict[str, str]:
        if "now" in body:
            self.world.set_now(datetime.fromisoformat(body["now"]))
        if "offset_seconds" in body:
            self.world.set_clock_offset(float(body["offset_seconds"]))
        if "advance_seconds" in body:
            self.world.advance(float(body["advance_seconds"]))
        return {"now": iso(self.world.now())}

    def credentials(self, body: dict[str, Any]) -> None:
        self.world.configure_credentials(
            consumer_key=body.get("consumer_key"),
            access_token=body.get("access_token"),
            bearer_token=body.get("bearer_token"),
            consumer_secret=body.get("consumer_secret"),
            access_token_secret=body.get("access_token_secret"),
        )

    def rate_limit(self, body: dict[str, Any]) -> None:
        self.world.set_rate_limit(body["endpoint"], int(body["limit"]), context=body.get("context", "both"))

    def posting_rules(self, body: dict[str, Any]) -> None:
        self.world.set_posting_rules(
            reply_restriction=body.get("reply_restriction"),
            duplicate_check=body.get("duplicate_check"),
            write_permission=body.get("write_permission"),
            in_project=body.get("in_project"),
            bearer_in_project=body.get("bearer_in_project"),
        )

    def compliance(self, body: dict[str, Any]) -> None:
        """How compliance jobs behave: `delay` status reads answered `in_progress` first, `fail` ends them failed."""
        with self.world.lock:
            self.world.compliance_delay = int(body.get("delay", self.world.compliance_delay))
            self.world.compliance_fails = bool(body.get("fail", self.world.compliance_fails))

    def add_user(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.world.add_user(body["username"], **_given(body, _USER_OPTIONS)).to_json()

    def add_tweet(self, body: dict[str, Any]) -> dict[str, Any]:
        media = [MediaSpec.from_json(m) for m in body.get("media") or ()]
        poll = PollSpec.from_json(body["poll"]) if body.get("poll") else None
        return self.world.add_tweet(
            body["author"], body["text"], media=media, poll=poll, **_given(body, _TWEET_OPTIONS)
        ).to_json()

    def withhold(self, body: dict[str, Any]) -> None:
        codes = body.get("country_codes") or []
        if not isinstance(codes, list):
            raise ValueError(f"country_codes must be a list of country codes, got {codes!r}")
        self.world.withhold(body["id"], [str(code) for code in codes], copyright=bool(body.get("copyright")))

    def link_page(self, body: dict[str, Any]) -> None:
        fields = {name: body[name] for name in LinkPage.__dataclass_fields__ if body.get(name) is not None}
        self.world.set_link_page(str(body["url"]), LinkPage(**fields))

    def fault(self, body: dict[str, Any]) -> None:
        self.world.inject_fault(body["method"], body["path_prefix"], **_given(body, _FAULT_OPTIONS))

    async def find_user(self, request: Request) -> Response:
        username = request.path_params["username"]
        user = self.world.find_user(username)
        if user is None:
            return JSONResponse({"error": f"no user @{username} in the sandbox"}, 404)
        return JSONResponse(user.to_json())


def control_app(world: World) -> Starlette:
    """The Starlette app serving /_sandbox/… for `world`."""
    control = _Control(world)
    post, get, delete = ["POST"], ["GET"], ["DELETE"]
    routes = [
        Route("/_sandbox/reset", _endpoint(lambda b: world.reset()), methods=post),
        Route("/_sandbox/clock", _endpoint(control.clock), methods=["GET", "POST"]),
        Route("/_sandbox/credentials", _endpoint(control.credentials), methods=post),
        Route(
            "/_sandbox/full_archive",
            _endpoint(lambda b: world.enable_full_archive(b.get("enabled", True))),
            methods=post,
        ),
        Route("/_sandbox/latency", _endpoint(lambda b: world.set_latency(float(b["seconds"]))), methods=post),
        Route("/_sandbox/search_lag", _endpoint(lambda b: world.set_search_lag(float(b["seconds"]))), methods=post),
        Route("/_sandbox/post_metrics", _endpoint(lambda b: world.set_post_metrics(b["how"])), methods=post),
        Route("/_sandbox/unsearchable", _endpoint(lambda b: world.hide_from_search(str(b["id"]))), methods=post),
        Route("/_sandbox/rate_limits", _endpoint(control.rate_limit), methods=post),
        Route(
            "/_sandbox/daily_post_limits",
            _endpoint(lambda b: world.set_daily_post_limit(user=b.get("user"), app=b.get("app"))),
            methods=post,
        ),
        Route("/_sandbox/posting_rules", _endpoint(control.posting_rules), methods=post),
        Route("/_sandbox/compliance", _endpoint(control.compliance), methods=post),
        Route("/_sandbox/users", _endpoint(control.add_user), methods=post),
        Route("/_sandbox/users/{username}", control.find_user, methods=get),
        Route("/_sandbox/tweets", _endpoint(control.add_tweet), methods=post),
        Route("/_sandbox/tweets/{id}", _endpoint(lambda b: world.delete_tweet(b["id"])), methods=delete),
        Route(
            "/_sandbox/tweets/{id}/edits",
            _endpoint(lambda b: world.edit_tweet(b["id"], b["text"]).to_json()),
            methods=post,
        ),
        Route("/_sandbox/tweets/{id}/withheld", _endpoint(control.withhold), methods=post),
        Route("/_sandbox/link_pages", _endpoint(control.link_page), methods=post),
        Route("/_sandbox/faults", _endpoint(control.fault), methods=post),
        Route("/_sandbox/faults", _endpoint(lambda b: world.clear_faults()), methods=delete),
        Route("/_sandbox/posted", _endpoint(lambda b: [p.to_json() for p in world.posted()]), methods=get),
        Route("/_sandbox/stats", _endpoint(lambda b: world.snapshot_stats().to_json()), methods=get),
    ]
    return Starlette(routes=routes)
