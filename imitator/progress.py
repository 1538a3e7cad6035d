"""Progress a person can read: one 0..1 bar over several stages, each with items done and time left.

    bar = StageBar(report, {"rendering": 0.8, "exporting": 0.2})
    bar.update("rendering", 120, 1800)  # -> report(0.053, "rendering: 120/1800 frames, about 40 s left")

`report(fraction, message)` is the callback the app maps to gr.Progress and the CLI to a text bar.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator, TypeVar

Progress = Callable[[float, str], None]
T = TypeVar("T")


def silent(fraction: float, message: str) -> None:
    pass


class StageBar:
    def __init__(self, report: Progress | None, stages: dict[str, float]):
        self.report = report or silent
        total = sum(stages.values())
        self.start, self.share, acc = {}, {}, 0.0
        for name, weight in stages.items():
            self.start[name], self.share[name] = acc / total, weight / total
            acc += weight
        self._began: dict[str, float] = {}

    def update(self, stage: str, done: float, total: float, unit: str = "frames", note: str = "",
               estimate: bool = True) -> None:
        """estimate=False where items differ in cost (files of different sizes): no time left is guessed."""
        now = time.perf_counter()
        began = self._began.setdefault(stage, now)
        part = min(max(done / total, 0.0), 1.0) if total else 1.0
        message = f"{stage}: {done:g}/{total:g} {unit}" if unit else stage
        elapsed = now - began
        if estimate and 0 < done < total and elapsed > 0.5:  # a rate from under half a second would be noise
            message += f", about {elapsed / done * (total - done):.0f} s left"
        self.report(self.start[stage] + self.share[stage] * part, message + (f" ({note})" if note else ""))

    def sub(self, stage: str) -> Progress:
        """A (fraction, message) callback for a library function that reports its own 0..1 progress."""
        def report(fraction: float, message: str) -> None:
            self.report(self.start[stage] + self.share[stage] * min(max(fraction, 0.0), 1.0), message)
        return report

    def counted(self, stage: str, items: Iterable[T], total: int, every: int, unit: str = "frames") -> Iterator[T]:
        """Pass `items` through, reporting after every `every` of them (and at the end)."""
        self.update(stage, 0, total, unit)
        n = 0
        for n, item in enumerate(items, 1):
            yield item
            if n % every == 0 or n == total:
                self.update(stage, n, total, unit)
