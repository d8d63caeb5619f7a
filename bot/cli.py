"""What each command of `python -m bot` does, over the settings read once by `bot.__main__`."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar, get_args

import structlog

from bot import audit, spending
from bot.compliance import comply_once
from bot.doctor import run_doctor
from bot.errors import EX_TEMPFAIL
from bot.models import Outcome, Thread
from bot.poller import above
from bot.processes import (
    build_when_ready,
    consumer_name,
    cron_within_grace,
    in_thread,
    lanes,
    run_poller,
    run_worker,
    stop_on_signals,
    wait_for,
)
from bot.runtime import Bot, build
from bot.store import Store
from bot.xapi import XApi, shared_endpoint
from config.settings import Settings, env_name, redacted_value

log = structlog.get_logger(__name__)
T = TypeVar("T")
COMPLY_WAIT_STEP = 5.0  # seconds between two looks at X's compliance jobs under `comply --wait`
SKIPPED = {
    "api_error": "X refused or failed a call (see the log line compliance_failed); the next check tries again",
    "unsupported": "X_API_BASE_URL serves no batch compliance jobs; the next round tries again",
    "another_process": "another process is running a compliance check right now",
    "refused": "X refused a call (see the log line compliance_refused and its fix); the next round tries again",
    "no_bearer_token": "set X_BEARER_TOKEN",
}


def out(text: str = "") -> None:
    """Command output (tables, configuration) goes to stdout; logs go to stderr."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def progress(items: Sequence[T], label: str) -> Iterator[T]:
    """The items one by one: a progress bar on a terminal (stderr), else a plain line at every tenth and the end."""
    total = len(items)
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, desc=label, total=total, file=sys.stderr)
        return
    step = max(total // 10, 1)
    for done, item in enumerate(items, 1):
        yield item
        if done % step == 0 or done == total:
            out(f"{label}: {done}/{total}")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command.replace("-", "_")
    handler = globals()[f"cmd_{command}"]
    return int(handler(args, settings))


def _process_settings(settings: Settings) -> None:
    if not settings.dry_run:
        settings.require_credentials()
    problem = settings.unreachable_links()
    if problem:  # said loudly, not fatal: X may be reached through a proxy, and doctor fails it before going live
        log.error("public_links_unreachable", problem=problem)


def start(settings: Settings) -> tuple[Bot | None, threading.Event]:
    """A long-running process's start: its settings checked (missing credentials stop it at once), then
    `connect`."""
    _process_settings(settings)
    return connect(settings)


def connect(settings: Settings) -> tuple[Bot | None, threading.Event]:
    """Signals turned into a stop event, then the bot once Redis and X answer (None when stopped before that)."""
    stop = threading.Event()
    stop_on_signals(stop)
    return build_when_ready(settings, stop), stop


def loops(bot: Bot, stop: threading.Event, workers: list[Bot]) -> list[threading.Thread]:
    """The poller and a worker (its `lanes`), each in a thread of this process, until `stop` is set."""
    return [in_thread(run_poller, bot, stop, name="poller"), in_thread(run_worker, workers, stop, name="worker")]


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if args.once:
        _process_settings(settings)
        once = build(settings)
        # SIGTERM / SIGINT (a cron's timeout, Ctrl-C): the request at hand is finished or left to the next run at
        # once (not held until its claim's timeout), and no other is begun; what is left makes it exit 75.
        stop_on_signals(once.stopping)
        ran = cron_within_grace(once)
        if ran is None:  # stopped, and the request in hand still in a call to X after the grace: left to the next run
            sys.stderr.write("Stopped during a call to X; the request in hand is left to the next run.\n")
            return EX_TEMPFAIL
        log.info(
            "run_once_done",
            finished=ran.finished,
            waiting=ran.waiting,
            poll_failed=ran.poll_failed is not None,
            dead_lettered=ran.dead_lettered,
        )
        if ran.dead_lettered:
            # Exit 1 whatever else waits: no later run answers these unless the operator requeues them.
            sys.stderr.write(
                f"{ran.dead_lettered} request(s) went to the dead letters, having failed "
                f"UNROLL_MAX_ATTEMPTS={settings.max_attempts} attempt(s): `python -m bot dead-letters` shows why; "
                "once the cause is mended, `python -m bot dead-letters --requeue`.\n"
            )
            return 1
        if ran.poll_failed is not None:
            raise ran.poll_failed  # exit 75: X could not be polled; what was queued was worked through
        if ran.waiting or ran.gaps or ran.paging:
            waits = []
            mine = ran.waiting - ran.elsewhere
            if mine and ran.stopped:
                waits.append(f"{mine} request(s) left to the next run (this run was stopped)")
            elif mine:
                # Which windows hold them and until when: a 24-hour cap is not mended by the next cron run.
                held = "; ".join(spent_now(once.store, settings))
                waits.append(
                    f"{mine} request(s) wait for a rate-limit window's reset or a retry"
                    + (f" ({held})" if held else "")
                )
            if ran.elsewhere:
                waits.append(
                    f"{ran.elsewhere} request(s) held by another worker or run (if it stopped, they are taken over "
                    f"after UNROLL_VISIBILITY_TIMEOUT={settings.visibility_timeout:g}s)"
                )
            if ran.gaps:
                waits.append(f"mentions beyond the timeline's reach wait for recent search ({ran.gaps} range(s))")
            if ran.paging:
                waits.append("older mentions wait to be read: the timeline failed part-way down its pages")
            sys.stderr.write(f"{'; '.join(waits)}; nothing was lost, run again later.\n")
            return EX_TEMPFAIL
        return 0
    if args.no_web:
        bot, stop = start(settings)
        if bot is None:
            return 0
        workers = lanes(bot)
        return 0 if wait_for(stop, loops(bot, stop, workers), workers) else EX_TEMPFAIL
    from bot.web import listen, serve

    _process_settings(settings)
    with listen(settings) as sock:  # the port first: a taken one stops the process before it takes any request
        bot, stop = connect(settings)
        if bot is None:
            return 0
        workers = lanes(bot)
        threads = loops(bot, stop, workers)
        try:
            serve(settings, bot.store, sock)  # blocks until SIGTERM / Ctrl-C
        finally:  # however the server ended, the worker leaves what it holds as it does on SIGTERM
            stop.set()
            stopped = wait_for(stop, threads, workers)
    return 0 if stopped else EX_TEMPFAIL


def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    bot, stop = start(settings)
    if bot is not None:
        run_poller(bot, stop)
    return 0


def cmd_work(args: argparse.Namespace, settings: Settings) -> int:
    bot, stop = start(settings)
    if bot is None:
        return 0
    workers = lanes(bot)
    worker = in_thread(run_worker, workers, stop, args.consumer or consumer_name(), name="worker")
    return 0 if wait_for(stop, [worker], workers) else EX_TEMPFAIL  # 75: a request was left mid-call


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from bot.web import serve

    # uvicorn shuts down on SIGTERM, then raises the signal again for the handler it found: Python's default would
    # kill the process there, before its exit handlers stop the embedded Redis (left running, orphaned).
    stop_on_signals(threading.Event())
    serve(settings, Store.from_settings(settings))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo

    return run_demo(settings, serve=not args.no_serve, port=args.port)


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from bot.sandbox.server import serve

    serve("127.0.0.1", args.port, None if args.seed == "none" else args.seed)
    return 0


def cmd_requests(args: argparse.Namespace, settings: Settings) -> int:
    store = Store.from_settings(settings)
    try:
        since = audit.parse_since(args.since) if args.since else None
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    # Filters apply after reading, so read generously when filtering.
    fetch = args.limit if not (args.outcome or args.user) else max(args.limit * 20, 1000)
    records = audit.select(store.handled(limit=fetch, since=since), outcome=args.outcome, user=args.user)
    records = records[: args.limit]
    known = get_args(Outcome)
    if not records and args.outcome and args.outcome.split(":")[0] not in known:
        sys.stderr.write(f'No outcome is called "{args.outcome}": the outcomes are {", ".join(known)}.\n')
        return 2  # a misspelt filter is a wrong argument, not "no such requests"
    if args.json:
        for record in records:
            out(record.model_dump_json())
    else:
        out(audit.table(records))
        dead = store.dead_count()
        if dead:
            out(f"\n{dead} request(s) in the dead-letter stream: `python -m bot dead-letters` lists them.")
        out(f"\n{spending.spent_today(store, settings).summary()}")
    return 0


def cmd_request(args: argparse.Namespace, settings: Settings) -> int:
    store = Store.from_settings(settings)
    mention = args.mention_id
    record = store.handled_one(mention)
    reply = store.reply_record(mention)
    if record is not None:
        out(audit.story(record))
    elif (queued := store.find_queued(mention)) is not None:
        # The claim's idle time is no age: a request left for later has it set to when another may take it over.
        age = time.time() - int(queued.entry_id.split("-")[0]) / 1000
        holder = "not taken yet"
        if queued.taken_by:
            wait = settings.visibility_timeout - queued.idle_s
            free = f"another worker may take it over in {wait:.0f} s" if wait >= 1 else "any worker may take it now"
            holder = f"held by {queued.taken_by} ({free})"
        begun, kept = store.tries(mention)
        out(
            f"mention {mention} is queued, not handled yet: entry {queued.entry_id}, queued {age:.0f} s ago, "
            f"{holder}, delivered "
            f"{queued.deliveries} time(s), {begun} attempt(s) begun, {store.failures(mention)} failed attempt(s) "
            f"of {settings.max_attempts}" + (", what they read kept for the next" if kept else "")
        )
        for line in waits(store, settings, mention):
            out(line)
    elif letter := next((d for d in store.dead_letters() if d.get("mention_id") == mention), None):
        out(
            f"mention {mention} is a dead letter after {letter.get('attempts', '?')} attempts, at "
            f"{letter.get('at', '?')}: {letter.get('error', '')}\n"
            "fix the cause, then `python -m bot dead-letters --requeue`"
        )
    elif reply is not None:  # handled, its audit record dropped since (the log keeps the newest only)
        out(
            f"mention {mention} was handled, but its audit record is no longer kept (the audit log holds the last "
            f"UNROLL_HANDLED_LOG_SIZE={settings.handled_log_size}); its request_handled line is in the logs"
        )
    else:
        sys.stderr.write(f"No request for mention {mention}: it was never queued. {never_queued(mention, store)}\n")
        return 1
    if reply is not None:
        out(f"reply record  {reply.state} {reply.reply_id or ''} at {reply.at.isoformat()}")
    return 0


# Why an endpoint is spent, as a process noted it (`RateLimited.reason`), in the words of `request <id>`.
BLOCKED_WHY = {
    "": "X's rate limit",
    "window": "X's 15-minute rate limit",
    "daily": "X's 24-hour cap",
    "usage_cap": "X's usage cap: the app's credits or its spending limit, in the Developer Console; asked again in "
    "15 minutes",
    "unknown": "X's rate limit, no reset given",
}


def waits(store: Store, settings: Settings, mention: str) -> Iterator[str]:
    """What a queued request waits for, as far as Redis tells: its next try after a failed attempt, X's windows a
    process found spent (a 15-minute window, or a 24-hour cap: any the request needs holds it until then, each worker
    taking it asks X nothing meanwhile), today's budget."""
    if (retry := store.retry_at(mention)) is not None:
        yield f"waits     its next try, after a failed attempt, not before {retry.isoformat(timespec='seconds')}"
    for spent in spent_now(store, settings):
        held = "" if spent.startswith("today's") else ": a request that needs it waits until then"
        yield f"waits     {spent}{held}"


def spent_now(store: Store, settings: Settings) -> Iterator[str]:
    """What holds requests back now, as far as Redis tells: X's endpoints a process found spent (this API's, not an
    earlier base URL's), each with its reset and why, then today's budget when it is spent."""
    for shared, (until, reason) in sorted(store.blocked_endpoints().items(), key=lambda item: item[1]):
        endpoint = shared.split(" at ")[0]
        if shared_endpoint(settings.x_api_base_url, endpoint) == shared:
            yield (
                f"{endpoint} is spent until {until.isoformat(timespec='seconds')} "
                f"({BLOCKED_WHY.get(reason, BLOCKED_WHY[''])})"
            )
    if settings.daily_budget and spending.over_budget(store, settings):
        yield (
            f"today's budget (UNROLL_DAILY_BUDGET={settings.daily_budget:g}) is spent until "
            f"{spending.next_day().isoformat(timespec='seconds')} (UNROLL_OVER_BUDGET={settings.over_budget})"
        )


def never_queued(mention: str, store: Store) -> str:
    """Why a mention may have no request, by where the poll cursor stands: a poll has read past it, or not yet."""
    asked_nothing = (
        "it has no keyword (mentions that ask for nothing are not recorded; the ones ignored for another reason "
        "are, with the reason)"
    )
    cursor, paging = store.get_cursor(), store.paging_gap()
    if paging is not None and mention.isdigit() and above(paging.since) < int(mention) < int(paging.until):
        return (
            f"It is among the mentions the last poll could not page down to (X's timeline failed part-way, see "
            f"`mentions_paging_failed` in the log): the next poll reads them, from {paging.until} down."
        )
    if cursor is not None and mention.isdigit() and int(mention) <= int(cursor):  # snowflakes: later is larger
        return (
            f"The poll cursor ({cursor}) is past it, so no poll will read it: either {asked_nothing}, or it was "
            "beyond the reach of X's mentions timeline (the latest 800) when polled and recent search did not find "
            "it either (see `mentions_beyond_reach` in the log), or older than UNROLL_LOOKBACK at the bot's very "
            "first poll."
        )
    return f"Either {asked_nothing}, or no poll has reached it yet (`python -m bot doctor` shows the last poll)."


def cmd_dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    store = Store.from_settings(settings)
    if args.requeue:
        letters = store.dead_letters()
        for letter in progress(letters, "re-queue"):
            store.requeue_one(letter)
            log.info("dead_letter_requeued", mention_id=letter["mention_id"])
        out(f"Re-queued {len(letters)} request(s).")
        return 0
    letters = store.dead_letters()
    for letter in letters:
        out(
            f"{letter['mention_id']}  attempts={letter.get('attempts', '?')}  at={letter.get('at', '?')}  "
            f"error={letter.get('error', '')}"
        )
    if not letters:
        out("(no dead letters)")
    return 0


def env_value(value: object) -> str:
    """A setting written the way its environment variable takes it (lists comma-separated, unset empty)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    data = settings.model_dump(mode="json")
    secret = {"x_api_key", "x_api_secret", "x_access_token", "x_access_token_secret", "x_bearer_token"}
    for field, value in data.items():
        if field in secret:
            shown = "(set, hidden)" if value else "(not set)"
        elif field in ("redis_url", "x_api_base_url", "public_base_url") and value:
            shown = redacted_value(str(value))
        else:
            shown = env_value(value)
        out(f"{env_name(field)}={shown}")
    missing = settings.missing_credentials()
    if missing and not settings.dry_run:
        out(f"\n# missing credentials: {', '.join(missing)} (needed to post; or set UNROLL_DRY_RUN=true)")
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    return run_doctor(settings, out)


def cmd_rerender(args: argparse.Namespace, settings: Settings) -> int:
    """Render every stored thread in every format, to find the ones that no longer render."""
    from bot import renderer
    from bot.site import Site

    store = Store.from_settings(settings)
    site, latest = Site.of(settings, store.get_identity()), store.latest(settings.latest_size)

    def render(thread: Thread) -> None:
        renderer.render_html(thread, site=site, latest=latest)
        for fmt in (renderer.render_txt, renderer.render_md, renderer.render_json):
            fmt(thread, site=site)

    ids = store.all_thread_ids()
    failed = _each_thread(store, ids, "rerender", render)
    out(f"Rendered {len(ids) - len(failed)} of {len(ids)} thread(s).")
    return _report(failed)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write every stored thread as `<root id>.json` (the stored model, lossless) into a folder."""
    store = Store.from_settings(settings)
    folder = Path(args.dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file there, a folder not writable, no such parent
        why = "it is a file, not a folder (name a folder: it is made if missing)" if folder.is_file() else None
        out(f"Can't export into {folder}: {why or exc.strerror or exc}.")
        return 1

    def export(thread: Thread) -> None:
        (folder / f"{thread.root_id}.json").write_text(thread.model_dump_json(indent=2) + "\n", encoding="utf-8")

    ids = store.all_thread_ids()
    failed = _each_thread(store, ids, "export", export)
    out(f"Exported {len(ids) - len(failed)} thread(s) to {folder}.")
    return _report(failed)


def _each_thread(store: Store, ids: list[str], label: str, action: Callable[[Thread], None]) -> list[tuple[str, str]]:
    """Load each stored thread and act on it, with progress; returns the (root id, error) of those that failed."""
    failed: list[tuple[str, str]] = []
    for root_id in progress(ids, label):
        try:
            thread = store.get_thread(root_id)
            if thread is None:
                raise LookupError("listed among the latest threads but not stored")
            action(thread)
        except Exception as exc:  # one broken thread must not stop the others
            first_line = (str(exc).splitlines() or [""])[0]
            failed.append((root_id, f"{type(exc).__name__}: {first_line}"))
            log.warning(f"{label}_failed", root_id=root_id, error=f"{type(exc).__name__}: {exc}")
    return failed


def _report(failed: list[tuple[str, str]]) -> int:
    for root_id, error in failed:
        out(f"FAILED {root_id}  {error}")
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bench import run_bench

    return run_bench(settings, out, quick=args.quick, as_json=args.json, only=args.only)


def cmd_comply(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the compliance jobs that finished and start a round when none is in flight, whatever the interval;
    with --wait, check again every few seconds until X's jobs are done or the time is up."""
    if settings.x_bearer_token is None:
        out("Compliance jobs take app-only auth: set X_BEARER_TOKEN (the bearer token of the bot's app).")
        return 2
    bot = build(settings)
    deadline = time.monotonic() + max(args.wait, 0.0)
    tally = comply_once(bot, force=True)
    done = [tally]
    while tally.in_flight and not tally.skipped and time.monotonic() < deadline:
        time.sleep(min(COMPLY_WAIT_STEP, max(deadline - time.monotonic(), 0.0)))
        tally = comply_once(bot, start=False)  # this round's jobs only: no new round once they are applied
        done.append(tally)
    for kind, count in done[0].started.items():
        out(f"compliance job started for {count} stored {'post' if kind == 'tweets' else 'author'} id(s)")
    events = sum(t.events for t in done)
    if events or not tally.in_flight:
        out(
            f"compliance: {events} event(s) from X; {sum(t.posts_removed for t in done)} post(s) removed from "
            f"{sum(t.threads_trimmed for t in done)} thread(s), {sum(t.quotes_hidden for t in done)} quote(s) "
            f"hidden, {sum(t.threads_removed for t in done)} thread(s) withdrawn"
        )
    if tally.skipped:
        out(f"compliance not done: {SKIPPED[tally.skipped]}")
        return EX_TEMPFAIL if tally.skipped in ("api_error", "unsupported", "another_process", "refused") else 0
    if tally.in_flight:
        out(
            f"X is still working on the {' and '.join(tally.in_flight)} job(s): the poll process applies them "
            "when done, or run this again (--wait N to wait here)."
        )
    return 0


def cmd_opt_out(args: argparse.Namespace, settings: Settings) -> int:
    handle = args.handle  # (`x_handle`)
    user_id, failed = _user_id(settings, handle)
    store = Store.from_settings(settings)
    already = store.is_opted_out(handle, user_id)
    removed = store.opt_out(handle, user_id)
    log.info("author_opted_out", author=handle, user_id=user_id, removed=removed, by="operator", already=already)
    said = " (already opted out)" if already else ""
    out(f"@{handle} opted out{said}: {len(removed)} thread(s) removed; their threads will not be unrolled again.")
    if user_id is None and not failed and not removed and not already:
        # A handle X knows no account by, with nothing stored: most likely mistyped.
        sys.stderr.write(
            f"X knows no account @{handle} and no thread of theirs is stored: check the handle (the opt-out is "
            "noted all the same; `opt-in` lifts it).\n"
        )
        return 1
    if failed:
        # X was not asked who this is: held by handle only, a rename would undo it. Run again to hold it by id too.
        out(f"(X could not be asked who @{handle} is ({failed}): the opt-out holds for the handle and the threads")
        out(" stored, not yet across a rename; run this again once X answers.)")
        return EX_TEMPFAIL
    if user_id is None:
        out("(X did not say who that handle is now: the opt-out holds for the handle and the threads stored.)")
    return 0


def _user_id(settings: Settings, handle: str) -> tuple[str | None, str]:
    """The account's numeric id by its handle, so an opt-out outlives a rename (None when X has no account by
    it), and why X could not be asked ('' when it answered)."""
    try:
        user = XApi(settings).user(handle)
    except Exception as exc:  # no credentials, X away, a refusal: the opt-out by handle must still be noted
        log.warning("opt_out_user_unknown", author=handle, error=f"{type(exc).__name__}: {exc}")
        return None, f"{type(exc).__name__}: {exc}"
    return (user.id if user else None), ""


def cmd_opt_in(args: argparse.Namespace, settings: Settings) -> int:
    handle = args.handle  # (`x_handle`)
    user_id, failed = _user_id(settings, handle)  # an opt-out made under a former handle is found by the id
    lifted = Store.from_settings(settings).opt_in(handle, user_id)
    log.info("author_opted_in", author=handle, user_id=user_id, by="operator", lifted=lifted)
    if lifted:
        out(f"@{handle} may be unrolled again (removed pages stay removed).")
    else:
        out(f"@{handle} was not opted out: nothing to lift.")
    if failed:
        out(f"(X could not be asked who @{handle} is ({failed}): an opt-out made under a former handle of theirs")
        out(" still holds; run this again once X answers.)")
        return EX_TEMPFAIL
    return 0
