"""The ``vecscope faiss`` command line, kept apart so ``vecscope --help`` stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vecscope.core.faissidx.defaults import CHECK_QUERIES, SAMPLE_QUERIES, TARGET_RECALL, K


def add_parser(sub: Any, conn: argparse.ArgumentParser, parser_class: type) -> None:
    f = sub.add_parser("faiss", help="inspect, convert and tune FAISS index files")
    fsub = f.add_subparsers(dest="faiss_command", metavar="ACTION", required=True)
    i = fsub.add_parser("inspect", help="what a FAISS file holds")
    i.add_argument("file", type=Path)
    i.add_argument("--json", action="store_true")
    c = fsub.add_parser("convert", help="build another index type from a FAISS file")
    c.add_argument("src", type=Path)
    c.add_argument("dst", type=Path, help="the new file (never the source)")
    c.add_argument("--to", required=True, metavar="FACTORY", help="e.g. HNSW32, OPQ64,HNSW32_PQ64")
    c.add_argument("--vectors", type=Path, help="the original vectors (.npy) for a lossy source")
    c.add_argument("-k", "--k", dest="k", type=int, default=K, help=f"recall@k (default {K})")
    c.add_argument(
        "--check-queries",
        type=int,
        default=CHECK_QUERIES,
        help=f"sampled queries the recall is verified on (default {CHECK_QUERIES})",
    )
    c.add_argument("--json", action="store_true")
    t = fsub.add_parser("tune", help="sweep query-time parameters against a recall target")
    t.add_argument("file", type=Path)
    t.add_argument(
        "--queries",
        type=Path,
        help=f"query vectors (.npy, (n, d)); default: {SAMPLE_QUERIES} of the index's own "
        "vectors (or of --vectors)",
    )
    t.add_argument(
        "--sample",
        type=int,
        default=SAMPLE_QUERIES,
        metavar="N",
        help=f"queries sampled when --queries is not given (default {SAMPLE_QUERIES})",
    )
    t.add_argument("--ground-truth", type=Path, help="neighbour ids (.npy, (n, >= k))")
    t.add_argument(
        "--vectors",
        type=Path,
        help="the original vectors for a lossy index (.npy, or a FAISS file storing them exactly)",
    )
    t.add_argument("--target-recall", type=float, default=TARGET_RECALL)
    t.add_argument("--memory-budget", type=int, metavar="MB", help="also compare index types")
    t.add_argument("-k", "--k", dest="k", type=int, default=K)
    t.add_argument("--json", action="store_true")
    e = fsub.add_parser(
        "export", parents=[conn], add_help=False, help="a pgvector column to a FAISS file"
    )
    e.add_argument("--table", required=True, help="SCHEMA.TABLE")
    e.add_argument("--column", required=True)
    e.add_argument("out", type=Path)
    e.add_argument("--json", action="store_true")
