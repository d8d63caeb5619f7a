"""`python -m bot bench --quick` end to end: it completes and prints every row of its table (never a timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.benchbudget import ORDER
from bot.benchtable import Goal, Row, json_report, table

# Every measure of issue 8, as the table names it (the figures in the names, such as a page's size, vary).
ROWS = [
    "cost · new 12-post thread: requests / mention",
    "cost · new 12-post thread: posts read / mention",
    "cost · new 12-post thread: US$ / 1,000 mentions",
    "cost · new 250-post thread: requests / mention",
    "cost · new 250-post thread: posts read / mention",
    "cost · new 250-post thread: US$ / 1,000 mentions",
    "cost · unrolled before, since continued: requests / mention",
    "cost · unrolled before, since continued: posts read / mention",
    "cost · unrolled before, since continued: US$ / 1,000 mentions",
    "cost · 10 mentions of one thread, one poll: requests / mention",
    "cost · 10 mentions of one thread, one poll: posts read / mention",
    "cost · 10 mentions of one thread, one poll: US$ / 1,000 mentions",
    "cost · older than the search window: requests / mention",
    "cost · older than the search window: posts read / mention",
    "cost · older than the search window: US$ / 1,000 mentions",
    "cost · whole mix: US$ / 1,000 mentions",
    "overhead · mentions / s, one worker (4 at a time), a backlog of 20",
    "overhead · the same, one mention at a time",
    "overhead · one at a time, less the bot's time in Redis",
    "overhead · the bot's time in Redis per mention",
    "latency · mention → reply, p50",
    "latency · mention → reply, p99",
    "latency · bot's own time, share of the total",
    "pages · 12-post thread",
    "pages · 250-post thread",
    "memory · worker peak RSS after 300 mentions",
    "memory · Redis bytes per stored 12-post thread",
    "memory · Redis bytes per stored 250-post thread",
    "scale · mentions / s, 1 worker (",
    "scale · mentions / s, 2 workers",
    "scale · mentions / s, 4 workers",
    "scale · mentions / s, 1 worker, 4 at a time",
]
PAGE_ROWS = ("requests / s", "p99", "render, uncached")


def bench(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot bench --quick` as its own process; of the environment only REDIS_URL counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "UNROLL_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "bench", "--quick", *options],
        env=env,
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


@pytest.mark.slow
def test_quick_bench_prints_every_row_of_the_table(tmp_path: Path) -> None:
    """Every measure gets its row in the table and the run ends with status 0."""
    result = bench(tmp_path)

    assert 0 == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    measures = [line.split("|")[1].strip() for line in result.stdout.splitlines() if line.startswith("| ")][1:]
    for expected in ROWS:
        wanted = len(PAGE_ROWS) if expected.startswith("pages") else 1
        assert wanted == sum(m.startswith(expected) for m in measures), f"{expected!r} in {measures}"
    assert len(ROWS) + 2 * (len(PAGE_ROWS) - 1) == len(measures)
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| ")]
    cells = {row[1].strip(): row[2].split() for row in rows}
    in_redis = cells["overhead · the bot's time in Redis per mention"]
    assert "ms" == in_redis[1] and float(in_redis[0]) > 0  # the timed client saw the bot's store at work


def test_only_runs_the_measures_named(tmp_path: Path) -> None:
    """`--only cost` prints the cost rows and nothing else; an unknown measure is refused, naming the known ones."""
    result = bench(tmp_path, "--only", "cost", "--json")

    assert 0 == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    measures = [row["measure"] for row in report["rows"]]
    assert measures and all(m.startswith("cost · ") for m in measures)
    assert (["cost"], "quick, only cost") == (list(report["measure_seconds"]), report["mode"])

    refused = bench(tmp_path, "--only", "speed,nope")
    assert 2 == refused.returncode
    assert "unknown measure 'nope'; one of cost, speed, pages, memory, scale, budget" in refused.stderr


def test_budget_runs_only_when_named_and_its_sections_add_up(tmp_path: Path) -> None:
    """`--only budget` times the bot section by section: a row per section, each taking some of the bot's time
    (every part was really timed), adding up to the total; the floor has its HTTP and its rest."""
    result = bench(tmp_path, "--only", "budget", "--json")

    assert 0 == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {row["measure"].removeprefix("budget · "): row for row in json.loads(result.stdout)["rows"]}
    total = rows.pop("per poll + mention, every section")
    assert set(ORDER) == set(rows)
    assert [] == [name for name, row in rows.items() if not row["value"] > 0]
    assert sum(row["value"] for row in rows.values()) == pytest.approx(total["value"])
    floor = [row["baseline"] for row in rows.values() if row["baseline"] is not None]
    assert (2, pytest.approx(total["baseline"])) == (len(floor), sum(floor))


def test_table_and_json_hold_every_row() -> None:
    """The table has a line per row under its header; the JSON report has the same rows with their ratios."""
    rows = [Row("a", 2.0, 1.0, "ms", Goal("<=", 1.0)), Row("b", 3.0, None)]

    lines = table(rows).splitlines()
    report = json.loads(json_report(rows, {"mode": "quick"}))

    assert ["measure", "a", "b"] == [line.split("|")[1].strip() for line in lines if not line.startswith("|-")]
    assert [2.0, None] == [row["ratio"] for row in report["rows"]]
    assert [False, None] == [row["met"] for row in report["rows"]]
