"""The X API half of the sandbox: routing, auth, rate limits, faults and latency around the endpoints.

A raw ASGI app rather than Starlette routes, because an injected fault may have to drop the TCP
connection without any response, which only the server's transport can do.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from bot.sandbox import compliance, lookup, posting, timelines
from bot.sandbox.dripping import drip
from bot.sandbox.ids import page_token
from bot.sandbox.limits import WINDOW_SECONDS, Context
from bot.sandbox.model import Fault, User
from bot.sandbox.oauth import signature_valid
from bot.sandbox.params import ApiRequest
from bot.sandbox.problems import (
    APP_ONLY,
    ApiResponse,
    Problem,
    client_forbidden,
    http_problem,
    not_found_route,
    too_many_requests,
    unauthorized,
    unsupported_authentication,
    usage_capped,
)
from bot.sandbox.world import World

Handler = Callable[[World, ApiRequest], ApiResponse]
OAUTH_KEYS = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
)
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class SignedRequest:
    """What an OAuth 1.0a signature covers: the method, the URL as this server was asked for it, a form body."""

    method: str
    url: str
    form: list[tuple[str, str]]

    @classmethod
    def of(cls, request: Request, raw: bytes) -> SignedRequest:
        form: list[tuple[str, str]] = []
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return cls(request.method, str(request.url), form)


@dataclass(frozen=True)
class Route:
    """One endpoint: its method, path pattern, rate-limit key and handler."""

    method: str
    pattern: re.Pattern[str]
    endpoint: str
    handler: Handler
    user_only: bool = False
    app_only: bool = False
    full_archive: bool = False


def _route(method: str, path: str, handler: Handler, **flags: bool) -> Route:
    pattern = re.compile("^" + re.sub(r":(\w+)", r"(?P<\1>[^/]+)", path) + "$")
    return Route(method, pattern, f"{method} {path}", handler, **flags)


ROUTES = (
    _route("GET", "/2/users/me", lookup.users_me, user_only=True),
    _route("GET", "/2/users/by/username/:username", lookup.user_by_username),
    _route("GET", "/2/users/:id/mentions", timelines.mentions),
    _route("GET", "/2/users/:id/tweets", timelines.user_tweets),
    _route("GET", "/2/users/:id", lookup.user_by_id),
    _route("GET", "/2/tweets/search/recent", lambda w, r: timelines.search(w, r, full_archive=False)),
    # Full-archive search takes app-only auth only (https://docs.x.com/x-api/posts/search/integrate/overview).
    _route(
        "GET",
        "/2/tweets/search/all",
        lambda w, r: timelines.search(w, r, full_archive=True),
        app_only=True,
        full_archive=True,
    ),
    _route("GET", "/2/tweets", lookup.tweets_by_ids),
    _route("GET", "/2/tweets/:id", lookup.tweet_by_id),
    _route("POST", "/2/tweets", posting.create_tweet, user_only=True),
    _route("POST", "/2/compliance/jobs", compliance.create_job, app_only=True),
    _route("GET", "/2/compliance/jobs/:id", compliance.get_job, app_only=True),
    _route("GET", "/2/compliance/jobs", compliance.list_jobs, app_only=True),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a request and its path parameters, or None (404)."""
    for route in ROUTES:
        found = route.pattern.match(path)
        if found and route.method == method:
            return route, found.groupdict()
    return None


def authenticate(world: World, authorization: str, signed: SignedRequest | None = None) -> tuple[Context, User | None]:
    """Which context the request runs in, or 401 when its credentials are missing or wrong (an OAuth 1.0a
    signature is checked when the sandbox knows both secrets and is given what was signed)."""
    expected = world.settings.credentials
    scheme, _, value = authorization.partition(" ")
    if scheme == "Bearer" and value.strip():
        if expected.bearer_token is not None and value.strip() != expected.bearer_token:
            raise unauthorized()
        return "app", None
    if scheme == "OAuth":
        oauth = {key: unquote(val) for key, val in _OAUTH_PARAM.findall(value)}
        if any(not oauth.get(key) for key in OAUTH_KEYS):
            raise unauthorized()
        if expected.consumer_key is not None and oauth["oauth_consumer_key"] != expected.consumer_key:
            raise unauthorized()
        if expected.access_token is not None and oauth["oauth_token"] != expected.access_token:
            raise unauthorized()
        secret, token_secret = expected.consumer_secret, expected.access_token_secret
        if (
            signed is not None
            and secret is not None
            and token_secret is not None
            and not signature_valid(signed.method, signed.url, authorization, signed.form, secret, token_secret)
        ):
            raise unauthorized()
        return "user", world.me()
    raise unauthorized()


def check_access(world: World, route: Route, context: Context) -> None:
    """403 when the endpoint refuses this kind of auth, or the app's access level lacks it (an app attached to no
    Project has none: https://docs.x.com/x-api/fundamentals/response-codes-and-errors, client-forbidden)."""
    if not world.settings.in_project or (context == "app" and not world.settings.bearer_in_project):
        raise client_forbidden()
    if route.user_only and context == "app":
        raise unsupported_authentication()
    if route.app_only and context == "user":
        raise unsupported_authentication("OAuth 1.0a User Context", APP_ONLY)
    if route.full_archive and not world.settings.full_archive:
        raise client_forbidden()


class ApiApp:
    """Serves /2/… like X does, from a `World`."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.world.arrived()
        try:
            await self._answer(scope, receive, send)
        finally:
            self.world.answered()

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        method, path = request.method, scope["path"]
        found = match(method, path)
        endpoint = found[0].endpoint if found else f"{method} {path}"
        fault = self.world.take_fault(method, path)
        after = fault is not None and fault.after
        if fault is not None and fault.delay > 0 and not after:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.drop and not after:
            self.world.record(endpoint, 0)
            await _drop_connection(send)
            return
        if fault is None or fault.status is None:
            if self.world.settings.latency > 0:
                await asyncio.sleep(self.world.settings.latency)
            body = await request.body() if method in ("POST", "PUT") else b""
            response = self.handle(found, request, body, fault)
        else:
            response = self.fault_response(fault, found[0] if found else None)
        self.world.record(endpoint, response.status)
        if fault is not None and after:  # handled (a post created), then the answer is lost
            self.world.answer_dropped()
            await asyncio.sleep(fault.delay)
            await _drop_connection(send)
            return
        reply = XJSONResponse(response.body, response.status, headers=response.headers)
        if fault is not None and fault.truncate:  # the whole body announced, half of it sent
            await send({"type": "http.response.start", "status": reply.status_code, "headers": reply.raw_headers})
            await send({"type": "http.response.body", "body": reply.body[: len(reply.body) // 2], "more_body": True})
            await _drop_connection(send)
            return
        if fault is not None and fault.malformed:
            half = reply.body[: len(reply.body) // 2]
            headers = {**response.headers, "content-length": str(len(half))}
            await Response(half, response.status, headers=headers, media_type="application/json")(scope, receive, send)
            return
        if fault is not None and fault.drip > 0:
            await drip(send, reply, fault.drip)
            return
        await reply(scope, receive, send)

    def handle(
        self,
        found: tuple[Route, dict[str, str]] | None,
        request: Request,
        raw: bytes,
        fault: Fault | None = None,
    ) -> ApiResponse:
        """Auth, access level, rate limit, then the endpoint; every answer gets its limit headers.

        An injected usage-cap or empty-page fault answers where the endpoint would run: the request was
        authenticated and counted, and its rate-limit headers are the window's own.
        """
        if found is None:
            return not_found_route().response
        route, path_params = found
        world = self.world
        headers: dict[str, str] = {}
        with world.lock:
            try:
                signed = SignedRequest.of(request, raw)
                context, me = authenticate(world, request.headers.get("authorization", ""), signed)
                check_access(world, route, context)
                budget = world.take_rate_limit(route.endpoint, context)
                headers = budget.headers()
                if context == "user":  # what the access token may do, as X says on user-context answers
                    headers["x-access-level"] = "read-write" if world.settings.write_permission else "read"
                if not budget.allowed:
                    raise too_many_requests({})
                if fault is not None and fault.usage_capped:
                    raise usage_capped()
                params = dict(request.query_params)
                if fault is not None and fault.empty_page:  # an empty page that goes on where it was asked
                    response = ApiResponse(200, {"meta": {"result_count": 0, "next_token": resume_token(params)}})
                elif fault is not None and fault.errors_only:
                    problem = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank"}
                    response = ApiResponse(200, {"errors": [problem]})
                else:
                    api_request = ApiRequest(
                        route.endpoint, params, path_params, _json(raw), context, me, str(request.base_url)
                    )
                    response = route.handler(world, api_request)
                    if fault is not None and fault.no_users and isinstance(response.body, dict):
                        response.body.get("includes", {}).pop("users", None)
            except Problem as problem:
                response = problem.response
            response.headers.update(headers)
            if route.endpoint == "POST /2/tweets" and response.status != 401:
                response.headers.update(posting.daily_headers(world))
            return response

    def fault_response(self, fault: Fault, route: Route | None) -> ApiResponse:
        """An injected error; a 429 carries spent rate-limit headers like a real one."""
        assert fault.status is not None
        try:
            title = HTTPStatus(fault.status).phrase
        except ValueError:
            title = "Error"
        response = http_problem(fault.status, title).response
        if fault.status == 429 and route is not None:
            limit = getattr(self.world.limiter.limits.get(route.endpoint), "user", 0)
            wait = WINDOW_SECONDS if fault.reset_in is None else fault.reset_in
            reset = int(self.world.now().timestamp() + wait)
            response.headers.update(
                {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
            )
        return response


FIRST_PAGE = 2**63 - 1  # a page token resuming below every id: the first page


def resume_token(params: dict[str, str]) -> str:
    """A next_token that resumes where this page was asked: its own token, or the first page's place."""
    asked = params.get("pagination_token") or params.get("next_token")
    return asked or page_token(FIRST_PAGE)


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class XJSONResponse(JSONResponse):
    """JSON as X writes it: UTF-8, and a string holding half of a UTF-16 pair (a post's text cut inside an emoji)
    as the escape JSON has for it ("\\ud83d"), which UTF-8 cannot carry."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, separators=(",", ":")).encode("ascii")


async def _drop_connection(send: Send) -> None:
    """Close the TCP connection without answering (reaches uvicorn's h11 cycle behind `send`)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if cycle is None or transport is None:
        raise RuntimeError("dropping a connection needs uvicorn's h11 server (SandboxServer runs one)")
    transport.close()
    cycle.disconnected = True
