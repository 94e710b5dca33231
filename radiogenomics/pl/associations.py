"""Figures of radiogenomic associations: volcano plot, clustered heatmap of feature x gene
statistics, and one pair with its fit and statistics. Plotly figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mudata as md
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import pdist

from .._compat import renamed
from ..cohort import get_result
from ..errors import InputError
from ..tl.pair import PairData, pair_data

__all__ = ["volcano", "heatmap", "pair"]

_SIGNIFICANT = "#c0392b"
_OTHER = "#95a5a6"


def _table(
    data: md.MuData | pd.DataFrame,
    key: str | None,
    columns: Sequence[str] | None = None,
    filters=None,
) -> pd.DataFrame:
    """The association table to draw. A table streamed to Parquet (the cohort holds its
    summary and its path) is read from its file: only ``columns`` (and the rows that
    pass ``filters``, pyarrow's filter expressions)."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, md.MuData):
        table = get_result(data, "associations", key)
        root = data.uns.get("radiogenomics", {})
        if key is None:
            key = next(iter(root.get("associations", {})), None)
        params = root.get("params", {}).get("associations", {}).get(key, {})
        path = params.get("path") or table.attrs.get("radiogenomics", {}).get("path")
        if path and str(path).endswith(".parquet") and Path(path).is_file():
            import pyarrow.parquet as pq

            wanted = None if columns is None else list(dict.fromkeys(columns))
            return pq.read_table(path, columns=wanted, filters=filters).to_pandas()
        return table
    raise InputError(
        "expected an association table (DataFrame) or a cohort (MuData)", found=type(data).__name__
    )


def _require(table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            "the table lacks columns the figure needs",
            expected=f"columns {list(columns)}",
            found=f"missing {missing}",
        )


@renamed(seed="random_state")
def volcano(
    data: md.MuData | pd.DataFrame,
    key: str | None = None,
    *,
    q_threshold: float = 0.05,
    effect: str = "estimate",
    label_top: int = 10,
    max_points: int = 100_000,
    random_state: int = 0,
    title: str | None = None,
) -> go.Figure:
    """Volcano plot: effect against -log10 p-value, significant pairs highlighted.

    Parameters
    ----------
    data
        An association table, or the cohort holding it (then ``key`` names it).
    q_threshold
        Pairs with ``q_value`` below it are drawn as significant.
    effect
        Column on the horizontal axis (``estimate`` or ``statistic``).
    label_top
        Label this many most significant pairs.
    max_points
        Tables larger than this keep every significant pair and a random sample of the
        others (said in the title), so that the figure stays light in a browser.
    random_state
        Seed of that sample (``seed`` still works, with a ``FutureWarning``).

    See Also
    --------
    radiogenomics.tl.associate : the association table drawn here.
    heatmap : the same table as a feature-by-feature heatmap.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> table = rg.tl.associate(mdata, "radiomics", "rna")
    >>> fig = rg.pl.volcano(table, label_top=5)
    >>> fig.layout.title.text, [trace.name for trace in fig.data]
    ('Associations (linear)', ['q ≥ 0.05', 'q < 0.05', None])
    >>> sum(len(trace.x) for trace in fig.data[:2]) == len(table), len(fig.data[2].text)
    (True, 5)
    """
    table = _table(data, key, ["x", "y", effect, "p_value", "q_value"])
    _require(table, ["x", "y", effect, "p_value", "q_value"])
    p = table["p_value"].to_numpy(dtype=float, na_value=np.nan)
    q = table["q_value"].to_numpy(dtype=float, na_value=np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    significant = tested[q[tested] < q_threshold]
    other = tested[~(q[tested] < q_threshold)]
    note = ""
    if tested.size > max_points:
        budget = max(max_points - significant.size, 0)
        if other.size > budget:
            rng = np.random.default_rng(random_state)
            other = np.sort(rng.choice(other, size=budget, replace=False))
            note = f" (all {significant.size} significant pairs, {budget} of the others)"
        if significant.size > max_points:
            order = np.argsort(p[significant], kind="stable")[:max_points]
            significant = np.sort(significant[order])
            note = f" ({max_points} most significant pairs shown)"
    floor = np.nextafter(0, 1)
    figure = go.Figure()
    for rows, name, colour in (
        (other, f"q ≥ {q_threshold}", _OTHER),
        (significant, f"q < {q_threshold}", _SIGNIFICANT),
    ):
        part = table.iloc[rows]
        figure.add_trace(
            go.Scattergl(
                x=part[effect].to_numpy(dtype=float),
                y=-np.log10(np.maximum(part["p_value"].to_numpy(dtype=float), floor)),
                mode="markers",
                name=name,
                marker={"color": colour, "size": 5, "opacity": 0.7},
                customdata=np.column_stack(
                    [
                        part["x"].astype(str),
                        part["y"].astype(str),
                        part["q_value"].to_numpy(dtype=float),
                    ]
                ),
                hovertemplate=(
                    "%{customdata[0]} ~ %{customdata[1]}<br>"
                    + effect
                    + " %{x:.3g}<br>-log10 p %{y:.2f}<br>q %{customdata[2]:.3g}"
                    "<extra></extra>"
                ),
            )
        )
    if label_top and significant.size:
        best = significant[np.argsort(p[significant], kind="stable")[:label_top]]
        part = table.iloc[best]
        figure.add_trace(
            go.Scatter(
                x=part[effect].to_numpy(dtype=float),
                y=-np.log10(np.maximum(part["p_value"].to_numpy(dtype=float), floor)),
                mode="text",
                text=[f"{a} ~ {b}" for a, b in zip(part["x"], part["y"])],
                textposition="top center",
                textfont={"size": 9},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    method = _single(table, "method")
    figure.update_layout(
        title=(title or (f"Associations ({method})" if method else "Associations")) + note,
        xaxis_title=effect.replace("_", " "),
        yaxis_title="-log10 p-value",
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def _single(table: pd.DataFrame, column: str) -> str | None:
    if column not in table.columns or len(table) == 0:
        return None
    values = table[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        used = values.cat.categories[np.unique(values.cat.codes[values.cat.codes >= 0])]
    else:
        used = values.dropna().unique()
    return str(used[0]) if len(used) == 1 else None


def heatmap(
    data: md.MuData | pd.DataFrame,
    key: str | None = None,
    *,
    value: str = "statistic",
    q_threshold: float = 0.05,
    n_x: int = 30,
    n_y: int = 40,
    x_names: Sequence[str] | None = None,
    y_names: Sequence[str] | None = None,
    cluster: bool = True,
    title: str | None = None,
) -> go.Figure:
    """Clustered heatmap of x features by y features of one statistic.

    Parameters
    ----------
    data
        An association table, or the cohort holding it (then ``key`` names it).
    value
        The statistic shown (``statistic``, ``estimate``, ...); pairs with ``q_value``
        below ``q_threshold`` are marked with a dot.
    n_x, n_y
        Number of x and y features shown: those with the most significant pairs
        (then the smallest p-values), unless ``x_names``/``y_names`` are given.
    cluster
        Order rows and columns by average-linkage hierarchical clustering (correlation
        distance) with optimal leaf ordering.

    See Also
    --------
    radiogenomics.tl.associate : the association table drawn here.
    volcano : the same table as a volcano plot.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> _ = rg.tl.associate(mdata, "radiomics", "rna")
    >>> fig = rg.pl.heatmap(mdata, "radiomics_vs_rna", n_x=5, n_y=8)
    >>> [type(trace).__name__ for trace in fig.data], fig.data[0].z.shape
    (['Heatmap', 'Scatter'], (5, 8))
    >>> fig.layout.title.text
    'statistic of the top x and y features'
    """
    table = _table(data, key, ["x", "y", value, "p_value", "q_value"])
    _require(table, ["x", "y", value, "p_value", "q_value"])
    xs = [str(v) for v in x_names] if x_names is not None else _top(table, "x", n_x, q_threshold)
    ys = [str(v) for v in y_names] if y_names is not None else _top(table, "y", n_y, q_threshold)
    if not xs or not ys:
        raise InputError(
            "nothing to show in the heatmap", expected="tested pairs", found="an empty selection"
        )
    matrix, qmatrix = _grid(table, value, xs, ys)
    if cluster:
        row_order = _leaf_order(matrix.to_numpy())
        col_order = _leaf_order(matrix.to_numpy().T)
        matrix = matrix.iloc[row_order, col_order]
        qmatrix = qmatrix.iloc[row_order, col_order]
    figure = _heatmap_figure(matrix, qmatrix, value, q_threshold)
    figure.update_layout(
        title=title or f"{value.replace('_', ' ')} of the top x and y features",
        template="plotly_white",
        xaxis={"tickangle": 45, "tickfont": {"size": 9}},
        yaxis={"tickfont": {"size": 9}, "autorange": "reversed"},
        height=max(400, 16 * len(matrix.index) + 200),
        width=max(600, 14 * len(matrix.columns) + 300),
        legend={"orientation": "h", "y": -0.25},
    )
    return figure


def _grid(
    table: pd.DataFrame, value: str, xs: list[str], ys: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``value`` and the q-values of the chosen pairs as x-by-y matrices."""
    x_text = (
        table["x"].astype(str)
        if not isinstance(table["x"].dtype, pd.CategoricalDtype)
        else table["x"]
    )
    y_text = (
        table["y"].astype(str)
        if not isinstance(table["y"].dtype, pd.CategoricalDtype)
        else table["y"]
    )
    rows = np.flatnonzero(x_text.isin(xs).to_numpy() & y_text.isin(ys).to_numpy())
    part = table.iloc[rows]
    grid = pd.DataFrame(
        {
            "x": part["x"].astype(str).to_numpy(),
            "y": part["y"].astype(str).to_numpy(),
            "v": part[value].to_numpy(dtype=float),
            "q": part["q_value"].to_numpy(dtype=float),
        }
    )
    matrix = grid.pivot_table(index="x", columns="y", values="v", aggfunc="first").reindex(
        index=xs, columns=ys
    )
    qmatrix = grid.pivot_table(index="x", columns="y", values="q", aggfunc="first").reindex(
        index=xs, columns=ys
    )
    return matrix, qmatrix


def _heatmap_figure(
    matrix: pd.DataFrame, qmatrix: pd.DataFrame, value: str, q_threshold: float
) -> go.Figure:
    """The heatmap of the matrix, significant pairs marked with a dot."""
    values = matrix.to_numpy()
    bound = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    marks = np.where(qmatrix.to_numpy() < q_threshold, "significant", "")
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(matrix.columns),
            y=list(matrix.index),
            colorscale="RdBu_r",
            zmid=0,
            zmin=-bound,
            zmax=bound,
            colorbar={"title": value.replace("_", " ")},
            customdata=np.dstack([qmatrix.to_numpy(), marks]),
            hovertemplate=(
                "%{y} ~ %{x}<br>" + value + " %{z:.3g}<br>q %{customdata[0]:.3g} "
                "%{customdata[1]}<extra></extra>"
            ),
        )
    )
    significant = np.argwhere(qmatrix.to_numpy() < q_threshold)
    if significant.size:
        figure.add_trace(
            go.Scatter(
                x=[matrix.columns[j] for _, j in significant],
                y=[matrix.index[i] for i, _ in significant],
                mode="markers",
                marker={"symbol": "circle", "size": 4, "color": "black"},
                name=f"q < {q_threshold}",
                hoverinfo="skip",
            )
        )
    return figure


def _top(table: pd.DataFrame, column: str, count: int, q_threshold: float) -> list[str]:
    names = table[column]
    codes, labels = (
        (names.cat.codes.to_numpy(), names.cat.categories)
        if isinstance(names.dtype, pd.CategoricalDtype)
        else pd.factorize(names)
    )
    p = table["p_value"].to_numpy(dtype=float, na_value=np.nan)
    q = table["q_value"].to_numpy(dtype=float, na_value=np.nan)
    valid = (codes >= 0) & ~np.isnan(p)
    hits = np.bincount(
        codes[valid], weights=(q[valid] < q_threshold).astype(float), minlength=len(labels)
    )
    best = np.full(len(labels), np.inf)
    np.minimum.at(best, codes[valid], p[valid])
    order = np.lexsort((best, -hits))
    order = [i for i in order if np.isfinite(best[i])][:count]
    return [str(labels[i]) for i in order]


def _leaf_order(matrix: np.ndarray) -> np.ndarray:
    if matrix.shape[0] < 3:
        return np.arange(matrix.shape[0])
    filled = np.where(np.isnan(matrix), 0.0, matrix)
    spread = filled.std(axis=1)
    filled = filled + (spread == 0)[:, None] * np.linspace(0, 1e-9, filled.shape[1])
    distance = np.nan_to_num(pdist(filled, metric="correlation"), nan=1.0)
    tree = linkage(distance, method="average")
    return leaves_list(optimal_leaf_ordering(tree, distance))


def pair(
    mdata: md.MuData,
    x_feature: str,
    y_feature: str,
    *,
    x: str = "radiomics",
    y: str = "rna",
    covariates: str | Sequence[str] = (),
    method: str | None = None,
    key: str | None = None,
) -> go.Figure:
    """One pair: a scatter plot with its fitted line (continuous y) or a box plot of x by
    group (binary y), with the pair's statistics.

    With covariates, the scatter is the added-variable plot: the residuals of y and of x
    on the covariates, whose least-squares slope is the adjusted estimate.

    Parameters
    ----------
    mdata
        The cohort.
    x_feature, y_feature
        The pair: a feature of ``x`` and one of ``y`` (modalities, or ``"clinical"`` for
        columns of ``mdata.obs``).
    covariates, method
        As for :func:`radiogenomics.tl.associate`; by default those of the stored result
        ``key`` when it holds the pair, else none and ``linear`` (``mannwhitney`` for a
        binary y).
    key
        A stored association result to take the statistics from.

    See Also
    --------
    radiogenomics.tl.pair_data : the values and statistics drawn here.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> fig = rg.pl.pair(mdata, "original_firstorder_Mean", "GENE001")
    >>> fig.layout.title.text
    'original_firstorder_Mean ~ GENE001'
    """
    stored = None
    if key is not None:
        table = _table(mdata, key, filters=[("x", "==", x_feature), ("y", "==", y_feature)])
        hit = table[(table["x"].astype(str) == x_feature) & (table["y"].astype(str) == y_feature)]
        if len(hit):
            stored = hit.iloc[0]
    data = pair_data(
        mdata, x_feature, y_feature, x=x, y=y, covariates=covariates, method=method, stored=stored
    )
    return _pair_figure(data)


def _pair_figure(data: PairData) -> go.Figure:
    figure = go.Figure()
    if data.binary and data.method in ("mannwhitney", "welch", "logistic"):
        _add_pair_boxes(figure, data)
    else:
        _add_pair_scatter(figure, data)
    figure.add_annotation(
        text=_pair_statistics(data),
        xref="paper",
        yref="paper",
        x=0.01,
        y=0.99,
        showarrow=False,
        align="left",
        xanchor="left",
        yanchor="top",
        bgcolor="rgba(255,255,255,0.8)",
        font={"size": 11},
    )
    figure.update_layout(
        title=f"{data.x_feature} ~ {data.y_feature}", template="plotly_white", showlegend=True
    )
    return figure


def _pair_statistics(data: PairData) -> str:
    """The pair's method, size, estimate, p- and q-value and covariates, as lines of HTML."""
    stats, method, covariate_names = data.statistics, data.method, data.covariates
    lines = [
        f"{method}, n = {stats['n']}",
        f"estimate {stats['estimate']:.3g} [{stats['ci_lower']:.3g}, {stats['ci_upper']:.3g}]"
        if np.isfinite(stats["ci_lower"])
        else f"estimate {stats['estimate']:.3g}",
        f"p = {stats['p_value']:.3g}"
        + (f", q = {stats['q_value']:.3g}" if np.isfinite(stats["q_value"]) else ""),
    ]
    if covariate_names:
        lines.append("adjusted for " + ", ".join(covariate_names))
    return "<br>".join(lines)


def _add_pair_boxes(figure: go.Figure, data: PairData) -> None:
    """Box plots of x in the two groups of a binary y."""
    x_feature, y_feature = data.x_feature, data.y_feature
    patients, xk, yk = data.patients, data.x, data.y
    for group, colour in ((0.0, _OTHER), (1.0, _SIGNIFICANT)):
        members = yk == group
        figure.add_trace(
            go.Box(
                y=xk[members],
                x=[f"{y_feature} = {int(group)}"] * int(members.sum()),
                name=f"{y_feature} = {int(group)} (n = {int(members.sum())})",
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": colour, "size": 5},
                line={"color": colour},
                text=patients[members],
                hovertemplate="%{text}: %{y:.4g}<extra></extra>",
            )
        )
    figure.update_layout(yaxis_title=x_feature, xaxis_title=y_feature)


def _add_pair_scatter(figure: go.Figure, data: PairData) -> None:
    """The scatter of y against x (their residuals with covariates) and its fitted line."""
    xs, ys = data.x, data.y
    x_label, y_label = data.x_feature, data.y_feature
    if data.x_adjusted is not None:
        xs, ys = data.x_adjusted, data.y_adjusted
        x_label = f"{data.x_feature} (adjusted)"
        y_label = f"{data.y_feature} (adjusted)"
    figure.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            text=data.patients,
            name="patients",
            marker={"color": "#2c3e50", "size": 6, "opacity": 0.75},
            hovertemplate="%{text}<br>x %{x:.4g}<br>y %{y:.4g}<extra></extra>",
        )
    )
    if xs.size >= 2 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(xs.min(), xs.max(), 50)
        figure.add_trace(
            go.Scatter(
                x=grid,
                y=intercept + slope * grid,
                mode="lines",
                name="least-squares fit",
                line={"color": _SIGNIFICANT, "width": 2},
            )
        )
    figure.update_layout(xaxis_title=x_label, yaxis_title=y_label)
