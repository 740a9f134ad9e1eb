"""The migration wizard's engine: plan, preflight, backup, build, verify, cut over, roll back.

Every step writes its intent and outcome to a journal before and after it runs, so a
killed or disconnected migration can be resumed or undone (:mod:`core.migrate.engine`).

The state machine is :class:`core.migrate.engine.Migration` (planned, then journaled):
its vocabulary is in :mod:`~core.migrate.states`, its journal records in
:mod:`~core.migrate.records`, going back in :mod:`~core.migrate.recovery`; a front end
runs its steps through :mod:`~core.migrate.runner`. The plan (:mod:`~core.migrate.plan`)
and its statements (:mod:`~core.migrate.render`) are decided before anything runs.
"""
