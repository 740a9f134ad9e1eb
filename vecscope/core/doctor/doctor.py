"""The plan doctor, one entry for ``vecscope explain`` and the Explain mode.

A query goes in, a diagnosis comes out: the inventory is read, the query explained
(:func:`.explain.explain`) and judged (:func:`.diagnose.diagnose`); asked to, the doctor
also explains the first rewritten query a finding offers ("try the fix"). Both front ends
hold a :class:`PlanDoctor` (one self-healing, cancellable connection, as
:class:`~vecscope.core.live.session.LiveSession` holds one) and only render what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import psycopg
from psycopg.rows import TupleRow

from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget
from vecscope.core.doctor.column_query import ColumnQuery, column_query
from vecscope.core.doctor.diagnose import Diagnosis, diagnose, fix_to_try, try_fix
from vecscope.core.doctor.explain import DEFAULT_TIMEOUT_MS, explain
from vecscope.core.session import CatalogSession

__all__ = ["DEFAULT_TIMEOUT_MS", "ColumnQuery", "Examination", "PlanDoctor", "examine", "fix_of"]


@dataclass(frozen=True, slots=True)
class Examination:
    """A query's diagnosis and, when the fix was tried, the rewritten query's."""

    diagnosis: Diagnosis
    #: Whether the first fix a finding offers (a rewrite, a setting) was tried too.
    fix_tried: bool = False
    #: Its diagnosis; None when not tried or when no finding offers a fix to try.
    fixed: Diagnosis | None = None

    @property
    def exit_code(self) -> int:
        """The CLI's status: that of the query asked about (see :attr:`Diagnosis.exit_code`)."""
        return self.diagnosis.exit_code


def examine(
    conn: psycopg.Connection[TupleRow],
    query: str,
    *,
    analyze: bool = False,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    try_the_fix: bool = False,
) -> Examination:
    """Explain and judge ``query`` on ``conn``; with ``try_the_fix``, its rewrite too.

    Raises:
        BadInputError: not SQL, several statements, a write with ``analyze``...
        QueryError: the EXPLAIN failed or ran out of time.
        ConnectError: the connection broke.
    """
    inventory = fetch_inventory(conn)
    result = explain(conn, query, inventory, analyze=analyze, timeout_ms=timeout_ms)
    diagnosis = diagnose(result, inventory)
    if not try_the_fix:
        return Examination(diagnosis)
    return Examination(diagnosis, True, try_fix(conn, diagnosis, inventory))


def fix_of(conn: psycopg.Connection[TupleRow], diagnosis: Diagnosis) -> Diagnosis | None:
    """The diagnosis of the first fix ``diagnosis`` offers, tried; or None."""
    return try_fix(conn, diagnosis, fetch_inventory(conn))


class PlanDoctor:
    """One database's plan doctor: a connection of its own, reopened when it breaks."""

    def __init__(self, target: ConnectionTarget) -> None:
        self._session = CatalogSession(target)

    @property
    def target(self) -> ConnectionTarget:
        return self._session.target

    def retarget(self, target: ConnectionTarget) -> None:
        """Examine on another server from the next call on."""
        if target != self._session.target:
            self._session.retarget(target)

    def examine(
        self,
        query: str,
        *,
        analyze: bool = False,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        try_the_fix: bool = False,
    ) -> Examination:
        """See :func:`examine` (blocking; call it from a worker in the TUI)."""
        return self._session.run(
            lambda conn: examine(
                conn, query, analyze=analyze, timeout_ms=timeout_ms, try_the_fix=try_the_fix
            )
        )

    def try_fix(self, diagnosis: Diagnosis) -> Diagnosis | None:
        """Try the first fix ``diagnosis`` offers (see :func:`.diagnose.try_fix`); None
        when no finding offers a rewrite or a setting."""
        if fix_to_try(diagnosis) is None:
            return None
        return self._session.run(lambda conn: fix_of(conn, diagnosis))

    def column_query(self, schema: str, table: str, column: str) -> ColumnQuery:
        """A nearest-neighbour query for a column, with the operator the application
        uses (see :func:`.column_query.column_query`)."""
        return self._session.run(
            lambda conn: column_query(conn, fetch_inventory(conn), schema, table, column)
        )

    def cancel(self) -> None:
        """Cancel the statement running now (from any thread)."""
        self._session.cancel()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PlanDoctor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
