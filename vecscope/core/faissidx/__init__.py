"""The FAISS workbench: inspect index files, convert them to other types, tune them.

Untrusted files are first read in a child process (:mod:`core.faissidx.probe`): a corrupt
file can crash FAISS's reader, and that must never take vecscope down with it.
"""
