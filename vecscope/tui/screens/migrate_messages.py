"""What the Migrate screen's workers tell it: each step's start and end, build progress,
lines said, journals found. Posted from worker threads, handled on the screen."""

from __future__ import annotations

from textual.message import Message

from vecscope.core.migrate.backup import BackupProgress
from vecscope.core.migrate.build import BuildProgress
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.journals import JournalEntry
from vecscope.core.migrate.records import StepResult
from vecscope.core.migrate.states import Step


class MigrationOpened(Message):
    """A journal was started, or opened and reconciled with the database."""

    def __init__(
        self,
        mig: Migration,
        results: dict[Step, StepResult | None],
        found: list[str],
        *,
        resumed: bool,
    ) -> None:
        super().__init__()
        self.mig = mig
        self.results = results
        self.found = found
        self.resumed = resumed


class StepStarted(Message):
    def __init__(self, key: Step) -> None:
        super().__init__()
        self.key = key


class StepFinished(Message):
    def __init__(self, key: Step, result: StepResult | list[str] | None) -> None:
        super().__init__()
        self.key = key
        self.result = result


class BuildProgressed(Message):
    """The build's progress; a burst collapses to the newest."""

    def __init__(self, progress: BuildProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BuildProgressed)


class BackupProgressed(Message):
    """The dump's progress; a burst collapses to the newest."""

    def __init__(self, progress: BackupProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BackupProgressed)


class Said(Message):
    def __init__(self, key: Step, text: str) -> None:
        super().__init__()
        self.key = key
        self.text = text


class JournalsListed(Message):
    def __init__(self, entries: list[JournalEntry], offer: bool) -> None:
        super().__init__()
        self.entries = entries
        self.offer = offer
