"""Result tables: printed with rich, saved as JSON and as a markdown table."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: Wide enough for the tables when output is not a terminal (make, CI logs, a pipe).
console = Console(highlight=False, width=shutil.get_terminal_size((150, 24)).columns)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    #: A format spec for numbers, e.g. ".1f"; empty prints the value as it is.
    spec: str = ""

    def cell(self, row: dict[str, Any]) -> str:
        value = row.get(self.key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "NO"
        return format(value, self.spec) if self.spec else str(value)


@dataclass
class Report:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def show(report: Report) -> None:
    table = Table(title=report.title, title_justify="left")
    for column in report.columns:
        table.add_column(column.header, justify="right" if column.spec else "left")
    for row in report.rows:
        table.add_row(*(column.cell(row) for column in report.columns))
    console.print(table)
    for note in report.notes:
        console.print(f"  • {note}", markup=False)


def markdown(report: Report) -> str:
    header = "| " + " | ".join(column.header for column in report.columns) + " |"
    rule = "|" + "|".join("---:" if column.spec else "---" for column in report.columns) + "|"
    lines = [f"### {report.title}", "", header, rule]
    lines += ["| " + " | ".join(column.cell(row) for column in report.columns) + " |" for row in report.rows]
    lines += [""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def save(report: Report, machine: dict[str, str], output_dir: Path) -> list[Path]:
    """Writes ``<time>-<name>.json`` and ``.md`` into ``output_dir``; returns their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = output_dir / f"{stamp}-{report.name}"
    fields = {key: value for key, value in asdict(report).items() if key != "columns"}
    document = {"measured_at": stamp, "machine": machine, **fields}
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    md_path = base.with_suffix(".md")
    machine_line = ", ".join(f"{key}: {value}" for key, value in machine.items())
    md_path.write_text(f"{markdown(report)}\nMeasured {stamp} on {machine_line}.\n")
    return [json_path, md_path]
