"""Progress display for long steps (cross-compiling, ISS runs, bench runs): rich
progress bars on stderr.  Off unless a command turns it on with ``configure(True)``
and stderr is a terminal, so library calls, tests, pipes and ``--json`` stay quiet.

Steps nest: one rich ``Progress`` is shown while any step is open, each step is a
task line in it (rich allows only one live display at a time).
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

_enabled = False
_live = None      # the shared rich Progress while steps are open
_depth = 0
_lock = threading.Lock()


def configure(enabled: bool) -> None:
    """Turn progress on (if stderr is a TTY) or off, for the rest of the process."""
    global _enabled
    _enabled = bool(enabled) and sys.stderr.isatty()


class _Task:
    def __init__(self, progress, task_id):
        self._p, self._id = progress, task_id

    def advance(self, n: float = 1) -> None:
        if self._p is not None:
            self._p.advance(self._id, n)

    def update(self, completed: float) -> None:
        if self._p is not None:
            self._p.update(self._id, completed=completed)


@contextmanager
def step(description: str, total: float | None = None, poll=None, interval: float = 0.25):
    """A progress line for the duration of the block; yields a task with ``advance``
    and ``update``.  ``poll()`` (optional) returns the amount done; it is called from a
    watcher thread every ``interval`` seconds (for work that cannot report itself,
    such as the simulator writing outputs)."""
    global _live, _depth
    if not _enabled:
        yield _Task(None, None)
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn)

    with _lock:
        if _live is None:
            _live = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            _live.start()
        _depth += 1
        progress = _live
    task_id = progress.add_task(description, total=total)
    stop = threading.Event()
    watcher = None
    if poll is not None:
        def watch():
            while not stop.wait(interval):
                try:
                    progress.update(task_id, completed=poll())
                except Exception:  # a progress display never breaks the work
                    return
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    try:
        yield _Task(progress, task_id)
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
        progress.remove_task(task_id)
        with _lock:
            _depth -= 1
            if _depth == 0:
                _live.stop()
                _live = None
