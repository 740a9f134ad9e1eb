"""A password in a malformed DSN is never printed, by any command, in any error.

Each DSN below is wrong in a different way: libpq refuses some outright (and quotes a token
of them in its error), parses others into nonsense (an unencoded ``@`` or ``/`` in the
password turns pieces of it into host, port or database), and a few reach the real server
with the wrong password. The real command line runs each; nothing is mocked.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import PASSWORD_ROLE
from tests.core.cli_helpers import Result, assert_one_line_error, vecscope
from vecscope.core.connection import ConnectionTarget
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.errors import DsnError
from vecscope.core.redaction import dsn_secrets, parse_error_reason, redact

#: (password, DSN) pairs; {sock} is the test server's socket directory.
MALFORMED = [
    ("Secret99-bracket", "postgresql://app:Secret99-bracket@[::1/x"),
    ("50%off!Secret", "postgresql://app:50%off!Secret@db/x"),
    ("Pct%zzSecret77", "postgresql://app:Pct%zzSecret77@/x"),
    ("Trail%2FSecret88%", "postgresql://app:Trail%2FSecret88%@/x"),
    ("Nul%00Secret44", "postgresql://app:Nul%00Secret44@/x"),
    ("Port-Secret55", "postgresql://app:Port-Secret55@127.0.0.1:notaport/x"),
    ("Unknown-Secret66", "postgresql://app:Unknown-Secret66@/x?bogus_param=1"),
    ("Query-Secret33", "postgresql://app:Query-Secret33@/x?sslmode"),
    ("Ipv6-Secret21", "postgresql://app:Ipv6-Secret21@[]/x"),
    ("Unclosed Secret 42", "host={sock} password='Unclosed Secret 42"),
    ("Spaced Secret Words", "password='Spaced Secret Words' bogus_opt=1"),
    ("Esc\\'aped Secret9", "password='Esc\\'aped Secret9 host={sock}"),
    ("Plain Secret99x", "host={sock} password=Plain Secret99x dbname=postgres"),
    ("Upper-Secret11", "POSTGRESQL://app:Upper-Secret11@/x"),
    ("NoScheme-Secret22", "app:NoScheme-Secret22@localhost/x"),
    ("Slash/Secret12x", "postgresql://app:Slash/Secret12x@/x"),
    ("Atsign@Colon:Slash/Tail99", "postgresql://app:Atsign@Colon:Slash/Tail99@/x"),
    ("Quote\"Secret'77", "postgresql://app:Quote\"Secret'77@/x?host={sock}&port=notaport"),
    ("Ünïcødé-Sécret", "postgresql://app:Ünïcødé-Sécret@/x?bogus=1"),
    ("%C3%9Cnicode%ZZSecret", "postgresql://app:%C3%9Cnicode%ZZSecret@/x"),
    # These reach the real server, which refuses the password libpq made of them.
    ("Real@Secret99", f"postgresql://{PASSWORD_ROLE}:Real@Secret99@/postgres?host={{sock}}"),
    ("Wrong%40Secret7", f"postgresql://{PASSWORD_ROLE}:Wrong%40Secret7@/postgres?host={{sock}}"),
    ("Sslpass-Secret5", "host={sock} sslpassword=Sslpass-Secret5 bogus=1"),
]

COMMANDS = [
    ("indexes",),
    ("indexes", "--json"),
    ("explain", "SELECT 1"),
    ("bench", "--table", "public.items", "--column", "embedding"),
    ("migrate", "plan", "--index", "public.items_embedding_idx"),
    ("live", "--json", "--duration", "1s"),
]


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSFILE"] = str(tmp_path / "no-pgpass")
    env["PGSERVICEFILE"] = str(tmp_path / "no-service-file")
    env["PGCONNECT_TIMEOUT"] = "5"
    return env


def _forbidden(password: str) -> set[str]:
    """The password, its decoded form, and every 6-character piece of either."""
    forms = {password, password.replace("\\'", "'"), unquote(password, errors="replace")}
    pieces = set(forms)
    for form in forms:
        pieces |= {form[i : i + 6] for i in range(len(form) - 5)}
    return pieces


def _assert_never_shown(password: str, result: Result, what: str) -> None:
    shown = result.out + result.err
    leaked = sorted(p for p in _forbidden(password) if p in shown)
    assert not leaked, (what, leaked, shown)


@pytest.mark.parametrize(("password", "dsn"), MALFORMED, ids=[p for p, _ in MALFORMED])
def test_no_command_shows_the_password(
    password: str, dsn: str, pg: EmbeddedServer, tmp_path: Path
) -> None:
    dsn = dsn.replace("{sock}", pg.socket_dir)
    env = _clean_env(tmp_path)
    with ThreadPoolExecutor(len(COMMANDS)) as pool:
        results = list(
            pool.map(lambda cmd: vecscope(*cmd, "--dsn", dsn, env=env, timeout=60), COMMANDS)
        )
    for cmd, result in zip(COMMANDS, results, strict=True):
        what = " ".join(cmd)
        assert_one_line_error(result)
        assert result.out == "", (what, result.out)
        _assert_never_shown(password, result, what)
        if PASSWORD_ROLE in dsn:  # scrubbing the password keeps the rest of the message
            assert f"{PASSWORD_ROLE}@local socket" in result.err, result.err
            assert "password authentication failed" in result.err, result.err


def test_a_dsn_where_an_argument_belongs(tmp_path: Path) -> None:
    """argparse quotes stray arguments; a DSN among them is scrubbed too."""
    dsn = "postgresql://app:Stray-Secret42@db/x"
    r = vecscope("indexes", dsn, env=_clean_env(tmp_path))
    assert_one_line_error(r, "unrecognized arguments")
    _assert_never_shown("Stray-Secret42", r, "stray")
    r = vecscope("indexes", "--dsn=password='Eq Secret 31", env=_clean_env(tmp_path))
    assert_one_line_error(r, "invalid DSN")
    _assert_never_shown("Eq Secret 31", r, "--dsn=")


def test_parse_errors_name_the_problem_not_the_dsn() -> None:
    with pytest.raises(DsnError) as caught:
        ConnectionTarget(dsn="postgresql://app:50%off!Secret@db/x").conninfo()
    assert caught.value.message.startswith("invalid DSN: invalid percent-encoded token")
    assert '"' not in caught.value.message
    with pytest.raises(DsnError) as caught:
        ConnectionTarget(dsn="host=db password=Plain Secret99x").conninfo()
    assert caught.value.message == 'invalid DSN: missing "=" after "…" in connection info string'
    assert ConnectionTarget(dsn="postgresql://app:pw@[::1/x").describe() == "invalid DSN"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('invalid percent-encoded token: "a%zz"', "invalid percent-encoded token"),
        ('invalid connection option "pa ss"', "invalid connection option"),
        ('missing "=" after "a"b" in connection info string', 'missing "=" after "…" in ...'),
        (
            'end of string reached when looking for matching "]" in IPv6 host address in URI: '
            '"postgresql://u:pw@[::1"',
            'end of string reached when looking for matching "]" in IPv6 host address in URI',
        ),
        ('odd "quote count', "odd"),
    ],
)
def test_parse_error_reason(message: str, reason: str) -> None:
    got = parse_error_reason(message)
    assert got == reason.replace(" ...", " connection info string")


def test_pieces_of_an_unencoded_password_are_scrubbed() -> None:
    # libpq takes "Se" as the password, "cr" as host, "et" as port and "99@db/x" as db.
    target = ConnectionTarget(dsn="postgresql://app:Se@cr:et/99@db/x")
    assert "cr:et/99" not in target.describe()
    secrets = dsn_secrets("postgresql://app:Se@cr:et/99@db/x")
    assert "Se@cr:et/99" in secrets and "cr:et/99" in secrets
    # A short password is scrubbed where it stands alone, not inside other words.
    assert redact("Servname for Se", secrets=["Se"]) == "Servname for ***"


def test_sslpassword_and_uri_query_passwords_are_candidates() -> None:
    assert "Ssl-Secret1" in dsn_secrets("host=h sslpassword=Ssl-Secret1")
    found = dsn_secrets("postgresql:///x?password=Q%40Secret&host=h")
    assert "Q%40Secret" in found and "Q@Secret" in found
