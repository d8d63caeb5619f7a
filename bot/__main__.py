"""The command line: `python -m bot <command>` (or `unroll-bot <command>`).

Process commands (the Procfile's): `run` (poller, worker and web in one process; `--once` for cron),
`poll`, `work`, `web`. Operator commands: `requests`, `request`, `dead-letters`, `rerender`, `export`, `comply`,
`config`, `doctor`. Rehearsal: `demo` and `sandbox`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import redis
import structlog

from bot.errors import (
    EX_OSERR,
    EX_PROTOCOL,
    EX_TEMPFAIL,
    ApiError,
    ApiUnavailable,
    AuthFailed,
    ConfigError,
    PortUnavailable,
    RateLimited,
    StoreRefused,
    StoreUnavailable,
)
from bot.handles import at_least_one, post_id, x_handle
from config.logging import configure_logging
from config.settings import Settings, load_settings
from config.unknown import redis_url_misspelt, unknown_variables

log = structlog.get_logger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="unroll-bot", description="An X bot that unrolls threads into pages.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="poller, worker and web in one process (the small deployment)")
    run.add_argument("--once", action="store_true", help="poll once, drain the queue, exit (for cron and tests)")
    run.add_argument("--no-web", action="store_true", help="don't serve pages from this process")
    sub.add_parser("poll", help="poll mentions on the schedule and queue the requests")
    work = sub.add_parser("work", help="handle queued requests until stopped")
    work.add_argument("--consumer", help="consumer name in the group (default: host and pid)")
    sub.add_parser("web", help="serve the pages")
    demo = sub.add_parser("demo", help="run the bot end to end on the sandbox and the embedded Redis")
    demo.add_argument("--no-serve", action="store_true", help="exit after printing the replies")
    demo.add_argument("--port", type=int, default=None, help="port for the pages (default PORT)")
    sandbox = sub.add_parser("sandbox", help="serve the X API v2 sandbox for rehearsals")
    sandbox.add_argument("--port", type=int, default=8081)
    sandbox.add_argument("--seed", choices=["none", "demo"], default="demo", help="sample data to load")
    reqs = sub.add_parser("requests", help="list recent handled requests, newest first")
    reqs.add_argument("--outcome", help="only this outcome (e.g. replied, not_found, ignored)")
    reqs.add_argument("--user", type=x_handle, help="only this requester's handle (@alice, or a profile link)")
    reqs.add_argument("--since", help="only since this ISO time or a duration like 2h, 30m, 7d")
    reqs.add_argument("--limit", type=at_least_one, default=50, help="at most this many (default 50)")
    reqs.add_argument("--json", action="store_true", help="one JSON object per line")
    one = sub.add_parser("request", help="show one handled request's whole story")
    one.add_argument("mention_id", type=post_id, help="the mention's id, or its link (a log line's mention_url)")
    dead = sub.add_parser("dead-letters", help="list requests that kept failing")
    dead.add_argument("--requeue", action="store_true", help="put them back on the work stream")
    sub.add_parser("rerender", help="render every stored thread in every format and report the ones that fail")
    export = sub.add_parser("export", help="write every stored thread as a JSON file into a folder")
    export.add_argument("dir", help="the folder to write <root id>.json files into (created if missing)")
    opt_out = sub.add_parser("opt-out", help="remove an author's threads for good (their pages answer 410)")
    opt_out.add_argument("handle", type=x_handle, help="@handle, or the author's profile link")
    opt_in = sub.add_parser("opt-in", help="lift an author's opt-out: their threads may be unrolled again")
    opt_in.add_argument("handle", type=x_handle, help="@handle, or the author's profile link")
    comply = sub.add_parser(
        "comply", help="check now that stored threads follow X: posts deleted, authors protected or suspended"
    )
    comply.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for X's jobs to finish (default: don't wait)"
    )
    sub.add_parser("config", help="print the effective configuration, secrets masked")
    sub.add_parser("doctor", help="check credentials, handle, Redis, the public URL and the rate-limit budget")
    bench = sub.add_parser("bench", help="measure cost and speed against their floors, as ratios")
    bench.add_argument("--quick", action="store_true", help="a small, fast run (what the tests use)")
    bench.add_argument("--json", action="store_true", help="the figures as JSON")
    bench.add_argument(
        "--only",
        type=_measures,
        metavar="MEASURE[,MEASURE]",
        help="run only these measures: cost, speed (overhead and latency), pages, memory, scale; budget (where the "
        "bot's time per mention goes, section by section) runs only when named",
    )
    return p


def _measures(value: str) -> list[str]:
    """`--only`'s value: known measure names, comma-separated."""
    from bot.bench import MEASURE_NAMES

    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in MEASURE_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown measure {', '.join(unknown) or value!r}; one of {', '.join(MEASURE_NAMES)}"
        )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"Configuration error:\n{exc}\n")
        return 2
    configure_logging(settings)
    unknown = unknown_variables(os.environ)
    for name, meant, where in unknown:
        log.warning(
            "unknown_setting", variable=name, did_you_mean=meant or None, source=where, fix="no setting reads it"
        )
    misspelt = redis_url_misspelt(unknown, settings, os.environ)
    if misspelt and args.command not in ("demo", "sandbox"):  # (the demo's Redis is always its own; no sandbox's)
        return fatal(f"Configuration error:\n{misspelt}", 2, "config_invalid")
    from bot import cli  # the commands' code; imported after logging is set up

    try:
        return cli.dispatch(args, settings)
    except ConfigError as exc:
        return fatal(f"Configuration error:\n{exc}", 2, "config_invalid")
    except PortUnavailable as exc:
        return fatal(str(exc), EX_OSERR, "port_unavailable")
    except AuthFailed as exc:
        fix = "" if exc.fix in str(exc) else f"\nTo fix: {exc.fix}."  # (a 401's message names it already)
        return fatal(f"The X API refused the credentials: {exc}{fix}", 3, "credentials_rejected")
    except (StoreUnavailable, redis.RedisError) as exc:
        code = redis_stop(exc, settings)
        if code is None:  # neither unreachable nor refusing: a bug's error, with its traceback
            raise
        return code
    except (ApiUnavailable, RateLimited) as exc:
        # Nothing was lost (requests stay on the stream, the cursor where it was): cron may simply run again.
        said = f"The X API could not be used now ({exc}); nothing was lost, run again later."
        if isinstance(exc, RateLimited) and exc.reason == "usage_cap":  # no wait mends it
            said += "\nTo fix: X's usage cap is reached: add credits or raise the spending limit (Developer Console)."
        return fatal(said, EX_TEMPFAIL, "x_api_unavailable", level="warning")
    except ApiError as exc:
        # X refused a call for good (a 400 or 403 the bot's own calls never meet, a 404): said in X's words, the
        # traceback spared; nothing was lost (the cursor and the requests are where they were).
        said = f"The X API refused a call: {exc}\nNothing was lost; `python -m bot doctor` checks the app's access."
        return fatal(said, EX_PROTOCOL, "x_api_refused")
    except BrokenPipeError:  # `python -m bot requests | head`: the reader is gone, which is no error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's own flush at exit stays quiet
        return 0
    except KeyboardInterrupt:
        return 130


def redis_stop(exc: StoreUnavailable | redis.RedisError, settings: Settings) -> int | None:
    """Stop with 4 when Redis is unreachable or refuses REDIS_URL (a password, a database index: Redis's own words
    said); None for any other Redis error."""
    from bot.store.base import REFUSED_FIX, refusal
    from config.settings import redacted_value

    refused = exc if isinstance(exc, StoreRefused) else refusal(exc) if isinstance(exc, redis.RedisError) else None
    if refused is not None:
        where = redacted_value(settings.redis_url) if settings.redis_url else "the embedded Redis"
        return fatal(f"{refused}\nCheck REDIS_URL ({where}): {REFUSED_FIX}.", 4, "redis_refused")
    if not isinstance(exc, StoreUnavailable | redis.ConnectionError | redis.TimeoutError):
        return None
    said = str(exc) if isinstance(exc, StoreUnavailable) else f"Redis is not reachable: {exc}"
    return fatal(f"{said}\nCheck REDIS_URL (unset it to use the embedded Redis).", 4, "redis_unreachable")


def fatal(message: str, code: int, event: str, *, level: str = "error") -> int:
    """Say why the command stops: one plain line for a person on stderr, and one log line (JSON when
    UNROLL_LOG_FORMAT=json) for the log pipeline; returns the exit status."""
    sys.stderr.write(message + "\n")
    getattr(log, level)(event, error=message, exit_code=code)
    return code


if __name__ == "__main__":
    sys.exit(main())
