"""vecscope: a terminal cockpit for vector indexes in PostgreSQL (pgvector) and FAISS files.

``vecscope.core`` holds all logic and never imports Textual; ``vecscope.tui`` is the
terminal UI. The ``vecscope`` command is :func:`vecscope.cli.launch.main`.
"""

__version__ = "0.1.0"
