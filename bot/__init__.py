"""unroll-bot: mention the bot under an X thread, get the thread back as one clean page."""

__version__ = "0.1.0"
