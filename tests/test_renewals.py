"""Renewals from the process's one renewal thread: on time while a block runs, never after it."""

from __future__ import annotations

import threading
import time

from structlog.testing import capture_logs

from bot.store.renewals import Renewer


def test_a_renewal_runs_while_its_block_runs_and_never_after() -> None:
    renewer, runs = Renewer(tick=0.01), []
    with renewer.keep(0.05, lambda: runs.append(time.monotonic())):
        time.sleep(0.3)
    ended = time.monotonic()
    time.sleep(0.15)
    assert len(runs) >= 2
    assert all(run < ended for run in runs)


def test_blocks_renew_independently_each_at_its_own_period() -> None:
    renewer, fast, slow = Renewer(tick=0.01), [], []
    with renewer.keep(0.03, lambda: fast.append(1)), renewer.keep(0.2, lambda: slow.append(1)):
        time.sleep(0.3)
    assert len(fast) > len(slow) >= 1


def test_a_failing_action_is_logged_and_tried_again_and_the_others_still_run() -> None:
    renewer, runs = Renewer(tick=0.01), []

    def broken() -> None:
        raise ConnectionError("Redis went away")

    with capture_logs() as logs, renewer.keep(0.03, broken, lambda: runs.append(1)):
        time.sleep(0.2)
    failures = [e for e in logs if e["event"] == "renewal_failed"]
    assert len(failures) >= 2 and len(runs) == len(failures)


def test_leaving_a_block_waits_for_its_renewal_in_progress() -> None:
    renewer, started, finished = Renewer(tick=0.01), threading.Event(), []

    def slow() -> None:
        started.set()
        time.sleep(0.1)
        finished.append(time.monotonic())

    with renewer.keep(0.02, slow):
        started.wait(1)
    left = time.monotonic()
    assert finished and finished[0] <= left
