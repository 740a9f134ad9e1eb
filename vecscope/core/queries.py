"""SQL lives in ``core/sql/*.sql``; this module loads it and picks version variants.

Keeping the text in files (as pg_activity does) lets a DBA read exactly what vecscope
runs against their server. Variants by server version are chosen here and nowhere else.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of ``core/sql/<name>.sql``."""
    return (
        resources.files("vecscope.core").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
    )


def indexes_sql(server_version_num: int) -> str:
    """The index inventory query for this server version."""
    last_scan = "s.last_idx_scan::text" if server_version_num >= 160000 else "NULL::text"
    return load("indexes").replace("LAST_SCAN", last_scan)
