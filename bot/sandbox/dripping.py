"""An answer that keeps coming, too slowly: the sandbox's `drip` fault, for the API and the compliance storage alike."""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.types import Send

DRIP_PIECES = 20  # a dripping answer's body comes in this many pieces


async def drip(send: Send, reply: Response, seconds: float) -> None:
    """Send the answer's head at once, then its body in `DRIP_PIECES` pieces, one every `seconds / DRIP_PIECES`:
    an answer that keeps coming, too slowly. It stops when the client gives up (no server task left dripping)."""
    await send({"type": "http.response.start", "status": reply.status_code, "headers": reply.raw_headers})
    body = reply.body
    size = max(1, -(-len(body) // DRIP_PIECES))
    cycle = getattr(send, "__self__", None)  # uvicorn's h11 cycle behind `send`: it knows when the client is gone
    for start in range(0, len(body), size):
        await asyncio.sleep(seconds / DRIP_PIECES)
        if getattr(cycle, "disconnected", False):
            return
        await send({"type": "http.response.body", "body": body[start : start + size], "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
