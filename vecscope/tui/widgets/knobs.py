"""The latency lab's knobs: their steps, and the one-line bar that shows them.

The knob state is a frozen record stepped by pure methods, so the screen's actions only
replace it and push it to the live lab; the bar renders whatever state it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.content import Content
from textual.widgets import Static

from vecscope.core.lab.measure import Knob, LabTarget, knob_for
from vecscope.core.pgvector import QUERY_SETTINGS_DEFAULTS

EF_SEARCH_STEPS = (10, 20, 40, 80, 160, 320, 640)
PROBES_STEPS = (1, 2, 5, 10, 20, 50, 100)
K_STEPS = (1, 5, 10, 20, 50)
THRESHOLDS_MS = (5, 10, 20, 50, 100)
MAX_CONCURRENCY = 16
ITERATIVE = ("off", "relaxed_order")


def knob_steps(target: LabTarget) -> tuple[int, ...]:
    """The values ``+``/``-`` step through; probes never beyond the index's lists."""
    if knob_for(target) != Knob.PROBES:
        return EF_SEARCH_STEPS
    lists = int(target.index.params.get("lists", 100)) if target.index else 100
    return tuple(
        sorted({v for v in PROBES_STEPS if v <= lists} | ({lists} if lists < 100 else set()))
    )


def step(values: tuple[int, ...], current: int, direction: int) -> int:
    """The next value of ``values`` above (direction 1) or below (-1) ``current``."""
    if direction > 0:
        return next((v for v in values if v > current), current)
    return next((v for v in reversed(values) if v < current), current)


@dataclass(frozen=True, slots=True)
class KnobState:
    """Everything the user tunes; the lab measures ``settings()`` from the next window."""

    knob: Knob
    values: tuple[int, ...]
    value: int
    max_k: int
    k: int = 10
    concurrency: int = 1
    #: The p50 latency target: the line on the latency plot, and what a sweep's
    #: recommendation must stay within.
    threshold_ms: float = 20
    #: ``None`` when pgvector is older than 0.8 (no iterative index scans).
    iterative: str | None = None

    @classmethod
    def for_target(cls, target: LabTarget, max_k: int, *, iterative: bool) -> KnobState:
        knob = knob_for(target)
        return cls(
            knob=knob,
            values=knob_steps(target),
            value=int(QUERY_SETTINGS_DEFAULTS[knob]),
            max_k=max_k,
            k=min(10, max_k),
            iterative="off" if iterative else None,
        )

    @property
    def iterative_setting(self) -> str:
        return f"{self.knob.split('.')[0]}.iterative_scan"

    def settings(self, value: int | None = None) -> dict[str, str]:
        """The session settings under test (with another knob ``value`` if given)."""
        out = {str(self.knob): str(self.value if value is None else value)}
        if self.iterative is not None:
            out[self.iterative_setting] = self.iterative
        return out

    def stepped_value(self, direction: int) -> KnobState:
        return replace(self, value=step(self.values, self.value, direction))

    def stepped_k(self, direction: int) -> KnobState:
        allowed = tuple(v for v in K_STEPS if v <= self.max_k) or (self.max_k,)
        return replace(self, k=step(allowed, self.k, direction))

    def stepped_concurrency(self, direction: int) -> KnobState:
        return replace(self, concurrency=max(1, min(MAX_CONCURRENCY, self.concurrency + direction)))

    def next_threshold(self) -> KnobState:
        later = [t for t in THRESHOLDS_MS if t > self.threshold_ms]
        return replace(self, threshold_ms=later[0] if later else THRESHOLDS_MS[0])

    def toggled_iterative(self) -> KnobState:
        if self.iterative is None:
            return self
        return replace(self, iterative=ITERATIVE[1 - ITERATIVE.index(self.iterative)])


def _item(keys: str, label: str, value: str, style: str = "bold") -> tuple[Content, ...]:
    """``keys label value``: the keys that turn it first (the footer has room for few)."""
    return (
        Content.styled(keys, "$accent bold"),
        Content.styled(f" {label} ", "$text-muted"),
        Content.styled(value, style),
    )


class KnobsBar(Static):
    """The run state and every knob with the keys that turn it: the knob, k, concurrency,
    the latency target (p50, which a sweep's recommendation must meet), iterative scans."""

    def show(self, state: KnobState | None, *, running: bool) -> None:
        if state is None:
            self.update(Content.styled("Latency lab: no column prepared", "$text-muted"))
            return
        sep = Content.styled(" │ ", "$text-muted")
        parts: list[Content] = [
            Content.styled(
                "▶ running" if running else "■ stopped",
                "$success bold" if running else "$text-muted bold",
            ),
            sep,
            *_item("+-", state.knob, str(state.value), "$accent bold"),
            Content.styled(f" ({'/'.join(str(v) for v in state.values)})", "$text-muted"),
            sep,
            *_item("kK", "k", str(state.k)),
            sep,
            *_item("[]", "concurrency", str(state.concurrency)),
            sep,
            *_item("t", "target p50", f"{state.threshold_ms:g} ms"),
        ]
        if state.iterative is not None:
            parts += [sep, *_item("i", state.iterative_setting, state.iterative)]
        if state.knob == Knob.EF_SEARCH and state.value < state.k:
            parts += [sep, Content.styled("ef_search < k: at most ef_search rows", "$warning")]
        self.update(Content.assemble(*parts))
