"""The migration wizard's engine: plan, preflight, backup, build, verify, cut over, roll back.

Every step writes its intent and outcome to a journal before and after it runs, so a
killed or disconnected migration can be resumed or undone (:mod:`core.migrate.engine`).
"""
