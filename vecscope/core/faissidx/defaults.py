"""FAISS tuning's defaults, defined once (light: the CLI's parser reads them without
importing FAISS)."""

from __future__ import annotations

#: recall@k: the default of ``vecscope faiss tune --k`` and the FAISS mode's k.
K = 10
#: Queries sampled from the index's own vectors (or the originals) when none are given:
#: ``vecscope faiss tune`` without ``--queries`` and the FAISS mode with an empty field.
SAMPLE_QUERIES = 500
#: Sampled queries a conversion's recall is verified on (``--check-queries``).
CHECK_QUERIES = 1000
#: The recall target both front ends start from.
TARGET_RECALL = 0.95
#: Suffixes of FAISS files (what the FAISS mode's browser shows unless asked for all).
FAISS_SUFFIXES = frozenset({".index", ".faiss", ".bin", ".ivf"})
