"""Server-side access to association and survival tables of any size, with DuckDB.

The browser never receives a whole table: every filter, sort and page is a SQL query run
here on a Parquet file (or on a small in-memory table), and only the rows shown travel.

A large table is served from a copy sorted by p-value (made once into a cache folder,
or used as it is when the file is already sorted). On a sorted file DuckDB skips whole
row groups, by their p- and q-value statistics, for the queries an explorer makes most
(the most significant rows under a q threshold), so a 20-million-row table answers in
tens of milliseconds.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from radiogenomics.errors import InputError

__all__ = ["TableFilter", "TableStore", "ASSOCIATION_COLUMNS", "SURVIVAL_COLUMNS"]

ASSOCIATION_COLUMNS = [
    "x_modality",
    "x",
    "y_modality",
    "y",
    "method",
    "n",
    "estimate",
    "std_error",
    "statistic",
    "p_value",
    "q_value",
    "ci_lower",
    "ci_upper",
    "covariates",
]
SURVIVAL_COLUMNS = [
    "modality",
    "feature",
    "n",
    "n_events",
    "coef",
    "hazard_ratio",
    "std_error",
    "z",
    "p_value",
    "q_value",
    "hr_ci_lower",
    "hr_ci_upper",
    "concordance",
]

#: Tables with more rows than this are served from a p-value-sorted Parquet copy.
SORT_THRESHOLD = 2_000_000
#: Every store not yet collected: their connections are closed and let go before the
#: interpreter exits (DuckDB objects still alive at exit are reported as leaks).
_OPEN_STORES: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    for store in list(_OPEN_STORES):
        store.close()


@dataclass(frozen=True)
class TableFilter:
    """What the user asked for: thresholds, a feature class and name searches.

    Attributes
    ----------
    q_max, p_max
        Keep rows with ``q_value <= q_max`` (and ``p_value <= p_max``); ``None``: no limit.
    feature_class
        Keep rows whose radiomic feature belongs to this class (``glcm``, ...).
    x_search, y_search
        Case-insensitive substrings of the ``x`` / ``y`` name (``feature`` for screens).
    method
        Keep rows of this method.
    """

    q_max: float | None = None
    p_max: float | None = None
    feature_class: str | None = None
    x_search: str = ""
    y_search: str = ""
    method: str | None = None

    def key(self) -> tuple:
        return (
            self.q_max,
            self.p_max,
            self.feature_class,
            self.x_search.lower(),
            self.y_search.lower(),
            self.method,
        )


def _number(value, default=None, low=0.0, high=1.0):
    """A float in [low, high] from user input, or ``default``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    if math.isnan(number):
        return default
    return min(max(number, low), high)


def filter_from_params(params) -> TableFilter:
    """A :class:`TableFilter` from untrusted request parameters (a mapping of strings)."""

    def text(name):
        value = params.get(name) or ""
        return str(value)[:100]

    return TableFilter(
        q_max=_number(params.get("q")),
        p_max=_number(params.get("p")),
        feature_class=text("class") or None,
        x_search=text("xs"),
        y_search=text("ys"),
        method=text("method") or None,
    )


@dataclass
class _Cache:
    size: int = 256
    items: OrderedDict = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value):
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sorted_by(path: Path, column: str) -> bool:
    """Whether a Parquet file's row groups are in increasing order of ``column``."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names:
        return False
    index = names.index(column)
    previous = -math.inf
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max:
            return False
        if stats.min < previous:
            return False
        previous = stats.max
    return True


class TableStore:
    """One result table (association table or survival screen), queried with DuckDB.

    Parameters
    ----------
    source
        A Parquet file, or a DataFrame (kept in DuckDB's memory).
    kind
        ``"associations"`` (pairs ``x``/``y``) or ``"survival"`` (one ``feature`` a row).
    feature_classes
        ``{radiomic feature name: feature class}`` for the feature-class filter.
    cache_dir
        Where the serving database of a large Parquet file goes (made once, reused while
        the file is unchanged; default ``~/.cache/radiogenomics`` or ``$RADIOGENOMICS_CACHE``):
        the rows sorted by p-value with integer codes of ``x`` and ``y``, and an
        (x, y)-sorted lookup of the estimates.
    threads
        DuckDB threads.
    """

    def __init__(
        self,
        source: str | os.PathLike | pd.DataFrame,
        kind: str = "associations",
        feature_classes: dict[str, str] | None = None,
        cache_dir: str | os.PathLike | None = None,
        threads: int | None = None,
    ):
        if kind not in ("associations", "survival"):
            raise ValueError(f"unknown table kind {kind!r}")
        self.kind = kind
        self.path = None if isinstance(source, pd.DataFrame) else Path(source)
        self._cache = _Cache()
        self._kept: dict = {}  # what is made once per table (volcano background, lines)
        self._lock = threading.Lock()
        self._threads = threads or min(4, os.cpu_count() or 1)
        required = ASSOCIATION_COLUMNS if kind == "associations" else SURVIVAL_COLUMNS
        if self.path is not None:
            if not self.path.is_file():
                raise InputError("the result table does not exist", file=self.path)
            try:
                parquet = pq.ParquetFile(self.path)
            except Exception as exc:  # pyarrow raises several types for foreign files
                raise InputError(
                    "cannot read the result table",
                    file=self.path,
                    expected="a Parquet file",
                    found=str(exc),
                ) from None
            names, rows = parquet.schema_arrow.names, parquet.metadata.num_rows
        else:
            names, rows = list(source.columns), len(source)
        missing = [c for c in required if c not in names]
        if missing:
            raise InputError(
                f"the {kind} table lacks contract columns",
                file=self.path,
                expected=", ".join(required),
                found=f"missing {missing}",
            )
        self.columns = [c for c in names if c not in ("x_id", "y_id")]
        self.serving_path: Path | None = None
        if self.path is None or rows <= SORT_THRESHOLD:
            self._con = duckdb.connect(":memory:", config={"threads": self._threads})
            self._build(self._con, source)
        else:
            self._con = self._open_cached(cache_dir)
        # close the connection when the store goes, at the latest when the interpreter exits
        self._finalizer = weakref.finalize(self, self._con.close)
        _OPEN_STORES.add(self)
        if kind == "associations":
            self.x_names = [
                r[0] for r in self._query("SELECT name FROM x_names ORDER BY id").fetchall()
            ]
            self.y_names = [
                r[0] for r in self._query("SELECT name FROM y_names ORDER BY id").fetchall()
            ]
        self.n_rows = int(self._query("SELECT count(*) FROM main").fetchone()[0])
        self.feature_classes = {}
        if feature_classes:
            self.feature_classes = {str(k): str(v) for k, v in feature_classes.items()}
        self.classes = sorted(set(self.feature_classes.values()))

    # ------------------------------------------------------------------ preparation
    def close(self) -> None:
        """Close the DuckDB connection and let it go; the store answers no more queries."""
        self._finalizer()
        self._con = None
        self._cache = _Cache()

    def _build(self, con, source) -> None:
        """Tables ``main`` (rows by increasing p-value, with integer codes of x and y),
        ``lookup`` (x, y codes and values, by x then y), ``x_names`` and ``y_names``."""
        if isinstance(source, pd.DataFrame):
            con.register("_frame", source.reset_index(drop=True))
            from_source = "_frame"
        else:
            from_source = f"read_parquet('{_sql_path(Path(source))}')"
        columns = ", ".join(f's."{c}"' for c in self.columns)
        if self.kind == "associations":
            for side in ("x", "y"):
                con.execute(
                    f"CREATE TABLE {side}_names AS SELECT name, (row_number() OVER "
                    f"(ORDER BY name))::INTEGER - 1 AS id FROM (SELECT DISTINCT "
                    f"{side} AS name FROM {from_source})"
                )
            con.execute(
                f"CREATE TABLE main AS SELECT {columns}, xn.id AS x_id, yn.id AS y_id "
                f"FROM {from_source} s JOIN x_names xn ON s.x = xn.name "
                "JOIN y_names yn ON s.y = yn.name ORDER BY s.p_value NULLS LAST"
            )
            extra = ", method" if "method" in self.columns else ""
            con.execute(
                f"CREATE TABLE lookup AS SELECT x_id, y_id, estimate, p_value, "
                f"q_value{extra} FROM main ORDER BY x_id, y_id"
            )
        else:
            con.execute(
                f"CREATE TABLE main AS SELECT {columns} FROM {from_source} s "
                "ORDER BY s.p_value NULLS LAST"
            )
        if isinstance(source, pd.DataFrame):
            con.unregister("_frame")

    def _open_cached(self, cache_dir):
        """A read-only DuckDB database made once from a large Parquet file."""
        folder = (
            Path(cache_dir)
            if cache_dir
            else Path(
                os.environ.get("RADIOGENOMICS_CACHE", Path.home() / ".cache" / "radiogenomics")
            )
        )
        folder = folder / "dashboard-tables"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{self.path.stem}-{self.kind}-{_fingerprint(self.path)}.duckdb"
        if not target.exists():
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            if tmp.exists():
                tmp.unlink()
            con = duckdb.connect(str(tmp), config={"threads": self._threads})
            try:
                self._build(con, self.path)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            os.replace(tmp, target)
        self.serving_path = target
        return duckdb.connect(str(target), read_only=True, config={"threads": self._threads})

    # ------------------------------------------------------------------ plumbing
    def _query(self, sql: str, params: Sequence | None = None):
        if self._con is None:
            raise RuntimeError("the table store is closed")
        cursor = self._con.cursor()
        return cursor.execute(sql, list(params or []))

    def distinct(self, column: str, limit: int = 1000) -> list:
        """Distinct values of a column (cached)."""
        if column not in self.columns:
            return []
        key = ("distinct", column)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        rows = self._query(
            f'SELECT DISTINCT "{column}" FROM main WHERE "{column}" IS NOT NULL '
            f"ORDER BY 1 LIMIT {int(limit)}"
        ).fetchall()
        return self._cache.put(key, [r[0] for r in rows])

    def _ids(self, names: list[str], search: str, feature_class: str | None) -> list[int] | None:
        """Codes of the names matching a search and a feature class (None: no condition)."""
        if not search and not feature_class:
            return None
        key = ("ids", id(names), search.lower(), feature_class)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        needle = search.lower()
        ids = [
            i
            for i, name in enumerate(names)
            if (not needle or needle in name.lower())
            and (not feature_class or self.feature_classes.get(name) == feature_class)
        ]
        return self._cache.put(key, ids)

    def _where(self, flt: TableFilter) -> tuple[str, list]:
        clauses, params = [], []
        if flt.q_max is not None and flt.q_max < 1:
            clauses.append("q_value <= ?")
            params.append(flt.q_max)
        if flt.p_max is not None and flt.p_max < 1:
            clauses.append("p_value <= ?")
            params.append(flt.p_max)
        if flt.method and "method" in self.columns:
            clauses.append("method = ?")
            params.append(flt.method)
        if self.kind == "associations":
            x_ids = self._ids(self.x_names, flt.x_search, None)
            y_ids = self._ids(self.y_names, flt.y_search, None)
            for column, ids in (("x_id", x_ids), ("y_id", y_ids)):
                if ids is not None:
                    clauses.append(_id_clause(column, ids))
            if flt.feature_class:
                cx = self._ids(self.x_names, "", flt.feature_class)
                cy = self._ids(self.y_names, "", flt.feature_class)
                parts = [_id_clause(c, ids) for c, ids in (("x_id", cx), ("y_id", cy)) if ids]
                clauses.append("(" + " OR ".join(parts) + ")" if parts else "FALSE")
        else:
            if flt.x_search:
                clauses.append("contains(lower(feature), ?)")
                params.append(flt.x_search.lower())
            if flt.feature_class:
                names = [n for n, c in self.feature_classes.items() if c == flt.feature_class]
                if names:
                    clauses.append(f"feature IN ({', '.join('?' * len(names))})")
                    params.extend(names)
                else:
                    clauses.append("FALSE")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _order(self, sort_by: Sequence[dict] | None) -> str:
        parts = []
        for item in sort_by or []:
            column = item.get("column_id")
            if column in self.columns:
                direction = "DESC" if item.get("direction") == "desc" else "ASC"
                parts.append(f'"{column}" {direction} NULLS LAST')
        parts.append("p_value ASC NULLS LAST")
        return " ORDER BY " + ", ".join(parts)

    # ------------------------------------------------------------------ queries
    def count(self, flt: TableFilter) -> int:
        """Rows passing the filter."""
        key = ("count", flt.key())
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        where, params = self._where(flt)
        value = int(self._query(f"SELECT count(*) FROM main{where}", params).fetchone()[0])
        return self._cache.put(key, value)

    def page(
        self,
        flt: TableFilter,
        sort_by: Sequence[dict] | None = None,
        page: int = 0,
        page_size: int = 25,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One page of the filtered, sorted rows."""
        page_size = int(min(max(page_size, 1), 500))
        page = int(min(max(page, 0), 10_000_000))
        cols = [c for c in (columns or self.columns) if c in self.columns]
        sort_key = tuple((s.get("column_id"), s.get("direction")) for s in sort_by or [])
        key = ("page", flt.key(), sort_key, page, page_size, tuple(cols))
        return self._rows(key, flt, cols, sort_by, f"LIMIT {page_size} OFFSET {page * page_size}")

    def top(
        self, flt: TableFilter, limit: int = 3000, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The ``limit`` most significant filtered rows (for a volcano plot)."""
        limit = int(min(max(limit, 0), 100_000))
        cols = [c for c in (columns or self.columns) if c in self.columns]
        key = ("top", flt.key(), limit, tuple(cols))
        return self._rows(key, flt, cols, None, f"LIMIT {limit}")

    def _rows(self, key, flt: TableFilter, cols: list[str], sort_by, limit: str) -> pd.DataFrame:
        """Filtered, ordered rows of ``cols`` (kept under ``key``; callers get a copy)."""
        hit = self._cache.get(key)
        if hit is None:
            where, params = self._where(flt)
            select = ", ".join(f'"{c}"' for c in cols)
            hit = self._cache.put(
                key,
                self._query(
                    f"SELECT {select} FROM main{where}{self._order(sort_by)} {limit}", params
                ).df(),
            )
        return hit.copy()

    def background(self, bins_x: int = 100, bins_y: int = 50) -> pd.DataFrame:
        """A thinned picture of every pair of the table for a volcano plot's background:
        the estimate and -log10 p-value plane cut into ``bins_x`` x ``bins_y`` cells, and
        of each occupied cell its most significant pair (``x, y, estimate, p_value,
        q_value``) with the number of pairs in the cell (``pairs``). Made once (one scan),
        then kept."""
        if self.kind != "associations":
            raise ValueError("a volcano background is drawn from association tables")
        key = ("background", int(bins_x), int(bins_y))
        with self._lock:
            hit = self._kept.get(key)
        if hit is not None:
            return hit
        frame = self._query(
            "WITH v AS (SELECT x_id, y_id, estimate, p_value, q_value, "
            "-log10(greatest(p_value, 1e-300)) AS mlp FROM main "
            "WHERE p_value IS NOT NULL AND isfinite(estimate)), "
            "r AS (SELECT min(estimate) AS lo, max(estimate) AS hi, max(mlp) AS top FROM v) "
            "SELECT arg_min(x_id, p_value) AS x_id, arg_min(y_id, p_value) AS y_id, "
            "arg_min(estimate, p_value) AS estimate, min(p_value) AS p_value, "
            "arg_min(q_value, p_value) AS q_value, count(*) AS pairs FROM v, r "
            f"GROUP BY least(floor((estimate - lo) / greatest(hi - lo, 1e-12) * {int(bins_x)}),"
            f" {int(bins_x) - 1}), least(floor(mlp / greatest(top, 1e-12) * {int(bins_y)}), "
            f"{int(bins_y) - 1})"
        ).df()
        frame.insert(0, "x", [self.x_names[int(i)] for i in frame.pop("x_id")])
        frame.insert(1, "y", [self.y_names[int(i)] for i in frame.pop("y_id")])
        with self._lock:
            self._kept[key] = frame
        return frame

    def p_threshold(self, q_max: float) -> float | None:
        """The largest p-value among the rows with ``q_value <= q_max`` (where a volcano's
        significance line goes), or ``None`` when no row reaches it."""
        key = ("p-threshold", float(q_max))
        with self._lock:
            if key in self._kept:
                return self._kept[key]
        value = self._query(
            "SELECT max(p_value) FROM main WHERE q_value <= ?", [float(q_max)]
        ).fetchone()[0]
        value = None if value is None else float(value)
        with self._lock:
            self._kept[key] = value
        return value

    def pair(self, x: str, y: str) -> pd.DataFrame:
        """The rows of one (x, y) pair (one per method when the table holds several)."""
        if self.kind != "associations":
            raise ValueError("pairs are rows of association tables")
        if not hasattr(self, "_x_index"):
            self._x_index = {n: i for i, n in enumerate(self.x_names)}
            self._y_index = {n: i for i, n in enumerate(self.y_names)}
        xi, yi = self._x_index.get(str(x)), self._y_index.get(str(y))
        select = ", ".join(f'"{c}"' for c in self.columns)
        if xi is None or yi is None:
            return pd.DataFrame(columns=self.columns)
        # the (x, y)-sorted lookup finds the pair's p-values at once; rows of ``main`` are
        # sorted by p-value, so a p-value range then reaches the row without a full scan
        found = self._query(
            "SELECT min(p_value), max(p_value), count(*), "
            "count(p_value) FROM lookup WHERE x_id = ? AND y_id = ?",
            [xi, yi],
        ).fetchone()
        if not found[2]:
            return pd.DataFrame(columns=self.columns)
        if found[3] == found[2]:
            return self._query(
                f"SELECT {select} FROM main WHERE p_value BETWEEN ? AND ? "
                "AND x_id = ? AND y_id = ?",
                [found[0], found[1], xi, yi],
            ).df()
        return self._query(f"SELECT {select} FROM main WHERE x_id = ? AND y_id = ?", [xi, yi]).df()

    def linked(self, x_names: Sequence[str], q_max: float = 0.05, limit: int = 20) -> pd.DataFrame:
        """The most significant rows (q at most ``q_max``) whose ``x`` is one of ``x_names``."""
        if not hasattr(self, "_x_index"):
            self.pair("", "")
        ids = [self._x_index[n] for n in x_names if n in self._x_index]
        if not ids:
            return pd.DataFrame(columns=self.columns)
        select = ", ".join(f'"{c}"' for c in self.columns)
        return self._query(
            f"SELECT {select} FROM main WHERE {_id_clause('x_id', ids)} AND "
            f"q_value <= ? ORDER BY p_value LIMIT {int(limit)}",
            [float(q_max)],
        ).df()

    def feature(self, name: str) -> pd.DataFrame:
        """The rows of one feature of a survival screen."""
        return self._query("SELECT * FROM main WHERE feature = ?", [str(name)]).df()

    def block(
        self, flt: TableFilter, n_x: int = 25, n_y: int = 25, value: str = "estimate"
    ) -> pd.DataFrame:
        """``value`` (with p- and q-values) for every pair of the ``n_x`` x and ``n_y`` y
        names that appear first among the most significant filtered rows; long form
        (x, y, value, ...), for a heatmap."""
        if value not in ("estimate", "p_value", "q_value"):
            raise ValueError(f"unknown value column {value!r}")
        key = ("block", flt.key(), n_x, n_y, value)
        hit = self._cache.get(key)
        if hit is not None:
            return hit.copy()
        where, params = self._where(flt)
        top = self._query(
            f"SELECT x_id, y_id FROM main{where}{self._order(None)} "
            f"LIMIT {int(max(n_x, n_y) * 40)}",
            params,
        ).fetchnumpy()
        xs = list(dict.fromkeys(top["x_id"].tolist()))[:n_x]
        ys = list(dict.fromkeys(top["y_id"].tolist()))[:n_y]
        frame = pd.DataFrame(columns=["x", "y", "estimate", "p_value", "q_value"])
        if xs and ys:
            method = ""
            if flt.method and "method" in self.columns:
                method, params = " AND method = ?", [flt.method]
            else:
                params = []
            extra = (
                ", p_value, q_value"
                if value == "estimate"
                else (", q_value" if value == "p_value" else ", p_value")
            )
            found = self._query(
                f"SELECT x_id, y_id, {value}{extra} FROM lookup WHERE x_id IN "
                f"({', '.join(map(str, xs))}) AND y_id IN ({', '.join(map(str, ys))}){method}",
                params,
            ).fetchnumpy()
            frame = pd.DataFrame(
                {
                    "x": [self.x_names[i] for i in found["x_id"].tolist()],
                    "y": [self.y_names[i] for i in found["y_id"].tolist()],
                    **{
                        c: np.asarray(found[c], dtype=float)
                        for c in ("estimate", "p_value", "q_value")
                        if c in found
                    },
                }
            )
        return self._cache.put(key, frame).copy()

    def iter_csv(
        self, flt: TableFilter, sort_by: Sequence[dict] | None = None, batch_rows: int = 100_000
    ) -> Iterator[bytes]:
        """The filtered rows as CSV, in chunks (for a streamed download)."""
        where, params = self._where(flt)
        select = ", ".join(f'"{c}"' for c in self.columns)
        cursor = self._con.cursor()
        reader = cursor.sql(
            f"SELECT {select} FROM main{where}{self._order(sort_by)}", params=params
        ).to_arrow_reader(batch_rows)
        first = True
        for batch in reader:
            sink = pa.BufferOutputStream()
            pacsv.write_csv(
                pa.Table.from_batches([batch]), sink, pacsv.WriteOptions(include_header=first)
            )
            first = False
            yield sink.getvalue().to_pybytes()
        if first:
            yield (",".join(f'"{c}"' for c in self.columns) + "\n").encode()


def _id_clause(column: str, ids: Sequence[int]) -> str:
    """SQL keeping rows whose integer code is in ``ids``: a short IN list, or ranges of
    consecutive codes (names are coded in sorted order, so a search or a feature class
    gives few ranges), which DuckDB evaluates in the scan instead of as a join."""
    if not ids:
        return "FALSE"
    ids = sorted(set(int(i) for i in ids))
    if len(ids) <= 32:
        return f"{column} IN ({', '.join(map(str, ids))})"
    runs, start, previous = [], ids[0], ids[0]
    for value in ids[1:]:
        if value != previous + 1:
            runs.append((start, previous))
            start = value
        previous = value
    runs.append((start, previous))
    if len(runs) > 64:
        return f"{column} IN ({', '.join(map(str, ids))})"
    return (
        "("
        + " OR ".join(
            f"{column} = {a}" if a == b else f"{column} BETWEEN {a} AND {b}" for a, b in runs
        )
        + ")"
    )


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
