"""User and post lookup: GET /2/users/me, /2/users/:id, /2/users/by/username/:username, /2/tweets[/:id].

A missing, deleted or hidden resource is not an HTTP error: X answers 200 with an entry in the
top-level `errors` list (https://docs.x.com/x-api/fundamentals/response-codes-and-errors).
"""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox.fields import FIELD_PARAMETERS
from bot.sandbox.model import User
from bot.sandbox.params import ApiRequest, check_known, id_list, snowflake_id
from bot.sandbox.problems import ApiResponse, invalid_request, resource_error, unauthorized
from bot.sandbox.render import Page, Renderer, tweet_selection, user_selection
from bot.sandbox.world import World

USER_PARAMETERS = ("expansions", "tweet.fields", "user.fields")
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


def bill(world: World, page: Page, *, mentions: bool = False) -> None:
    """Count the posts and users a response returned: what X bills as reads, each once per UTC day."""
    day = world.now().date()
    world.stats.bill("mentions" if mentions else "posts", day, page.tweet_ids)
    world.stats.bill("users", day, page.user_ids)


def bill_user(world: World, user: User) -> None:
    """Count one user returned by a user lookup."""
    world.stats.bill("users", world.now().date(), [user.id])


def page_body(page: Page, errors: list[dict[str, Any]], *, single: bool = False) -> dict[str, Any]:
    """`data`, `includes` and `errors`, each only when it has something, as X leaves empty ones out."""
    body: dict[str, Any] = {}
    if page.data:
        body["data"] = page.data[0] if single else page.data
    if page.includes:
        body["includes"] = page.includes
    if errors or page.errors:
        body["errors"] = errors + page.errors
    return body


def users_me(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/users/me: the authenticated account (user context only)."""
    check_known(request.params, USER_PARAMETERS)
    if request.me is None:
        raise unauthorized()
    bill_user(world, request.me)
    return ApiResponse(200, {"data": Renderer(world, user_selection(request.params)).user(request.me)})


def user_by_id(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/users/:id."""
    check_known(request.params, USER_PARAMETERS)
    raw = request.path_params["id"]
    snowflake_id("id", raw)
    selection = user_selection(request.params)
    user = world.users.get(raw)
    if user is None:
        return ApiResponse(200, {"errors": [resource_error("not_found", "user", "id", raw)]})
    if user.suspended:
        return ApiResponse(200, {"errors": [resource_error("suspended", "user", "id", raw)]})
    bill_user(world, user)
    return ApiResponse(200, {"data": Renderer(world, selection).user(user)})


def user_by_username(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/users/by/username/:username."""
    check_known(request.params, USER_PARAMETERS)
    raw = request.path_params["username"]
    if not _USERNAME.match(raw):
        raise invalid_request(
            "username", [raw], f"The `username` query parameter value [{raw}] does not match ^[A-Za-z0-9_]{{1,15}}$"
        )
    selection = user_selection(request.params)
    user = world.user_by_username(raw)
    if user is None:
        return ApiResponse(200, {"errors": [resource_error("not_found", "user", "username", raw)]})
    if user.suspended:
        return ApiResponse(200, {"errors": [resource_error("suspended", "user", "username", raw)]})
    bill_user(world, user)
    return ApiResponse(200, {"data": Renderer(world, selection).user(user)})


def tweets_by_ids(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/tweets?ids=…: up to 100 posts; gone or hidden ones become `errors` entries."""
    check_known(request.params, ("ids", *FIELD_PARAMETERS))
    ids = id_list(request.params)
    return _lookup(world, request, ids, "ids", single=False)


def tweet_by_id(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/tweets/:id: `data` is one object, or absent with an `errors` entry."""
    check_known(request.params, FIELD_PARAMETERS)
    raw = request.path_params["id"]
    snowflake_id("id", raw)
    return _lookup(world, request, [raw], "id", single=True)


def _lookup(world: World, request: ApiRequest, ids: list[str], parameter: str, *, single: bool) -> ApiResponse:
    selection = tweet_selection(request.params)
    found = []
    errors = []
    for tweet_id in ids:
        tweet = world.tweets.get(tweet_id)
        seen = world.visibility(tweet)
        if tweet is not None and seen == "ok":
            found.append(tweet)
        else:
            kind = "protected" if seen == "protected" else "not_found"
            errors.append(resource_error(kind, "tweet", parameter, tweet_id))
    page = Renderer(world, selection).page(found)
    bill(world, page)
    return ApiResponse(200, page_body(page, errors, single=single))
