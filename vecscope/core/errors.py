"""One small error hierarchy, so the CLI and the TUI can show any failure as one line.

Errors carry a title and a one-line message; the caller decides how to show them
(a CLI prints ``vecscope: <message>`` and exits 2, the TUI shows a screen or a toast).
"""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of an exception's text (libpq and faiss add detail lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class VecscopeError(Exception):
    """Base of every error vecscope raises on purpose.

    Args:
        message: One line saying what went wrong and, where possible, what to do.
        title: A short heading for dialogs.
    """

    title = "Error"
    exit_code = 2

    def __init__(self, message: str, *, title: str | None = None) -> None:
        # Errors are shown on one line: fold whatever libpq or the OS gave us.
        self.message = " ".join(message.split())
        if title is not None:
            self.title = title
        super().__init__(self.message)


class BadInputError(VecscopeError):
    """The user asked for something that cannot be done as written."""

    title = "Bad input"


class ConnectError(VecscopeError):
    """The server could not be reached or refused us."""

    title = "Cannot connect"


class DsnError(ConnectError):
    """The connection string does not parse (known before any network).

    A connection problem, so front ends offer to fix the connection; the message never
    quotes the DSN, which may hold a password.
    """

    title = "Invalid connection string"


class ExtensionMissingError(VecscopeError):
    """The database has no pgvector extension installed."""

    title = "pgvector is not installed"


class PrivilegeError(VecscopeError):
    """The current role lacks a privilege that the action needs."""

    title = "Not allowed"


class QueryError(VecscopeError):
    """A catalog or workload query failed on the server."""

    title = "Query failed"


class EmbeddedServerError(VecscopeError):
    """The embedded demo server could not be started, seeded or stopped."""

    title = "Embedded server"


class BackupError(VecscopeError):
    """A backup could not be made or verified, so the migration must not go on."""

    title = "Backup failed"


class FaissFileError(VecscopeError):
    """A file is missing, not a FAISS index, truncated or corrupt."""

    title = "Not a usable FAISS index"


class MigrationError(VecscopeError):
    """A migration step failed; the journal and the database say where it stopped."""

    title = "Migration stopped"


class JournalError(MigrationError):
    """The migration journal could not be written whole (a full disk, a quota)."""

    title = "Journal not written"
