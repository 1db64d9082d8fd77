"""The one table a run prints: figure | Vigil | reference | ratio | target, in Markdown."""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    figure: str
    vigil: float | None
    unit: str = ""
    reference: float | None = None
    reference_label: str = ""
    target: str = ""
    note: str = ""  # how it was measured, or why a figure is missing

    @property
    def ratio(self) -> float | None:
        if self.vigil is None or not self.reference:
            return None
        return self.vigil / self.reference


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def missing(figure: str, *, error: BaseException | str, target: str = "") -> Row:
    """A figure the run could not measure: the table says why instead of the run stopping."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # a process that died says why on its traceback's last line
    reason = (lines[-1] if any("Traceback" in line for line in lines) else lines[0]) if lines else type(error).__name__
    reason = reason.replace("|", "/")[:160]
    return Row(figure=figure, vigil=None, target=target, note=f"not measured: {reason}")


def markdown(rows: list[Row]) -> str:
    lines = ["| figure | Vigil | reference | ratio | target |", "| --- | ---: | --- | ---: | --- |"]
    for row in rows:
        figure = f"{row.figure} ({row.note})" if row.note else row.figure
        reference = "—" if row.reference is None else f"{_number(row.reference, row.unit)} {row.reference_label}".strip()
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        lines.append(f"| {figure} | {_number(row.vigil, row.unit)} | {reference} | {ratio} | {row.target or '—'} |")
    return "\n".join(lines)
