"""Where vecscope keeps its own files: the user's state directory.

``VECSCOPE_STATE_DIR`` moves it (the tests point it at a temporary directory).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def state_dir() -> Path:
    base = os.environ.get("VECSCOPE_STATE_DIR")
    return Path(base) if base else platformdirs.user_state_path("vecscope")
