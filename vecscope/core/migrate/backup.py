"""The migration wizard's "backup first" step: a verified pg_dump, or a confirmed backup.

A migration drops and rebuilds indexes, and a wrong turn (a cut over to a bad index, a
rollback that meets a changed table) is cheapest to undo from a copy of the table taken
just before. The dump uses pg_dump's *custom* format because only that format (and
``directory``) lets ``pg_restore --table`` bring back one table out of a database dump,
in parallel, without replaying a whole SQL script.

An unverified dump is not a backup: pg_dump can exit 0 having matched no table, a disk
can fill half way, a wrapper script can lie. So the file is fsynced, hashed, and read back
with ``pg_restore --list`` before it is trusted; only then does it get its final name, and
a failed or doubtful file is deleted rather than left to look like a backup.

pg_dump refuses servers newer than itself, so :func:`find_pg_dump` looks for one at least
as new as the server: ``PG_BIN``, then ``PATH``, the embedded server's programs and
Debian's ``/usr/lib/postgresql/*/bin``, preferring the closest major version.

While pg_dump runs, :func:`dump` reports a :class:`BackupProgress` about once a second:
the bytes written so far against the size of the data it reads (the pages of the table
and its TOAST in ``pg_class``, read without a lock: an estimate, as the dump is
compressed text), then the hashing and the verification; front ends show it instead of
a bare "running".

Managed servers (RDS, Cloud SQL, ...) keep point-in-time backups that beat any dump of a
large table; :func:`confirmed` records the identifier of such a backup that the user typed.
The password reaches pg_dump only through ``PGPASSWORD`` in its environment, never its
command line (which ``ps`` shows to every user), and every error is redacted.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo

from vecscope.core import db, embedded
from vecscope.core.connection import redact
from vecscope.core.errors import BackupError, BadInputError, VecscopeError, first_line
from vecscope.core.fmt import human_bytes
from vecscope.core.sqltext import display_ident, ident

KIND_TABLE = "table"  # pg_dump --table of the migrated table
KIND_DATABASE = "database"  # pg_dump of the whole database
KIND_CONFIRMED = "confirmed"  # the user named an existing (managed, PITR) backup
KINDS = (KIND_TABLE, KIND_DATABASE, KIND_CONFIRMED)

#: Where Debian and Ubuntu install each major version's client programs side by side.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: ``pg_dump --version`` answers at once; anything slower is not a pg_dump we want.
VERSION_TIMEOUT_S = 10
_CHUNK = 1 << 20
_VERSION = re.compile(r"\(PostgreSQL\)\s+((\d+)(?:\.(\d+))?\S*)")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class BackupRecord:
    """A backup the migration may rely on. Plain data: the journal keeps it."""

    kind: str
    #: The dump file (``None`` for a confirmed backup).
    path: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    #: The version of the pg_dump that wrote it, e.g. ``"16.2"``.
    pg_dump_version: str | None = None
    #: Qualified names of the tables whose data the dump was verified to hold.
    tables: tuple[str, ...] = ()
    #: The managed backup's identifier, as the user typed it (confirmed backups only).
    identifier: str | None = None
    #: When the backup was taken or confirmed, ISO 8601 in UTC.
    created: str = field(default_factory=_now)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tables"] = list(self.tables)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackupRecord:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["tables"] = tuple(values.get("tables") or ())
        return cls(**values)


# --- progress ----------------------------------------------------------------------------

PHASE_DUMPING = "dumping"  # pg_dump runs: bytes written so far
PHASE_HASHING = "hashing"  # the file is read back, hashed and fsynced
PHASE_VERIFYING = "verifying"  # pg_restore --list reads it
PHASE_DONE = "done"  # verified and renamed: bytes_done is the file's size

#: At most one report this often (phase changes are always reported).
REPORT_S = 1.0
#: How often pg_dump's file is looked at (never more often than ``report_s``).
POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class BackupProgress:
    """How far a dump got; plain data, made on the thread that runs :func:`dump`."""

    phase: str
    #: ``public.doc_chunks`` (display form), or ``the database``.
    what: str
    #: Bytes written (dumping) or read back (hashing); the file's size when done.
    bytes_done: int
    #: What ``bytes_done`` is heading for (``None``: unknown).
    bytes_total: int | None
    #: ``bytes_total`` is an estimate (while dumping: the data's size in the catalog).
    estimated: bool
    elapsed_s: float

    @property
    def fraction(self) -> float | None:
        """0..1 of the phase, capped below 1 until an estimated phase ends."""
        if self.phase == PHASE_DONE:
            return 1.0
        if not self.bytes_total:
            return None
        cap = 0.99 if self.estimated else 1.0
        return max(0.0, min(cap, self.bytes_done / self.bytes_total))

    def text(self) -> str:
        """``dumping public.doc_chunks: 41.0 MB of about 120.0 MB, 12 s``."""
        done = human_bytes(self.bytes_done)
        of = ""
        if self.bytes_total:
            of = f" of {'about ' if self.estimated else ''}{human_bytes(self.bytes_total)}"
        took = f"{self.elapsed_s:.0f} s"
        if self.phase == PHASE_DUMPING:
            return f"dumping {self.what}: {done}{of}, {took}"
        if self.phase == PHASE_HASHING:
            return f"hashing the dump of {self.what}: {done}{of}, {took}"
        if self.phase == PHASE_VERIFYING:
            return f"verifying the dump of {self.what} (pg_restore --list), {done}, {took}"
        return f"dump of {self.what} verified: {done}, {took}"


OnProgress = Callable[[BackupProgress], None]


class _Reporter:
    """Sends :class:`BackupProgress` to a callback: every phase change, and within a
    phase at most once every ``report_s``."""

    def __init__(self, on_progress: OnProgress | None, what: str, report_s: float) -> None:
        self.on_progress = on_progress
        self.what = what
        self.report_s = report_s
        self.started = time.monotonic()
        self._last: tuple[str, float] = ("", 0.0)

    def __call__(
        self, phase: str, done: int, total: int | None, *, estimated: bool, force: bool = False
    ) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not force and phase == self._last[0] and now - self._last[1] < self.report_s:
            return
        self._last = (phase, now)
        self.on_progress(
            BackupProgress(phase, self.what, done, total, estimated, now - self.started)
        )


def said_every(
    say: Callable[[str], None], *, show_after_s: float = 2.0, every_s: float = 5.0
) -> OnProgress:
    """Progress as lines for a front end that only shows lines (a step's log): nothing
    for a backup done within ``show_after_s``, then a line every ``every_s``."""
    last = [float("-inf")]

    def show(p: BackupProgress) -> None:
        if p.elapsed_s < show_after_s or p.elapsed_s - last[0] < every_s:
            return
        last[0] = p.elapsed_s
        say(p.text())

    return show


def _expected_bytes(dsn: str, password: str | None, kind: str, tables: Sequence[str]) -> int | None:
    """About the data the dump reads, from the catalog's page counts (``None`` if the
    server will not say, or has not counted yet: the dump goes on without a total)."""
    try:
        with psycopg.connect(dsn, password=password, connect_timeout=10) as conn:
            size = db.row(conn, "migrate_dump_estimate", {"tables": list(tables)})
    except psycopg.Error:
        return None
    if size is None:
        return None
    value = size["table_bytes" if kind == KIND_TABLE else "database_bytes"]
    return int(value) if value else None


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _run_reporting(
    argv: list[str],
    env: dict[str, str],
    tmp: Path,
    report: _Reporter,
    expected: int | None,
    poll_s: float,
) -> tuple[int, bytes]:
    """Run pg_dump, reporting the size of its file while it writes; its exit status and
    stderr. pg_dump is killed if this thread is interrupted (Ctrl-C)."""
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
    )
    try:
        report(PHASE_DUMPING, 0, expected, estimated=True, force=True)
        while True:
            try:
                _, stderr = proc.communicate(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                report(PHASE_DUMPING, _file_size(tmp), expected, estimated=True)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode == 0:
        report(PHASE_DUMPING, _file_size(tmp), expected, estimated=True, force=True)
    return proc.returncode, stderr


# --- finding pg_dump ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tools:
    pg_dump: Path
    pg_restore: Path
    version: str
    rank: int


def _rank(major: int, minor: int) -> int:
    # Before PostgreSQL 10 a major version had two parts (9.6); from 10 on, one (16).
    return major * 10_000 if major >= 10 else major * 10_000 + minor * 100


def _server_rank(server_version_num: int) -> int:
    major, rest = divmod(server_version_num, 10_000)
    return _rank(major, rest // 100)


def _rank_label(rank: int) -> str:
    major, rest = divmod(rank, 10_000)
    return str(major) if major >= 10 else f"{major}.{rest // 100}"


def _search_dirs() -> list[Path]:
    dirs: list[Path] = []
    pg_bin = os.environ.get("PG_BIN")
    if pg_bin:
        dirs.append(Path(pg_bin).expanduser())
    # An empty PATH entry means the current directory: never run a pg_dump from there.
    dirs.extend(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p)
    with contextlib.suppress(VecscopeError):  # no embedded backend installed
        dirs.append(embedded.bin_dir())
    dirs.extend(Path(p) for p in sorted(glob.glob(DEBIAN_BIN_GLOB)))
    seen: set[str] = set()
    unique: list[Path] = []
    for d in dirs:
        key = os.path.realpath(d)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _version_of(program: Path) -> tuple[str, int] | None:
    """``("16.2", rank)`` from ``pg_dump (PostgreSQL) 16.2``; ``None`` if it will not say."""
    try:
        result = subprocess.run(
            [str(program), "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(result.stdout)
    if result.returncode != 0 or match is None:
        return None
    return match.group(1), _rank(int(match.group(2)), int(match.group(3) or 0))


def _locate(server_version_num: int) -> _Tools:
    need = _server_rank(server_version_num)
    found: list[str] = []
    best: _Tools | None = None
    pg_bin = os.environ.get("PG_BIN")
    if pg_bin and not _executable(Path(pg_bin).expanduser() / "pg_dump"):
        found.append(f"no pg_dump in PG_BIN={pg_bin}")
    for directory in _search_dirs():
        pg_dump = directory / "pg_dump"
        if not _executable(pg_dump):
            continue
        probed = _version_of(pg_dump)
        if probed is None:
            found.append(f"an unreadable pg_dump in {directory}")
            continue
        version, rank = probed
        pg_restore = directory / "pg_restore"
        if not _executable(pg_restore):
            found.append(f"{version} in {directory} without pg_restore")
            continue
        found.append(f"{version} in {directory}")
        # Strictly lower: among equal majors the first in search order (PG_BIN) wins.
        if rank >= need and (best is None or rank < best.rank):
            best = _Tools(pg_dump, pg_restore, version, rank)
    if best is None:
        label = _rank_label(need)
        seen = ", ".join(found) if found else "none on PG_BIN, PATH or the embedded server"
        raise BackupError(
            f"need pg_dump {label} or newer for this PostgreSQL {label} server, found {seen}: "
            f"set PG_BIN to the bin directory of PostgreSQL {label} or newer"
        )
    return best


def find_pg_dump(server_version_num: int) -> tuple[Path, Path]:
    """Find a ``pg_dump`` that can dump this server and the ``pg_restore`` beside it.

    pg_dump refuses servers of a newer major version, and an older pg_restore cannot read
    a newer dump, so both come from one directory whose pg_dump is at least the server's
    major version; the closest such major wins, ties go to the earlier directory.

    Args:
        server_version_num: The server's ``server_version_num``, e.g. ``160002``.

    Returns:
        The paths of ``pg_dump`` and ``pg_restore``.

    Raises:
        BackupError: No suitable pg_dump: the line says which versions were found where.
    """
    tools = _locate(server_version_num)
    return tools.pg_dump, tools.pg_restore


# --- dumping -----------------------------------------------------------------------------


def _split_password(conninfo: str, password: str | None) -> tuple[str, str | None]:
    """Take any password out of the connection string: it must not reach argv."""
    try:
        params = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as e:
        raise BadInputError(redact(f"invalid DSN: {first_line(e)}", password)) from e
    inline = params.pop("password", None)
    if inline is None:
        return conninfo, password
    return pg_conninfo.make_conninfo("", **params), password if password else str(inline)


def _stderr_reason(stderr: bytes, returncode: int) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    # Warnings may come first; the line that says "error:" is the one that explains.
    errors = [ln for ln in lines if "error:" in ln.lower()]
    reason = (errors or lines or [""])[0]
    reason = re.sub(r"^(pg_dump|pg_restore):\s*(error:\s*)?", "", reason)
    if reason:
        return reason
    return f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"


def _hash_and_sync(path: Path, progress: Callable[[int], None] = lambda _: None) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            progress(size)
        os.fsync(f.fileno())
    return size, digest.hexdigest()


def _sync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _toc_name(name: str) -> str:
    # pg_restore --list prints names unquoted, with newlines turned into spaces.
    return name.replace("\r", " ").replace("\n", " ")


def _lists_table_data(listing: str, schema: str, table: str, entry: str = "TABLE DATA") -> bool:
    # Entries read "<id>; <tableoid> <oid> TABLE DATA <schema> <name> <owner>", all
    # unquoted, so "search Product Embeddings postgres" could also be table "Product"
    # owned by "Embeddings postgres": the listing is filtered to this one table by name
    # (pg_restore --schema/--table match names exactly), and the text is checked too.
    expected = f"{entry} {_toc_name(schema)} {_toc_name(table)} "
    for line in listing.splitlines():
        _, sep, entry = line.partition("; ")
        parts = entry.split(" ", 2)
        if sep and len(parts) == 3 and (parts[2] + " ").startswith(expected):
            return True
    return False


def _listing(path: Path, schema: str, table: str, pg_restore: Path) -> str:
    """``pg_restore --list`` of the dump, filtered to one table."""
    try:
        result = subprocess.run(
            [str(pg_restore), "--list", f"--schema={schema}", f"--table={table}", str(path)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as e:
        raise BackupError(f"cannot run {pg_restore}: {e.strerror or e}") from e
    if result.returncode != 0:
        reason = _stderr_reason(result.stderr, result.returncode)
        raise BackupError(f"pg_restore cannot read {path.name}: {reason}")
    return result.stdout.decode("utf-8", "replace")


def verify_dump(
    path: Path,
    schema: str,
    table: str,
    *,
    pg_restore: Path,
    partitions: Sequence[str] | None = None,
) -> None:
    """Check with ``pg_restore --list`` that a custom-format dump holds a table's data.

    Args:
        path: The dump file.
        schema: The table's schema, unquoted.
        table: The table's name, unquoted.
        pg_restore: The pg_restore to read it with (as new as the pg_dump that wrote it).
        partitions: For a partitioned table (which holds no data itself): its partitions,
            in the same schema, each of which must have its data in the dump, and the
            parent its definition.

    Raises:
        BackupError: The file is not a readable archive or has no data for the table
            (for a partition).
    """
    if partitions is None:
        wanted = [(table, "TABLE DATA")]
    else:
        wanted = [(table, "TABLE"), *((p, "TABLE DATA") for p in partitions)]
    for name, entry in wanted:
        if not _lists_table_data(_listing(path, schema, name, pg_restore), schema, name, entry):
            what = "no data for" if entry == "TABLE DATA" else "no definition of"
            raise BackupError(
                f"{path.name} holds {what} {display_ident(schema, name)} "
                f"(pg_restore --list shows no {entry} entry for it)"
            )


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def label_for(migration_id: str, table: str) -> str:
    """A dump's base name: ``vecscope-<migration id>-<table>``, the table's name reduced
    to letters, digits, ``_``, ``.`` and ``-`` (a table may be called ``a/b`` or
    ``x'; DROP TABLE y; --``; a file name must not carry that)."""
    slug = _UNSAFE.sub("_", table).strip("._-")[:40] or "table"
    return f"vecscope-{migration_id}-{slug}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: the child gets SIGKILL when the thread that started it dies, so a pg_dump
    never outlives a vecscope killed with SIGKILL (it would run on, re-parented to init,
    and fill the disk). Elsewhere a no-op: the next resume removes the partial file."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


_PR_SET_PDEATHSIG = 1


def _check_label(label: str) -> None:
    if not label.strip() or label.startswith(".") or "/" in label or "\0" in label:
        raise BadInputError(f"backup label {label!r} cannot be a file name")
    if os.altsep and os.altsep in label:
        raise BadInputError(f"backup label {label!r} cannot be a file name")


def dump(
    conninfo: str,
    password: str | None,
    *,
    kind: str,
    schema: str,
    table: str,
    backup_dir: Path,
    server_version_num: int,
    label: str,
    partitions: Sequence[str] | None = None,
    on_progress: OnProgress | None = None,
    report_s: float = REPORT_S,
) -> BackupRecord:
    """Dump a table (or its whole database) in custom format and verify the file.

    pg_dump writes to a temporary file in ``backup_dir``; the file is fsynced, hashed and
    listed with pg_restore, and only then renamed to ``<label>.dump``. On any failure
    the partial file is deleted, so a file with that name is always a verified dump.

    Args:
        conninfo: The libpq connection string; a ``password=`` in it is moved to the
            environment, like ``password``.
        password: Given to pg_dump as ``PGPASSWORD`` only, never on its command line.
        kind: ``"table"`` to dump ``schema.table``, ``"database"`` for everything.
        schema: The migrated table's schema, unquoted.
        table: The migrated table, unquoted; a database dump is verified to hold it too.
        backup_dir: Created (mode 0700) if missing.
        server_version_num: The server's ``server_version_num``, to pick a pg_dump.
        label: The file's base name, e.g. ``vecscope-20261121-071500-doc_chunks``.
        partitions: For a partitioned table, its partitions (same schema): a table dump
            takes them too (``--table-and-children``; before pg_dump 16 each by name),
            and every one must have its data in the file.
        on_progress: Called on this thread with a :class:`BackupProgress` at each phase
            (dumping, hashing, verifying, done) and, within one, at most every
            ``report_s`` seconds (0: at every look, a few times a second).
        report_s: See ``on_progress``.

    Returns:
        The record of the verified dump.

    Raises:
        BadInputError: An unknown kind, a label that is no file name, an invalid DSN.
        BackupError: No suitable pg_dump, pg_dump failed, or the dump did not verify;
            one redacted line, with pg_dump's own reason.
    """
    if kind not in (KIND_TABLE, KIND_DATABASE):
        raise BadInputError(f"unknown backup kind {kind!r}: use table or database")
    _check_label(label)
    dsn, password = _split_password(conninfo, password)
    tools = _locate(server_version_num)
    shown = display_ident(schema, table)
    try:
        backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=backup_dir, prefix=f".{label}.", suffix=".part")
        os.close(fd)
    except OSError as e:
        raise BackupError(f"cannot write a backup in {backup_dir}: {e.strerror or e}") from e
    tmp = Path(tmp_name)
    final = backup_dir / f"{label}.dump"
    argv = [str(tools.pg_dump), "--format=custom", f"--file={tmp}", "--no-password"]
    if kind == KIND_TABLE:
        # --strict-names: a pattern that matches nothing is an error, not an empty dump.
        argv += ["--strict-names", *_table_options(tools, schema, table, partitions)]
    argv.append(f"--dbname={dsn}")
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    what = f"table {shown}" if kind == KIND_TABLE else "the database"
    report = _Reporter(on_progress, shown if kind == KIND_TABLE else "the database", report_s)
    expected = None
    if on_progress is not None:
        tables = [ident(schema, name) for name in (table, *(partitions or ()))]
        expected = _expected_bytes(dsn, password, kind, tables)
    kept = False
    try:
        try:
            returncode, stderr = _run_reporting(
                argv, env, tmp, report, expected, max(0.01, min(POLL_S, report_s))
            )
        except OSError as e:
            raise BackupError(f"cannot run {tools.pg_dump}: {e.strerror or e}") from e
        if returncode != 0:
            reason = _stderr_reason(stderr, returncode)
            raise BackupError(redact(f"pg_dump of {what} failed: {reason}", password))
        written = _file_size(tmp)
        report(PHASE_HASHING, 0, written, estimated=False, force=True)
        try:
            size, sha256 = _hash_and_sync(
                tmp, lambda n: report(PHASE_HASHING, n, written, estimated=False)
            )
        except OSError as e:
            raise BackupError(f"cannot read back {tmp}: {e.strerror or e}") from e
        if size == 0:
            raise BackupError(f"pg_dump of {what} wrote an empty file")
        report(PHASE_VERIFYING, size, size, estimated=False, force=True)
        verify_dump(tmp, schema, table, pg_restore=tools.pg_restore, partitions=partitions)
        try:
            os.replace(tmp, final)
        except OSError as e:
            raise BackupError(f"cannot rename the dump to {final}: {e.strerror or e}") from e
        kept = True
    finally:
        if not kept:
            with contextlib.suppress(OSError):
                tmp.unlink()
    _sync_dir(backup_dir)
    report(PHASE_DONE, size, size, estimated=False, force=True)
    return BackupRecord(
        kind=kind,
        path=str(final),
        bytes=size,
        sha256=sha256,
        pg_dump_version=tools.version,
        tables=(ident(schema, table), *(ident(schema, p) for p in partitions or ())),
    )


def _table_options(
    tools: _Tools, schema: str, table: str, partitions: Sequence[str] | None
) -> list[str]:
    """pg_dump's options for the table: ``--table`` of a partitioned table alone dumps
    its definition and none of its partitions' rows."""
    if partitions is None:
        return [f"--table={ident(schema, table)}"]
    if tools.rank >= _rank(16, 0):
        return [f"--table-and-children={ident(schema, table)}"]
    return [f"--table={ident(schema, name)}" for name in (table, *partitions)]


def confirmed(identifier: str) -> BackupRecord:
    """Record a backup the user vouches for: a managed server's snapshot or PITR point.

    Args:
        identifier: The backup's identifier as the provider shows it.

    Raises:
        BadInputError: The identifier is empty or only whitespace.
    """
    name = identifier.strip()
    if not name:
        raise BadInputError(
            "type the identifier of an existing backup (snapshot or restore point), "
            "or let vecscope take a dump"
        )
    return BackupRecord(kind=KIND_CONFIRMED, identifier=name)
