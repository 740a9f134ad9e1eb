"""What the catalog says of a migration now: the one truth recovery decides from.

The journal says what vecscope meant to do and how far it knows it got; a SIGKILL, a full
disk or a lost connection can leave it behind the database (an intent with no outcome) or
ahead of it (a build done whose index someone dropped). So ``resume`` and ``rollback``
first look at the catalog: is the original index there, under its name, with its very
definition, and is it valid; is the new index there, valid, under its own name or already
renamed to the old one. :class:`Seen` is that look, and :attr:`Seen.phase` names where the
migration stands in the order the wizard changes things. On a partitioned table the old
and new indexes are the partitioned ones (valid only once every partition's index is
attached), and :attr:`Seen.parts` holds each partition's two indexes: there or not, valid
or not, attached or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.migrate.ddl import invalid_copies
from vecscope.core.migrate.plan import MigrationSpec, PartitionPlan
from vecscope.core.migrate.states import Kind

Conn = psycopg.Connection[TupleRow]


class Phase(StrEnum):
    """Where a migration stands, read off the catalog (not the journal)."""

    #: No new index yet; the old one (if any) is whole.
    BEFORE_BUILD = "before build"
    #: The new index exists but is not valid: a build was interrupted or failed.
    BUILD_UNFINISHED = "build unfinished"
    #: Both indexes valid: built (and maybe verified), nothing dropped yet.
    BUILT = "built"
    #: The old index is invalid: ``DROP INDEX CONCURRENTLY`` stopped half way.
    OLD_HALF_DROPPED = "old index half-dropped"
    #: The old index is gone; the new one keeps its own name (a rename may be due).
    OLD_DROPPED = "old index dropped"
    #: The new index carries the old index's name: the cutover's last statement ran.
    RENAMED = "renamed"
    #: Something a person must look at (the old name holds an index vecscope did not make,
    #: or no usable index is left).
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class IndexSeen:
    name: str
    valid: bool
    ready: bool
    definition: str
    #: The partitioned index this one is attached to (a partition's index).
    parent: str | None = None

    @property
    def usable(self) -> bool:
        return self.valid and self.ready


@dataclass(frozen=True, slots=True)
class PartSeen:
    """One partition's indexes of the migration, on a partitioned table."""

    plan: PartitionPlan
    #: The new index on the partition, attached or not, valid or not.
    new: IndexSeen | None
    #: The old index on the partition, under its name with its recorded definition.
    old: IndexSeen | None

    def done(self, index: IndexSeen | None, parent: str | None) -> bool:
        """``index`` is there, valid and attached to ``parent``."""
        return index is not None and index.usable and index.parent == parent


@dataclass(frozen=True, slots=True)
class Seen:
    """The migration's indexes in the catalog; see the module docstring."""

    #: The original index, under its name with its recorded definition.
    old: IndexSeen | None
    #: The new index, under its own name or (``renamed``) under the old one.
    new: IndexSeen | None
    renamed: bool
    #: An index under the old name that is neither the original nor the new one.
    stranger: IndexSeen | None
    #: ``_ccnew``/``_ccold`` copies an interrupted REINDEX CONCURRENTLY left.
    copies: tuple[str, ...]
    #: On a partitioned table: each partition's indexes, in the spec's order.
    parts: tuple[PartSeen, ...] = ()

    @property
    def phase(self) -> Phase:
        if self.stranger is not None:
            return Phase.UNKNOWN
        if self.renamed:
            return Phase.RENAMED
        new_ok = self.new is not None and self.new.usable
        if self.new is None:
            return Phase.BEFORE_BUILD if self.old is None or self.old.usable else Phase.UNKNOWN
        if not new_ok:
            return Phase.BUILD_UNFINISHED
        if self.old is None:
            return Phase.OLD_DROPPED
        return Phase.BUILT if self.old.usable else Phase.OLD_HALF_DROPPED

    @property
    def usable(self) -> bool:
        """Some index of the migration's serves the table right now."""
        return any(ix is not None and ix.usable for ix in (self.old, self.new))


def _same_definition(found: str, recorded: str | None) -> bool:
    return recorded is not None and found.strip().rstrip(";") == recorded.strip().rstrip(";")


def _seen(r: dict[str, object]) -> IndexSeen:
    return IndexSeen(
        str(r["name"]),
        bool(r["valid"]),
        bool(r["ready"]),
        str(r["definition"]),
        str(r["parent"]) if r.get("parent") else None,
    )


def look(conn: Conn, spec: MigrationSpec) -> Seen:
    """Read the migration's indexes off the catalog."""
    names = [n for n in (spec.old_name, spec.new_name) if n]
    for part in spec.partitions:
        names += [n for n in (part.new_name, part.old_name) if n]
    rows = db.rows(conn, "migrate_index_seen", {"schema": spec.schema, "names": names})
    by_name = {str(r["name"]): _seen(r) for r in rows}
    copies: tuple[str, ...] = ()
    if spec.kind == Kind.REINDEX:
        assert spec.old_name
        copies = tuple(invalid_copies(conn, spec, spec.old_name))
        return Seen(by_name.get(spec.old_name), None, False, None, copies)
    parts = tuple(_part_seen(p, by_name) for p in spec.partitions)
    new = by_name.get(spec.new_name)
    if spec.kind == Kind.CREATE or not spec.old_name or spec.old_name == spec.new_name:
        return Seen(None, new, False, None, copies, tuple(ps.seen for ps in parts))
    under_old = by_name.get(spec.old_name)
    old: IndexSeen | None = None
    renamed = False
    stranger: IndexSeen | None = None
    if under_old is not None:
        if _same_definition(under_old.definition, spec.old_definition):
            old = under_old
        elif new is None and spec.rename:
            # The cutover's rename ran: the new index answers to the old name.
            new, renamed = under_old, True
        else:
            stranger = under_old
    if stranger is None:
        stranger = next((ps.stranger for ps in parts if ps.stranger is not None), None)
    return Seen(old, new, renamed, stranger, copies, tuple(ps.seen for ps in parts))


@dataclass(frozen=True, slots=True)
class _PartLook:
    seen: PartSeen
    stranger: IndexSeen | None


def _part_seen(part: PartitionPlan, by_name: dict[str, IndexSeen]) -> _PartLook:
    """A partition's indexes; an index under the old partition index's name with another
    definition is a stranger (the partitions' indexes are never renamed)."""
    old = by_name.get(part.old_name) if part.old_name else None
    stranger = None
    if old is not None and not _same_definition(old.definition, part.old_definition):
        old, stranger = None, old
    return _PartLook(PartSeen(part, by_name.get(part.new_name), old), stranger)
