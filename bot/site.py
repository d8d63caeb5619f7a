"""The site that serves the pages: its public address, the bot's handle and keyword, and the links within it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from config.settings import Settings


@dataclass(frozen=True)
class Site:
    """Who serves the pages: the public address, the bot's handle and the keyword that summons it."""

    base_url: str
    bot_handle: str | None = None
    keyword: str = "unroll"
    show_withheld: bool = False  # UNROLL_SHOW_WITHHELD: withheld posts in full rather than a note

    @classmethod
    def of(cls, settings: Settings, identity: Mapping[str, str] | None = None) -> Site:
        """The site as configured; the bot's handle as X knows it (`identity`) wins over the configured one."""
        handle = (identity or {}).get("username") or settings.bot_handle
        return cls(settings.public_base_url.rstrip("/"), handle, settings.keywords[0], settings.show_withheld)

    def path(self, path: str) -> str:
        """A link within the site, below the public address's own path (for a site served under a prefix)."""
        return urlsplit(self.base_url).path.rstrip("/") + path

    def thread_path(self, root_id: str, suffix: str = "") -> str:
        return self.path(f"/thread/{quote(root_id, safe='')}{suffix}")

    def link(self, root_id: str) -> str:
        return f"{self.base_url}/thread/{quote(root_id, safe='')}"
