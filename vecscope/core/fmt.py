"""Number formatting shared by the CLI tables and the TUI."""

from __future__ import annotations


def human_bytes(n: int | None) -> str:
    """``1536`` -> ``"1.5 kB"``, in PostgreSQL's pg_size_pretty units (1024-based)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_count(n: int | None) -> str:
    """``51234`` -> ``"51,234"``; unknown counts as ``"?"``."""
    return "?" if n is None else f"{n:,}"


def params_text(params: dict[str, int | float | str], explicit: tuple[str, ...]) -> str:
    """``m=16 ef_construction=64*`` where ``*`` marks a pgvector default."""
    return " ".join(f"{k}={v}" + ("" if k in explicit else "*") for k, v in params.items())


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain fixed-width text table, as psql prints one."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    sep = "-+-".join("-" * w for w in widths)
    body = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join([line, sep, *body])
