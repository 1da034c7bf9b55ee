"""Messages between the collector thread, the app and its screens."""

from __future__ import annotations

from textual.message import Message


class StoreChanged(Message):
    """The collector finished a pass (posted from its thread; bursts collapse into the latest)."""

    def __init__(self, report) -> None:
        super().__init__()
        self.report = report

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreChanged)


class FiltersChanged(Message):
    """The shared time range or filters changed."""


class TaskRated(Message):
    def __init__(self, task_id: str, rating: int | None) -> None:
        super().__init__()
        self.task_id = task_id
        self.rating = rating
