"""The FAISS mode's form glue: paths typed in its forms, labels, and the tuning request.

The domain logic (conversion targets and their file names, the tuning workload, the
deployment text) lives in :mod:`vecscope.core.faissidx.workload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vecscope.core.faissidx.structure import IndexInfo
from vecscope.core.faissidx.structure import factory_of as guessed_factory
from vecscope.core.faissidx.tune import Point

#: The Select's value for a factory typed by hand.
CUSTOM = "custom"


def path_of(text: str, base: Path) -> Path | None:
    """A path typed in a form: ``None`` when empty, relative to ``base`` (the file's folder)."""
    text = text.strip()
    if not text:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def home_relative(path: Path) -> str:
    """``/home/me/data`` -> ``~/data``: shorter, and the same on every machine of a user."""
    try:
        rest = path.resolve().relative_to(Path.home().resolve())
    except ValueError:
        return str(path)
    return "~" if not rest.parts else f"~/{rest}"


def factory_of(info: IndexInfo, converted_with: str | None = None) -> str:
    """The factory string for the deployment snippet: the one used here, else a guess."""
    return converted_with or guessed_factory(info)


def point_label(point: Point) -> str:
    """A point's label on the plot: its knob values (``16``, or ``16/64`` for two knobs)."""
    return "/".join(str(v) for v in point.values.values()) or "-"


@dataclass(frozen=True, slots=True)
class TuneRequest:
    """What the tuning worker needs: the file, what it is, and the form's choices."""

    path: Path
    info: IndexInfo
    queries: Path | None
    vectors: Path | None
    target: float
    #: The file this one was converted from here (its exact vectors), if any.
    origin: Path | None
    factory: str
