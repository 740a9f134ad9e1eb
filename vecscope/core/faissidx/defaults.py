"""FAISS tuning's defaults, defined once (light: the CLI's parser reads them without
importing FAISS)."""

from __future__ import annotations

#: recall@k: the default of ``vecscope faiss tune --k`` and the FAISS mode's k.
K = 10
#: Queries sampled from the index's own vectors by a direct call to ``workload``.
SAMPLE_QUERIES = 1000
#: Queries the FAISS mode samples from the vectors when no ``.npy`` is given (fewer, for
#: an answer at screen speed; ``vecscope faiss tune`` requires ``--queries``).
SCREEN_SAMPLE_QUERIES = 500
#: The recall target both front ends start from.
TARGET_RECALL = 0.95
#: Suffixes of FAISS files (what the FAISS mode's browser shows unless asked for all).
FAISS_SUFFIXES = frozenset({".index", ".faiss", ".bin", ".ivf"})
