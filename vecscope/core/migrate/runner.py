"""Running the steps of a :class:`~core.migrate.engine.Migration` for a front end.

``vecscope migrate run`` and the Migrate screen run the very same steps in the same order
with the same stops; what differs is how they hear of progress (prints or messages) and
how the answers a step needs (the backup's kind, the typed cutover confirmation) were
collected. :func:`run_step` takes those answers and hooks; :func:`stops_after` says
where a run of several steps stops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vecscope.core.errors import BadInputError
from vecscope.core.migrate.backup import OnProgress, said_every
from vecscope.core.migrate.build import BuildOutcome, BuildProgress
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.preflight import Preflight
from vecscope.core.migrate.records import BackupChoice, StepResult
from vecscope.core.migrate.states import Step
from vecscope.core.migrate.verify import Verification

#: What a running step says, with the step it is said of.
Say = Callable[[Step, str], None]


@dataclass(frozen=True, slots=True)
class Answers:
    """What the user decided before the steps started (the CLI asks on its terminal)."""

    backup: BackupChoice | None = None
    #: The old index's name was typed: the cutover may drop it.
    cutover: bool = False
    #: Cut over although verification did not pass (confirmed the same way).
    force_cutover: bool = False


@dataclass(frozen=True, slots=True)
class Hooks:
    """Where a running step reports to; called on the thread that runs it."""

    say: Say
    progress: Callable[[BuildProgress], None]
    should_cancel: Callable[[], bool]
    #: The dump's progress; without it, a dump that lasts is said (a line every few s).
    backup_progress: OnProgress | None = None


def run_step(mig: Migration, key: Step, answers: Answers, hooks: Hooks) -> StepResult | None:
    """Run one step as ``vecscope migrate run`` would; returns its result.

    Raises:
        BadInputError: The step is blocked, or an answer it needs is missing.
        VecscopeError: The step failed (the journal records it).
    """

    def say(text: str) -> None:
        hooks.say(key, text)

    if key == Step.PREFLIGHT:
        return mig.preflight_as_planned()
    if key == Step.BACKUP:
        if answers.backup is None:
            raise BadInputError("backup: choose table, database or confirmed first")
        return mig.backup_as_planned(
            answers.backup, on_progress=hooks.backup_progress or said_every(say)
        )
    if key == Step.BASELINE:
        figures = mig.baseline()
        if figures is None:
            say(mig.baseline_note())
        return figures
    if key == Step.BUILD:
        return mig.build(on_progress=hooks.progress, should_cancel=hooks.should_cancel, say=say)
    if key == Step.VERIFY:
        return mig.verify()
    if key == Step.CUTOVER:
        if not (answers.cutover or answers.force_cutover):
            raise BadInputError("cutover: type the old index's name to confirm it")
        return mig.cutover(force=answers.force_cutover, say=say)
    raise BadInputError(f"{key} is not a step to run")


def stops_after(result: StepResult | None) -> bool:
    """Whether a run of several steps stops after this result (as ``migrate run`` does)."""
    if isinstance(result, Preflight):
        return not result.ok
    if isinstance(result, BuildOutcome):
        return result.cancelled
    if isinstance(result, Verification):
        return not result.passed
    return False
