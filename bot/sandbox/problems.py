"""X's error bodies: top-level problems (`title`, `detail`, `type`, `status`) and partial errors.

Shapes follow https://docs.x.com/x-api/fundamentals/response-codes-and-errors and what the live API
sends: generic HTTP errors use `"type": "about:blank"`, specific ones a `/2/problems/…` URI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PROBLEMS = "https://api.twitter.com/2/problems"


@dataclass
class ApiResponse:
    """What an endpoint answers: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Problem(Exception):
    """Raised by an endpoint to answer with an error body instead of data."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("detail") or body.get("title") or str(status))
        self.response = ApiResponse(status, body, headers or {})


def http_problem(status: int, title: str, detail: str | None = None) -> Problem:
    """A plain HTTP error as X sends it: `{"title", "detail", "type": "about:blank", "status"}`."""
    return Problem(status, {"title": title, "detail": detail or title, "type": "about:blank", "status": status})


def unauthorized() -> Problem:
    return http_problem(401, "Unauthorized")


def too_many_requests(headers: dict[str, str]) -> Problem:
    problem = http_problem(429, "Too Many Requests")
    problem.response.headers.update(headers)
    return problem


def forbidden(detail: str) -> Problem:
    return http_problem(403, "Forbidden", detail)


def oauth1_permissions() -> Problem:
    """403 for a post by an app whose permission is Read only (developer portal: User authentication settings),
    as X answers it (https://docs.x.com/x-api/fundamentals/response-codes-and-errors lists `oauth1-permissions`)."""
    return Problem(
        403,
        {
            "title": "Forbidden",
            "type": f"{PROBLEMS}/oauth1-permissions",
            "status": 403,
            "detail": "Your client app is not configured with the appropriate oauth1 app permissions for this "
            "endpoint.",
        },
    )


USER_CONTEXTS = "OAuth 1.0a User Context, OAuth 2.0 User Context"
APP_ONLY = "OAuth 2.0 Application-Only"


def unsupported_authentication(used: str = APP_ONLY, supported: str = USER_CONTEXTS) -> Problem:
    """403 for auth of a kind the endpoint refuses: app-only on /2/users/me, user context on search/all."""
    return Problem(
        403,
        {
            "title": "Unsupported Authentication",
            "detail": f"Authenticating with {used} is forbidden for this endpoint.  "
            f"Supported authentication types are [{supported}].",
            "type": f"{PROBLEMS}/unsupported-authentication",
            "status": 403,
        },
    )


def usage_capped() -> Problem:
    """429 once the project's monthly usage cap is spent: no rate-limit window ends it.

    The shape is the OpenAPI `UsageCapExceededProblem` (title, detail, type, period Daily|Monthly, scope
    Account|Product; https://docs.x.com/x-api/fundamentals/response-codes-and-errors lists `usage-capped`);
    the values are those X sends for a spent monthly cap.
    """
    return Problem(
        429,
        {
            "title": "UsageCapExceeded",
            "detail": "Usage cap exceeded: Monthly product cap",
            "type": f"{PROBLEMS}/usage-capped",
            "period": "Monthly",
            "scope": "Product",
        },
    )


def client_forbidden(client_id: str = "1") -> Problem:
    """403 for an app whose access level does not include the endpoint (e.g. full-archive search)."""
    return Problem(
        403,
        {
            "client_id": client_id,
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
            "tokens from a Twitter developer App that is attached to a Project. You can create a project "
            "via the developer portal.",
            "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
            "title": "Client Forbidden",
            "required_enrollment": "Appropriate Level of API Access",
            "reason": "client-not-enrolled",
            "type": f"{PROBLEMS}/client-forbidden",
        },
    )


def invalid_request(parameter: str, values: Sequence[str], message: str) -> Problem:
    """400 with X's `errors: [{parameters, message}]` list."""
    return Problem(
        400,
        {
            "errors": [{"parameters": {parameter: list(values)}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": f"{PROBLEMS}/invalid-request",
        },
    )


def not_found_route() -> Problem:
    return Problem(404, {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]})


def resource_error(kind: str, resource_type: str, parameter: str, value: str, detail_value: str = "") -> dict[str, Any]:
    """A partial error for one id or username: not found, not authorized or suspended."""
    shown = detail_value or value
    if kind == "protected":
        noun = "Tweet" if resource_type == "tweet" else "user"
        detail = f"Sorry, you are not authorized to see the {noun} with {parameter}: [{shown}]."
        title, problem = "Authorization Error", "not-authorized-for-resource"
    elif kind == "suspended":
        detail, title, problem = f"User has been suspended: [{shown}].", "Forbidden", "resource-not-found"
    else:
        detail = f"Could not find {resource_type} with {parameter}: [{shown}]."
        title, problem = "Not Found Error", "resource-not-found"
    return {
        "value": value,
        "detail": detail,
        "title": title,
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": f"{PROBLEMS}/{problem}",
    }
