"""The README's query cookbook: parse it, run every query, and refresh the outputs shown (``make cookbook``).

Each recipe in the README's "Query cookbook" section is a ``### `` heading, a ```sql block and
the query's output as a markdown table. ``--write`` reruns every query on the warehouse the
settings point at (the replay one for the README) and rewrites the outputs; the test suite
runs the same queries on a freshly built replay warehouse and checks they match.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Query cookbook"


@dataclass(frozen=True)
class Recipe:
    title: str
    sql: str
    output: str  # the markdown table shown in the README


def _section_bounds(text: str) -> tuple[int, int]:
    start = text.index(SECTION)
    nxt = text.find("\n## ", start + len(SECTION))
    return start, len(text) if nxt < 0 else nxt + 1


def parse(text: str) -> list[Recipe]:
    """The recipes of the cookbook section, in order."""
    start, end = _section_bounds(text)
    section = text[start:end]
    recipes = []
    for block in re.split(r"^### ", section, flags=re.M)[1:]:
        title = block.splitlines()[0].strip()
        sql = re.search(r"```sql\n(.*?)```", block, flags=re.S)
        if sql is None:
            raise ValueError(f"cookbook recipe {title!r} has no ```sql block")
        after = block[sql.end() :].strip().splitlines()
        table = [line for line in after if line.startswith("|") or line == "(no rows)"]
        recipes.append(Recipe(title, sql.group(1).strip(), "\n".join(table)))
    return recipes


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(frame: pl.DataFrame) -> str:
    """A markdown table with every value in full (the README shows real output, not a preview)."""
    if frame.is_empty():
        return "(no rows)"
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


def run(con: duckdb.DuckDBPyConnection, recipe: Recipe) -> str:
    return to_markdown(con.execute(recipe.sql).pl())


def refresh(text: str, con: duckdb.DuckDBPyConnection) -> str:
    """The README text with every recipe's output replaced by what its query returns now."""
    start, end = _section_bounds(text)
    section = text[start:end]
    for recipe in parse(text):
        old = f"```sql\n{recipe.sql}\n```\n\n{recipe.output}" if recipe.output else f"```sql\n{recipe.sql}\n```"
        if old not in section:
            raise ValueError(f"cannot locate the output of recipe {recipe.title!r}")
        section = section.replace(old, f"```sql\n{recipe.sql}\n```\n\n{run(con, recipe)}", 1)
    return text[:start] + section + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the README's outputs")
    parser.add_argument("--warehouse", default=None, help="DuckDB file (default: from the settings)")
    args = parser.parse_args(argv)
    from orchestration.resources import warehouse_file

    path = Path(args.warehouse) if args.warehouse else warehouse_file()
    if not path.exists():
        print(f"no warehouse at {path}: run `CHINATECH_SOURCE=replay make run` first", file=sys.stderr)
        return 1
    text = README.read_text()
    with duckdb.connect(str(path), read_only=True) as con:
        if args.write:
            README.write_text(refresh(text, con))
            print(f"refreshed {len(parse(text))} cookbook outputs in {README} from {path}")
            return 0
        for recipe in parse(text):
            print(f"### {recipe.title}\n{run(con, recipe)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
