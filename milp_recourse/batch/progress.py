"""Batch progress: a rich progress bar with rate and ETA on a terminal, silence otherwise.

`progress` arguments accepted by solve_batch: None (a bar only when stderr is a TTY), True / False
(force on / off), or a callable `f(done, total)` called after every finished chunk.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable


class _Silent:
    """No output (not a TTY, or switched off)."""

    def update(self, n: int) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


class _Callback:
    """Forward the counts to a user callable."""

    def __init__(self, fn: Callable[[int, int], Any], total: int) -> None:
        self.fn, self.total, self.done = fn, total, 0

    def update(self, n: int) -> None:
        self.done += n
        self.fn(self.done, self.total)

    def close(self) -> None:
        """Nothing to close."""


class _RichBar:
    """rich progress bar on stderr: bar, done/total, individuals per second, elapsed, ETA."""

    def __init__(self, total: int, description: str) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        from rich.text import Text

        class RateColumn(ProgressColumn):
            """Finished individuals per second."""

            def render(self, task) -> Text:
                speed = task.finished_speed or task.speed
                return Text("-- /s" if speed is None else f"{speed:.2f}/s", style="progress.data.speed")

        self._bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                             MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                             TimeRemainingColumn(), console=Console(stderr=True), transient=False)
        self._task = self._bar.add_task(description, total=total)
        self._bar.start()

    def update(self, n: int) -> None:
        self._bar.update(self._task, advance=n)

    def close(self) -> None:
        self._bar.stop()


class Progress:
    """Context manager wrapping whichever display the `progress` argument asks for."""

    def __init__(self, progress: Any, total: int, description: str = "recourse") -> None:
        self.started = time.perf_counter()
        if callable(progress) and not isinstance(progress, bool):
            self._impl: Any = _Callback(progress, total)
        elif progress is True or (progress is None and sys.stderr.isatty()):
            self._impl = _RichBar(total, description)
        else:
            self._impl = _Silent()

    def update(self, n: int) -> None:
        self._impl.update(n)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self._impl.close()


__all__ = ["Progress"]
