"""The X API v2 sandbox: a real HTTP server on 127.0.0.1 that behaves like X for the bot's endpoints.

server   = SandboxServer().start()      # uvicorn in a thread, on a free port
server.world.add_user("unrollbot", me=True)
client   = SandboxClient(server.url)    # the same world operations over /_sandbox/…
"""

from bot.sandbox.client import SandboxClient, SandboxError
from bot.sandbox.model import LinkPage, MediaSpec, PollSpec, Posted, Stats, TweetRef, UserRef, Variant
from bot.sandbox.server import SandboxServer, serve
from bot.sandbox.world import World

__all__ = [
    "LinkPage",
    "MediaSpec",
    "PollSpec",
    "Posted",
    "SandboxClient",
    "SandboxError",
    "SandboxServer",
    "Stats",
    "TweetRef",
    "UserRef",
    "Variant",
    "World",
    "serve",
]
