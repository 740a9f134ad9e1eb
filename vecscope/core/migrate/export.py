"""The migration as something to ship: a psql script, or an Alembic revision file.

Teams that deploy schema changes through Alembic want the wizard's migration as a
revision they can review and merge. The hand-written ones it replaces build the index
inside Alembic's transaction without ``CONCURRENTLY``, ``lock_timeout`` or an operator
class. Both exports take their statements from :mod:`core.migrate.plan`, so what ships
is what the wizard shows; the revision adds what a wizard does between the statements
and a file must do itself: check pgvector, clean up an invalid leftover of an
interrupted build, and keep the old index until the new one is valid.
"""

from __future__ import annotations

import re
import textwrap
import uuid
from datetime import datetime

from vecscope.core.errors import BadInputError
from vecscope.core.migrate.plan import MigrationSpec, Statement, describe
from vecscope.core.migrate.render import (
    attach_sql,
    create_new_sql,
    create_partition_sql,
    drop_partitioned_statements,
    drop_sql,
    qualified,
    recreate_old_partition_sql,
    recreate_old_sql,
    rename_sql,
    rollback_statements,
    script,
    session_settings,
)
from vecscope.core.migrate.states import Kind
from vecscope.core.pgvector import FEATURE_VERSIONS, parse_version
from vecscope.core.sqlscan import tokenize

#: Lines of the revision file stay within ruff's and black's default length.
_WIDTH = 88
_LEFTOVER = "An interrupted build left an invalid index: IF NOT EXISTS would keep it."


def sql_script(spec: MigrationSpec) -> str:
    """The migration as a psql script, with both rollbacks written out as comments.

    Args:
        spec: The migration.

    Returns:
        :func:`core.migrate.plan.script` (every statement of a successful run, then the
        rollback after cutover as comments), followed for a rebuild by the rollback
        before cutover, also as comments.
    """
    text = script(spec)
    if spec.kind != Kind.REBUILD:
        return text
    lines = ["", "-- Rollback before cutover (the old index is untouched):"]
    lines += ["-- " + st.sql for st in rollback_statements(spec, after_cutover=False)]
    return text + "\n".join(lines) + "\n"


def new_revision_id() -> str:
    """A fresh revision id the way Alembic makes them: 12 hex digits."""
    return uuid.uuid4().hex[-12:]


def pgvector_minimum(spec: MigrationSpec) -> str:
    """The oldest pgvector that can build the spec's index.

    Args:
        spec: The migration.

    Returns:
        ``"0.5.0"`` for hnsw, ``"0.7.0"`` for halfvec, sparsevec and the L1, Hamming and
        Jaccard operator classes, else ``"0.1.0"``.
    """
    needs = [(0, 1, 0)]
    if spec.method == "hnsw":
        needs.append(FEATURE_VERSIONS["hnsw"])
    if spec.column_type in ("halfvec", "sparsevec"):
        needs.append(FEATURE_VERSIONS[spec.column_type])
    if spec.opclass.endswith(("_l1_ops", "_hamming_ops", "_jaccard_ops")):
        needs.append(FEATURE_VERSIONS["halfvec"])  # same release: 0.7.0
    return ".".join(str(n) for n in max(needs))


# --- writing Python ----------------------------------------------------------------------


def _literal(text: str) -> str:
    """A Python string literal for ``text``, like ``repr`` but quoted as ruff format
    quotes (double quotes unless that needs more escapes), so the file stays formatted."""
    quote = '"' if text.count('"') <= text.count("'") else "'"
    out = []
    for ch in text:
        if ch in ("\\", quote):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return quote + "".join(out) + quote


#: sqlalchemy.text() reads ``:name`` as a bind parameter (its own pattern) and turns
#: ``\:name`` back into ``:name``; quoted names and literals may hold either.
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?![:\w])")
_BIND_ESCAPE = re.compile(r"\\(:\w*)(?![:\w])")


def _for_text(sql: str) -> str:
    """``sql`` as sqlalchemy.text() must receive it to send ``sql`` unchanged."""
    if _BIND_ESCAPE.search(sql):
        raise BadInputError(
            "a statement holds a backslash before a colon, which sqlalchemy.text() would drop"
        )
    return _BIND.sub(r"\\:\1", sql)


def _chunks(text: str, room: int) -> list[str]:
    """``text`` cut into pieces whose literals fit in ``room`` columns, between SQL
    tokens where possible (so not inside a quoted name)."""
    try:
        toks = tokenize(text)
        cuts = [t.end for t in toks if t.kind == "space"]
    except BadInputError:
        cuts = [m.end() for m in re.finditer(r"\s+", text)]
    words = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if a < b]
    out: list[str] = []
    for word in words:
        if out and len(_literal(out[-1] + word)) <= room:
            out[-1] += word
            continue
        # Implicit concatenation gives the value back exactly, so a token longer than a
        # line may be cut anywhere.
        out.append("")
        for ch in word:
            if out[-1] and len(_literal(out[-1] + ch)) > room:
                out.append("")
            out[-1] += ch
    return out


def _execute(sql: str, indent: int) -> list[str]:
    """``op.execute(sa.text(...))`` lines for one statement, laid out as ruff formats."""
    pad = " " * indent
    lit = _literal(_for_text(sql))
    if len(pad) + len(f"op.execute(sa.text({lit}))") <= _WIDTH:
        return [f"{pad}op.execute(sa.text({lit}))"]
    if len(pad) + 4 + len(f"sa.text({lit})") <= _WIDTH:
        return [f"{pad}op.execute(", f"{pad}    sa.text({lit})", f"{pad})"]
    pieces = _chunks(_for_text(sql), _WIDTH - indent - 8)
    body = [f"{pad}        {_literal(p)}" for p in pieces]
    return [f"{pad}op.execute(", f"{pad}    sa.text(", *body, f"{pad}    )", f"{pad})"]


def _docstring(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


# --- the revision ------------------------------------------------------------------------

_HELPERS = '''_VERSION_SQL = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"


def _require_pgvector() -> None:
    """Refuse to start unless pgvector is installed and recent enough."""
    found = op.get_bind().execute(sa.text(_VERSION_SQL)).scalar()
    wanted = ".".join(str(n) for n in PGVECTOR_MIN)
    if found is None:
        raise RuntimeError(
            f"this migration needs pgvector {wanted} or later; the database has none"
            " (CREATE EXTENSION vector first)"
        )
    parts = [int(p) for p in re.findall(r"\\d+", str(found))[:3]]
    if tuple(parts + [0] * (3 - len(parts))) < PGVECTOR_MIN:
        raise RuntimeError(
            f"this migration needs pgvector {wanted} or later; the database has {found}"
            " (ALTER EXTENSION vector UPDATE once the server has a newer pgvector)"
        )


def _state(name: str) -> bool | None:
    """True: valid and ready; False: an invalid leftover; None: no such index."""
    valid = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT i.indisvalid AND i.indisready FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = :schema AND c.relname = :name"
            ),
            {"schema": SCHEMA, "name": name},
        )
        .scalar()
    )
    return None if valid is None else bool(valid)
'''


def _settings(spec: MigrationSpec, *, build: bool) -> tuple[list[Statement], list[str]]:
    """The plan's session settings and the RESETs that undo them at the end of the block.

    The RESETs matter when the migration runs on a connection the application goes on
    using: ``statement_timeout = 0`` must not outlive the build.
    """
    sets = session_settings(spec, build=build)
    return sets, [f"RESET {st.sql.split()[1]};" for st in sets]


def _build_lines(
    leftover: tuple[str, str], build: tuple[str, str], kept: str, why: str = _LEFTOVER
) -> list[str]:
    """Drop an invalid leftover, build, and stop unless the build is valid.

    Args:
        leftover: The constant naming the leftover index, and the DROP statement for it.
        build: The constant naming the built index, and the statement building it.
        kept: What the error says was left as it was.
        why: The comment above the leftover's DROP.
    """
    (gone, drop), (name, statement) = leftover, build
    raise_ = f'raise RuntimeError(f"{{{name}}} is not valid after its build; {kept}")'
    if len(raise_) + 12 <= _WIDTH:
        fail = [f"            {raise_}"]
    else:
        message = f'f"{{{name}}} is not valid after its build; {kept}"'
        fail = ["            raise RuntimeError(", f"                {message}", "            )"]
    return [
        f"        if _state({gone}) is False:",
        f"            # {why}",
        *_execute(drop, 12),
        *_execute(statement, 8),
        f"        if not _state({name}):",
        *fail,
    ]


def _part_name(old: bool, n: int) -> str:
    return f"{'OLD_' if old else ''}PARTITION_{n}"


def _partitioned_upgrade(spec: MigrationSpec) -> list[str]:
    """ON ONLY the parent; per partition: leftover dropped, built, checked, attached."""
    lines = _execute(create_new_sql(spec), 8)
    for n, part in enumerate(spec.partitions, 1):
        name = _part_name(False, n)
        build = (name, create_partition_sql(spec, part))
        lines += _build_lines((name, drop_sql(spec, part.new_name)), build, "nothing was dropped")
        lines += _execute(attach_sql(spec, spec.new_name, part.new_name), 8)
    return lines + [
        "        if not _state(NEW_INDEX):",
        '            raise RuntimeError(f"{NEW_INDEX} is not valid; nothing was dropped")',
    ]


def _drop_partitioned(spec: MigrationSpec, name: str) -> list[str]:
    return [
        line for st in drop_partitioned_statements(spec, name, "") for line in _execute(st.sql, 8)
    ]


def _upgrade(spec: MigrationSpec) -> list[str]:
    sets, resets = _settings(spec, build=True)
    lines = [line for st in sets for line in _execute(st.sql, 8)]
    if spec.partitioned:
        lines += _partitioned_upgrade(spec)
    elif spec.kind == Kind.REINDEX:
        assert spec.old_name is not None
        reindex = f"REINDEX INDEX CONCURRENTLY {qualified(spec, spec.old_name)};"
        leftover = drop_sql(spec, spec.old_name + "_ccnew")
        why = "An interrupted REINDEX CONCURRENTLY left this invalid copy behind."
        lines += _build_lines(("LEFTOVER", leftover), ("INDEX", reindex), "it was kept", why)
    else:
        leftover = drop_sql(spec, spec.new_name)
        build = ("NEW_INDEX", create_new_sql(spec))
        lines += _build_lines(("NEW_INDEX", leftover), build, "nothing was dropped")
    if spec.kind == Kind.REBUILD:
        assert spec.old_name is not None
        if spec.partitioned:
            lines += _drop_partitioned(spec, spec.old_name)
        else:
            lines += _execute(drop_sql(spec, spec.old_name), 8)
        if spec.rename:
            lines += _execute(rename_sql(spec, spec.new_name, spec.old_name), 8)
    lines += [line for sql in resets for line in _execute(sql, 8)]
    return [
        "def upgrade() -> None:",
        "    _require_pgvector()",
        "    # CONCURRENTLY cannot run inside a transaction block.",
        "    with op.get_context().autocommit_block():",
        *lines,
    ]


def _downgrade(spec: MigrationSpec) -> list[str]:
    if spec.kind == Kind.REINDEX:
        return [
            "def downgrade() -> None:",
            '    """Nothing to undo: REINDEX rebuilt the same definition in place, and the copy',
            '    it replaced was only a more bloated (or drifted) version of it."""',
        ]
    if spec.kind == Kind.CREATE:
        sets, resets = _settings(spec, build=False)
        drops = [drop_sql(spec, spec.new_name)]
        if spec.partitioned:
            drops = [st.sql for st in drop_partitioned_statements(spec, spec.new_name, "")]
            drops += [drop_sql(spec, part.new_name) for part in spec.partitions]
        body = [*(st.sql for st in sets), *drops, *resets]
        return [
            "def downgrade() -> None:",
            "    with op.get_context().autocommit_block():",
            *(line for sql in body for line in _execute(sql, 8)),
        ]
    assert spec.old_name is not None
    old = recreate_old_sql(spec)
    if old is None:
        raise BadInputError(
            f"no recorded definition of {spec.old_name}: the downgrade could not recreate it"
        )
    sets, resets = _settings(spec, build=True)
    lines = [line for st in sets for line in _execute(st.sql, 8)]
    if spec.rename:
        lines += [
            "        if _state(NEW_INDEX) is None:  # not given back by an earlier attempt",
            *_execute(rename_sql(spec, spec.old_name, spec.new_name), 12),
        ]
    if spec.partitioned:
        lines += _execute(old, 8)
        for n, part in enumerate(spec.partitions, 1):
            again = recreate_old_partition_sql(spec, part)
            assert again is not None and part.old_name is not None
            name = _part_name(True, n)
            drop = (name, drop_sql(spec, part.old_name))
            lines += _build_lines(drop, (name, again), "the new index was kept")
            lines += _execute(attach_sql(spec, spec.old_name, part.old_name), 8)
        lines += [
            "        if not _state(OLD_INDEX):",
            '            raise RuntimeError(f"{OLD_INDEX} is not valid; the new index was kept")',
        ]
        lines += _drop_partitioned(spec, spec.new_name)
    else:
        leftover = ("OLD_INDEX", drop_sql(spec, spec.old_name))
        lines += _build_lines(leftover, ("OLD_INDEX", old), "the new index was kept")
        lines += _execute(drop_sql(spec, spec.new_name), 8)
    lines += [line for sql in resets for line in _execute(sql, 8)]
    return [
        "def downgrade() -> None:",
        "    with op.get_context().autocommit_block():",
        *lines,
    ]


def alembic_revision(
    spec: MigrationSpec,
    *,
    revision: str,
    down_revision: str | None,
    message: str | None = None,
    pgvector_min: str | None = None,
    created: datetime | None = None,
) -> str:
    """An Alembic revision file (Python source) that runs the migration.

    ``upgrade()`` checks the pgvector version, then in an autocommit block sets
    ``lock_timeout`` and ``statement_timeout = 0`` (and the build settings the plan
    chose), drops an invalid leftover of an interrupted build, builds the new index
    concurrently with its explicit operator class, checks it is valid, and only then
    drops the old index (and renames the new one, when asked). ``downgrade()`` recreates
    the old index concurrently from its recorded definition before dropping the new one.
    Every statement is ``IF [NOT] EXISTS``, so a failed run (a lock timeout, say) can
    simply be run again.

    Args:
        spec: The migration; a rebuild needs the old index's recorded definition.
        revision: This revision's id (see :func:`new_revision_id`).
        down_revision: The revision it follows, ``None`` for the first.
        message: The docstring's first paragraph; by default what the migration does.
        pgvector_min: The oldest pgvector to accept; by default :func:`pgvector_minimum`
            (``"0.5.0"`` for hnsw).
        created: The ``Create Date`` written in the docstring; by default now.

    Returns:
        The file's text: valid Python that passes ``ruff check`` and ``ruff format``.

    Raises:
        BadInputError: An unknown migration kind, an unparseable ``pgvector_min``, a
            rebuild without the old definition, or a statement sqlalchemy.text() would
            alter.
    """
    if spec.kind not in (Kind.REBUILD, Kind.CREATE, Kind.REINDEX):
        raise BadInputError(f"unknown migration kind {spec.kind!r}")
    wanted = pgvector_min or pgvector_minimum(spec)
    version = parse_version(wanted)
    if version is None or not re.fullmatch(r"\d+(\.\d+){0,2}", wanted):
        raise BadInputError(f"pgvector_min must look like 0.5.0, not {wanted!r}")
    when = (created or datetime.now()).strftime("%Y-%m-%d %H:%M:%S")
    about = textwrap.fill(_docstring(message or f"vecscope: {describe(spec)}"), _WIDTH - 3)
    names = [("NEW_INDEX", spec.new_name)]
    if spec.kind == Kind.REBUILD and spec.old_name:
        names.append(("OLD_INDEX", spec.old_name))
    if spec.kind == Kind.REINDEX and spec.old_name:
        names = [("INDEX", spec.old_name), ("LEFTOVER", spec.old_name + "_ccnew")]
    for n, part in enumerate(spec.partitions, 1):
        names.append((_part_name(False, n), part.new_name))
    if spec.kind == Kind.REBUILD:
        for n, part in enumerate(spec.partitions, 1):
            if part.old_name:
                names.append((_part_name(True, n), part.old_name))
    head = [
        f'"""{about}',
        "",
        "Written by vecscope from its migration plan: the statements the wizard runs, without",
        "the recall and latency check it makes between the build and the cutover.",
        "",
        f"Revision ID: {_docstring(revision)}",
        f"Revises: {_docstring(down_revision or '')}".rstrip(),
        f"Create Date: {when}",
        "",
        '"""',
        "",
        "import re",
        "from collections.abc import Sequence",
        "",
        "import sqlalchemy as sa",
        "from alembic import op",
        "",
        "# revision identifiers, used by Alembic.",
        f"revision: str = {_literal(revision)}",
        f"down_revision: str | None = {_literal(down_revision) if down_revision else None}",
        "branch_labels: str | Sequence[str] | None = None",
        "depends_on: str | Sequence[str] | None = None",
        "",
        f"#: The oldest pgvector that can build this index ({spec.method}, {spec.column_type}).",
        f"PGVECTOR_MIN = {version}",
        f"SCHEMA = {_literal(spec.schema)}",
        *(f"{key} = {_literal(value)}" for key, value in names),
        "",
    ]
    parts = [head, _HELPERS.split("\n"), ["", *_upgrade(spec), "", "", *_downgrade(spec)]]
    return "\n".join(line for part in parts for line in part).rstrip("\n") + "\n"
