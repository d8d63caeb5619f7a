"""End to end through the bot's own processes: `python -m bot run --once` and `python -m bot web`, with the
sandbox over HTTP and a real Redis (REDIS_URL when set, else the embedded one the processes start on disk)."""

from __future__ import annotations

import html
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from bot.sandbox import SandboxServer
from bot.sandbox.samples import REFERENCE_THREAD, add_unroll_request, load_long_thread, load_reference_thread
from bot.worker import SHORT_WAIT
from tests.conftest import BOT_HANDLE, CREDENTIALS
from tests.helpers import servers_on

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bot_env(sandbox: SandboxServer, prefix: str, tmp_path: Path) -> dict[str, str]:
    """The environment an operator would set: everything through env vars, nothing else."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "UNROLL_"))}
    env.update({name.upper(): value for name, value in CREDENTIALS.items()})
    env.update(
        X_API_BASE_URL=sandbox.url,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PORT=str(port),
        UNROLL_KEY_PREFIX=prefix,
        UNROLL_DATA_DIR=str(tmp_path / "data"),
        UNROLL_BOT_HANDLE=BOT_HANDLE,
        UNROLL_LOG_FORMAT="json",
        UNROLL_SEARCH_LAG="0",  # the sandbox's search shows a post at once
    )
    return env


def bot(env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run one bot command as its own process, from the project folder."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=tmp_cwd(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tmp_cwd(env: dict[str, str]) -> str:
    """A working directory without a .env, so only the given environment counts."""
    return str(Path(env["UNROLL_DATA_DIR"]).parent)


@contextmanager
def started(
    env: dict[str, str], args: list[str], log: Path, out: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A bot command running as its own process from the project folder, its stderr in `log` (its stdout in `out`,
    when given); killed at the end of the block if it is still running."""
    with log.open("w") as sink, out.open("w") if out else open(os.devnull, "w") as said:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], env=env, cwd=tmp_cwd(env), stdout=said, stderr=sink
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def serving(env: dict[str, str], log: Path) -> str:
    """The web process's address, once it answers /healthz (ready, or up with Redis away); fails the test if it
    does not within 30 s."""
    base = env["PUBLIC_BASE_URL"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                return base
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail(f"web process did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def web(bot_env: dict[str, str]) -> Iterator[str]:
    """The web process (`python -m bot web`), until the test ends."""
    log = Path(tmp_cwd(bot_env)) / "web.log"
    with started(bot_env, ["web"], log) as proc:
        yield serving(bot_env, log)
        proc.terminate()
        proc.wait(timeout=15)


class Posts(HTMLParser):
    """The paragraphs' text of each post of a thread page (`<div class="post">`, permalink left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.post_depth = 0
        self.in_paragraph = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if self.post_depth:
            if tag == "div":
                self.post_depth += 1
            if tag == "p":
                self.in_paragraph += 1
                self.texts[-1] += " "
        elif tag == "div" and "post" in classes:
            self.post_depth = 1
            self.texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if self.post_depth and tag == "div":
            self.post_depth -= 1
        if self.in_paragraph and tag == "p":
            self.in_paragraph -= 1

    def handle_data(self, data: str) -> None:
        if self.in_paragraph:
            self.texts[-1] += data


def normalized(text: str) -> str:
    return " ".join(text.split())


def visible_text(page: str) -> str:
    """The page's text without its tags, white space folded."""
    return normalized(html.unescape(re.sub(r"<[^>]+>", " ", page.split("<body", 1)[-1])))


@pytest.mark.slow
def test_mention_under_a_12_tweet_thread_gets_one_reply_with_a_page_of_the_12_tweets(
    sandbox: SandboxServer, bot_env: dict[str, str], web: str
) -> None:
    """The summon under the last tweet is answered once, in its conversation, with a link to the whole thread."""
    other = load_long_thread(sandbox.world)
    other_mention = add_unroll_request(sandbox.world, other.last_id, bot=BOT_HANDLE)
    thread = load_reference_thread(sandbox.world)
    mention = add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE)
    chatter = sandbox.world.add_tweet("curious_reader", f"@{BOT_HANDLE} nice bot", reply_to=thread.root_id)

    first = bot(bot_env, "run", "--once")
    assert 0 == first.returncode, first.stderr[-3000:]

    posted = {p.in_reply_to_tweet_id: p for p in sandbox.world.posted()}
    assert 2 == len(sandbox.world.posted())
    assert {mention.id, other_mention.id} == set(posted)
    link = f"{web}/thread/{thread.root_id}"
    assert f"Hi @curious_reader, here is the thread unrolled: {link}" == posted[mention.id].text
    assert chatter.id not in posted

    page = requests.get(link, timeout=10)
    assert 200 == page.status_code
    parser = Posts()
    parser.feed(page.text)
    assert [normalized(t) for t in REFERENCE_THREAD] == [normalized(t) for t in parser.texts]
    text = visible_text(page.text)
    assert "You can follow @LahibHigel" in text
    assert f"mention @{BOT_HANDLE}" in text and "“unroll”" in text
    assert "Latest threads unrolled" in text
    assert f'href="/thread/{other.root_id}"' in page.text

    second = bot(bot_env, "run", "--once")
    assert 0 == second.returncode, second.stderr[-3000:]
    assert 2 == len(sandbox.world.posted())

    listing = bot(bot_env, "requests")
    assert 0 == listing.returncode, listing.stderr[-3000:]
    assert mention.id in listing.stdout and "replied" in listing.stdout


@pytest.mark.slow
def test_mention_without_the_keyword_gets_no_reply(sandbox: SandboxServer, bot_env: dict[str, str]) -> None:
    """Mentioning the bot without asking for an unroll is not a request."""
    thread = load_reference_thread(sandbox.world)
    add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE, text=f"@{BOT_HANDLE} what a thread")

    result = bot(bot_env, "run", "--once")

    assert 0 == result.returncode, result.stderr[-3000:]
    assert [] == sandbox.world.posted()
    assert '"poll_done"' in result.stderr and '"queued": 0' in result.stderr


def test_invalid_configuration_stops_start_up_naming_the_variable(bot_env: dict[str, str]) -> None:
    """A wrong value never starts the bot; the message names the variable and what it got."""
    result = bot({**bot_env, "UNROLL_POLL_INTERVAL": "ten"}, "run", "--once", timeout=30)
    assert 2 == result.returncode
    assert 'UNROLL_POLL_INTERVAL must be a positive number of seconds up to 86400 (a day), got "ten"' in result.stderr


@pytest.mark.parametrize(
    ("outage", "status", "says"),
    [
        ("x", 75, "The X API could not be used now (GET /2/users/me: ConnectionError); nothing was lost"),
        ("429", 75, "GET /2/users/me: 429 Too Many Requests); nothing was lost, run again later"),
        ("redis", 4, "Check REDIS_URL (unset it to use the embedded Redis)"),
    ],
)
def test_a_cron_run_during_an_outage_says_so_in_one_line(
    sandbox: SandboxServer, bot_env: dict[str, str], outage: str, status: int, says: str
) -> None:
    """`run --once` (cron) while X or Redis is away, or X's window is spent: one line saying so and an exit
    status to retry on (75, sysexits' temporary failure; 4 for Redis), no traceback, nothing posted."""
    env = dict(bot_env, UNROLL_HTTP_TIMEOUT="2")
    if outage == "x":
        env["X_API_BASE_URL"] = f"http://127.0.0.1:{free_port()}"
    elif outage == "redis":
        env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    else:
        sandbox.world.inject_fault("GET", "/2/users/me", status=429, reset_in=60)
    result = bot(env, "run", "--once", timeout=60)
    assert (status, True, False, []) == (
        result.returncode,
        says in result.stderr,
        "Traceback" in result.stderr,
        sandbox.world.posted(),
    ), result.stderr[-2000:]
    # …and, with UNROLL_LOG_FORMAT=json, a JSON line for the log pipeline that says the same
    stops = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{") and "exit_code" in line]
    assert [status] == [line["exit_code"] for line in stops], result.stderr[-2000:]


@pytest.mark.slow
def test_a_cron_run_says_run_again_while_requests_wait_and_answers_them_even_when_the_poll_fails(
    sandbox: SandboxServer, bot_env: dict[str, str]
) -> None:
    """Search's window spent: `run --once` leaves the request queued and exits 75 ("run again later"), not 0.
    The next run, whose poll X refuses with 503s, still answers the request queued before, then exits 75."""
    env = dict(bot_env, UNROLL_VISIBILITY_TIMEOUT="1")
    thread = load_reference_thread(sandbox.world)
    mention = add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE)
    # Longer than a worker waits in place, with room for the process's start-up on a busy machine and the reset
    # header's whole seconds: the request is left for the next run.
    sandbox.world.inject_fault("GET", "/2/tweets/search/recent", status=429, reset_in=SHORT_WAIT + 5)

    spent = bot(env, "run", "--once")

    assert (75, []) == (spent.returncode, sandbox.world.posted()), spent.stderr[-3000:]
    assert "1 request(s) wait for a rate-limit window's reset or a retry" in spent.stderr
    time.sleep(SHORT_WAIT + 5.5)  # the window's reset, and the first run's claim gone idle
    me = sandbox.world.me().id
    sandbox.world.inject_fault("GET", f"/2/users/{me}/mentions", status=503, count=10)

    polled_not = bot(env, "run", "--once")

    assert 75 == polled_not.returncode, polled_not.stderr[-3000:]
    assert [mention.id] == [p.in_reply_to_tweet_id for p in sandbox.world.posted()]
    assert "Traceback" not in polled_not.stderr


def test_a_cron_run_says_run_again_while_mentions_beyond_the_timelines_reach_wait_for_search(
    sandbox: SandboxServer, bot_env: dict[str, str]
) -> None:
    """850 summons since the last run, and recent search down: the 800 the timeline gives are answered (dry run),
    the 50 older wait for search, and `run --once` exits 75 saying so; the next run, search back, answers them
    and exits 0."""
    env = dict(bot_env, UNROLL_DRY_RUN="true", UNROLL_REQUESTER_LIMIT="0")
    thread = load_reference_thread(sandbox.world)
    assert 0 == bot(env, "run", "--once").returncode  # the cursor
    for _ in range(850):
        add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE)
    sandbox.world.inject_fault("GET", "/2/tweets/search/recent", status=503, count=3)

    first = bot(env, "run", "--once")

    assert 75 == first.returncode, first.stderr[-3000:]
    assert "mentions beyond the timeline's reach wait for recent search (1 range(s)); nothing was lost" in first.stderr
    sandbox.world.clear_faults()
    assert 0 == bot(env, "run", "--once").returncode


def test_a_cron_run_says_run_again_while_mentions_wait_to_be_paged_down_to(
    sandbox: SandboxServer, bot_env: dict[str, str]
) -> None:
    """150 summons since the last run, the timeline failing on their second page: the newest 100 are answered (dry
    run), `run --once` exits 75 saying older mentions wait; the next run reads only those 50 and exits 0."""
    env = dict(bot_env, UNROLL_DRY_RUN="true", UNROLL_REQUESTER_LIMIT="0")
    thread = load_reference_thread(sandbox.world)
    assert 0 == bot(env, "run", "--once").returncode  # the cursor
    for _ in range(150):
        add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE)
    me = sandbox.world.find_user(BOT_HANDLE)
    assert me is not None
    sandbox.world.inject_fault("GET", f"/2/users/{me.id}/mentions", status=503, skip=1)

    first = bot(env, "run", "--once")

    assert 75 == first.returncode, first.stderr[-3000:]
    assert "older mentions wait to be read: the timeline failed part-way down its pages" in first.stderr
    assert 0 == bot(env, "run", "--once").returncode
    listing = bot(env, "requests", "--limit", "1000", "--json").stdout.splitlines()
    assert 150 == len({json.loads(line)["mention_id"] for line in listing})


@pytest.mark.slow
def test_a_web_process_stopped_by_sigterm_exits_0_and_stops_its_embedded_redis(bot_env: dict[str, str]) -> None:
    """`python -m bot web` on the embedded Redis, after serving pages on several connections, gets SIGTERM (as a
    platform stops it): it exits 0 and its redis-server with it. (uvicorn hands the signal back to Python's default
    handler once it has shut down, which killed the process before its exit handlers ran: the server stayed,
    orphaned, one per data dir.)"""
    env = {k: v for k, v in bot_env.items() if k != "REDIS_URL"}
    data_dir = Path(env["UNROLL_DATA_DIR"])
    log = Path(tmp_cwd(env)) / "web-embedded.log"
    with started(env, ["web"], log) as proc:
        base = serving(env, log)
        sessions = [requests.Session() for _ in range(4)]
        assert all(session.get(f"{base}/", timeout=5).ok for session in sessions)
        running = servers_on(data_dir)
        assert len(running) == 1, log.read_text()[-2000:]
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=25)
    assert 0 == code, log.read_text()[-2000:]
    left = servers_left(data_dir)
    assert set() == left


def servers_left(data_dir: Path) -> set[int]:
    """The embedded redis-servers of `data_dir` still running 10 s after their process stopped; each is stopped
    then, not to leave one behind when the test fails."""
    deadline = time.monotonic() + 10
    while servers_on(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = servers_on(data_dir)
    for pid in left:
        os.kill(pid, signal.SIGTERM)
    return left


@pytest.mark.slow
def test_the_demo_stopped_by_sigterm_while_serving_exits_0_and_stops_its_embedded_redis(
    bot_env: dict[str, str],
) -> None:
    """`scripts/demo` serves its pages until stopped: SIGTERM ends it as Ctrl-C does, its redis-server with it (the
    default handler ended the process before its exit handlers ran, and left the server orphaned)."""
    env = {k: v for k, v in bot_env.items() if k != "REDIS_URL"}
    data_dir = Path(env["UNROLL_DATA_DIR"])
    log, out = Path(tmp_cwd(env)) / "demo.log", Path(tmp_cwd(env)) / "demo.out"
    with started(env, ["demo"], log, out) as proc:
        deadline = time.monotonic() + 90
        while "Serving the pages" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        running = servers_on(data_dir)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=25)
    left = servers_left(data_dir)
    assert (1, 0, set()) == (len(running), code, left), log.read_text()[-2000:]


@pytest.mark.parametrize("command", [["run", "--once"], ["run"], ["poll"], ["work"]])
def test_missing_credentials_are_named_at_start_up(bot_env: dict[str, str], command: list[str]) -> None:
    """Without the OAuth credentials no process starts; each says which ones are missing."""
    env = {k: v for k, v in bot_env.items() if k not in ("X_API_SECRET", "X_ACCESS_TOKEN_SECRET")}
    result = bot(env, *command, timeout=30)
    assert 2 == result.returncode
    assert "X_API_SECRET is missing" in result.stderr
    assert "X_ACCESS_TOKEN_SECRET is missing" in result.stderr


@pytest.mark.slow
def test_a_cron_run_stopped_while_a_summon_waits_for_search_leaves_it_to_the_next_run_at_once(
    sandbox: SandboxServer, bot_env: dict[str, str]
) -> None:
    """`run --once` gets SIGTERM (a cron's timeout) while a fresh summon waits for X's search lag: it exits 75
    at once, the request left ("request_left_at_shutdown"), not held by its claim; the next run answers it."""
    thread = load_reference_thread(sandbox.world)
    mention = add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE)
    log = Path(tmp_cwd(bot_env)) / "once.log"
    with started(dict(bot_env, UNROLL_SEARCH_LAG="60"), ["run", "--once"], log) as proc:
        deadline = time.monotonic() + 30
        while "request_waits_for_search_index" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    said = log.read_text()
    assert (75, True, []) == (code, "request_left_at_shutdown" in said, sandbox.world.posted()), said[-2000:]
    # Said as what it is, not as a wait for "a rate-limit window's reset or a retry" (a clean-room run's finding).
    assert "1 request(s) left to the next run (this run was stopped); nothing was lost" in said, said[-2000:]
    assert "stopping while waiting for search to show the posts made before the summon" in said  # not "the reply"
    assert 0 == bot(bot_env, "run", "--once").returncode
    assert [mention.id] == [p.in_reply_to_tweet_id for p in sandbox.world.posted()]


@pytest.mark.slow
@pytest.mark.parametrize("command", [["work"], ["poll"], ["run", "--no-web"]])
def test_sigterm_stops_a_process_promptly_and_cleanly(
    sandbox: SandboxServer, bot_env: dict[str, str], command: list[str]
) -> None:
    """Procfile platforms send SIGTERM: the process finishes what it holds and exits 0 within the grace period."""
    log = Path(tmp_cwd(bot_env)) / "proc.log"
    with started(bot_env, command, log) as proc:
        deadline = time.monotonic() + 30
        while '_started"' not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert '_started"' in log.read_text(), log.read_text()[-2000:]
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=25)
    assert 0 == code, log.read_text()[-2000:]
    assert '"shutdown_requested"' in log.read_text()


def test_the_demo_on_a_terminal_keeps_the_bots_log_lines_in_a_file(bot_env: dict[str, str]) -> None:
    """Run on a terminal, the demo's replies and links were buried among some twenty long log lines: the log lines
    go to a file in the demo's folder, which the demo names; on a pipe (CI, a test) they stay on stderr."""
    env = {k: v for k, v in bot_env.items() if k != "REDIS_URL"}
    terminal, stderr = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "demo", "--no-serve"],
            env=env,
            cwd=tmp_cwd(env),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(stderr)
        said = b""
        while select.select([terminal], [], [], 0.2)[0]:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # (the terminal's other end closed: all was read)
                break
            if not chunk:
                break
            said += chunk
    finally:
        os.close(terminal)
    logs = Path(env["UNROLL_DATA_DIR"]) / "demo" / "demo.log"
    assert 0 == done.returncode, done.stdout[-2000:]
    assert f"The bot's log lines go to {logs}." in done.stdout
    assert (True, False) == ("request_handled" in logs.read_text(), b"request_handled" in said)
    # The replies listed in the order the readers summoned, however the worker's lanes happened to answer them.
    mentions = [int(m) for m in re.findall(r"^Reply \d+ to mention (\d+):", done.stdout, re.MULTILINE)]
    assert (5, sorted(mentions)) == (len(mentions), mentions)
