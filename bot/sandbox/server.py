"""`SandboxServer`: the fake X API on 127.0.0.1, in a background thread or in the foreground.

Tests start it on a free port and point the bot's `X_API_BASE_URL` at `server.url`; `server.world`
changes the world directly, `SandboxClient(server.url)` does the same from another process.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import Receive, Scope, Send

from bot.sandbox.api import ApiApp
from bot.sandbox.compliance import STORAGE, StorageApp
from bot.sandbox.control import control_app
from bot.sandbox.samples import BOT_USERNAME, ensure_bot, load_samples
from bot.sandbox.world import World

START_TIMEOUT = 10.0


class SandboxApp:
    """/_sandbox/… goes to the control interface, /_storage/… to the compliance jobs' storage, everything else to
    the fake X API."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.api = ApiApp(world)
        self.control = control_app(world)
        self.storage = StorageApp(world)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].startswith("/_sandbox/"):
            await self.control(scope, receive, send)
        elif scope["path"].startswith(STORAGE):
            await self.storage(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def _config(world: World, host: str, port: int) -> uvicorn.Config:
    # h11, because dropping a connection reaches into its transport; no websockets, no lifespan.
    return uvicorn.Config(
        SandboxApp(world),
        host=host,
        port=port,
        http="h11",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket; TCP_NODELAY so keep-alive responses are not held back by delayed ACKs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


class SandboxServer:
    """The sandbox served by uvicorn from a daemon thread; `port=0` picks a free port."""

    def __init__(self, port: int = 0, latency: float = 0.0, world: World | None = None) -> None:
        self.world = world or World()
        self.world.set_latency(latency)
        self._port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """The base URL to use instead of https://api.x.com, e.g. http://127.0.0.1:54321."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SandboxServer:
        """Bind, serve from a background thread and return once requests are answered."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        sock = _bind("127.0.0.1", self._port)
        self._socket = sock
        server = uvicorn.Server(_config(self.world, "127.0.0.1", self._port))
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="x-api-sandbox"
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox did not start on 127.0.0.1:{self._port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def serve(host: str = "127.0.0.1", port: int = 8081, seed: str | None = None, *, bot: str = BOT_USERNAME) -> None:
    """Run the sandbox in the foreground until interrupted (Ctrl-C).

    The bot's account `@bot` always exists; `seed` names sample data to load as well: a comma-separated
    list of `bot.sandbox.samples.SAMPLES` names, or `all` / `demo` for every sample with an unroll
    request under each thread.
    """
    world = World()
    ensure_bot(world, bot)
    if seed:
        load_samples(world, seed)
    sock = _bind(host, port)
    try:
        uvicorn.Server(_config(world, host, port)).run(sockets=[sock])
    finally:
        sock.close()
