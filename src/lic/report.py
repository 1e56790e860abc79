"""Tables for the chapters: one object, shown as HTML in the book and as aligned text elsewhere.

The text form is what ``nbval`` compares, so every number in a chapter's tables is re-checked
when the notebooks are re-executed.
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any


def _cell(value: Any, fmt: str | None) -> str:
    if fmt and isinstance(value, (int, float)):
        return format(value, fmt)
    return str(value)


class Table:
    """Rows of dicts with chosen ``columns`` (``{key: (header, format)}``) and an optional title."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], columns: Mapping[str, tuple[str, str | None]],
                 title: str = "") -> None:
        self.title = title
        self.headers = [header for header, _ in columns.values()]
        self.cells = [[_cell(row.get(key, ""), fmt) for key, (_, fmt) in columns.items()] for row in rows]

    def __repr__(self) -> str:
        widths = [max(len(h), *(len(r[i]) for r in self.cells)) if self.cells else len(h)
                  for i, h in enumerate(self.headers)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(h.rjust(w) for h, w in zip(self.headers, widths)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in self.cells]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.cells)
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
