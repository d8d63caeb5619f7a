"""`python -m bot doctor` against the sandbox, a real Redis and the real web app served by uvicorn."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot import doctor, spending, web
from bot.doctor import Check
from bot.models import UnrollRequest
from bot.sandbox import SandboxServer
from bot.spending import Counts
from bot.store import PagingGap, Store
from bot.xapi import Window
from config.settings import Settings, load_settings
from tests.helpers import redis_url


def changed(settings: Settings, **changes: object) -> Settings:
    """The settings with some values changed and validated again."""
    return load_settings(_env_file=None, **{**settings.model_dump(), **changes})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(settings: Settings, store: Store) -> Iterator[Settings]:
    """The settings with PUBLIC_BASE_URL at the bot's web app, served by uvicorn in a thread."""
    with serving(settings, store) as served:
        yield served


@contextmanager
def serving(settings: Settings, store: Store, **web_changes: object) -> Iterator[Settings]:
    """The bot's web app served by uvicorn in a thread (its settings changed by `web_changes`); yields
    `settings` with PUBLIC_BASE_URL at it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    served = changed(settings, public_base_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    server = web.server(changed(served, **web_changes), store)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    yield served
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def run(settings: Settings, store: Store) -> tuple[int, dict[str, str]]:
    """The doctor's exit code and its lines by check name."""
    lines: list[str] = []
    code = doctor.run_doctor(settings, lines.append, store=store)
    by_name = {
        line[6:].split("  ", 1)[0].strip(): line for line in lines if line[:4] in ("ok  ", "warn", "FAIL", "skip")
    }
    return code, by_name


def test_healthy_deployment_passes_every_check(served: Settings, store: Store) -> None:
    """Good credentials, the right handle, Redis and a live web process: exit 0 and no FAIL line."""
    code, lines = run(served, store)
    assert 0 == code
    assert [] == [line for line in lines.values() if line.startswith("FAIL")]
    assert lines["credentials"].startswith("ok") and "@unrollbot" in lines["credentials"]
    assert lines["handle"].startswith("ok")
    assert lines["redis"].startswith("ok")
    assert lines["public url"].startswith("warn") and "/healthz answers" in lines["public url"]
    assert lines["metrics"].startswith("ok") and "reachable from 127.0.0.1 only" in lines["metrics"]


def test_every_check_prints_one_line(served: Settings, store: Store) -> None:
    """Each check is one line, in order, followed by a summary."""
    lines: list[str] = []
    doctor.run_doctor(served, lines.append, store=store)
    names = [line[6:].split("  ", 1)[0].strip() for line in lines[:-2]]
    expected = ["config", "credentials", "bearer token", "old threads", "handle", "redis", "persistence"]
    assert [*expected, "public url", "metrics", "rate limits", "spending", "poller", "compliance"] == names
    assert lines[-1].startswith("13 checks: 0 failed")


def test_compliance_says_when_it_is_off_or_lacks_the_bearer_token(served: Settings, store: Store) -> None:
    off = doctor.compliance(served.model_copy(update={"compliance_interval": 0.0}), store)
    no_bearer = doctor.compliance(served.model_copy(update={"x_bearer_token": None}), store)
    assert (("warn", "UNROLL_COMPLIANCE_INTERVAL"), ("warn", "X_BEARER_TOKEN")) == (
        (off.status, off.fix.split()[1]),
        (no_bearer.status, no_bearer.fix.split()[1]),
    )


def test_wrong_credentials_fail_naming_the_variables(sandbox: SandboxServer, served: Settings, store: Store) -> None:
    """A 401 from GET /2/users/me fails with the variables to check."""
    sandbox.world.configure_credentials(consumer_key="another-app", access_token="another-account")
    code, lines = run(served, store)
    assert 1 == code
    line = lines["credentials"]
    assert line.startswith("FAIL") and "401 Unauthorized" in line
    for name in ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
        assert name in line
    assert lines["handle"].startswith("skip")


def test_an_app_attached_to_no_project_fails_saying_so(sandbox: SandboxServer, served: Settings, store: Store) -> None:
    """X's 403 client-not-enrolled on GET /2/users/me: the fix is the app's Project, not regenerating the keys."""
    sandbox.world.set_posting_rules(in_project=False)
    code, lines = run(served, store)
    line = lines["credentials"]
    assert (1, True) == (code, line.startswith("FAIL"))
    assert "attached to a Project" in line and "X_API_SECRET" not in line


def test_a_bearer_token_of_an_app_in_no_project_fails_naming_x_bearer_token(
    sandbox: SandboxServer, served: Settings, store: Store
) -> None:
    """X answers reads with X_BEARER_TOKEN 403 client-not-enrolled (its app is attached to no Project) while the
    OAuth 1.0a keys work: refused for good, so the bearer check fails with a fix naming X_BEARER_TOKEN (it warned
    "run doctor again later" and exited 0, and every request then failed)."""
    sandbox.world.set_posting_rules(bearer_in_project=False)
    code, lines = run(served, store)
    line = lines["bearer token"]
    assert (1, True, True) == (code, line.startswith("FAIL"), lines["credentials"].startswith("ok"))
    assert "fix: set X_BEARER_TOKEN to the bearer token of the app attached to the Project" in line


def test_a_read_only_app_fails_the_credentials_check(sandbox: SandboxServer, served: Settings, store: Store) -> None:
    """X's user-context answers say `x-access-level: read` for a Read-only app: every reply would be refused, so
    the check fails with the fix (it said ok, and the bot went live reading and paying, never replying)."""
    sandbox.world.set_posting_rules(write_permission=False)
    code, lines = run(served, store)
    line = lines["credentials"]
    assert (1, True) == (code, line.startswith("FAIL"))
    assert "Read only" in line and "Read and Write" in line


def test_a_spent_usage_cap_fails_with_where_to_add_credits(
    sandbox: SandboxServer, served: Settings, store: Store
) -> None:
    """X's usage cap (credits spent, a spending limit, the monthly reads) refuses every request with a 429 that is
    no rate limit: a window to wait out would mislead, so the check fails and says where to act."""
    sandbox.world.inject_fault("GET", "/2/users/me", usage_capped=True)
    code, lines = run(served, store)
    assert 1 == code
    line = lines["credentials"]
    assert line.startswith("FAIL") and "usage cap" in line and "Developer Console" in line


def test_credentials_x_would_not_check_now_exit_75_not_0(
    sandbox: SandboxServer, served: Settings, store: Store
) -> None:
    """GET /2/users/me rate limited: the credentials are not checked, which no deploy script may take for a pass: no
    FAIL, but exit 75 and a summary saying what to do (it exited 0 with warnings alone)."""
    sandbox.world.inject_fault("GET", "/2/users/me", status=429, reset_in=120)
    lines: list[str] = []
    code = doctor.run_doctor(served, lines.append, store=store)
    assert 75 == code
    assert "0 failed" in lines[-1] and "Not checked now: credentials" in lines[-1] and "exit 75" in lines[-1]


def test_wrong_bearer_token_fails(sandbox: SandboxServer, served: Settings, store: Store) -> None:
    """A bearer token the API refuses fails its own check, the user credentials still pass."""
    sandbox.world.configure_credentials(bearer_token="another-bearer")
    code, lines = run(served, store)
    assert 1 == code
    assert lines["bearer token"].startswith("FAIL") and "X_BEARER_TOKEN" in lines["bearer token"]
    assert lines["credentials"].startswith("ok")


def test_bearer_check_reads_no_post(sandbox: SandboxServer, served: Settings, store: Store) -> None:
    """Checking the bearer token costs nothing: the probe looks up a tweet that does not exist."""
    run(served, store)
    assert {200: 1} == sandbox.world.stats.requests["GET /2/tweets"]
    assert 0 == sandbox.world.stats.post_reads


def test_handle_of_another_account_fails(served: Settings, store: Store) -> None:
    """Credentials of another account than UNROLL_BOT_HANDLE fail with both handles named."""
    code, lines = run(changed(served, bot_handle="someone_else"), store)
    assert 1 == code
    assert lines["handle"].startswith("FAIL")
    assert "@someone_else" in lines["handle"] and "@unrollbot" in lines["handle"]


def test_unset_handle_is_a_warning_with_the_value_to_set(served: Settings, store: Store) -> None:
    """Without UNROLL_BOT_HANDLE the doctor suggests the handle the credentials belong to."""
    code, lines = run(changed(served, bot_handle=None), store)
    assert 0 == code
    assert lines["handle"].startswith("warn") and "UNROLL_BOT_HANDLE=unrollbot" in lines["handle"]


def test_unreachable_public_url_fails_with_the_fix(settings: Settings, store: Store) -> None:
    """Nothing answering at PUBLIC_BASE_URL fails: readers' links would be dead."""
    code, lines = run(changed(settings, public_base_url=f"http://127.0.0.1:{free_port()}"), store)
    assert 1 == code
    assert lines["public url"].startswith("FAIL") and "python -m bot web" in lines["public url"]


def test_unreachable_redis_fails_and_skips_what_needs_it(settings: Settings) -> None:
    """A REDIS_URL where nothing answers fails the redis check; the queue and spending are not checked."""
    lines: list[str] = []
    code = doctor.run_doctor(changed(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"), lines.append)
    assert 1 == code
    [redis_line] = [line for line in lines if "redis " in line[:20]]
    assert redis_line.startswith("FAIL") and "REDIS_URL" in redis_line
    assert not any("spending" in line[:20] or "poller" in line[:20] for line in lines)


def test_a_redis_that_refuses_redis_url_fails_with_its_own_words(settings: Settings, redis_client: redis.Redis) -> None:
    """REDIS_URL naming a database the Redis does not have: the check says Redis refuses it, in Redis's words,
    and what in REDIS_URL to check, rather than calling an answering Redis unreachable."""
    url = redis_url(redis_client, 99)
    lines: list[str] = []
    code = doctor.run_doctor(changed(settings, redis_url=url), lines.append)
    [redis_line] = [line for line in lines if "redis " in line[:20]]
    assert (1, True) == (code, redis_line.startswith("FAIL"))
    assert f"Redis refuses REDIS_URL: DB index is out of range (at {url}) → fix: check REDIS_URL: the password" in (
        redis_line
    )


def test_missing_credentials_fail_unless_dry_run(settings: Settings, store: Store) -> None:
    """Missing credentials fail the config check, and are only a warning in dry-run."""
    bare = changed(settings, x_api_secret=None, x_access_token_secret=None)
    code, lines = run(bare, store)
    assert (1, True) == (code, lines["config"].startswith("FAIL"))
    assert "X_API_SECRET, X_ACCESS_TOKEN_SECRET" in lines["config"]
    assert lines["credentials"].startswith("skip")
    _, dry = run(changed(bare, dry_run=True), store)
    assert dry["config"].startswith("warn")


def test_rate_limit_budget_of_users_me_is_shown(served: Settings, store: Store) -> None:
    """The doctor's own call tells the remaining rate-limit budget."""
    _, lines = run(served, store)
    assert lines["rate limits"].startswith("ok") and "GET /2/users/me 74/75" in lines["rate limits"]


def test_windows_seen_by_the_running_bot_are_shown(served: Settings, store: Store) -> None:
    """Windows the bot's processes last saw (kept in Redis) are part of the budget."""
    reset = datetime.now(UTC) + timedelta(minutes=5)
    store.set_window("GET /2/users/:id/mentions", 10, 0, reset)
    _, lines = run(served, store)
    line = lines["rate limits"]
    assert line.startswith("warn") and f"GET /2/users/:id/mentions until {reset:%H:%M}Z" in line


def test_windows_that_reset_since_are_left_out() -> None:
    """A spent window whose reset time has passed is no longer a concern."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    seen = {"GET /2/tweets": (900, 0, now - timedelta(minutes=1))}
    fresh = {"GET /2/users/me": Window(75, 74, now + timedelta(minutes=15))}
    assert Check("rate limits", "ok", "GET /2/users/me 74/75, resets 12:15Z") == doctor.rate_limits(fresh, seen, now)


def test_a_daily_cap_that_resets_tomorrow_says_so() -> None:
    """A 24-hour cap seen at 11:05 resets at 11:05 tomorrow: the line gives its date, not a bare "11:05Z" that
    reads as now; a spent cap's wait shows the same."""
    now = datetime(2026, 11, 29, 11, 5, tzinfo=UTC)
    seen = {
        "POST /2/tweets 24h-user": (100, 0, now + timedelta(hours=24)),
        "POST /2/tweets": (100, 95, now + timedelta(minutes=15)),
    }
    check = doctor.rate_limits({}, seen, now)
    assert (
        "warn",
        "spent: POST /2/tweets 24h-user until Nov 30 11:05Z — POST /2/tweets 95/100, resets 11:20Z; "
        "POST /2/tweets 24h-user 0/100, resets Nov 30 11:05Z",
    ) == (check.status, check.detail)


@pytest.mark.parametrize(
    ("config", "status"),
    [
        ({"appendonly": "yes", "save": ""}, "ok"),
        ({"appendonly": "no", "save": "3600 1 300 100"}, "ok"),
        ({"appendonly": "yes", "save": "3600 1"}, "ok"),
        ({"appendonly": "no", "save": ""}, "warn"),
        ({}, "warn"),
    ],
)
def test_persistence_needs_the_append_only_file_or_snapshots(config: dict[str, str], status: str) -> None:
    """Redis without AOF or RDB snapshots loses the queue on restart: a warning."""
    assert status == doctor.judge_persistence(config).status


def test_embedded_redis_persists(served: Settings, store: Store) -> None:
    """The persistence line reads the real Redis's settings."""
    _, lines = run(served, store)
    assert lines["persistence"].startswith(("ok", "warn"))
    assert "append-only" in lines["persistence"] or "snapshots" in lines["persistence"]


def test_todays_spending_is_shown(served: Settings, store: Store) -> None:
    """The spending line shows what today cost."""
    spending.record(store, served, Counts(post_read=4, post_with_url=1))
    _, lines = run(served, store)
    assert lines["spending"].startswith("ok") and "US$0.220" in lines["spending"]


def test_spending_over_budget_is_a_warning_with_the_policy(served: Settings, store: Store) -> None:
    """Over the daily budget the doctor says what happens to requests and how to resume."""
    budgeted = changed(served, daily_budget=0.1)
    spending.record(store, budgeted, Counts(post_with_url=1))
    _, lines = run(budgeted, store)
    line = lines["spending"]
    assert line.startswith("warn") and "wait on the stream until 00:00 UTC" in line and "UNROLL_DAILY_BUDGET" in line


def test_poller_that_never_polled_is_a_warning(served: Settings, store: Store) -> None:
    """Before the first poll the doctor says how to start the poller."""
    _, lines = run(served, store)
    assert lines["poller"].startswith("warn") and "never polled" in lines["poller"]


def test_the_poller_line_says_what_the_next_poll_still_reads(served: Settings, store: Store) -> None:
    """Mentions left to page down to (the timeline failed part-way) are no fault: the poller is ok, and says so."""
    store.mark_polled()
    now = datetime.now(UTC)
    gap = PagingGap("1950000000000000000", "1960000000000000000", 100)
    store.queue_poll([], cursor=None, polled_at=now, release=None, limit=0, window=3600, paging=gap)
    _, lines = run(served, store)
    assert lines["poller"].startswith("ok") and "the next poll reads older mentions to page down to" in lines["poller"]


def test_dead_letters_are_a_warning(served: Settings, store: Store) -> None:
    """Requests in the dead-letter stream are pointed out with the command that retries them."""
    store.mark_polled()
    store.enqueue([UnrollRequest(mention_id="5", requester_id="9")])
    [(entry_id, request)] = store.read("w1")
    store.dead_letter(entry_id, request, "boom", 5)
    _, lines = run(served, store)
    assert lines["poller"].startswith("warn") and "1 dead letters" in lines["poller"]
    assert "--requeue" in lines["poller"]


TOKEN = "0123456789abcdef-metrics"


@pytest.mark.parametrize(
    ("web_token", "doctor_token", "status", "says"),
    [
        (TOKEN, TOKEN, "ok", "answers only with UNROLL_METRICS_TOKEN"),
        (TOKEN, "another-token-0123456789", "FAIL", "the web process has another"),
        (None, TOKEN, "warn", "answers anyone: the web process has no UNROLL_METRICS_TOKEN"),
        (TOKEN, None, "warn", "this process has none"),
    ],
)
def test_metrics_token_is_checked_against_the_web_process(
    settings: Settings, store: Store, web_token: str | None, doctor_token: str | None, status: str, says: str
) -> None:
    """The doctor asks the running web process, with and without its own token, who may read /metrics: a
    token set on one process and not the other (or another one) is caught before Prometheus is refused."""
    with serving(settings, store, metrics_token=web_token) as served:
        code, lines = run(changed(served, metrics_token=doctor_token), store)
    assert lines["metrics"].startswith(status) and says in lines["metrics"]
    assert (status == "FAIL") == (code == 1)


def test_metrics_check_waits_for_a_web_process(settings: Settings, store: Store) -> None:
    """No web process answering: the public URL fails and the metrics check is skipped, not failed twice."""
    _, lines = run(changed(settings, public_base_url=f"http://127.0.0.1:{free_port()}"), store)
    assert lines["metrics"].startswith("skip")


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1", "ok"),
        ("localhost", "ok"),
        ("10.1.2.3", "ok"),
        ("192.168.0.7", "ok"),
        ("[::1]", "ok"),
        ("unroll.example.org", "warn"),
        ("1.1.1.1", "warn"),
    ],
)
def test_open_metrics_warn_only_where_anyone_reaches_them(host: str, status: str) -> None:
    """Metrics without a token are fine on this machine or a private network; on a public name or address
    anyone reads the spending and rate limits, so the doctor says to set the token."""
    check = doctor.metrics_verdict(f"http://{host}/metrics", host, False, 200, 200)
    assert status == check.status
    assert ("UNROLL_METRICS_TOKEN" in check.fix) == (status == "warn")


@pytest.mark.parametrize(("bound", "status"), [("127.0.0.1", "ok"), ("0.0.0.0", "warn"), ("192.168.0.7", "warn")])
def test_open_metrics_warn_when_the_web_process_listens_beyond_this_machine(bound: str, status: str) -> None:
    """Links on 127.0.0.1 say nothing of who reaches the web process: with HOST=0.0.0.0 (or another
    interface) anyone who reaches the machine's port reads /metrics, so the doctor says to set the token."""
    check = doctor.metrics_verdict("http://127.0.0.1:8000/metrics", "127.0.0.1", False, 200, 200, bound=bound)
    assert status == check.status
    assert ("UNROLL_METRICS_TOKEN" in check.fix) == (status == "warn")


@pytest.mark.parametrize("enrolled", [False, True])
def test_full_archive_on_is_checked_against_what_x_gives_the_app(
    sandbox: SandboxServer, served: Settings, store: Store, enrolled: bool
) -> None:
    """UNROLL_FULL_ARCHIVE=true for an app X refuses full-archive search fails with the fix; with access, ok.
    The probe searches a conversation that never existed: no post read."""
    sandbox.world.enable_full_archive(enrolled)
    code, lines = run(served.model_copy(update={"full_archive": True}), store)
    line = lines["full archive"]
    if enrolled:
        assert line.startswith("ok")
    else:
        assert 1 == code and line.startswith("FAIL") and "UNROLL_FULL_ARCHIVE=false" in line
    assert {(200 if enrolled else 403): 1} == sandbox.world.stats.requests["GET /2/tweets/search/all"]
    assert 0 == sandbox.world.stats.post_reads


@pytest.mark.parametrize("answer", [200, 403, 404])
def test_old_threads_timeline_access_is_checked_reading_nothing(
    sandbox: SandboxServer, served: Settings, store: Store, answer: int
) -> None:
    """Without full archive, old threads are followed through their authors' timelines: the doctor asks X for the
    bot's own timeline ending before any post (nothing read), and warns with the fix when X refuses it (403: the
    access level; 404: an API without the endpoint). Doctor still exits 0: the bot works without it."""
    me = sandbox.world.find_user("unrollbot")
    assert me is not None
    if answer != 200:
        sandbox.world.inject_fault("GET", f"/2/users/{me.id}/tweets", status=answer)
    sandbox.world.add_tweet("unrollbot", "an old post of the bot's")

    code, lines = run(served, store)

    line = lines["old threads"]
    assert 0 == code
    if answer == 200:
        assert line.startswith("ok")
    else:
        assert line.startswith("warn") and "UNROLL_OLD_THREAD_HOURS=0" in line
    assert {answer: 1} == sandbox.world.stats.requests["GET /2/users/:id/tweets"]
    assert 0 == sandbox.world.stats.post_reads


def test_old_threads_are_not_checked_when_the_timeline_is_not_used(
    sandbox: SandboxServer, served: Settings, store: Store
) -> None:
    _, lines = run(served.model_copy(update={"old_thread_hours": 0}), store)
    assert "old threads" not in lines
    assert "GET /2/users/:id/tweets" not in sandbox.world.stats.requests


def test_a_base_url_that_is_not_the_x_api_fails_naming_x_api_base_url(
    sandbox: SandboxServer, served: Settings, store: Store
) -> None:
    """X_API_BASE_URL with a path prefix X does not have: GET /2/users/me answers 404, which X never does there.
    The failing check names X_API_BASE_URL and the URL tried, not the credentials, and the bearer token is not
    asked of it."""
    code, lines = run(changed(served, x_api_base_url=f"{sandbox.url}/prefix"), store)
    assert (1, False) == (code, "credentials" in lines)
    assert lines["x api"].startswith(
        f"FAIL  x api         X_API_BASE_URL does not look like the X API: GET {sandbox.url}/prefix/2/users/me "
        "answered 404 (Sorry, that page does not exist) → fix: set X_API_BASE_URL to https://api.x.com"
    )
    assert lines["bearer token"].startswith("skip")
