"""Core statements compiled once per dialect and run straight through the driver, for the ingest writer's thread.

Executing a Core statement costs SQLAlchemy 0.2–0.4 ms (building it, its cache key, the compiled-cache lookup,
expanding IN lists, setting up the result), while SQLite runs the statement itself in 0.02–0.06 ms
(`bench/hit_path.py`). A hit takes seven statements inside the ingest writer's transaction, so that overhead was
most of a hit's time in the database. A `Prepared` statement keeps SQLAlchemy's SQL and its type conversions
(bind and result processors: UTC datetimes, JSON) and drops the per-call work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import cloned_traverse


def _with_values(stmt: ClauseElement, values: Mapping[str, Any]) -> ClauseElement:
    """A copy of the statement with these bind values: `params()` does this for a SELECT, but INSERT, UPDATE and
    DELETE do not offer it."""
    def visit_bindparam(bind: BindParameter) -> None:
        if bind.key in values:
            bind.value = values[bind.key]
            bind.required = False

    return cloned_traverse(stmt, {"maintain_key": True, "detect_subquery_cols": True},
                           {"bindparam": visit_bindparam})


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # the bind names in the order the driver takes them
    processors: tuple[Any, ...]  # per position: a bind processor or None
    fixed: Mapping[str, Any]  # values fixed in the statement itself (literals turned into binds)
    results: tuple[tuple[int, Any], ...]  # (column position, result processor) for the columns that need one
    positional: bool


class Prepared:
    """A statement with named bind parameters; `expanding` names IN-list parameters, whose length selects the plan
    (one plan per dialect and length seen: a few hundred at most, since groups and purge batches are bounded).

    Inserts name their `columns`, so a key missing from a row is an error rather than a silent NULL.
    """

    def __init__(self, stmt: ClauseElement, *, columns: Sequence[str] | None = None,
                 expanding: Sequence[str] = ()) -> None:
        self.stmt = stmt
        self.columns = list(columns) if columns is not None else None
        self.expanding = tuple(expanding)
        self._plans: dict[tuple, _Plan] = {}
        returned = getattr(stmt, "exported_columns", None) or ()
        self.keys = tuple(c.key for c in returned)
        self._returned = list(returned)

    def _plan(self, dialect: Dialect, sizes: tuple[int, ...]) -> _Plan:
        key = (dialect.name, dialect.paramstyle, sizes)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        kwargs: dict[str, Any] = {"dialect": dialect}
        if self.columns is not None:
            kwargs["column_keys"] = self.columns
        compiled = self.stmt.compile(**kwargs)
        fixed = {name: b.value for name, b in compiled.binds.items()
                 if not b.required and not b.callable and b.value is not None}
        if self.expanding:
            # Render each IN list at its length, so the SQL is fixed and needs no per-call rewriting. Rendering
            # wants a value for every parameter; these stand-ins only shape the SQL text.
            sizes_by_name = dict(zip(self.expanding, sizes, strict=True))
            stand_ins = {b.key: [None] * sizes_by_name[b.key] if b.key in sizes_by_name else None
                         for b in compiled.binds.values() if b.required or (b.value is None and not b.callable)}
            compiled = _with_values(self.stmt, stand_ins).compile(**kwargs, compile_kwargs={"render_postcompile": True})
        names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(compiled.binds)
        procs = compiled._bind_processors  # noqa: SLF001 - the same processors SQLAlchemy applies itself
        results = tuple((i, proc) for i, c in enumerate(self._returned)
                        if (proc := c.type._cached_result_processor(dialect, None)) is not None)  # noqa: SLF001
        plan = _Plan(compiled.string, names, tuple(procs.get(n) for n in names), fixed, results, dialect.positional)
        self._plans[key] = plan
        return plan

    def _sizes(self, params: Mapping[str, Any]) -> tuple[int, ...]:
        return tuple(len(params[name]) for name in self.expanding)

    def _flatten(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if not self.expanding:
            return params  # type: ignore[return-value]
        flat = dict(params)
        for name in self.expanding:
            for i, value in enumerate(flat.pop(name), start=1):
                flat[f"{name}_{i}"] = value
        return flat

    def _bind(self, plan: _Plan, params: Mapping[str, Any]) -> tuple | dict:
        values = []
        for name, proc in zip(plan.names, plan.processors, strict=True):
            value = params[name] if name in params else plan.fixed[name]
            values.append(proc(value) if proc is not None else value)
        return tuple(values) if plan.positional else dict(zip(plan.names, values, strict=True))

    def _once(self, conn: Connection, params: Mapping[str, Any] | None) -> tuple[_Plan, CursorResult]:
        params = params or {}
        plan = self._plan(conn.dialect, self._sizes(params))
        return plan, conn.exec_driver_sql(plan.sql, self._bind(plan, self._flatten(params)))

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[tuple]:
        """Run it once; the returned rows (if any), converted as SQLAlchemy would."""
        plan, result = self._once(conn, params)
        if not self.keys:
            return []
        if not plan.results:
            return [tuple(row) for row in result.fetchall()]
        out = []
        for row in result.fetchall():
            row = list(row)
            for i, proc in plan.results:
                row[i] = proc(row[i])
            out.append(tuple(row))
        return out

    def count(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run it once; the rows it changed (UPDATE, DELETE)."""
        return self._once(conn, params)[1].rowcount

    def dicts(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run it once; each returned row as a dict keyed by column."""
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows(conn, params)]

    def many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run it once per parameter set, in one driver `executemany`."""
        rows = list(rows)
        if not rows:
            return
        if self.expanding:
            raise ValueError("IN-list parameters vary per row; run such a statement with rows()")
        plan = self._plan(conn.dialect, self._sizes(rows[0]))
        conn.exec_driver_sql(plan.sql, [self._bind(plan, self._flatten(r)) for r in rows])
