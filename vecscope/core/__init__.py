"""vecscope's logic: connections, catalog inventory, the embedded demo server.

Nothing in this package imports Textual, Rich or plotext: the headless CLI and the
TUI both call these functions, and a test checks the rule in a fresh interpreter.
"""
