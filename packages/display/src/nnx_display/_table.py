"""A box table in plain text, laid out as rich draws flax's ``nnx.tabulate``.

Kept apart from ``_tabulate`` (which collects the rows) so the layout rules sit in one
place: cells may span several lines, the header and the Total row are boxed off, the
title and the caption are centred over the table, and no line ends in spaces.
"""

from __future__ import annotations

from collections.abc import Sequence


def count_cell(count: int, size: int) -> str:
    """``'5,790 (23.2 KB)'``: elements and bytes (decimal units), as flax's summaries print.

    >>> count_cell(5790, 23160), count_cell(3, 12)
    ('5,790 (23.2 KB)', '3 (12 B)')
    """
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{count:,} ({size / scale:.1f} {unit})"
    return f"{count:,} ({size} B)"


def draw_table(
    title: str,
    header: Sequence[str],
    body: Sequence[Sequence[str]],
    footer: Sequence[str],
    caption: str,
) -> str:
    r"""The table as text; the footer's last label before the counts is right-aligned.

    >>> print(draw_table("T", ["a", "b"], [["x", "1\n2"]], ["Total", "3"], "c"))
          T
    ┏━━━━━━━┳━━━┓
    ┃ a     ┃ b ┃
    ┡━━━━━━━╇━━━┩
    │ x     │ 1 │
    │       │ 2 │
    ├───────┼───┤
    │ Total │ 3 │
    └───────┴───┘
    <BLANKLINE>
          c
    """
    rows = [list(header), *map(list, body), list(footer)]
    widths = [
        max(len(line) for row in rows for line in row[c].split("\n")) for c in range(len(header))
    ]
    total_column = max((i for i, cell in enumerate(footer) if cell == "Total"), default=-1)

    def rule(left: str, fill: str, middle: str, right: str) -> str:
        return left + middle.join(fill * (w + 2) for w in widths) + right

    def lines(row: Sequence[str], edge: str, footer_row: bool = False) -> list[str]:
        split = [cell.split("\n") for cell in row]
        height = max(len(cell) for cell in split)
        out = []
        for i in range(height):
            parts = []
            for c, cell in enumerate(split):
                text = cell[i] if i < len(cell) else ""
                align = text.rjust if footer_row and c == total_column else text.ljust
                parts.append(f" {align(widths[c])} ")
            out.append(edge + edge.join(parts) + edge)
        return out

    width = sum(widths) + 3 * len(widths) + 1
    drawn = [title.center(width), rule("┏", "━", "┳", "┓"), *lines(header, "┃")]
    drawn.append(rule("┡", "━", "╇", "┩"))
    for i, row in enumerate([*body, footer]):
        if i:
            drawn.append(rule("├", "─", "┼", "┤"))
        drawn += lines(row, "│", footer_row=i == len(body))
    drawn += [rule("└", "─", "┴", "┘"), "", caption.center(width)]
    return "\n".join(line.rstrip() for line in drawn)
