"""The doctor's findings, most severe first; highlighting one selects its plan node."""

from __future__ import annotations

from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from vecscope.core.doctor.diagnose import Diagnosis, Finding, fix_to_try
from vecscope.core.doctor.plan import shorten_vectors
from vecscope.tui.widgets.marks import MARK, STYLE


def finding_prompt(f: Finding, *, tried_by_f7: bool = False) -> Content:
    parts: list[Content | str | tuple[str, str]] = [
        (f"{MARK[f.severity]} {f.rule} ", f"{STYLE[f.severity]} bold"),
        shorten_vectors(f.message),
    ]
    if f.fix:
        parts += ["\n", ("  fix: ", "$text-muted"), (shorten_vectors(f.fix), "$text-accent")]
    if tried_by_f7:
        parts.append(("  (F7 tries it)", "$text-muted"))
    return Content.assemble(*parts)


class FindingsList(OptionList):
    class FindingHighlighted(Message):
        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.findings: tuple[Finding, ...] = ()

    def clear_findings(self) -> None:
        """Show no findings (a new query is being explained, or it failed)."""
        self.findings = ()
        self.clear_options()

    def show(self, diagnosis: Diagnosis) -> None:
        self.findings = diagnosis.findings
        self.clear_options()
        if not diagnosis.findings:
            self.add_option(
                Option(Content.styled("✓ nothing to report", "$success"), disabled=True)
            )
            return
        tryable = fix_to_try(diagnosis)
        self.add_options(
            [
                Option(finding_prompt(f, tried_by_f7=f is tryable), id=str(i))
                for i, f in enumerate(diagnosis.findings)
            ]
        )

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_id is not None:
            self.post_message(self.FindingHighlighted(self.findings[int(event.option_id)]))
