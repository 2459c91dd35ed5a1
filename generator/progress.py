"""How a build reports progress. The library only reports; the command line decides how it looks (STYLE.md: no
progress bars inside library code). Kept free of imports, so the quick rebuild can use it without torch.
"""
from __future__ import annotations

from typing import Callable


class Progress:
    """``progress(line)`` says one line (a stage starts, a notice, the estimate). ``progress.count(name, done,
    total)`` reports a named loop: ``done`` of ``total`` items finished, from 0 before the first item to ``total``
    after the last.

    ``counter(name, done, total)`` draws the loops (the command line turns them into bars on a terminal). Without
    one, a loop is said as one line as each item starts, ``q3: LIME 3/7``, so logs read as they always have.
    """

    def __init__(self, say: Callable[[str], None] = lambda _: None,
                 counter: Callable[[str, int, int], None] | None = None):
        self.say = say
        self.counter = counter

    def __call__(self, line: str) -> None:
        self.say(line)

    def count(self, name: str, done: int, total: int) -> None:
        if self.counter is not None:
            self.counter(name, done, total)
        elif done < total:
            self.say(f"{name} {done + 1}/{total}")


def as_progress(progress: Progress | Callable[[str], None]) -> Progress:
    """A plain function of one line (what callers passed before loops were counted) becomes a Progress."""
    return progress if isinstance(progress, Progress) else Progress(progress)
