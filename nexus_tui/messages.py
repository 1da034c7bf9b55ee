"""Messages between the collector thread, the app and its screens (the contract is in docs/tui.md)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class StoreChanged(Message):
    """The collector finished a pass (posted from its thread; a burst collapses into the latest one).

    ``report`` is the collector's ``PassReport`` (None when the app's poller saw another process change the
    database: ``store/changes.py``); ``changed`` says whether rows were added or updated (a pass that
    found nothing new only refreshes the status bar).
    """

    def __init__(self, report: Any, changed: bool | None = None) -> None:
        super().__init__()
        self.report = report
        if changed is None:
            written = getattr(report, "written", None)
            changed = bool(getattr(written, "changed", False))
        self.changed = changed

    def can_replace(self, message: Message) -> bool:
        # Textual asks the older message whether the newer pending one supersedes it: it does, carrying the
        # older one's "changed" along, so a burst of passes becomes one refresh that misses nothing.
        if isinstance(message, StoreChanged):
            message.changed = message.changed or self.changed
            if message.report is None:  # a change seen by the poller does not hide the collector's last report
                message.report = self.report
            return True
        return False


class FiltersChanged(Message):
    """The shared time range or filters (``app.filters``) changed."""


class TaskRated(Message):
    """A rating was written (or cleared, ``rating is None``) for ``task_id``; lists showing it reload."""

    def __init__(self, task_id: str, rating: int | None, undo: bool = False) -> None:
        super().__init__()
        self.task_id = task_id
        self.rating = rating
        self.undo = undo


class QueryDone(Message):
    """A screen's query finished in its worker thread; posted to that screen and handled on the UI thread.

    ``tag`` names the query (``"main"`` for ``fetch()``), ``generation`` lets the screen drop a result that a newer
    query of the same tag has overtaken, ``error`` is set (and ``data`` None) when the query raised.
    """

    def __init__(self, tag: str, generation: int, data: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.tag = tag
        self.generation = generation
        self.data = data
        self.error = error
