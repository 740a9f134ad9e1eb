"""Keeping passwords out of everything vecscope shows, even for DSNs libpq cannot parse.

A malformed DSN is exactly when there is no parsed password to scrub and when libpq quotes
pieces of the DSN back in its error. So the candidates here come from plain text rules,
not from libpq: the userinfo of anything shaped like a URI (ending at each ``@``, since a
password may hold an unencoded one), and the value of every ``password=`` (quoted or not;
up to the blank where libpq stops and up to the next ``key=``), each as written and
percent-decoded, plus every piece of them that libpq's tokenizer could quote on its own.
Scrubbing a word too many from an error costs a word; showing a password costs the password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"
#: Shorter pieces are too common to scrub inside other words (a port, ``db``); a short
#: password is still scrubbed wherever it stands on its own.
MIN_PIECE = 4
#: A candidate cut into more pieces than this is scrubbed piece by piece, not span by span.
_MAX_TOKENS = 40

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_PASSWORD_KEY = re.compile(r"password\s*=\s*", re.IGNORECASE)  # also sslpassword, PGPASSWORD
_NEXT_KEY = re.compile(r"(?:\s+|&)[A-Za-z_]+\s*=")
#: ``user:password@host`` with no scheme: a URI missing its ``postgresql://``.
_BARE_USERINFO = re.compile(r"[^\s=:/@]*:\S*@\S*")
#: The characters libpq splits connection strings at: blanks, quotes, URI delimiters.
_TOKEN = re.compile(r"""[^\s@:/?#&=,;'"\\\[\]]+""")

# Scrubbed in any text, whatever the password: the two ways a DSN spells one.
_PASSWORD_PAIR = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)
_URI_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)\S*@")


def _uri_passwords(text: str) -> list[str]:
    found: list[str] = []
    rests = [text[m.end() :] for m in _SCHEME.finditer(text)]
    if not rests and _BARE_USERINFO.fullmatch(text.strip()):
        rests.append(text.strip())
    for rest in rests:
        for at, char in enumerate(rest):
            if char == "@":
                _user, colon, password = rest[:at].partition(":")
                if colon and password:
                    found.append(password)
    return found


def _quoted_value(rest: str) -> list[str]:
    """A ``'...'`` value (maybe unterminated) as written and as libpq unescapes it."""
    chars: list[str] = []
    i = 1
    while i < len(rest):
        if rest[i] == "\\" and i + 1 < len(rest):
            chars.append(rest[i + 1])
            i += 2
            continue
        if rest[i] == "'":
            break
        chars.append(rest[i])
        i += 1
    return [rest[1:i], "".join(chars)]


def _keyword_passwords(text: str) -> list[str]:
    found: list[str] = []
    for m in _PASSWORD_KEY.finditer(text):
        rest = text[m.end() :]
        if rest.startswith("'"):
            found += _quoted_value(rest)
            continue
        first = re.match(r"[^\s&]*", rest)
        found.append(first.group() if first else "")
        following = _NEXT_KEY.search(rest)
        found.append((rest[: following.start()] if following else rest).strip())
    return found


def _pieces(candidate: str) -> set[str]:
    """Every run of whole tokens of ``candidate`` long enough to be worth scrubbing."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(candidate)]
    if len(tokens) > _MAX_TOKENS:
        return {candidate[a:b] for a, b in tokens if b - a >= MIN_PIECE}
    spans = set()
    for i, (start, _) in enumerate(tokens):
        for _, end in tokens[i:]:
            if end - start >= MIN_PIECE:
                spans.add(candidate[start:end])
    return spans


def dsn_secrets(text: str) -> tuple[str, ...]:
    """Everything in a DSN (or any text holding one) that may be, or be part of, a password.

    Works on text libpq cannot parse: it never calls libpq.

    Args:
        text: A connection string, a URI, or a command-line argument holding one.

    Returns:
        Candidates, longest first, for :func:`redact`'s ``secrets``.
    """
    candidates = {c for c in _uri_passwords(text) + _keyword_passwords(text) if c}
    candidates |= {unquote(c, errors="replace") for c in candidates if "%" in c}
    found = set(candidates)
    for candidate in candidates:
        found |= _pieces(candidate)
    return tuple(sorted(found, key=len, reverse=True))


def redact(text: str, password: str | None = None, *, secrets: Iterable[str] = ()) -> str:
    """Remove passwords from any text.

    ``password=`` pairs and URI userinfo passwords are masked whatever they hold; then every
    known secret: anywhere when it is at least :data:`MIN_PIECE` long, else only where it
    stands alone (a two-letter password inside a word gives nothing away).

    Args:
        text: What is about to be shown, logged or stored.
        password: A password known to be in use (the parsed one, ``PGPASSWORD``).
        secrets: More candidates, such as :func:`dsn_secrets` of the DSN.
    """
    text = _PASSWORD_PAIR.sub(rf"\1{MASK}", text)
    text = _URI_USERINFO.sub(rf"\1{MASK}@", text)
    known = {s for s in (password, *secrets) if s}
    for secret in sorted(known, key=len, reverse=True):
        if len(secret) >= MIN_PIECE:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![^\W_]){re.escape(secret)}(?![^\W_])", MASK, text)
    return text


def parse_error_reason(message: str) -> str:
    """libpq's reason a DSN does not parse, without the pieces of the DSN it quotes.

    libpq ends most of these with ``: "<the URI or a token>"`` and quotes a bad token
    elsewhere; only its own punctuation (``"="``, ``"]"``, ``":"``, ``"/"``) stays. A
    token may itself hold quotes, so everything from the first other quote to the last
    one becomes a single ``"…"``.
    """
    lines = message.strip().splitlines()
    text = lines[0] if lines else ""
    cut = text.find(': "')
    if cut >= 0:
        text = text[:cut]
    syntax = re.findall(r'"[=\]:/]"', text)
    marks = iter(range(len(syntax)))
    text = re.sub(r'"[=\]:/]"', lambda _: f"\x00{next(marks)}\x01", text)
    first, last = text.find('"'), text.rfind('"')
    if first >= 0:
        text = text[:first] + '"…"' + (text[last + 1 :] if last > first else "")
    text = re.sub(r"\x00(\d+)\x01", lambda m: syntax[int(m[1])], text)
    text = text.removesuffix(' "…"').strip()
    return text or "cannot be parsed"
