"""Which table rows a question means: by project name, 序号, position, city or company."""

from __future__ import annotations

from bot.core.compose import Rows
from bot.core.entities import Entity, split_cell
from bot.core.index import Analysis, Index
from bot.core.model import Context, Document, Unit


def table_roles(unit: Unit) -> set[str]:
    """The entity roles a table can be filtered by (its 'name' column is the project)."""
    roles = set(unit.table.roles) if unit.table else set()
    return {"project" if r == "name" else r for r in roles}


def table_for(index: Index, docs: list[Document], ctx: Context | None, entities: list[Entity] | None = None) -> Unit | None:
    """The table a row pointer or a bare name refers to: the context's, a named row's, or the document's."""
    k = index.knowledge
    if ctx is not None and ctx.unit in k.units and k.units[ctx.unit].table is not None:
        return k.units[ctx.unit]
    wanted = {d.id for d in docs}
    for e in entities or []:
        if e.unit and e.unit in k.units and k.units[e.unit].document in wanted:
            return k.units[e.unit]
    entities = entities or []
    roles = {e.role for e in entities}
    for doc in docs:
        for unit in index.tables_by_document.get(doc.id, ()):
            if not entities or roles & table_roles(unit):
                return unit
    return None


def row_by_number(table: Unit, number: int) -> Rows:
    """The row with this 序号 (or at this position); -1 is the last row."""
    assert table.table is not None
    rows = table.table.rows
    if number == -1:
        return Rows([len(rows) - 1], by_name=True)
    for i, row in enumerate(rows):
        if table.table.cell(row, "number") == str(number):
            return Rows([i], by_name=True)
    return Rows([number - 1] if 0 < number <= len(rows) else [], label=f"序号{number}")


def select_rows(unit: Unit, analysis: Analysis, situation: list[Entity]) -> Rows:
    """Rows a question's names select (the user's own city or company counts when none is asked)."""
    table = unit.table
    assert table is not None
    found = analysis.entities or situation
    indexes = list(range(len(table.rows)))
    projects = {e.canonical for e in found if e.role == "project" and "name" in table.roles}
    orgs = {e.canonical for e in found if e.role == "org" and "org" in table.roles}
    cities = {e.canonical for e in found if e.role == "city" and "city" in table.roles}
    if projects:
        return Rows([i for i in indexes if table.cell(table.rows[i], "name") in projects], by_name=True)
    label = ""
    if orgs:
        indexes = [i for i in indexes if table.cell(table.rows[i], "org") in orgs]
        label = "、".join(sorted(orgs))
    if cities:
        indexes = [i for i in indexes if cities & set(split_cell(table.cell(table.rows[i], "city")))]
        label = "、".join(sorted(cities)) + (f"（{label}）" if label else "")
    return Rows(indexes, label)
