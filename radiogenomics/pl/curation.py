"""Figures of feature curation and radiomic phenotypes: the feature-correlation
clustermap, batch separation before and after harmonisation, patient embeddings coloured
by any column or feature, and the differential dot plot."""

from __future__ import annotations

from collections.abc import Sequence

import mudata as md
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from anndata import AnnData
from plotly.subplots import make_subplots
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from .._compat import keyword_only
from ..cohort import get_result
from ..errors import CohortError
from ..pp._modality import get_modality, steps
from ..pp.redundancy import feature_correlation

__all__ = ["correlation_clustermap", "batch_before_after", "embedding", "differential_dotplot"]

PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def _modality(data, mod: str) -> AnnData:
    return get_modality(data, mod)


@keyword_only("mod")
def correlation_clustermap(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    *,
    method: str = "spearman",
    features: Sequence[str] | None = None,
    layer: str | None = None,
    linkage: str = "average",
    absolute: bool = False,
    title: str | None = None,
) -> go.Figure:
    """Feature-by-feature correlation heatmap ordered by hierarchical clustering on
    ``1 - |r|``, with the dendrogram above it.

    Parameters
    ----------
    method
        ``"spearman"`` or ``"pearson"``.
    features, layer
        A subset of features; a layer instead of ``X`` (for example ``"raw"``).
    absolute
        Show ``|r|`` instead of ``r``.

    See Also
    --------
    radiogenomics.pp.feature_correlation : the matrix drawn here.
    radiogenomics.pp.remove_redundant : keep one feature per correlated cluster.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> fig = rg.pl.correlation_clustermap(mdata, mod="radiomics", method="spearman")
    >>> fig.layout.title.text
    'Spearman correlation of 12 radiomics features'
    >>> type(fig.data[-1]).__name__, fig.data[-1].z.shape  # the dendrogram's lines come first
    ('Heatmap', (12, 12))
    """
    corr = feature_correlation(mdata, mod=mod, method=method, features=features, layer=layer)
    r = corr.to_numpy()
    names = list(corr.index)
    adata = _modality(mdata, mod)
    classes = (
        adata.var["feature_class"].reindex(names).astype(str).to_numpy()
        if "feature_class" in adata.var.columns
        else np.full(len(names), "")
    )
    order = np.arange(len(names))
    fig = make_subplots(
        rows=2, cols=1, row_heights=[0.18, 0.82], shared_xaxes=True, vertical_spacing=0.01
    )
    if len(names) > 2:
        order = _add_dendrogram(fig, r, linkage)
    ordered = [names[i] for i in order]
    _add_correlation_heatmap(fig, r, order, ordered, classes, absolute)
    tick = {
        "tickmode": "array",
        "tickvals": np.arange(len(order)),
        "ticktext": ordered,
        "tickfont": {"size": 7 if len(order) > 40 else 9},
    }
    fig.update_xaxes(**tick, row=2, col=1)
    fig.update_yaxes(**tick, autorange="reversed", row=2, col=1)
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_yaxes(showticklabels=False, title="1 - |r|", row=1, col=1)
    size = max(500, min(1400, 14 * len(order) + 250))
    fig.update_layout(
        title=title or f"{method.capitalize()} correlation of {len(order)} {mod} features",
        width=size + 100,
        height=size,
        template="plotly_white",
        margin={"l": 220, "b": 220, "t": 60},
    )
    return fig


def _add_dendrogram(fig: go.Figure, r: np.ndarray, linkage: str) -> np.ndarray:
    """The dendrogram of the features on ``1 - |r|`` above the heatmap; returns its leaf order."""
    distance = 1.0 - np.abs(np.nan_to_num(r, nan=0.0))
    distance = np.clip((distance + distance.T) / 2, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    tree = hierarchy.linkage(squareform(distance, checks=False), method=linkage)
    dendro = hierarchy.dendrogram(tree, no_plot=True)
    for xs, ys in zip(dendro["icoord"], dendro["dcoord"]):
        fig.add_trace(
            go.Scatter(
                x=(np.asarray(xs) - 5) / 10,
                y=ys,
                mode="lines",
                line={"color": "#555", "width": 1},
                hoverinfo="skip",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    return np.asarray(dendro["leaves"])


def _add_correlation_heatmap(
    fig: go.Figure,
    r: np.ndarray,
    order: np.ndarray,
    ordered: list[str],
    classes: np.ndarray,
    absolute: bool,
) -> None:
    """The correlation matrix in leaf order, with feature names and classes on hover."""
    shown = np.abs(r) if absolute else r
    shown = shown[np.ix_(order, order)]
    hover = np.array(
        [
            [
                f"{ordered[j]} ({classes[order[j]]})<br>{ordered[i]} ({classes[order[i]]})"
                for j in range(len(order))
            ]
            for i in range(len(order))
        ]
    )
    fig.add_trace(
        go.Heatmap(
            z=shown,
            x=np.arange(len(order)),
            y=np.arange(len(order)),
            zmin=0 if absolute else -1,
            zmax=1,
            colorscale="Viridis" if absolute else "RdBu_r",
            customdata=hover,
            hovertemplate="%{customdata}<br>r = %{z:.2f}<extra></extra>",
            colorbar={"title": "|r|" if absolute else "r", "len": 0.8, "y": 0.41},
        ),
        row=2,
        col=1,
    )


@keyword_only("mod")
def batch_before_after(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    *,
    key: str | None = None,
    components: tuple[int, int] = (0, 1),
) -> go.Figure:
    """Patients on the first principal components before and after harmonisation,
    coloured by batch, with the batch separation scores in the panel titles.

    Reads what ``rg.pp.harmonize`` stored (``obsm["X_pca_unharmonized"]``,
    ``obsm["X_pca_harmonized"]`` and the score table).

    See Also
    --------
    radiogenomics.pp.harmonize : the correction and scores drawn here.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> _ = rg.pp.harmonize(mdata, mod="radiomics", batch_key="site")
    >>> fig = rg.pl.batch_before_after(mdata, mod="radiomics")
    >>> fig.layout.title.text
    'radiomics features by site, before and after ComBat'
    >>> len(fig.data), [note.text.split(":")[0] for note in fig.layout.annotations]
    (4, ['Before', 'After'])
    """
    adata = _modality(mdata, mod)
    for name in ("X_pca_unharmonized", "X_pca_harmonized"):
        if name not in adata.obsm:
            raise CohortError(
                f"modality {mod!r} has not been harmonised",
                expected=f"obsm[{name!r}]",
                hint="Run rg.pp.harmonize first",
            )
    entry = [e for e in steps(adata).values() if e.get("step") == "harmonize"][-1]
    batch_key = entry["batch_key"]
    labels = adata.obs[f"harmonize_{batch_key}"].astype(str).to_numpy()
    scores = None
    if isinstance(mdata, md.MuData):
        try:
            scores = get_result(mdata, "harmonization", key or mod).set_index("metric")
        except CohortError:
            scores = None

    def subtitle(when: str) -> str:
        if scores is None:
            return when
        s = scores[when.lower()]
        return (
            f"{when}: silhouette {s['silhouette']:.2f}, kBET rejection "
            f"{s['kbet_rejection_rate']:.2f}, batch R² {s['batch_r2_mean']:.2f}"
        )

    fig = make_subplots(rows=1, cols=2, subplot_titles=[subtitle("Before"), subtitle("After")])
    levels = list(dict.fromkeys(sorted(labels)))
    a, b = components
    for col, name in ((1, "X_pca_unharmonized"), (2, "X_pca_harmonized")):
        pcs = np.asarray(adata.obsm[name])
        for k, level in enumerate(levels):
            rows = labels == level
            fig.add_trace(
                go.Scatter(
                    x=pcs[rows, a],
                    y=pcs[rows, b],
                    mode="markers",
                    name=str(level),
                    legendgroup=str(level),
                    showlegend=col == 1,
                    marker={"color": PALETTE[k % len(PALETTE)], "size": 7, "opacity": 0.8},
                    text=list(adata.obs_names[rows]),
                    hovertemplate="%{text}<br>" + f"{batch_key}: {level}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title=f"PC{a + 1}", row=1, col=col)
        fig.update_yaxes(title=f"PC{b + 1}", row=1, col=col)
    fig.update_layout(
        title=f"{mod} features by {batch_key}, before and after ComBat",
        legend_title=batch_key,
        template="plotly_white",
        width=1050,
        height=480,
    )
    fig.update_annotations(font_size=12)
    return fig


def _colour_values(mdata, adata: AnnData, mod: str, color: str) -> tuple[pd.Series, str]:
    """Values to colour patients by: a clinical column, a modality obs column, a feature
    of ``mod``, or ``"<modality>:<feature>"``."""
    patients = adata.obs_names
    if isinstance(mdata, md.MuData) and color in mdata.obs.columns:
        return mdata.obs[color].reindex(patients), color
    if color in adata.obs.columns:
        return adata.obs[color], color
    if color in adata.var_names:
        column = adata[:, color].X
        column = column.toarray() if hasattr(column, "toarray") else np.asarray(column)
        return pd.Series(column.ravel().astype(float), index=patients), color
    if isinstance(mdata, md.MuData) and ":" in color:
        other, feature = color.split(":", 1)
        if other in mdata.mod and feature in mdata.mod[other].var_names:
            block = mdata.mod[other][:, feature].X
            block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
            series = pd.Series(block.ravel().astype(float), index=mdata.mod[other].obs_names)
            return series.reindex(patients), f"{feature} ({other})"
    raise CohortError(
        f"nothing named {color!r} to colour by",
        column=color,
        expected="a clinical column, an obs column of the modality, one of its "
        "features, or '<modality>:<feature>'",
        found=color,
    )


def embedding(
    mdata: md.MuData | AnnData,
    color: str | None = None,
    *,
    mod: str = "radiomics",
    basis: str = "umap",
    components: tuple[int, int] = (0, 1),
    title: str | None = None,
) -> go.Figure:
    """Patients in an embedding (``"umap"``, ``"pca"`` or any ``obsm`` key), coloured by
    a clinical column, a subtype, a feature of the modality or ``"rna:MKI67"``.

    See Also
    --------
    radiogenomics.tl.phenotypes : radiomic subtypes, with a PCA and UMAP of the patients.

    Examples
    --------
    >>> import numpy as np
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> rad = mdata["radiomics"]
    >>> centred = rad.X - rad.X.mean(axis=0)
    >>> rad.obsm["X_pca"] = np.linalg.svd(centred, full_matrices=False)[0][:, :2]
    >>> fig = rg.pl.embedding(mdata, "site", mod="radiomics", basis="pca")
    >>> fig.layout.title.text, [trace.name for trace in fig.data]
    ('radiomics patients (PCA), coloured by site', ['site_A', 'site_B'])
    >>> fig = rg.pl.embedding(mdata, "rna:GENE001", mod="radiomics", basis="pca")
    >>> len(fig.data), fig.layout.xaxis.title.text
    (1, 'PC1')
    """
    adata = _modality(mdata, mod)
    key = basis if basis in adata.obsm else f"X_{basis}"
    if key not in adata.obsm:
        raise CohortError(
            f"modality {mod!r} has no {basis!r} embedding",
            expected=f"one of {list(adata.obsm)}",
            hint="Run rg.tl.phenotypes first",
        )
    coords = np.asarray(adata.obsm[key])
    a, b = components
    label = basis.upper() if basis.lower() in ("umap", "pca") else basis
    axis = "PC" if basis.lower() == "pca" else f"{label} "
    fig = go.Figure()
    points = (coords[:, a], coords[:, b], np.asarray(adata.obs_names))
    if color is None:
        fig.add_trace(
            go.Scatter(
                x=points[0],
                y=points[1],
                mode="markers",
                text=points[2],
                marker={"size": 7},
                hovertemplate="%{text}<extra></extra>",
            )
        )
        name = ""
    else:
        series, name = _colour_values(mdata, adata, mod, color)
        numeric = (
            pd.api.types.is_numeric_dtype(series.dtype)
            and not isinstance(series.dtype, pd.CategoricalDtype)
            and not pd.api.types.is_bool_dtype(series.dtype)
        )
        if numeric:
            _add_numeric_colour(fig, points, series, name)
        else:
            _add_levels(fig, points, series, name)
    fig.update_layout(
        title=title or f"{mod} patients ({label})" + (f", coloured by {name}" if name else ""),
        xaxis_title=f"{axis}{a + 1}",
        yaxis_title=f"{axis}{b + 1}",
        legend_title=name,
        template="plotly_white",
        width=720,
        height=560,
    )
    return fig


def _add_numeric_colour(fig: go.Figure, points, series: pd.Series, name: str) -> None:
    """Patients coloured on a continuous scale by a numeric column or feature."""
    x, y, patients = points
    values = series.to_numpy(dtype=float)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="markers",
            text=patients,
            marker={
                "size": 7,
                "color": values,
                "colorscale": "Viridis",
                "colorbar": {"title": name},
                "showscale": True,
            },
            customdata=values,
            hovertemplate="%{text}<br>" + name + ": %{customdata:.3g}<extra></extra>",
            showlegend=False,
        )
    )


def _add_levels(fig: go.Figure, points, series: pd.Series, name: str) -> None:
    """One trace per level of a categorical column, missing values in grey last."""
    x, y, patients = points
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in series.cat.categories]
    else:
        levels = sorted(series.dropna().astype(str).unique())
    text = series.astype(object).where(series.notna(), None)
    text = np.array(["missing" if v is None else str(v) for v in text])
    if (text == "missing").any():
        levels.append("missing")
    for k, level in enumerate(levels):
        rows = text == level
        if not rows.any():
            continue
        colour = "#cccccc" if level == "missing" else PALETTE[k % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=x[rows],
                y=y[rows],
                mode="markers",
                name=level,
                text=patients[rows],
                marker={"size": 7, "color": colour},
                hovertemplate="%{text}<br>" + f"{name}: {level}<extra></extra>",
            )
        )


def differential_dotplot(
    data: md.MuData | pd.DataFrame,
    key: str | None = None,
    *,
    n_top: int = 5,
    groups: Sequence[str] | None = None,
    q_threshold: float = 0.05,
    title: str | None = None,
) -> go.Figure:
    """Dot plot of the top features of each group from ``rg.tl.differential``: colour
    = difference of means (group - reference), size = -log10 q-value; features with
    ``q >= q_threshold`` are drawn as open circles.

    Parameters
    ----------
    data
        The cohort holding the result, or the result table itself.
    key
        The stored result (default: the only one).
    n_top
        Features per group (those most increased in the group, by test statistic).

    See Also
    --------
    radiogenomics.tl.differential : the table drawn here.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> mdata.obs["group"] = mdata.obs["stage"].astype(str)
    >>> table = rg.tl.differential(mdata, "group", mod="rna")
    >>> fig = rg.pl.differential_dotplot(table, n_top=3)
    >>> fig.layout.title.text, list(fig.layout.yaxis.ticktext)
    ('Top rna features per group', ['I', 'II', 'III'])
    >>> len(fig.layout.xaxis.ticktext) <= 9  # at most three features per group
    True
    """
    table = data if isinstance(data, pd.DataFrame) else get_result(data, "differential", key)
    if table.empty:
        raise CohortError("the differential table is empty")
    table = table.copy()
    table["group"] = table["group"].astype(str)
    order = list(dict.fromkeys(table["group"]))
    if groups is not None:
        order = [str(g) for g in groups]
    chosen: list[str] = []
    for group in order:
        rows = table[(table["group"] == group) & (table["difference"] > 0)]
        rows = rows.sort_values("statistic", ascending=False).head(n_top)
        chosen += [f for f in rows["feature"] if f not in chosen]
    if not chosen:
        raise CohortError("no feature is higher in any group", found=order)
    grid = table[table["feature"].isin(chosen) & table["group"].isin(order)]
    x = grid["feature"].map({f: i for i, f in enumerate(chosen)}).to_numpy()
    y = grid["group"].map({g: i for i, g in enumerate(order)}).to_numpy()
    with np.errstate(divide="ignore"):
        strength = -np.log10(np.clip(grid["q_value"].to_numpy(dtype=float), 1e-300, 1.0))
    strength = np.nan_to_num(strength, nan=0.0)
    size = 6 + 22 * np.sqrt(strength / max(strength.max(), 1e-12))
    difference = grid["difference"].to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(difference))) or 1.0
    significant = grid["q_value"].to_numpy(dtype=float) < q_threshold
    groupby = str(table["groupby"].iloc[0]) if "groupby" in table else "group"
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=y,
            mode="markers",
            marker={
                "size": size,
                "color": difference,
                "colorscale": "RdBu_r",
                "cmin": -limit,
                "cmax": limit,
                "colorbar": {"title": "difference"},
                "symbol": np.where(significant, "circle", "circle-open"),
                "line": {"width": 0.5, "color": "#333"},
            },
            customdata=np.column_stack([grid["feature"], grid["group"], grid["q_value"]]),
            hovertemplate="%{customdata[0]}<br>" + groupby + " %{customdata[1]}<br>"
            "difference %{marker.color:.2f}<br>q = %{customdata[2]:.2g}"
            "<extra></extra>",
        )
    )
    modality = str(table["modality"].iloc[0]) if "modality" in table else ""
    fig.update_layout(
        title=title or f"Top {modality} features per {groupby}",
        xaxis={
            "tickmode": "array",
            "tickvals": list(range(len(chosen))),
            "ticktext": chosen,
            "tickangle": -60,
            "title": modality,
        },
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(order))),
            "ticktext": order,
            "title": groupby,
        },
        template="plotly_white",
        width=max(600, 28 * len(chosen) + 250),
        height=max(320, 60 * len(order) + 200),
    )
    return fig
