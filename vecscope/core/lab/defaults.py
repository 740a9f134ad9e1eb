"""The lab's defaults, in a module light enough for the CLI's parser to import (no numpy,
no faiss): both front ends and the parser's help read them from here."""

from __future__ import annotations

#: Query vectors sampled from the table (``vecscope bench --queries`` and the Latency mode).
SAMPLE_QUERIES = 200
#: The recall a recommendation must reach (``--target-recall`` and the Latency mode).
TARGET_RECALL = 0.95
#: The k both front ends start measuring at.
DEFAULT_K = 10
#: The Latency mode computes exact answers this deep, so k can move up to it live.
LIVE_MAX_K = 50
