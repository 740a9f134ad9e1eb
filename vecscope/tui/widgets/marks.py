"""Severity marks and colours, taken from the theme's variables only."""

from __future__ import annotations

from vecscope.core.models import Problem, Severity

MARK = {Severity.ERROR: "✗", Severity.WARNING: "▲", Severity.INFO: "i"}
STYLE = {Severity.ERROR: "$error", Severity.WARNING: "$warning", Severity.INFO: "$primary"}
OK_MARK = "✓"
OK_STYLE = "$success"


def worst(problems: tuple[Problem, ...]) -> Severity | None:
    """The most severe of ``problems``, or None."""
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        if any(p.severity == severity for p in problems):
            return severity
    return None
