"""Operator commands (`requests`, `request`, `dead-letters`, `rerender`, `export`, `config`, `doctor`), run as
`bot.__main__.main([...])` with only environment variables set, over a real Redis and the sandbox."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog
import structlog.testing

from bot import cli, spending
from bot.__main__ import main
from bot.models import HandledRequest, Thread, UnrollRequest
from bot.poller import poll_once
from bot.sandbox import SandboxServer
from bot.spending import Counts
from bot.store import Store
from bot.xapi import shared_endpoint
from config.settings import load_settings
from tests.conftest import BOT_HANDLE, CREDENTIALS
from tests.fixtures_pages import ThreadFactory
from tests.helpers import make_bot, post_thread, redis_url, summon, web_page_server
from tests.test_e2e import bot, bot_env  # noqa: F401  (bot_env is a fixture)

LINK = "http://127.0.0.1:8000/thread/100"
NOW = datetime.now(UTC)
# Each outcome with the fields the worker or poller records for it, and what the table's last column shows.
OUTCOMES: dict[str, tuple[dict[str, Any], str]] = {
    "replied": ({"link": LINK, "reply_id": "900", "root_id": "100", "tweets": 12, "latency_s": 4.2}, LINK),
    "cached": ({"link": LINK, "reply_id": "901", "root_id": "100", "tweets": 12}, LINK),
    "no_thread": ({"reason": "single_tweet", "reply_id": "902"}, "single_tweet"),
    "not_found": ({"reason": "deleted"}, "deleted"),
    "protected": ({"reason": "protected_author"}, "protected_author"),
    "rate_limited": ({"error": "GET /2/tweets/search/recent: 429 Too Many Requests"}, "429 Too Many Requests"),
    # X refused the reply after the thread was read: the page's link was sent to nobody, X's words are the story.
    "not_allowed": (
        {
            "link": LINK,
            "root_id": "100",
            "tweets": 12,
            "error": "POST /2/tweets: 403 Reply to this conversation is "
            "not allowed because you have not been mentioned or otherwise engaged by the author",
        },
        "not been mentioned or otherwise engaged by the author",
    ),
    "dead_letter": ({"error": "ApiUnavailable: GET /2/tweets: 503 server error", "attempts": 5}, "503 server error"),
    "ignored:retweet": ({"reason": "retweet", "attempts": 0}, "retweet"),
}


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> Iterator[None]:
    """Only the environment an operator sets, pointed at the test's Redis (same server, same prefix)."""
    url = os.environ.get("REDIS_URL")
    # Without REDIS_URL the commands open the embedded Redis of the data dir: the tests' own, already running.
    data_dir = Path(redis_client.db).parent if not url else tmp_path / "data"  # type: ignore[attr-defined]
    for name in list(os.environ):
        if name.startswith(("X_", "UNROLL_")) or name in ("REDIS_URL", "PUBLIC_BASE_URL", "PORT", "HOST"):
            monkeypatch.delenv(name)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    if url:
        monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("X_API_BASE_URL", sandbox.url)
    monkeypatch.setenv("UNROLL_KEY_PREFIX", prefix)
    monkeypatch.setenv("UNROLL_BOT_HANDLE", BOT_HANDLE)
    monkeypatch.setenv("UNROLL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("UNROLL_LOG_FORMAT", "json")
    monkeypatch.setenv("UNROLL_SEARCH_LAG", "0")  # the sandbox's search shows a post at once
    monkeypatch.chdir(tmp_path)  # no .env but the test's
    yield
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def command(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one `python -m bot` command run in-process."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def record(
    store: Store, mention_id: str, outcome: str, *, requester: str = "reader", ago: float = 60, **fields: Any
) -> None:
    handled = HandledRequest(
        mention_id=mention_id,
        request_id=f"{mention_id}-0",
        mention_url=f"https://x.com/{requester}/status/{mention_id}",
        requester=requester,
        requester_id="9",
        outcome=outcome,
        handled_at=NOW - timedelta(seconds=ago),
        **fields,
    )
    store.record(handled)


def row_of(output: str, mention_id: str) -> str:
    [line] = [line for line in output.splitlines() if f" {mention_id} " in line]
    return line


# --- requests -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_requests_table_shows_each_outcome(
    env: None, store: Store, capsys: pytest.CaptureFixture[str], outcome: str
) -> None:
    """Each outcome's row shows the requester, the outcome and its link, reason or error."""
    fields, last_column = OUTCOMES[outcome]
    record(store, "5001", outcome, **fields)
    code, output, _ = command(capsys, "requests")
    assert 0 == code
    row = row_of(output, "5001")
    assert ["5001", "@reader", outcome] == row.split()[2:5]
    assert row.endswith(last_column)


def test_requests_table_shows_xs_refusal_not_the_link_of_a_reply_never_posted(
    env: None, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mention deleted while its thread was read: X refused the reply (403 deleted or not visible), so the row
    shows X's words, not the link to the page (made before the reply was refused, and sent to nobody)."""
    refusal = "POST /2/tweets: 403 You attempted to reply to a Tweet that is deleted or not visible to you."
    record(store, "5001", "not_found", link=LINK, root_id="100", tweets=3, error=refusal)
    _, output, _ = command(capsys, "requests")
    row = row_of(output, "5001")
    assert row.endswith("deleted or not visible to you.")
    assert LINK not in row


def test_requests_table_has_a_header_and_newest_first(
    env: None, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table starts with its column names and lists the newest request first."""
    record(store, "5001", "replied", ago=300, **OUTCOMES["replied"][0])
    record(store, "5002", "not_found", ago=10, reason="deleted")
    _, output, _ = command(capsys, "requests")
    lines = output.splitlines()
    assert lines[0].split()[:4] == ["handled_at", "mention_id", "requester", "outcome"]
    assert [" 5002 " in lines[2], " 5001 " in lines[3]] == [True, True]


def test_requests_without_records_says_so(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty log is said in words, not an empty table."""
    _, output, _ = command(capsys, "requests")
    assert "(no handled requests)" in output


@pytest.mark.parametrize(
    ("outcome_filter", "expected"),
    [("replied", {"5001"}), ("ignored", {"5003", "5004"}), ("ignored:retweet", {"5003"}), ("protected", set())],
)
def test_requests_filter_by_outcome(
    env: None, store: Store, capsys: pytest.CaptureFixture[str], outcome_filter: str, expected: set[str]
) -> None:
    """--outcome keeps one outcome; `ignored` takes every `ignored:<reason>`."""
    record(store, "5001", "replied", **OUTCOMES["replied"][0])
    record(store, "5002", "not_found", reason="deleted")
    record(store, "5003", "ignored:retweet", reason="retweet")
    record(store, "5004", "ignored:blocked_user", reason="blocked_user")
    _, output, _ = command(capsys, "requests", "--outcome", outcome_filter, "--json")
    assert expected == {json.loads(line)["mention_id"] for line in output.splitlines()}


def test_requests_for_an_outcome_no_record_can_have_names_the_outcomes(
    env: None, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped outcome (`--outcome replyed`) would list nothing in silence, as if nothing had been answered:
    it is named, with the outcomes there are, and exits 2 as other wrong arguments do (a script can tell)."""
    record(store, "5001", "replied", **OUTCOMES["replied"][0])
    code, output, err = command(capsys, "requests", "--outcome", "replyed")
    assert (2, "") == (code, output)
    assert err.startswith('No outcome is called "replyed": the outcomes are replied, cached,')
    assert "" == command(capsys, "requests", "--outcome", "dead_letter")[2]


@pytest.mark.parametrize("user", ["alice", "@Alice", "ALICE"])
def test_requests_filter_by_requester(env: None, store: Store, capsys: pytest.CaptureFixture[str], user: str) -> None:
    """--user matches the requester's handle with or without @, in any case."""
    record(store, "5001", "replied", requester="alice", **OUTCOMES["replied"][0])
    record(store, "5002", "replied", requester="bob", **OUTCOMES["replied"][0])
    _, output, _ = command(capsys, "requests", "--user", user)
    assert (True, False) == (" 5001 " in output, " 5002 " in output)


def test_requests_since_a_duration(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """--since 1h leaves out what was handled earlier."""
    record(store, "5001", "replied", ago=2 * 3600, **OUTCOMES["replied"][0])
    record(store, "5002", "replied", ago=60, **OUTCOMES["replied"][0])
    _, output, _ = command(capsys, "requests", "--since", "1h")
    assert (False, True) == (" 5001 " in output, " 5002 " in output)


def test_requests_since_an_iso_time(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """--since also takes an ISO time (UTC when it has no offset)."""
    record(store, "5001", "replied", ago=2 * 3600, **OUTCOMES["replied"][0])
    record(store, "5002", "replied", ago=60, **OUTCOMES["replied"][0])
    since = (NOW - timedelta(hours=1)).replace(tzinfo=None).isoformat(timespec="seconds")
    _, output, _ = command(capsys, "requests", "--since", since, "--json")
    assert ["5002"] == [json.loads(line)["mention_id"] for line in output.splitlines()]


def test_requests_since_nonsense_is_refused(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """A --since that is neither a time nor a duration exits 2 saying what it takes."""
    code, _, err = command(capsys, "requests", "--since", "yesterday")
    assert 2 == code
    assert '--since takes an ISO time or a duration like 30m, 2h, 7d, got "yesterday"' in err


def test_requests_json_is_one_record_per_line(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints each record as one JSON object, whole, for scripts."""
    for i, outcome in enumerate(OUTCOMES):
        record(store, str(5000 + i), outcome, ago=100 - i, **OUTCOMES[outcome][0])
    _, output, _ = command(capsys, "requests", "--json")
    records = [HandledRequest.model_validate_json(line) for line in output.splitlines()]
    assert list(reversed(OUTCOMES)) == [r.outcome for r in records]
    assert store.handled_one("5000") == records[-1]


def test_requests_footer_shows_todays_spending(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """Below the table, the day's spend at the configured prices."""
    spending.record(store, load_settings(_env_file=None), Counts(post_read=12, post_with_url=1))
    _, output, _ = command(capsys, "requests")
    assert output.rstrip().splitlines()[-1].startswith("US$0.260 spent today (")


def test_requests_footer_points_at_dead_letters(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """When requests sit in the dead-letter stream the listing says how to see them."""
    store.enqueue([UnrollRequest(mention_id="7", requester_id="9")])
    [(entry_id, request)] = store.read("w1")
    store.dead_letter(entry_id, request, "boom", 5)
    _, output, _ = command(capsys, "requests")
    assert "1 request(s) in the dead-letter stream: `python -m bot dead-letters` lists them." in output


# --- request <id> -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_request_story_shows_every_field(
    env: None, store: Store, capsys: pytest.CaptureFixture[str], outcome: str
) -> None:
    """`request <mention id>` prints each field of the record on its own line."""
    fields, _ = OUTCOMES[outcome]
    record(store, "5001", outcome, **fields)
    code, output, _ = command(capsys, "request", "5001")
    assert 0 == code
    story = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1] for line in output.splitlines() if line.strip()}
    assert (outcome, "5001", "https://x.com/reader/status/5001") == (
        story["outcome"],
        story["mention_id"],
        story["mention_url"],
    )
    for name, value in fields.items():
        assert str(value) == story[name]


def test_request_story_shows_the_reply_record(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """A replied request's story ends with its idempotency record: state and reply id."""
    record(store, "5001", "replied", **OUTCOMES["replied"][0])
    store.mark_replied("5001", "900", "Hi @reader, here is the thread unrolled: " + LINK)
    _, output, _ = command(capsys, "request", "5001")
    assert output.splitlines()[-1].startswith("reply record  replied 900 at ")


def test_request_whose_audit_record_was_dropped_says_it_was_handled_not_never_queued(
    env: None, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit log keeps the newest UNROLL_HANDLED_LOG_SIZE records; an older mention's reply record still says
    it was answered: the operator is told so, with the reply, not that it was never queued."""
    store.mark_replied("5002", "901", "Hi @reader, here is the thread unrolled: " + LINK)
    code, output, err = command(capsys, "request", "5002")
    assert (0, "") == (code, err)
    assert output.startswith("mention 5002 was handled, but its audit record is no longer kept")
    assert output.splitlines()[-1].startswith("reply record  replied 901 at ")


@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
def test_requests_with_a_limit_below_one_is_refused(
    env: None, store: Store, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    """`--limit 0` printed "(no handled requests)" over a full log, and `-1` listed everything."""
    with pytest.raises(SystemExit) as stopped:
        main(["requests", "--limit", limit])
    assert (2, True) == (stopped.value.code, "not a whole number of 1 or more" in capsys.readouterr().err)


def test_request_takes_the_mentions_link_and_refuses_what_is_no_post(
    env: None, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log line's `mention_url` pasted gives the story (it said "never queued"); a name that is no post id nor
    link is refused, exit 2, as `requests --user` refuses what is no handle (it listed nothing, silently)."""
    record(store, "5001", "replied", **OUTCOMES["replied"][0])
    code, output, _ = command(capsys, "request", "https://x.com/reader/status/5001")
    story = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[-1] for line in output.splitlines() if line.strip()}
    assert (0, "5001") == (code, story.get("mention_id"))
    for args, said in (
        (["request", "abc"], "is neither a post id (digits) nor a link to a post on X"),
        (["request", ""], "is neither a post id"),
        (["requests", "--user", "not a handle"], "is not an X handle"),
    ):
        with pytest.raises(SystemExit) as stopped:
            main(args)
        assert (2, True) == (stopped.value.code, said in capsys.readouterr().err)
    code, output, _ = command(capsys, "requests", "--user", "https://x.com/Reader")
    assert (0, True) == (code, "5001" in output)


def test_request_unknown_mention_exits_1(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """An id never queued is said on stderr, with why that may be, and exit code 1."""
    code, output, err = command(capsys, "request", "424242")
    assert (1, "") == (code, output)
    assert err.startswith("No request for mention 424242: it was never queued.")


def test_request_for_a_mention_the_cursor_passed_says_no_poll_will_read_it(
    env: None, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mention older than the poll cursor and never queued will never be answered: the command says the cursor
    is past it (and that it may have been beyond the mentions timeline's reach), not that no poll reached it yet."""
    store.enqueue([], cursor="500000")

    older = command(capsys, "request", "424242")
    newer = command(capsys, "request", "600000")

    assert 1 == older[0] and "The poll cursor (500000) is past it, so no poll will read it" in older[2]
    assert "beyond the reach of X's mentions timeline" in older[2] and "no poll has reached it" not in older[2]
    assert 1 == newer[0] and "no poll has reached it yet" in newer[2] and "cursor" not in newer[2]


def test_request_still_queued_says_where_it_is(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """A request waiting on the stream (queued, or taken by a worker and retried) is no unknown mention: the
    command says who holds it, how often it was delivered and how many attempts failed."""
    store.enqueue([UnrollRequest(mention_id="31", requester_id="9"), UnrollRequest(mention_id="32", requester_id="9")])
    store.read("worker-a", count=1)  # 31 taken
    attempt = store.begin_attempt("31", 5)
    store.note_attempt("31", '{"data": []}', 0, 0)
    store.add_failure("31")
    assert attempt.lock is not None
    attempt.lock.release()

    taken = command(capsys, "request", "31")
    waiting = command(capsys, "request", "32")
    # Left for another worker at once (as a worker whose credentials X refused leaves it): the claim's idle time is
    # set to the visibility timeout, which is no age of the request's (it said "taken 116 s ago" of one 56 s old).
    entry = store.find_queued("31")
    assert entry is not None
    store.claimable_at("worker-a", entry.entry_id, datetime.now(UTC), 10**9)
    left = command(capsys, "request", "31")

    assert 0 == taken[0] and "mention 31 is queued, not handled yet" in taken[1]
    assert "queued 0 s ago, held by worker-a (another worker may take it over in" in taken[1]
    assert "delivered 1 time(s), 1 attempt(s) begun, 1 failed" in taken[1]
    assert "queued 0 s ago, held by worker-a (any worker may take it now)" in left[1]
    assert taken[1].rstrip().endswith("of 5, what they read kept for the next")
    assert 0 == waiting[0] and "not taken yet, delivered 0 time(s), 0 attempt(s) begun, 0 failed" in waiting[1]
    assert waiting[1].rstrip().endswith("attempt(s) of 5")


def test_request_waiting_for_a_spent_window_or_its_next_try_says_until_when(
    env: None, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request held by X's 24-hour cap on recent search looked, in `request <id>`, like one any worker may take
    in a minute (each takes it and leaves it again, asking X nothing): the spent endpoint and its reset are shown, and
    a failed attempt's next try. An endpoint blocked at another base URL (an earlier X_API_BASE_URL) is not."""
    store.enqueue([UnrollRequest(mention_id="41", requester_id="9")])
    store.read("worker-a", count=1)
    settings = load_settings()
    base = shared_endpoint(settings.x_api_base_url, "GET /2/tweets/search/recent")
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=20)
    store.block_endpoint(base, reset, "daily")
    store.block_endpoint("GET /2/tweets at elsewhere.example:8080", reset)
    store.retry_after("41", reset - timedelta(hours=19))

    code, out, _ = command(capsys, "request", "41")

    waits = [line for line in out.splitlines() if line.startswith("waits")]
    assert 0 == code and 2 == len(waits)
    assert f"not before {(reset - timedelta(hours=19)).isoformat()}" in waits[0]
    assert f"GET /2/tweets/search/recent is spent until {reset.isoformat()} (X's 24-hour cap)" in waits[1]


def test_request_in_the_dead_letters_says_so(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """A dead letter's mention: its attempts, its last error and how to requeue it."""
    store.enqueue([UnrollRequest(mention_id="33", requester_id="9")])
    [(entry_id, request)] = store.read("w1")
    store.dead_letter(entry_id, request, "ApiUnavailable: 503", 5)

    code, output, _ = command(capsys, "request", "33")

    assert 0 == code
    assert "mention 33 is a dead letter after 5 attempts" in output and "ApiUnavailable: 503" in output
    assert "dead-letters --requeue" in output


# --- long commands ------------------------------------------------------------------------------------------
def dead_letters(store: Store, *mention_ids: str) -> None:
    store.enqueue([UnrollRequest(mention_id=m, requester_id="9") for m in mention_ids])
    for entry_id, request in store.read("w1", count=len(mention_ids)):
        store.add_failure(request.mention_id)
        store.dead_letter(entry_id, request, "ApiUnavailable: 503", 5)


def test_dead_letters_are_listed(env: None, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """`dead-letters` lists each with its attempts and last error."""
    dead_letters(store, "7")
    _, output, _ = command(capsys, "dead-letters")
    assert output.startswith("7  attempts=5  at=") and output.rstrip().endswith("error=ApiUnavailable: 503")


def test_requeue_reports_progress_and_moves_every_letter(
    env: None, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """--requeue prints plain progress lines off a terminal and puts every request back with fresh attempts."""
    dead_letters(store, "7", "8")
    code, output, _ = command(capsys, "dead-letters", "--requeue")
    assert (0, ["re-queue: 1/2", "re-queue: 2/2", "Re-queued 2 request(s)."]) == (code, output.splitlines())
    assert (0, 2, 0) == (store.dead_count(), store.queue_depth(), store.failures("7"))


def test_plain_progress_prints_at_every_tenth(capsys: pytest.CaptureFixture[str]) -> None:
    """Off a terminal, a long run prints ten lines, not one per item."""
    assert list(range(100)) == list(cli.progress(list(range(100)), "export"))
    assert [f"export: {n}/100" for n in range(10, 101, 10)] == capsys.readouterr().out.splitlines()


def test_progress_on_a_terminal_is_a_bar(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """On a terminal, progress is a bar on stderr and stdout stays clean."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert [1, 2, 3] == list(cli.progress([1, 2, 3], "rerender"))
    assert "" == capsys.readouterr().out
    assert "rerender" in terminal.getvalue() and "3/3" in terminal.getvalue()


def test_rerender_renders_every_stored_thread(
    env: None, store: Store, make_thread: ThreadFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every stored thread renders in every format: exit 0 with the count."""
    store.save_thread(make_thread(12))
    store.save_thread(make_thread(3, root_id="7000"))
    code, output, _ = command(capsys, "rerender")
    assert (0, ["rerender: 1/2", "rerender: 2/2", "Rendered 2 of 2 thread(s)."]) == (code, output.splitlines())


def test_rerender_reports_a_thread_that_fails(
    env: None, store: Store, make_thread: ThreadFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stored thread that no longer loads is named with its error; the others are still checked; exit 1."""
    store.save_thread(make_thread(12))
    store.save_thread(make_thread(3, root_id="7000"))
    store.redis.set(store.key("thread", "7000"), '{"root_id": "7000"}')  # written by an older, different model
    code, output, _ = command(capsys, "rerender")
    assert 1 == code
    assert "Rendered 1 of 2 thread(s)." in output
    assert output.rstrip().splitlines()[-1].startswith("FAILED 7000  ValidationError:")


def test_export_writes_every_thread_as_json(
    env: None, store: Store, make_thread: ThreadFactory, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`export <dir>` writes `<root id>.json` for each stored thread, loadable as the stored model."""
    store.save_thread(make_thread(12))
    store.save_thread(make_thread(3, root_id="7000"))
    code, output, _ = command(capsys, "export", str(tmp_path / "out"))
    assert (0, f"Exported 2 thread(s) to {tmp_path / 'out'}.") == (code, output.splitlines()[-1])
    assert ["1000.json", "7000.json"] == sorted(p.name for p in (tmp_path / "out").iterdir())
    exported = Thread.model_validate_json((tmp_path / "out" / "7000.json").read_text())
    assert store.get_thread("7000") == exported


# --- secrets ------------------------------------------------------------------------------------------------
def test_config_hides_every_secret(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    """`config` says a secret is set without showing it."""
    code, output, err = command(capsys, "config")
    assert 0 == code
    assert "X_API_SECRET=(set, hidden)" in output.splitlines()
    for value in CREDENTIALS.values():
        assert value not in output + err


def test_config_hides_the_passwords_of_urls(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password in REDIS_URL, or a proxy's in X_API_BASE_URL, is masked in the configuration shown."""
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2-SECRET@redis.example:6379/0")
    monkeypatch.setenv("X_API_BASE_URL", "https://me:proxy-SECRET@proxy.example")
    _, output, err = command(capsys, "config")
    lines = output.splitlines()
    assert "REDIS_URL=redis://:***@redis.example:6379/0" in lines
    assert ("X_API_BASE_URL=https://me:***@proxy.example" in lines, "proxy-SECRET" in output + err) == (True, False)


def test_config_hides_a_url_password_holding_a_space_or_a_slash(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password pasted without percent-encoding: a space in it was shown whole by `config`; a "/" stops start-up,
    and the message hides the password (it was quoted whole)."""
    monkeypatch.setenv("REDIS_URL", "redis://:Super hunter2@redis.example:6379/0")
    _, output, err = command(capsys, "config")
    assert ("REDIS_URL=redis://:***@redis.example:6379/0" in output.splitlines(), "hunter2" in output + err) == (
        True,
        False,
    )
    monkeypatch.setenv("REDIS_URL", "redis://:pa/hunter2@redis.example:6379/0")
    code, output, err = command(capsys, "config")
    assert (2, False) == (code, "hunter2" in output + err or '"pa"' in output + err)


def test_config_hides_a_redis_password_given_in_the_query_string(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """redis-py takes REDIS_URL's password as ?password=… too: masked there as well, and scrubbed from logs."""
    monkeypatch.setenv("REDIS_URL", "redis://redis.example:6379/0?password=hunter2-SECRET&socket_timeout=5")
    _, output, err = command(capsys, "config")
    assert "REDIS_URL=redis://redis.example:6379/0?password=***&socket_timeout=5" in output.splitlines()
    assert "hunter2-SECRET" not in output + err
    assert "hunter2-SECRET" in load_settings(_env_file=None).secrets()


@pytest.mark.slow
@pytest.mark.parametrize("args", [("config",), ("doctor",), ("requests",), ("run", "--once")])
def test_no_secret_in_any_output_at_debug_level(bot_env: dict[str, str], args: tuple[str, ...]) -> None:  # noqa: F811
    """With UNROLL_LOG_LEVEL=DEBUG (tweepy, requests-oauthlib and urllib3 included) no secret value is written."""
    result = bot({**bot_env, "UNROLL_LOG_LEVEL": "DEBUG"}, *args)
    text = result.stdout + result.stderr
    for value in CREDENTIALS.values():
        assert value not in text
    if args[0] in ("doctor", "run"):
        assert "Making API request" in text  # tweepy's DEBUG lines were written, and scrubbed


def test_export_reports_a_thread_that_fails_and_writes_the_others(
    env: None, store: Store, make_thread: ThreadFactory, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A stored thread that no longer loads is named; every other thread is still exported; exit 1."""
    store.save_thread(make_thread(12))
    store.save_thread(make_thread(3, root_id="7000"))
    store.redis.set(store.key("thread", "7000"), '{"root_id": "7000"}')  # written by an older, different model
    code, output, _ = command(capsys, "export", str(tmp_path / "out"))
    assert 1 == code
    assert ["1000.json"] == [p.name for p in (tmp_path / "out").iterdir()]
    assert output.rstrip().splitlines()[-1].startswith("FAILED 7000  ValidationError:")


def test_config_prints_values_the_way_the_environment_takes_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`config` output can be pasted into a .env: lists comma-separated, booleans true/false, unset empty."""
    monkeypatch.setenv("UNROLL_KEYWORDS", "unroll,#unroll")
    monkeypatch.setenv("UNROLL_DRY_RUN", "true")
    monkeypatch.delenv("UNROLL_BOT_HANDLE", raising=False)
    assert 0 == main(["config"])
    lines = capsys.readouterr().out.splitlines()
    assert "UNROLL_KEYWORDS=unroll,#unroll" in lines
    assert "UNROLL_DRY_RUN=true" in lines
    assert "UNROLL_BOT_HANDLE=" in lines


def test_operator_opt_out_and_opt_in(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """`opt-out @handle` removes the author's threads for good; `opt-in` lets them be unrolled again. A handle X
    knows no account by, with no thread stored (a typo, most likely: it said "opted out" and exited 0), is still
    opted out, but the command exits 1 saying to check it; again, it says it was opted out already. An opt-in of
    an author who was not opted out says there was nothing to lift."""
    code, output, err = command(capsys, "opt-out", "@Writer")
    assert (1, True) == (code, store.is_opted_out("writer"))
    assert ["@Writer opted out: 0 thread(s) removed; their threads will not be unrolled again."] == output.splitlines()
    assert "X knows no account @Writer and no thread of theirs is stored: check the handle" in err
    code, output, _ = command(capsys, "opt-out", "@Writer")
    assert (0, True) == (code, output.startswith("@Writer opted out (already opted out): 0 thread(s) removed"))
    code, output, _ = command(capsys, "opt-in", "writer")
    assert (0, False) == (code, store.is_opted_out("writer"))
    assert "@writer may be unrolled again (removed pages stay removed)." == output.strip()
    code, output, _ = command(capsys, "opt-in", "writer")
    assert (0, "@writer was not opted out: nothing to lift.") == (code, output.strip())


def test_an_opt_out_while_x_cannot_be_asked_holds_by_handle_and_says_to_run_it_again(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """X down (or rate limited) when the operator opts an author out: the opt-out holds by handle, and the
    command says X was not asked and exits 75 to run it again (it said the handle was nobody's and exited 0,
    and a rename later undid the opt-out)."""
    sandbox.world.add_user("writer")
    sandbox.world.inject_fault("GET", "/2/users/by/username", status=503, count=10)
    code, output, _ = command(capsys, "opt-out", "@writer")
    assert (75, True) == (code, store.is_opted_out("writer"))
    assert "X could not be asked who @writer is" in output and "run this again once X answers" in output


@pytest.mark.parametrize("named", ["https://x.com/Writer", "x.com/Writer/", "https://twitter.com/Writer?s=20"])
def test_operator_opt_out_takes_an_authors_profile_link(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str], named: str
) -> None:
    """An author's removal request often comes as a link to their profile: the handle in it is opted out."""
    sandbox.world.add_user("Writer")
    code, output, _ = command(capsys, "opt-out", named)
    assert (0, True) == (code, output.startswith("@Writer opted out"))
    assert store.is_opted_out("writer")


@pytest.mark.parametrize("named", ["@writer,", "not a handle!", "https://x.com/writer/status/1", "@" + "w" * 16, ""])
def test_operator_opt_out_of_what_is_no_handle_is_refused_and_notes_nothing(
    env: None, store: Store, capsys: pytest.CaptureFixture[str], named: str
) -> None:
    """Told "opted out" for a name that matches nobody, the operator would tell the author it is done while their
    threads go on being unrolled: the command refuses it (exit 2), saying what a handle is, and asks X nothing."""
    with pytest.raises(SystemExit) as stopped:
        main(["opt-out", named])
    assert (2, True) == (stopped.value.code, "is not an X handle" in capsys.readouterr().err)
    assert [] == store.redis.keys(store.key("opt*"))


def test_export_into_a_place_it_cannot_write_says_so_in_one_line(
    env: None, store: Store, make_thread: ThreadFactory, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A file where the folder should be (or no permission): one plain line and exit 1, not a traceback."""
    store.save_thread(make_thread(3))
    (tmp_path / "taken").write_text("a file")
    code, output, err = command(capsys, "export", str(tmp_path / "taken"))
    assert (1, False) == (code, "Traceback" in err)
    assert f"Can't export into {tmp_path / 'taken'}: it is a file, not a folder (name a folder" in output


def test_operator_opt_out_holds_by_the_authors_id(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator names a handle; the bot asks X who that is, so the opt-out outlives a new handle."""
    author = sandbox.world.add_user("renamer")

    code, output, _ = command(capsys, "opt-out", "@renamer")

    assert (0, 1) == (code, len(output.strip().splitlines()))
    assert store.is_opted_out("someone_else", author.id)
    sandbox.world.rename_user(author.id, "renamed")
    command(capsys, "opt-in", "@renamed")  # the new handle: X says who it is, the opt-out is found by id
    assert not store.is_opted_out("renamer", author.id)


def test_a_reader_closing_the_pipe_early_is_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m bot config | head -1`: the reader is gone after a line, and the command ends quietly with
    status 0 instead of a BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)
    closed = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        assert 0 == main(["config"])
    finally:
        closed.close()


def test_links_readers_cant_open_are_flagged_when_a_process_starts() -> None:
    """A process about to reply on X itself with links to this machine says so loudly (one error line naming
    PUBLIC_BASE_URL) and goes on: X may be reached through a proxy, and doctor fails it before going live."""
    on_x = load_settings(_env_file=None, x_api_base_url="https://api.x.com", **CREDENTIALS)
    public = on_x.model_copy(update={"public_base_url": "https://unroll.example.org"})

    with structlog.testing.capture_logs() as flagged:
        cli._process_settings(on_x)
    with structlog.testing.capture_logs() as quiet:
        cli._process_settings(public)

    assert [("public_links_unreachable", "error")] == [(e["event"], e["log_level"]) for e in flagged]
    assert "PUBLIC_BASE_URL is http://127.0.0.1:8000" in flagged[0]["problem"]
    assert [] == quiet


# --- a base URL that is not the X API ---------------------------------------------------------------------------
def stop_lines(stderr: str) -> tuple[list[str], list[tuple[str, int]]]:
    """The plain lines a stopping command wrote for a person, and its JSON lines' (event, exit code)."""
    plain = [line for line in stderr.splitlines() if line and not line.startswith("{")]
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{") and "exit_code" in line]
    return plain, [(line["event"], line["exit_code"]) for line in logged]


def test_a_misspelled_variable_is_logged_at_start_with_the_setting_meant(
    env: None, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """UNROLL_DRYRUN=true would post for real where the operator meant to rehearse: every command says so."""
    monkeypatch.setenv("UNROLL_DRYRUN", "true")
    code, _, err = command(capsys, "run", "--once")
    said = [json.loads(line) for line in err.splitlines() if line.startswith("{") and "unknown_setting" in line]
    assert (0, 1) == (code, len(said))
    assert ("UNROLL_DRYRUN", "UNROLL_DRY_RUN", "warning") == (
        said[0]["variable"],
        said[0]["did_you_mean"],
        said[0]["level"],
    )


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_a_misspelt_redis_url_stops_start_up_naming_both_variables(
    env: None,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    where: str,
) -> None:
    """REDIS_URI set, REDIS_URL not: the bot started an embedded Redis that had seen no mention, looked back an hour
    and answered a mention a second time, without a word. Start-up stops with 2 naming both, nothing posted."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("UNROLL_DATA_DIR", str(tmp_path / "data"))
    if where == "environment":
        monkeypatch.setenv("REDIS_URI", "redis://127.0.0.1:6379/8")
    else:
        (tmp_path / ".env").write_text("REDIS_URI=redis://127.0.0.1:6379/8\n", encoding="utf-8")
    summon(sandbox.world, post_thread(sandbox.world, 3)[-1])
    code, _, err = command(capsys, "run", "--once")
    plain, stops = stop_lines(err)
    assert (2, [("config_invalid", 2)], []) == (code, stops, sandbox.world.posted())
    assert "REDIS_URL is not set, but REDIS_URI (in " in plain[1] and "Set REDIS_URL" in plain[-1]


@pytest.mark.parametrize("name", ["REDIS_PORT", "REDIS_HOST", "REDIS_DB"])
def test_a_redis_name_set_to_no_redis_url_is_said_but_does_not_stop_start_up(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    """Another program's REDIS_PORT (or a try's) in .env is near REDIS_URL too, but holds no Redis URL: said as a name
    no setting reads, and the embedded Redis is used as REDIS_URL unset says (only a Redis URL under a wrong name
    stops start-up)."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    (tmp_path / ".env").write_text(f"{name}=6379\n", encoding="utf-8")
    code, _, err = command(capsys, "config")
    said = [json.loads(line) for line in err.splitlines() if line.startswith("{") and "unknown_setting" in line]
    assert (0, [name]) == (code, [s["variable"] for s in said])


def test_a_key_of_the_env_file_no_setting_reads_is_logged_naming_the_file(
    env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """PUBLIC_BASE_URI in .env: `config` printed PUBLIC_BASE_URL's default, and nothing said why."""
    (tmp_path / ".env").write_text("PUBLIC_BASE_URI=https://x.example\n", encoding="utf-8")
    code, _, err = command(capsys, "config")
    said = [json.loads(line) for line in err.splitlines() if line.startswith("{") and "unknown_setting" in line]
    assert (0, [("PUBLIC_BASE_URI", "PUBLIC_BASE_URL", ".env")]) == (
        code,
        [(s["variable"], s["did_you_mean"], Path(s["source"]).name) for s in said],
    )


def test_run_once_at_a_wrong_path_prefix_stops_naming_x_api_base_url(
    env: None, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """X_API_BASE_URL with a path prefix X does not have: GET /2/users/me answers 404, which X never does there;
    `run --once` exits 2 (a wrong setting) with a line naming X_API_BASE_URL and the URL tried, no traceback."""
    monkeypatch.setenv("X_API_BASE_URL", f"{sandbox.url}/prefix")
    code, _, err = command(capsys, "run", "--once")
    plain, logged = stop_lines(err)
    assert (2, [("config_invalid", 2)], False) == (code, logged, "Traceback" in err)
    assert (
        f"X_API_BASE_URL does not look like the X API: GET {sandbox.url}/prefix/2/users/me answered 404 "
        "(Sorry, that page does not exist); set X_API_BASE_URL to https://api.x.com (its default)"
    ) in plain[1]


@pytest.mark.parametrize(("status", "answer"), [(200, "200 (a body that is not the X API's JSON)"), (404, "404 (<!")])
def test_run_once_against_a_web_server_stops_naming_x_api_base_url(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], status: int, answer: str
) -> None:
    """X_API_BASE_URL at a web server that is not the X API (an HTML page, found or not): exit 2 naming
    X_API_BASE_URL, instead of a 404 traceback or, for a 200 page, waiting for an X that will never answer."""
    with web_page_server(status) as url:
        monkeypatch.setenv("X_API_BASE_URL", url)
        code, _, err = command(capsys, "run", "--once")
    plain, logged = stop_lines(err)
    assert (2, [("config_invalid", 2)]) == (code, logged)
    assert f"X_API_BASE_URL does not look like the X API: GET {url}/2/users/me answered {answer}" in plain[1]


def test_run_once_with_a_known_identity_stops_at_the_polls_404_and_leaves_the_queue(
    env: None, sandbox: SandboxServer, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bot's identity kept in Redis from an earlier run: no GET /2/users/me, so the mentions timeline is what
    answers 404. The run exits 2 naming X_API_BASE_URL, and the requests queued before stay queued (their reads
    would answer 404 too, taken for deleted threads)."""
    me = sandbox.world.me()
    assert me is not None
    store.set_identity(me.id, BOT_HANDLE)
    store.enqueue([UnrollRequest(mention_id="41", requester_id="9")])
    monkeypatch.setenv("X_API_BASE_URL", f"{sandbox.url}/prefix")
    code, _, err = command(capsys, "run", "--once")
    plain, logged = stop_lines(err)
    assert (2, [("config_invalid", 2)]) == (code, logged)
    assert f"GET {sandbox.url}/prefix/2/users/:id/mentions answered 404" in plain[1]
    queued = store.find_queued("41")
    assert (None, None) == (queued.taken_by if queued else "gone", store.handled_one("41"))


def test_a_second_bot_account_on_the_same_prefix_is_refused_naming_unroll_key_prefix(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """This Redis prefix holds another account's state (its cursor, queue, reply records): sharing it, the two
    bots would take each other's requests and one poller would poll for both, losing requests silently. The
    start stops at once, naming UNROLL_KEY_PREFIX; the same account renamed is taken as itself."""
    me = sandbox.world.me()
    assert me is not None
    store.set_identity("999", "otherbot")
    code, _, err = command(capsys, "run", "--once")
    plain, logged = stop_lines(err)
    assert (2, [("config_invalid", 2)]) == (code, logged)
    assert "holds the state of @otherbot" in plain[1] and "UNROLL_KEY_PREFIX" in plain[1]
    store.set_identity(me.id, "formername")
    assert 0 == command(capsys, "run", "--once")[0]
    assert {"id": me.id, "username": BOT_HANDLE} == store.get_identity()


# --- a refused bearer token -------------------------------------------------------------------------------------
def test_run_once_with_a_wrong_bearer_token_names_x_bearer_token(
    env: None, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """X_BEARER_TOKEN set to a token X refuses: the poll (user context) works, the first read (the app's bearer
    token) answers 401. The worker's `credentials_rejected` and the stopping line (exit 3) name X_BEARER_TOKEN,
    not the four OAuth 1.0a variables that X accepted."""
    sandbox.world.configure_credentials(
        consumer_key=CREDENTIALS["x_api_key"],
        access_token=CREDENTIALS["x_access_token"],
        bearer_token=CREDENTIALS["x_bearer_token"],
    )
    summon(sandbox.world, post_thread(sandbox.world, 3)[-1])
    monkeypatch.setenv("X_BEARER_TOKEN", "not-the-apps-bearer")
    code, _, err = command(capsys, "run", "--once")
    plain, stops = stop_lines(err)
    [rejected] = [json.loads(line) for line in err.splitlines() if '"credentials_rejected"' in line and "fix" in line]
    assert (3, [("credentials_rejected", 3)]) == (code, stops)
    assert ("GET /2/tweets", False) == (rejected["endpoint"], "X_API_KEY" in rejected["fix"] + plain[-1])
    assert rejected["fix"].startswith("check X_BEARER_TOKEN is the bearer token of the bot's app")
    assert "GET /2/tweets: 401 Unauthorized: check X_BEARER_TOKEN" in plain[-1]


def test_run_once_with_the_bearer_token_of_an_app_in_no_project_stops_with_3_naming_x_bearer_token(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """X_BEARER_TOKEN of an app attached to no Project (403 client-not-enrolled on its reads, the OAuth 1.0a keys
    fine): `run --once` exits 3 with the fix naming X_BEARER_TOKEN, the request's try unspent; it exited 75 ("run
    again later") and each run spent a try until the request was a dead letter."""
    mention = summon(sandbox.world, post_thread(sandbox.world, 3)[-1])
    sandbox.world.set_posting_rules(bearer_in_project=False)
    code, _, err = command(capsys, "run", "--once")
    plain, stops = stop_lines(err)
    assert (3, [("credentials_rejected", 3)], 0) == (code, stops, store.failures(mention))
    assert plain[-1].startswith("To fix: set X_BEARER_TOKEN to the bearer token of the app attached to the Project")


# --- a Redis that refuses REDIS_URL -----------------------------------------------------------------------------
@pytest.mark.parametrize("args", [("run", "--once"), ("requests",)])
def test_a_database_index_redis_does_not_have_stops_with_4_naming_redis_url(
    env: None,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
) -> None:
    """REDIS_URL naming database 99 of a Redis with 16: Redis answers "DB index is out of range". The command stops
    with 4, as for an unreachable Redis, in a line with Redis's own words and REDIS_URL, not a traceback."""
    url = redis_url(redis_client, 99)
    monkeypatch.setenv("REDIS_URL", url)
    code, _, err = command(capsys, *args)
    plain, stops = stop_lines(err)
    assert (4, [("redis_refused", 4)], False) == (code, stops, "Traceback" in err), err[-2000:]
    assert "Redis refuses REDIS_URL: DB index is out of range" == plain[-2]
    assert plain[-1].startswith(f"Check REDIS_URL ({url}): the password (and user) it gives")


@pytest.mark.parametrize("where", ["a_file", "a_file/inside"])
@pytest.mark.usefixtures("env")
def test_a_data_dir_that_cannot_hold_the_embedded_redis_stops_start_up_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    """REDIS_URL unset and UNROLL_DATA_DIR a file, or a folder under one: start-up stops with exit 2 and a line
    naming UNROLL_DATA_DIR and what to do (it was a Python traceback, exit 1)."""
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("UNROLL_DATA_DIR", str(tmp_path / where))
    code, _, err = command(capsys, "run", "--once")
    assert 2 == code
    assert f"UNROLL_DATA_DIR {tmp_path / where} can't hold the embedded Redis" in err and "Traceback" not in err


def test_cron_runs_leave_no_consumer_behind_in_the_group(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each `run --once` reads the stream as a consumer of its own (named by its process): holding nothing at its
    end, it is forgotten, where a cron deployment left one a run in the group, forever."""
    thread = post_thread(sandbox.world, 3)
    summon(sandbox.world, thread[-1])
    assert (0, 0) == (command(capsys, "run", "--once")[0], command(capsys, "run", "--once")[0])
    assert 1 == len(sandbox.world.posted())
    assert [] == store.redis.xinfo_consumers(store.stream, "workers")


def test_run_once_that_dead_letters_a_request_exits_1_saying_what_to_do(
    env: None, sandbox: SandboxServer, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request that kept failing (lookups answering 503, one attempt allowed) went to the dead letters and the run
    exited 0, as if all was answered: it exits 1, saying how to see and requeue it. The next run, with nothing new
    dead-lettered, exits 0."""
    monkeypatch.setenv("UNROLL_MAX_ATTEMPTS", "1")
    mention = summon(sandbox.world, post_thread(sandbox.world, 3)[-1])
    sandbox.world.inject_fault("GET", "/2/tweets", status=503, count=10_000)
    code, _, err = command(capsys, "run", "--once")
    plain, _ = stop_lines(err)
    assert (1, [mention]) == (code, [letter["mention_id"] for letter in store.dead_letters()])
    assert plain[-1].startswith("1 request(s) went to the dead letters, having failed UNROLL_MAX_ATTEMPTS=1 attempt")
    assert "python -m bot dead-letters --requeue" in plain[-1] and [] == sandbox.world.posted()
    assert 0 == command(capsys, "run", "--once")[0]


def test_run_once_says_a_request_another_worker_holds_is_held_there_not_waiting_for_a_rate_limit(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request another worker (or a run still going, or killed) has taken: `run --once` exits 75 saying it is
    held there and when it is taken over if that one stopped. It said the request waited "for a rate-limit window's
    reset or a retry", naming no window (a clean-room run with overlapping cron runs)."""
    summon(sandbox.world, post_thread(sandbox.world, 3)[-1])
    bot = make_bot(load_settings(), store)
    poll_once(bot)
    taken, _ = store.take("another-run", 60_000, count=1)
    code, _, err = command(capsys, "run", "--once")
    plain, _ = stop_lines(err)
    assert (75, 1, []) == (code, len(taken), sandbox.world.posted())
    assert plain[-1].startswith(
        "1 request(s) held by another worker or run (if it stopped, they are taken over after "
        "UNROLL_VISIBILITY_TIMEOUT=60s); nothing was lost, run again later."
    ), plain


def test_run_once_leaving_requests_for_a_spent_window_says_which_and_until_when(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recent search's window spent for 15 minutes: `run --once` exits 75 naming the endpoint, its reset and why,
    where it said only "a rate-limit window's reset or a retry" (a 24-hour cap is not mended by the next run)."""
    summon(sandbox.world, post_thread(sandbox.world, 3)[-1])
    sandbox.world.inject_fault("GET", "/2/tweets/search/recent", status=429, reset_in=900)
    code, _, err = command(capsys, "run", "--once")
    plain, _ = stop_lines(err)
    reset = store.endpoint_blocked(shared_endpoint(load_settings().x_api_base_url, "GET /2/tweets/search/recent"))
    assert 75 == code and reset is not None and [] == sandbox.world.posted()
    assert plain[-1].startswith(
        "1 request(s) wait for a rate-limit window's reset or a retry (GET /2/tweets/search/recent is spent until "
        f"{reset.isoformat(timespec='seconds')} (X's 15-minute rate limit)); nothing was lost, run again later."
    ), plain


def test_run_once_polled_into_x_s_usage_cap_says_what_mends_it(
    env: None, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mentions timeline answering 429 usage-capped: `run --once` exits 75 (nothing lost) and, as no wait mends a
    usage cap, says to add credits or raise the spending limit, where it said only "run again later"."""
    me = sandbox.world.me()
    assert me is not None
    sandbox.world.inject_fault("GET", f"/2/users/{me.id}/mentions", usage_capped=True)
    code, _, err = command(capsys, "run", "--once")
    plain, _ = stop_lines(err)
    assert 75 == code and "usage cap" in plain[0]
    assert plain[-1].startswith("To fix: X's usage cap is reached: add credits or raise the spending limit")


# --- X refusing the app, or a call, for good ----------------------------------------------------------------------
def test_an_app_attached_to_no_project_stops_start_up_with_3_and_the_fix(
    env: None, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """X answers every endpoint of an app attached to no Project 403 client-not-enrolled: start-up stops with 3,
    one plain line saying what to fix and its log line, not a traceback and exit 1 (a crash loop under a process
    manager, each start spending a GET /2/users/me)."""
    sandbox.world.set_posting_rules(in_project=False)
    code, _, err = command(capsys, "run", "--once")
    plain, logged = stop_lines(err)
    assert (3, [("credentials_rejected", 3)], False) == (code, logged, "Traceback" in err)
    assert "GET /2/users/me: 403" in plain[0] and "attached to a Project" in plain[-1]


def test_a_call_x_refuses_for_good_stops_run_once_with_76_and_x_s_words(
    env: None, sandbox: SandboxServer, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mentions timeline answering 400 (a parameter X refuses): `run --once` says so in X's words and exits
    76, the cursor where it was, not a traceback and exit 1 that a cron wrapper can't read."""
    me = sandbox.world.me()
    assert me is not None
    assert 0 == command(capsys, "run", "--once")[0]
    cursor = store.get_cursor()
    sandbox.world.inject_fault("GET", f"/2/users/{me.id}/mentions", status=400)
    code, _, err = command(capsys, "run", "--once")
    plain, logged = stop_lines(err)
    assert (76, [("x_api_refused", 76)], False) == (code, logged, "Traceback" in err)
    assert plain[0].startswith("The X API refused a call: GET /2/users/:id/mentions: 400")
    assert cursor == store.get_cursor()
