"""Injected faults: the next N requests to an endpoint fail, stall or lose their connection."""

from __future__ import annotations

from dataclasses import replace

from bot.sandbox.model import Fault


class FaultQueue:
    """Pending faults, first match wins, each used up after `count` requests."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if (
            fault.status is None
            and not fault.drop
            and fault.delay <= 0
            and not fault.usage_capped
            and not fault.empty_page
            and not fault.errors_only
            and not fault.truncate
            and fault.drip <= 0
            and not fault.malformed
            and not fault.no_users
        ):
            raise ValueError(
                "a fault needs a status, a delay, drop=True, usage_capped=True, empty_page=True, errors_only=True, "
                "truncate=True, malformed=True or a drip (seconds)"
            )
        if fault.malformed and (fault.status is not None or fault.drop or fault.truncate or fault.drip > 0):
            raise ValueError("malformed=True sends half the endpoint's own answer: no status, drop, truncate or drip")
        if fault.truncate and (fault.status is not None or fault.drop):
            raise ValueError("truncate=True cuts the endpoint's own answer in half: give no status, no drop")
        if fault.drip < 0 or (fault.drip > 0 and (fault.status is not None or fault.drop or fault.truncate)):
            raise ValueError(
                f"drip sends the endpoint's own answer slowly over that many seconds (0 or more, got {fault.drip}): "
                "give no status, no drop, no truncate"
            )
        if fault.empty_page and (fault.status is not None or fault.drop or fault.usage_capped):
            raise ValueError("empty_page=True answers an empty page that goes on: give no status, drop or usage_capped")
        if fault.usage_capped and (fault.status is not None or fault.drop):
            raise ValueError("usage_capped=True answers X's own 429 usage-capped problem: give no status, no drop")
        if fault.skip < 0:
            raise ValueError(f"skip lets that many requests through first: 0 or more, got {fault.skip}")
        if fault.count < 1:
            raise ValueError(f"a fault must apply to at least 1 request, got count={fault.count}")
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise ValueError(f"a fault status must be an HTTP error (400-599), got {fault.status}")
        if fault.after and (not fault.drop or fault.status is not None):
            raise ValueError("after=True drops the answer of a request that was handled: it needs drop=True, no status")
        self._pending.append(fault)

    def pending(self) -> tuple[Fault, ...]:
        """The faults not used up yet, first match first."""
        return tuple(self._pending)

    def clear(self) -> None:
        self._pending.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching `method` (or `*`) and a prefix of `path`, counted down by one."""
        for index, fault in enumerate(self._pending):
            if fault.method in (method, "*") and path.startswith(fault.path_prefix):
                if fault.skip > 0:  # this one goes through, untouched by any fault
                    self._pending[index] = replace(fault, skip=fault.skip - 1)
                    return None
                if fault.count <= 1:
                    del self._pending[index]
                else:
                    self._pending[index] = replace(fault, count=fault.count - 1)
                return fault
        return None

    def __len__(self) -> int:
        return len(self._pending)
