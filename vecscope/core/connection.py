"""Connection handling: the psql-compatible way to name a server, and safe connecting.

A target is a DSN (URI or ``key=value``) plus psql's ``-h -p -U -d`` overrides; anything
left unset falls back to libpq's own rules (``PGHOST``, ``PGSERVICE``, ``.pgpass``, service
files), exactly as psql would. The password is never part of anything we show: every
description and error goes through :func:`redact` with the target's :meth:`secrets
<ConnectionTarget.secrets>`, which are found even in a DSN libpq cannot parse.
"""

from __future__ import annotations

import getpass
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.errors import ConnectError, DsnError
from vecscope.core.redaction import dsn_secrets, parse_error_reason
from vecscope.core.redaction import redact as redact

APPLICATION_NAME = "vecscope"
#: Catalog probes must never hang on a sick server.
PROBE_TIMEOUT_MS = 5_000
#: libpq waits forever by default; a 3 a.m. user wants an answer.
DEFAULT_CONNECT_TIMEOUT_S = 10


class Pooling(StrEnum):
    """What stands between vecscope and the server's sessions (``--pooler``)."""

    #: Find out (:func:`pooling_of`): the default.
    AUTO = "auto"
    #: A server session per connection, for as long as it lasts.
    NONE = "none"
    #: A session pooler (PgBouncer ``pool_mode = session``): the same as none for us.
    SESSION = "session"
    #: A transaction pooler (PgBouncer ``pool_mode = transaction``, and statement mode):
    #: two transactions of one connection may run on two server sessions.
    TRANSACTION = "transaction"


#: ``VECSCOPE_POOLER``: the same choice as ``--pooler``, for every command.
POOLER_ENV = "VECSCOPE_POOLER"


@dataclass(frozen=True, slots=True)
class ConnectionTarget:
    """Where to connect, as the user said it (DSN and/or psql-style flags)."""

    dsn: str = ""
    host: str | None = None
    port: str | None = None
    user: str | None = None
    dbname: str | None = None
    #: ``auto`` (detect), or what the user says is in between (``--pooler``).
    pooling: Pooling = Pooling.AUTO

    def conninfo(self) -> str:
        """The libpq connection string, with vecscope's defaults where the user set none.

        Raises:
            DsnError: The DSN does not parse; the message quotes no part of it.
        """
        given = self._parsed()
        extra: dict[str, str] = {}
        if "application_name" not in given:
            extra["fallback_application_name"] = APPLICATION_NAME
        if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
            extra["connect_timeout"] = str(DEFAULT_CONNECT_TIMEOUT_S)
        for key, value in (
            ("host", self.host),
            ("port", self.port),
            ("user", self.user),
            ("dbname", self.dbname),
        ):
            if value:
                extra[key] = value
        try:
            return pg_conninfo.make_conninfo(self.dsn, **extra)
        except psycopg.ProgrammingError as e:
            raise self._dsn_error(e) from e

    def _parsed(self) -> dict[str, object]:
        try:
            return dict(pg_conninfo.conninfo_to_dict(self.dsn))
        except psycopg.ProgrammingError as e:
            raise self._dsn_error(e) from e

    def _dsn_error(self, error: psycopg.ProgrammingError) -> DsnError:
        reason = parse_error_reason(str(error))
        if "invalid percent-encoded" in reason:
            reason += " (in a URI, write a % as %25)"
        return DsnError(redact(f"invalid DSN: {reason}", secrets=self.secrets()))

    def given(self) -> bool:
        """Whether anything names a server: a DSN, a flag, or libpq's variables."""
        if self.dsn or self.host or self.port or self.user or self.dbname:
            return True
        return any(os.environ.get(v) for v in ("PGHOST", "PGPORT", "PGDATABASE", "PGSERVICE"))

    def password(self) -> str | None:
        """The password given in the DSN or ``PGPASSWORD``, only so we can scrub it."""
        try:
            given = pg_conninfo.conninfo_to_dict(self.dsn)
        except psycopg.ProgrammingError:
            return None
        value = given.get("password") or os.environ.get("PGPASSWORD")
        return str(value) if value else None

    def secrets(self) -> tuple[str, ...]:
        """Every text that may be the password or part of it, for :func:`redact`.

        Found in the DSN as written even when libpq cannot parse it (see
        :func:`~vecscope.core.redaction.dsn_secrets`), plus ``PGPASSWORD``.
        """
        found = set(dsn_secrets(self.dsn))
        for value in (self.password(), os.environ.get("PGPASSWORD")):
            if value:
                found.add(value)
        return tuple(sorted(found, key=len, reverse=True))

    def describe(self) -> str:
        """``user@host:port/dbname`` as libpq would resolve it, never with a password.

        A DSN that does not parse is described as just that: what libpq would make of it
        is unknown, and the pieces it holds may be pieces of the password.
        """
        try:
            given = pg_conninfo.conninfo_to_dict(self.dsn)
        except psycopg.ProgrammingError:
            return "invalid DSN"

        def pick(flag: str | None, key: str, env: str, default: str) -> str:
            return str(flag or given.get(key) or os.environ.get(env) or default)

        host = pick(self.host, "host", "PGHOST", "local socket")
        port = pick(self.port, "port", "PGPORT", "5432")
        user = pick(self.user, "user", "PGUSER", _os_user())
        db = pick(self.dbname, "dbname", "PGDATABASE", user)
        if given.get("service") or os.environ.get("PGSERVICE"):
            service = given.get("service") or os.environ.get("PGSERVICE")
            return redact(f"service {service}", secrets=self.secrets())
        # A password with an unencoded @ or / leaves pieces of itself in host, port or db.
        return redact(f"{user}@{_host_label(host)}:{port}/{db}", secrets=self.secrets())


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What the header shows about a live connection. Never holds a password."""

    host: str
    port: int
    dbname: str
    user: str
    server_version: str

    @property
    def label(self) -> str:
        return f"{self.user}@{_host_label(self.host)}:{self.port}/{self.dbname}"


def _host_label(host: str) -> str:
    # A Unix socket directory is noise on screen (and differs per machine); psql's
    # \conninfo calls it "via socket", so do we.
    return "local socket" if host.startswith("/") or host.startswith("@") else host


def _explain_connect_failure(target: ConnectionTarget, err: psycopg.Error) -> str:
    raw = str(err).strip()
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    reason = lines[0] if lines else type(err).__name__
    # libpq: 'connection to server at "h" (1.2.3.4), port 5 failed: FATAL:  reason'
    if " failed: " in reason:
        reason = reason.rsplit(" failed: ", 1)[1]
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason)
    lowered = raw.lower()
    hint = ""
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        hint = " (check the password in the DSN, PGPASSWORD or ~/.pgpass)"
    elif "does not exist" in lowered and "database" in lowered:
        hint = " (list databases with: psql -l)"
    elif "connection refused" in lowered or "no such file or directory" in lowered:
        socket = re.search(r'on socket "([^"]+)"', raw)
        hint = (
            f" (no server listens on the socket {socket.group(1)}"
            if socket
            else " (is the server running and accepting connections there?"
        )
        if socket and not target.given():
            hint += (
                "; no connection was given: pass --dsn, or -h/-p/-U/-d as for psql, "
                "or set PGHOST/PGPORT/PGDATABASE or PGSERVICE"
            )
        hint += ")"
    elif "could not translate host name" in lowered:
        hint = " (check the host name)"
    elif "timeout expired" in lowered:
        hint = " (no answer within the connect timeout)"
    return redact(
        f"cannot connect to {target.describe()}: {reason}{hint}", secrets=target.secrets()
    )


def connect(
    target: ConnectionTarget,
    *,
    autocommit: bool = True,
    statement_timeout_ms: int | None = PROBE_TIMEOUT_MS,
) -> psycopg.Connection[TupleRow]:
    """Open a connection for catalog work.

    Args:
        target: Where to connect.
        autocommit: Catalog probes run in autocommit so they never hold a snapshot open.
        statement_timeout_ms: Applied with ``SET`` for this session only; ``None`` leaves
            the server's value (long jobs such as index builds pass ``None``).

    Raises:
        ConnectError: With one redacted line saying why.
    """
    conninfo = target.conninfo()
    pooled = pooling_of(target).mode == Pooling.TRANSACTION
    try:
        # Through a transaction pooler a named prepared statement may meet a server
        # session that never saw it (or already has one of its name): none are made.
        conn = psycopg.connect(
            conninfo, autocommit=autocommit, **({"prepare_threshold": None} if pooled else {})
        )
    except psycopg.Error as e:
        raise ConnectError(_explain_connect_failure(target, e)) from e
    if statement_timeout_ms is not None and not pooled:
        # Not through a transaction pooler: a session SET would stay on a server session
        # other clients then use, and our next statement may run on another one.
        db.execute(
            conn, "session_statement_timeout", timeout=sql.Literal(int(statement_timeout_ms))
        )
        if not autocommit:
            conn.commit()
    return conn


@contextmanager
def connected(
    target: ConnectionTarget, *, statement_timeout_ms: int | None = PROBE_TIMEOUT_MS
) -> Iterator[psycopg.Connection[TupleRow]]:
    """``with connected(target) as conn:`` for one-shot CLI work."""
    conn = connect(target, statement_timeout_ms=statement_timeout_ms)
    try:
        yield conn
    finally:
        conn.close()


def connection_info(conn: psycopg.Connection[TupleRow]) -> ConnectionInfo:
    """Describe a live connection for the header."""
    info = conn.info
    version = info.server_version
    major, minor = divmod(version, 10_000)
    return ConnectionInfo(
        host=info.host,
        port=int(info.port),
        dbname=info.dbname,
        user=info.user,
        server_version=f"{major}.{minor}",
    )


# --- poolers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolerProbe:
    """What :func:`pooling_of` found, and why it thinks so (shown to the user)."""

    mode: Pooling
    evidence: str

    @property
    def transaction_pooled(self) -> bool:
        return self.mode == Pooling.TRANSACTION


_probed: dict[str, PoolerProbe] = {}
_probe_lock = threading.Lock()


def pooling_of(target: ConnectionTarget) -> PoolerProbe:
    """Whether a pooler stands between us and the server, and in which mode.

    The user may say so (``--pooler``, ``VECSCOPE_POOLER``); otherwise it is found out
    once per target and process, with two connections:

    1. connection A asks for its server session's pid (autocommit, so its transaction
       ends at once);
    2. connection B opens a transaction and asks for its pid, and keeps it open;
    3. A asks again.

    Talking to the server itself, B's pid is never A's and A's never changes. Through a
    transaction pooler, B is handed the server session A just released (PgBouncer reuses
    the most recently used one), or A's second transaction lands on another session:
    either shows. Through a session pooler neither happens (the client keeps its server
    session, which is all vecscope needs), but the server's ``inet_server_port()``
    differs from the port we connected to, which is reported as a session pooler.
    A probe that fails (a one-connection limit, say) finds no pooler: say ``--pooler``.
    """
    chosen = target.pooling
    if chosen == Pooling.AUTO:
        env = os.environ.get(POOLER_ENV, "").strip().lower()
        if env:
            try:
                chosen = Pooling(env)
            except ValueError:
                chosen = Pooling.AUTO
    if chosen != Pooling.AUTO:
        return PoolerProbe(chosen, f"--pooler {chosen} (as configured)")
    key = target.conninfo()
    with _probe_lock:
        found = _probed.get(key)
        if found is None:
            found = _probe(key)
            _probed[key] = found
    return found


def _probe(conninfo: str) -> PoolerProbe:
    try:
        a = psycopg.connect(conninfo, autocommit=True, prepare_threshold=None)
    except psycopg.Error:
        # connect() itself will say why it cannot connect.
        return PoolerProbe(Pooling.NONE, "not probed: no connection")
    client_port = a.info.port
    try:
        first = db.row(a, "pooler_backend")
        try:
            b = psycopg.connect(conninfo, autocommit=True, prepare_threshold=None)
        except psycopg.Error:
            return PoolerProbe(Pooling.NONE, "not probed: a second connection was refused")
        try:
            with b.transaction():
                other = db.row(b, "pooler_backend")
                again = db.row(a, "pooler_backend")
        finally:
            b.close()
    except psycopg.Error as e:
        return PoolerProbe(Pooling.NONE, f"not probed: {type(e).__name__}")
    finally:
        a.close()
    if first is None or other is None or again is None:
        return PoolerProbe(Pooling.NONE, "not probed")
    pid, pid_b, pid_again = int(first["pid"]), int(other["pid"]), int(again["pid"])
    if pid_b == pid or pid_again != pid:
        return PoolerProbe(
            Pooling.TRANSACTION,
            f"one connection's transactions ran on server sessions {pid} and "
            f"{pid_again if pid_again != pid else pid_b}: a transaction pooler",
        )
    server_port = first["server_port"]
    if server_port is not None and int(server_port) != int(client_port):
        return PoolerProbe(
            Pooling.SESSION,
            f"the server listens on port {server_port}, the connection goes to "
            f"{client_port}: a pooler or proxy in session mode",
        )
    return PoolerProbe(Pooling.NONE, "each connection keeps its server session")


def _os_user() -> str:
    """The operating-system user, which libpq takes when no user is given."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "?"
