"""The history of explained queries, kept between runs (newest first, no duplicates).

One JSON line per query in the user's state directory (``VECSCOPE_STATE_DIR`` moves it,
as the tests do). Only query texts are kept: never a connection string or a password.
"""

from __future__ import annotations

import json
from pathlib import Path

from vecscope.core.paths import state_dir

MAX_ENTRIES = 200


def history_path() -> Path:
    return state_dir() / "explain_history.jsonl"


def load_history() -> list[str]:
    """Queries explained before, newest first."""
    try:
        lines = history_path().read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out: list[str] = []
    for line in reversed(lines):
        try:
            query = json.loads(line)["sql"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(query, str) and query not in out:
            out.append(query)
    return out[:MAX_ENTRIES]


def remember(query: str) -> None:
    """Add ``query`` as the newest entry; the file is trimmed to :data:`MAX_ENTRIES`."""
    query = query.strip()
    if not query:
        return
    kept = [q for q in load_history() if q != query][: MAX_ENTRIES - 1]
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            "".join(json.dumps({"sql": q}) + "\n" for q in reversed([query, *kept])),
            encoding="utf-8",
        )
        tmp.replace(path)
    except OSError:
        pass  # history is a convenience: a read-only home must not break explaining
