"""The README as tests read it: its fenced code blocks and its tables."""

from __future__ import annotations

import re

from tests.entry_points import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", README, flags=re.DOTALL | re.MULTILINE)


def table_rows(header: str) -> list[list[str]]:
    """The cells of each row of the README table that starts with `header` (escaped pipes,
    `\\|`, stay inside their cell)."""
    lines = README.splitlines()
    assert lines.count(header) == 1, f"the README should hold one table headed {header!r}"
    rows = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows
