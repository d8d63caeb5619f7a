"""Batch compliance as X serves it: jobs under /2/compliance/jobs, the ids uploaded to and the results downloaded
from storage URLs (on X, Google Cloud Storage; here /_storage/compliance/… on the sandbox itself).

https://docs.x.com/x-api/compliance/batch-compliance/introduction: a job is created for post ids or user ids (one
of each type at a time, app-only auth); the ids are PUT to its `upload_url` as text, one per line; the job is then
`in_progress`, later `complete`; the results at its `download_url` list only the ids with a compliance event, one
JSON object per line: `{"id", "action": "delete", "created_at", "redacted_at", "reason"}`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from bot.sandbox.dripping import drip
from bot.sandbox.model import iso
from bot.sandbox.params import ApiRequest
from bot.sandbox.problems import ApiResponse, Problem, invalid_request
from bot.sandbox.world import World

JobType = Literal["tweets", "users"]
STORAGE = "/_storage/compliance/"
UPLOAD_LIFETIME = timedelta(minutes=15)  # X's upload URLs expire after 15 minutes
DOWNLOAD_LIFETIME = timedelta(days=7)  # …and its download URLs after a week
ONE_AT_A_TIME = "There is already a compliance job of this type in progress"  # how the sandbox words it


@dataclass
class Job:
    """One compliance job and what was uploaded to it."""

    id: str
    type: JobType
    name: str
    created_at: datetime
    base_url: str
    status: str = "created"
    ids: list[str] = field(default_factory=list)
    checks_left: int = 0  # status reads answered `in_progress` before the job completes
    results: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "resumable": False,
            "status": self.status,
            "created_at": iso(self.created_at),
            "upload_url": f"{self.base_url}{STORAGE}{self.id}/upload",
            "upload_expires_at": iso(self.created_at + UPLOAD_LIFETIME),
            "download_url": f"{self.base_url}{STORAGE}{self.id}/download",
            "download_expires_at": iso(self.created_at + DOWNLOAD_LIFETIME),
        }


def create_job(world: World, request: ApiRequest) -> ApiResponse:
    """POST /2/compliance/jobs with `{"type": "tweets" | "users", "name"?}`."""
    body = request.body if isinstance(request.body, dict) else {}
    kind = body.get("type")
    if kind not in ("tweets", "users"):
        raise invalid_request("type", [str(kind)], f"The `type` value [{kind}] is not one of [tweets, users]")
    with world.lock:
        if any(j.type == kind and j.status in ("created", "in_progress") for j in world.compliance_jobs.values()):
            raise Problem(400, {"title": "Invalid Request", "detail": ONE_AT_A_TIME, "type": "about:blank"})
        now = world.now()
        job = Job(
            id=str(int(now.timestamp() * 1000) * 1000 + len(world.compliance_jobs)),
            type=kind,
            name=str(body.get("name") or ""),
            created_at=now,
            base_url=request.base_url.rstrip("/"),
            checks_left=world.compliance_delay,
        )
        world.compliance_jobs[job.id] = job
        return ApiResponse(200, {"data": job.body()})


def get_job(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/compliance/jobs/:id: the job, completed once its upload arrived and its checks are spent."""
    with world.lock:
        job = world.compliance_jobs.get(request.path_params["id"])
        if job is None:
            raise Problem(
                400,
                {"title": "Invalid Request", "detail": "Could not find the compliance job", "type": "about:blank"},
            )
        if job.status == "in_progress":
            if job.checks_left > 0:
                job.checks_left -= 1
            else:
                job.status = "failed" if world.compliance_fails else "complete"
                job.results = results(world, job) if job.status == "complete" else ""
        return ApiResponse(200, {"data": job.body()})


def list_jobs(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/compliance/jobs?type=…[&status=…]: the app's jobs of that type, newest first."""
    kind, status = request.params.get("type"), request.params.get("status")
    if kind not in ("tweets", "users"):
        raise invalid_request("type", [str(kind)], "The `type` query parameter value is not one of [tweets, users]")
    with world.lock:
        jobs = [j for j in world.compliance_jobs.values() if j.type == kind and status in (None, j.status)]
        data = [j.body() for j in sorted(jobs, key=lambda j: j.created_at, reverse=True)]
    body: dict[str, Any] = {"meta": {"result_count": len(data)}}
    if data:
        body["data"] = data
    return ApiResponse(200, body)


def results(world: World, job: Job) -> str:
    """The ids with a compliance event, one JSON object per line, as X's result files are."""
    now, lines = iso(world.now()), []
    for item in dict.fromkeys(job.ids):
        reason, created = _event(world, job.type, item)
        if reason:
            event = {"id": item, "action": "delete", "created_at": created, "redacted_at": now, "reason": reason}
            lines.append(json.dumps(event))
    return "".join(line + "\n" for line in lines)


def _event(world: World, kind: JobType, item: str) -> tuple[str, str]:
    """Why X would have this id deleted ("" when it is fine), and when the post or account was created."""
    if kind == "users":
        user = world.users.get(item)
        if user is None:
            return "deleted", ""
        return ("suspended" if user.suspended else "protected" if user.protected else ""), iso(user.created_at)
    tweet = world.tweets.get(item)
    if tweet is None or tweet.deleted:
        return "deleted", iso(tweet.created_at) if tweet else ""
    author = world.users[tweet.author_id]
    return ("suspended" if author.suspended else "protected" if author.protected else ""), iso(tweet.created_at)


class StorageApp:
    """The storage behind the jobs' URLs: PUT …/<job>/upload takes the ids, GET …/<job>/download gives results.
    No auth, as a signed storage URL takes none. Injected faults for its paths apply: a status answers instead,
    a delay waits first, a drip sends the answer's body slowly (after the upload is taken)."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        job_id, _, what = scope["path"][len(STORAGE) :].partition("/")
        response: Response
        fault = self.world.take_fault(request.method, scope["path"])
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            await PlainTextResponse("InternalError", fault.status)(scope, receive, send)
            return
        with self.world.lock:
            job = self.world.compliance_jobs.get(job_id)
        if job is None or what not in ("upload", "download"):
            response = PlainTextResponse("NoSuchKey", 404)
        elif what == "upload" and request.method == "PUT":
            raw = await request.body()
            with self.world.lock:
                if job.status != "created":
                    response = PlainTextResponse("the upload URL was used already", 400)
                else:
                    job.ids = [line.strip() for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
                    job.status = "in_progress"
                    response = Response(status_code=200)
        elif what == "download" and request.method == "GET":
            response = (
                PlainTextResponse(job.results) if job.status == "complete" else PlainTextResponse("NoSuchKey", 404)
            )
        else:
            response = JSONResponse({"error": "method not allowed"}, 405)
        if fault is not None and fault.drip > 0:
            await drip(send, response, fault.drip)
            return
        await response(scope, receive, send)
