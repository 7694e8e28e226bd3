"""A plain Markdown table, so that a run's output can be pasted into the README as is."""

from __future__ import annotations

from collections.abc import Sequence

NOT_MEASURED = ("", "skipped", "n/a")


def microseconds(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


class Table:
    """Rows of cells under a header; text columns align left, numbers right."""

    def __init__(self, header: Sequence[str]) -> None:
        self.header = [str(cell) for cell in header]
        self.rows: list[list[str]] = []

    def add(self, row: Sequence[object]) -> None:
        if len(row) != len(self.header):
            raise ValueError(
                f"row {list(row)!r} has {len(row)} cells, the header {len(self.header)}"
            )
        self.rows.append([str(cell) for cell in row])

    def render(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))
        ]
        numeric = [_is_numeric([row[i] for row in self.rows]) for i in range(len(self.header))]

        def line(cells: Sequence[str]) -> str:
            padded = (
                c.rjust(w) if n else c.ljust(w)
                for c, w, n in zip(cells, widths, numeric, strict=True)
            )
            return "| " + " | ".join(padded) + " |"

        rule = (
            "|"
            + "|".join(
                ("-" * (w + 1) + ":") if n else ("-" * (w + 2))
                for w, n in zip(widths, numeric, strict=True)
            )
            + "|"
        )
        return "\n".join([line(self.header), rule, *(line(r) for r in self.rows)])


def _is_numeric(column: Sequence[str]) -> bool:
    """Whether a column holds numbers (``1,234.5``, ``2.00x``), gaps and ``skipped`` aside."""
    cells = [cell for cell in column if cell not in NOT_MEASURED]
    for cell in cells:
        try:
            float(cell.replace(",", "").removesuffix("x"))
        except ValueError:
            return False
    return bool(cells)
