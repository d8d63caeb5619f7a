"""The benchmark's figures: a row per measure (value, baseline, ratio, goal), printed as one table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

GoalKind = Literal["<=", ">=", "ideal"]
COLUMNS = ("measure", "value", "baseline", "ratio", "goal")


@dataclass(frozen=True)
class Goal:
    """What the ratio should be: at most, at least, or (not checked) ideally `target`."""

    kind: GoalKind
    target: float

    def met(self, ratio: float | None) -> bool | None:
        if ratio is None or self.kind == "ideal":
            return None
        return ratio <= self.target if self.kind == "<=" else ratio >= self.target

    def __str__(self) -> str:
        sign = {"<=": "≤ ", ">=": "≥ ", "ideal": "ideal "}[self.kind]
        return f"{sign}{self.target:.2f}"


AT_MOST_BOUND = Goal("<=", 1.0)


@dataclass(frozen=True)
class Row:
    """One measure: its value and the baseline taken in the same run, in `unit`; ratio = value / baseline."""

    measure: str
    value: float
    baseline: float | None
    unit: str = ""
    goal: Goal | None = None
    digits: int = 2
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def goal_target(self) -> float | None:
        return self.goal.target if self.goal else None

    @property
    def met(self) -> bool | None:
        return self.goal.met(self.ratio) if self.goal else None

    def shown(self, number: float | None) -> str:
        if number is None:
            return "—"
        if self.unit == "$":
            return f"${number:,.{self.digits}f}"
        return f"{number:,.{self.digits}f}{' ' + self.unit if self.unit else ''}"

    def cells(self) -> tuple[str, str, str, str, str]:
        ratio = self.ratio
        mark = {True: "", False: " ✗", None: ""}[self.met]
        return (
            self.measure,
            self.shown(self.value),
            self.shown(self.baseline) + (f" {self.note}" if self.note else ""),
            "—" if ratio is None else f"{ratio:.{3 if mark and round(ratio, 2) == self.goal_target else 2}f}{mark}",
            str(self.goal) if self.goal else "—",
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "measure": self.measure,
            "value": self.value,
            "baseline": self.baseline,
            "unit": self.unit,
            "ratio": self.ratio,
            "goal": str(self.goal) if self.goal else None,
            "met": self.met,
            "baseline_is": self.note or None,
        }


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (readable in a terminal and pasted as is into the README)."""
    lines = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    right = (False, True, True, True, False)

    def fmt(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right, strict=True))
    return "\n".join([fmt(lines[0]), rule + "|", *(fmt(line) for line in lines[1:])])


def json_report(rows: Sequence[Row], meta: Mapping[str, object]) -> str:
    return json.dumps({**meta, "rows": [row.as_dict() for row in rows]}, indent=2)
