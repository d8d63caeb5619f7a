"""Compliance rounds: posts deleted on X and authors protected, suspended or gone leave the stored threads and pages,
through X's batch compliance jobs on the sandbox and a real Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from bot import web, xapi
from bot.apimodels import ComplianceEvent
from bot.compliance import comply_once, due, removes, trimmed
from bot.errors import ConfigError
from bot.models import Author, QuotedTweet, Section, Thread, ThreadTweet, utcnow
from bot.processes import run_once, start_poller
from bot.runtime import Bot
from bot.sandbox import SandboxServer
from bot.store import Store
from bot.tweetviews import GAP_NOTE
from config.settings import Settings, load_settings
from tests.helpers import AUTHOR, make_bot, post_thread, summon
from tests.test_cli import command, env  # noqa: F401  (env: a fixture, only what an operator sets)


def thread_of(ids: list[str], quoted: dict[str, str] | None = None) -> Thread:
    quoted = quoted or {}
    tweets = [
        ThreadTweet(
            id=i,
            created_at=utcnow(),
            replied_to=ids[n - 1] if n else None,
            quoted=QuotedTweet(id=quoted[i]) if i in quoted else None,
        )
        for n, i in enumerate(ids)
    ]
    return Thread(root_id=ids[0], conversation_id=ids[0], author=Author(id="7", username="w", name="W"), tweets=tweets)


# --- the pure part ---------------------------------------------------------------------------------------------
def test_a_deleted_post_leaves_its_thread_with_the_gap_noted() -> None:
    after = trimmed(thread_of(["1", "2", "3"]), {"2"})
    assert after is not None
    assert (["1", "3"], ["deleted_tweets"]) == ([t.id for t in after.tweets], after.gaps)


def test_a_thread_untouched_by_the_events_is_the_same_thread() -> None:
    thread = thread_of(["1", "2"])
    assert thread is trimmed(thread, {"99"})


def test_a_thread_with_no_post_left_is_none() -> None:
    assert trimmed(thread_of(["1", "2"]), {"1", "2", "5"}) is None


def test_a_deleted_post_of_a_branch_shown_after_the_thread_leaves_it_too() -> None:
    """A branch shown after the thread (a section) loses a deleted post, and goes when none of its posts is left;
    the gap is noted; the thread itself stays."""
    thread = thread_of(["1", "2", "3"])
    branch = thread_of(["4", "5"]).tweets
    other = thread_of(["6"]).tweets
    thread = thread.model_copy(
        update={"sections": [Section(after="2", tweets=branch), Section(after="1", tweets=other)]}
    )
    after = trimmed(thread, {"5", "6"})
    assert after is not None
    assert (["1", "2", "3"], [("2", ["4"])], ["deleted_tweets"]) == (
        [t.id for t in after.tweets],
        [(s.after, [t.id for t in s.tweets]) for s in after.sections],
        after.gaps,
    )


def test_a_deleted_quoted_post_shows_as_unavailable() -> None:
    after = trimmed(thread_of(["1", "2"], quoted={"2": "50"}), {"50"})
    assert after is not None
    quote = after.tweets[1].quoted
    assert (["1", "2"], "50", True, []) == (
        [t.id for t in after.tweets],
        quote and quote.id,
        quote and quote.unavailable,
        after.gaps,
    )


@given(st.lists(st.integers(1, 30), min_size=1, max_size=30, unique=True), st.sets(st.integers(1, 40)))
def test_trimming_keeps_every_post_not_gone_in_order(posts: list[int], gone: set[int]) -> None:
    ids = [str(p) for p in posts]
    after = trimmed(thread_of(ids), {str(g) for g in gone})
    kept = [i for i in ids if int(i) not in gone]
    assert kept == ([t.id for t in after.tweets] if after is not None else [])


@pytest.mark.parametrize(
    ("action", "reason", "removed"),
    [
        ("delete", "deleted", True),
        ("delete", "protected", True),
        ("delete", "scrub_geo", False),  # only a post's place, and none is stored
        ("protect", "protected", True),
        ("user_suspend", "", True),
        ("unprotect", "", False),
        ("scrub_geo", "", False),
        ("vanish", "deactivated", True),  # undocumented: its reason says gone
        ("vanish", "", False),
    ],
)
def test_an_event_removes_what_its_action_or_reason_says_is_gone(action: str, reason: str, removed: bool) -> None:
    event = ComplianceEvent(id="5", action=action, reason=reason)
    with capture_logs() as logs:
        assert removed == removes(event, "job")
    assert (action == "vanish") == any(e["event"] == "compliance_event_unknown" for e in logs)


def test_a_round_is_due_after_the_interval_only() -> None:
    now = utcnow()
    assert (True, False, True) == (
        due(None, 3600, now),
        due((now - timedelta(minutes=59)).isoformat(), 3600, now),
        due((now - timedelta(minutes=60)).isoformat(), 3600, now),
    )


def test_a_negative_interval_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="UNROLL_COMPLIANCE_INTERVAL"):
        load_settings(_env_file=None, compliance_interval=-1)


# --- through the sandbox -----------------------------------------------------------------------------------------
@pytest.fixture
def unrolled(sandbox: SandboxServer, settings: Settings, store: Store) -> tuple[Bot, list[str]]:
    """A bot that has unrolled a 5-post thread (stored); the thread's ids."""
    ids = post_thread(sandbox.world, 5)
    summon(sandbox.world, ids[-1])
    bot = make_bot(settings, store)
    assert 1 == run_once(bot)
    return bot, ids


def stored_ids(store: Store, root_id: str) -> list[str]:
    thread = store.get_thread(root_id)
    return [t.id for t in thread.tweets] if thread else []


def test_a_post_deleted_on_x_leaves_the_stored_thread_and_its_page(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]], settings: Settings
) -> None:
    bot, ids = unrolled
    version = bot.store.thread_version(ids[0])
    sandbox.world.delete_tweet(ids[2])
    started = comply_once(bot)
    assert ({"tweets": 5, "users": 1}, ids) == (started.started, stored_ids(bot.store, ids[0]))
    applied = comply_once(bot)
    thread = bot.store.get_thread(ids[0])
    assert thread is not None
    assert ([*ids[:2], *ids[3:]], 1, 1, []) == (
        [t.id for t in thread.tweets],
        applied.posts_removed,
        applied.threads_trimmed,
        applied.in_flight,
    )
    assert (None, True) == (bot.store.root_of(ids[2]), bot.store.thread_version(ids[0]) != version)
    with TestClient(web.create_app(settings, bot.store)) as client:
        page = client.get(f"/thread/{ids[0]}").text
    assert (True, False) == (GAP_NOTE in page, "part 3" in page)


def test_a_post_of_a_branch_shown_after_the_thread_deleted_on_x_leaves_its_section(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The author answered post 2 twice: the other answer is a section after the thread. Its posts go into the
    compliance job with the thread's; deleted on X, the section leaves the stored thread and its index."""
    ids = post_thread(sandbox.world, 3)
    aside = sandbox.world.add_tweet(AUTHOR, "an aside", reply_to=ids[1], created_at=sandbox.world.now()).id
    summon(sandbox.world, ids[-1])
    bot = make_bot(settings, store)
    assert 1 == run_once(bot)
    stored = bot.store.get_thread(ids[0])
    assert stored is not None and [[aside]] == [[t.id for t in s.tweets] for s in stored.sections]
    sandbox.world.delete_tweet(aside)

    started = comply_once(bot)
    applied = comply_once(bot)

    thread = bot.store.get_thread(ids[0])
    assert thread is not None
    assert ({"tweets": 4, "users": 1}, ids, [], 1) == (
        started.started,
        [t.id for t in thread.tweets],
        thread.sections,
        applied.posts_removed,
    )
    assert bot.store.root_of(aside) is None


def test_a_deleted_quoted_post_shows_as_unavailable_on_the_page(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A post the thread quotes, deleted on X since: the quoting post stays, its quote shows nothing of it."""
    world = sandbox.world
    world.add_user("quoted_one")
    other = world.add_tweet("quoted_one", "the quoted words", created_at=world.now() - timedelta(hours=3))
    ids = post_thread(world, 2)
    quoting = world.add_tweet(AUTHOR, "3/ see this", reply_to=ids[-1], quote_of=other.id).id
    summon(world, quoting)
    bot = make_bot(settings, store)
    run_once(bot)
    world.delete_tweet(other.id)
    comply_once(bot)
    tally = comply_once(bot)
    thread = bot.store.get_thread(ids[0])
    quote = thread.tweets[-1].quoted if thread else None
    with TestClient(web.create_app(settings, bot.store)) as client:
        page = client.get(f"/thread/{ids[0]}").text
    assert (1, 0, True, False) == (
        tally.quotes_hidden,
        tally.posts_removed,
        quote is not None and quote.unavailable,
        "the quoted words" in page,
    )


def test_the_next_round_waits_for_the_interval(sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]) -> None:
    bot, _ = unrolled
    comply_once(bot)
    comply_once(bot)
    before = sandbox.world.request_counts().get("POST /2/compliance/jobs", {})
    again = comply_once(bot)
    assert ({}, before) == (again.started, sandbox.world.request_counts().get("POST /2/compliance/jobs", {}))


def test_a_protected_author_s_thread_is_withdrawn_and_its_page_says_so(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]], settings: Settings
) -> None:
    bot, ids = unrolled
    author = sandbox.world.find_user(AUTHOR)
    assert author is not None
    sandbox.world.users[author.id].protected = True
    comply_once(bot)
    tally = comply_once(bot)
    assert (None, 1) == (bot.store.get_thread(ids[0]), tally.threads_removed)
    with TestClient(web.create_app(settings, bot.store)) as client:
        response = client.get(f"/thread/{ids[0]}")
    assert (410, True) == (response.status_code, "no longer shown" in response.text)


def test_a_job_still_running_applies_nothing_yet(sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]) -> None:
    bot, ids = unrolled
    sandbox.world.compliance_delay = 1
    sandbox.world.delete_tweet(ids[4])
    comply_once(bot)
    waiting = comply_once(bot)
    assert (["tweets", "users"], ids) == (waiting.in_flight, stored_ids(bot.store, ids[0]))
    done = comply_once(bot)
    assert ([], ids[:4]) == (done.in_flight, stored_ids(bot.store, ids[0]))


def test_a_failed_job_is_dropped_and_a_new_round_can_start(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]
) -> None:
    bot, _ = unrolled
    sandbox.world.compliance_fails = True
    comply_once(bot)
    with capture_logs() as logs:
        comply_once(bot)
    sandbox.world.compliance_fails = False
    again = comply_once(bot, force=True)
    ended = [e["status"] for e in logs if e["event"] == "compliance_job_ended"]
    assert (["failed", "failed"], {"tweets": 5, "users": 1}) == (ended, again.started)


def test_without_a_bearer_token_nothing_is_asked(sandbox: SandboxServer, settings: Settings, store: Store) -> None:
    bot = make_bot(settings, store, x_bearer_token=None)
    before = sandbox.world.request_counts()
    tally = comply_once(bot)
    assert ("no_bearer_token", before) == (tally.skipped, sandbox.world.request_counts())


def test_an_api_without_compliance_jobs_is_logged_and_left_for_the_next_round(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]
) -> None:
    bot, ids = unrolled
    sandbox.world.inject_fault("POST", "/2/compliance/jobs", status=404)
    with capture_logs() as logs:
        tally = comply_once(bot)
    assert ("unsupported", ["compliance_unsupported"], ids) == (
        tally.skipped,
        [e["event"] for e in logs if e["event"].startswith("compliance")],
        stored_ids(bot.store, ids[0]),
    )
    assert comply_once(bot).started == {}  # not before the interval


def test_a_server_error_keeps_the_job_for_the_next_check(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]
) -> None:
    bot, ids = unrolled
    sandbox.world.delete_tweet(ids[1])
    comply_once(bot)
    sandbox.world.inject_fault("GET", "/2/compliance/jobs", status=503)
    failed = comply_once(bot)
    kept = stored_ids(bot.store, ids[0])
    retried = comply_once(bot)
    assert ("api_error", ids, 1) == (failed.skipped, kept, retried.posts_removed)


def test_a_download_trickling_past_its_deadline_is_dropped_and_asked_again(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """X's storage is held to a deadline like the API (UNROLL_HTTP_TIMEOUT, plus time for what it carries): a
    results file sent a piece at a time for longer fails the check, keeps the job, and the next check applies it."""
    bot, ids = unrolled
    sandbox.world.delete_tweet(ids[1])
    comply_once(bot)
    monkeypatch.setattr(xapi, "RESULTS_ALLOWANCE", 0)  # the deadline: UNROLL_HTTP_TIMEOUT alone
    hasty = make_bot(bot.settings, bot.store, http_timeout=0.5)
    sandbox.world.inject_fault("GET", "/_storage/compliance/", drip=3.0)
    failed = comply_once(hasty)
    kept = stored_ids(bot.store, ids[0])
    retried = comply_once(hasty)
    assert ("api_error", ids, 1, [i for i in ids if i != ids[1]]) == (
        failed.skipped,
        kept,
        retried.posts_removed,
        stored_ids(bot.store, ids[0]),
    )


def test_an_upload_refused_by_storage_is_sent_again_at_the_next_check(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]
) -> None:
    bot, ids = unrolled
    sandbox.world.inject_fault("PUT", "/_storage/compliance/", status=503)
    failed = comply_once(bot)
    job_id = bot.store.compliance_state()["job:tweets"]
    lost = list(sandbox.world.compliance_jobs[job_id].ids)
    comply_once(bot)
    assert ("api_error", [], sorted(ids)) == (
        failed.skipped,
        lost,
        sorted(sandbox.world.compliance_jobs[job_id].ids),
    )


def test_upload_and_download_go_to_the_storage_urls_without_auth(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]
) -> None:
    """The ids reach the job's upload URL as X's storage takes them: text, one id per line."""
    bot, ids = unrolled
    comply_once(bot)
    job_id = bot.store.compliance_state()["job:tweets"]
    assert sorted(ids) == sorted(sandbox.world.compliance_jobs[job_id].ids)
    assert 404 == requests.get(f"{sandbox.url}/_storage/compliance/{job_id}/download", timeout=5).status_code


# --- the command ----------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("env")
def test_the_comply_command_runs_a_round_and_says_what_it_did(
    sandbox: SandboxServer, unrolled: tuple[Bot, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    bot, ids = unrolled
    sandbox.world.delete_tweet(ids[3])
    code, out, _ = command(capsys, "comply", "--wait", "10")
    assert (0, True, True) == (
        code,
        "1 post(s) removed from 1 thread(s)" in out,
        ids[3] not in stored_ids(bot.store, ids[0]),
    )


@pytest.mark.usefixtures("env")
def test_the_comply_command_waits_for_its_own_round_only_whatever_the_interval(
    sandbox: SandboxServer,
    unrolled: tuple[Bot, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With UNROLL_COMPLIANCE_INTERVAL=0 (rounds off: always "due" to the round logic), `comply --wait` runs one
    round, its two jobs, and returns once they are applied; it started a new round at every check."""
    monkeypatch.setenv("UNROLL_COMPLIANCE_INTERVAL", "0")
    sandbox.world.compliance_delay = 1
    code, out, _ = command(capsys, "comply", "--wait", "10")
    created = sum(sandbox.world.request_counts().get("POST /2/compliance/jobs", {}).values())
    assert (0, 2, False) == (code, created, "still working" in out), out  # (what it said, when it fails)


@pytest.mark.usefixtures("env")
def test_the_comply_command_without_a_bearer_token_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    code, out, _ = command(capsys, "comply")
    assert (2, True) == (code, "X_BEARER_TOKEN" in out)


def test_the_poll_schedule_checks_compliance_unless_it_is_off(settings: Settings, store: Store) -> None:
    jobs = []
    for interval in (86400.0, 0.0):
        scheduler = start_poller(make_bot(settings, store, compliance_interval=interval))
        jobs.append(sorted(job.id for job in scheduler.get_jobs()))
        scheduler.shutdown(wait=True)
    assert [["compliance", "poll"], ["poll"]] == jobs


def test_a_refused_job_waits_for_the_next_round(sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]) -> None:
    """A 403 (the app lacks batch compliance) is not asked again at every check, only at the next round."""
    bot, _ = unrolled
    sandbox.world.inject_fault("POST", "/2/compliance/jobs", status=403)
    with capture_logs() as logs:
        refused = comply_once(bot)
    later = comply_once(bot)
    fixes = [e.get("fix", "") for e in logs if e["event"] == "compliance_refused"]
    assert ("refused", {}, True) == (refused.skipped, later.started, "X_BEARER_TOKEN" in fixes[0])


def test_a_job_x_no_longer_knows_is_dropped(sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]) -> None:
    bot, _ = unrolled
    comply_once(bot)
    sandbox.world.compliance_jobs.clear()
    with capture_logs() as logs:
        tally = comply_once(bot)
    lost = sorted(e["kind"] for e in logs if e["event"] == "compliance_job_lost")
    assert (["tweets", "users"], [], ["finished_at"]) == (lost, tally.in_flight, list(bot.store.compliance_state()))


def test_an_upload_that_never_arrived_is_made_again(sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]) -> None:
    bot, ids = unrolled
    sandbox.world.delete_tweet(ids[1])
    comply_once(bot)
    job = sandbox.world.compliance_jobs[bot.store.compliance_state()["job:tweets"]]
    job.status, job.ids = "created", []  # as if the process stopped between the job and its upload
    again = comply_once(bot)
    done = comply_once(bot)
    assert (["tweets"], 5, 1) == (again.in_flight, len(job.ids), done.posts_removed)


def test_a_job_whose_upload_url_expired_ends_the_round(sandbox: SandboxServer, unrolled: tuple[Bot, list[str]]) -> None:
    """Storage out of reach for the upload's whole 15 minutes: the job can never start, and is not tried forever."""
    bot, _ = unrolled
    comply_once(bot)
    job = sandbox.world.compliance_jobs[bot.store.compliance_state()["job:tweets"]]
    job.status, job.created_at = "created", job.created_at - timedelta(minutes=16)
    with capture_logs() as logs:
        comply_once(bot)
    ended = [e["status"] for e in logs if e["event"] == "compliance_job_ended"]
    assert (["upload_expired"], None) == (ended, bot.store.compliance_state().get("job:tweets"))
