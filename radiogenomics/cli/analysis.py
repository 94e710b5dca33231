"""Analysis commands: models, association screens, survival screens."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from ..errors import InputError
from ._group import CONTEXT, cli


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


@cli.command(context_settings=CONTEXT)
@click.argument("cohort", type=click.Path(path_type=Path))
@click.option(
    "--target", required=True, help="Clinical column to predict (for survival: the follow-up time)."
)
@click.option(
    "--features",
    default="radiomics",
    show_default=True,
    help="Comma-separated modalities and/or 'clinical' (or clinical column names).",
)
@click.option(
    "--clinical",
    "clinical_columns",
    default=None,
    help="Clinical columns to use, comma-separated [default with 'clinical': every "
    "column except the outcome, the batch and recodings of the outcome].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the model, its card, tables and figures.",
)
@click.option("--event", default=None, help="Event column (makes it a survival model).")
@click.option(
    "--task",
    type=click.Choice(["classification", "regression", "survival"]),
    default=None,
    help="Task [default: inferred from the target].",
)
@click.option("--positive", default=None, help="Label of the positive class.")
@click.option(
    "--model",
    "learner",
    default="penalized",
    show_default=True,
    type=click.Choice(
        ["penalized", "logistic", "elastic_net", "cox", "random_forest", "gradient_boosting"]
    ),
    help="Learner.",
)
@click.option(
    "--selection",
    default="univariate",
    show_default=True,
    type=click.Choice(["univariate", "lasso", "elastic_net", "mrmr", "stability", "none"]),
    help="Feature selection inside each training fold.",
)
@click.option(
    "--n-features",
    default="5,10,20",
    show_default=True,
    help="Features kept by the selection (several values are tuned).",
)
@click.option(
    "--harmonize",
    default=None,
    help="Batch column: ComBat on the imaging features inside each training fold.",
)
@click.option(
    "--layers",
    default=None,
    help="Read a layer instead of X, e.g. 'radiomics=raw' when X was harmonised on "
    "every patient (comma-separated MODALITY=LAYER).",
)
@click.option(
    "--folds",
    type=click.IntRange(2, None),
    default=5,
    show_default=True,
    help="Outer cross-validation folds.",
)
@click.option(
    "--repeats",
    type=click.IntRange(1, None),
    default=5,
    show_default=True,
    help="Repeats of the outer cross-validation.",
)
@click.option(
    "--inner-folds",
    type=click.IntRange(2, None),
    default=3,
    show_default=True,
    help="Inner (tuning) cross-validation folds.",
)
@click.option(
    "--bootstraps",
    type=click.IntRange(0, None),
    default=1000,
    show_default=True,
    help="Bootstrap replicates for confidence intervals.",
)
@click.option(
    "--permutations",
    type=click.IntRange(0, None),
    default=100,
    show_default=True,
    help="Label permutations for the permutation test (0: none).",
)
@click.option(
    "--test",
    "test_split",
    default=None,
    help="External test patients: an obs column (true = test) or COLUMN=VALUE.",
)
@click.option(
    "--test-cohort",
    type=click.Path(path_type=Path),
    default=None,
    help="A second cohort file (.h5mu) for external validation.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--jobs", "n_jobs", type=int, default=None, help="Parallel workers.")
@click.option("--key", default=None, help="Name of the model [default: the target].")
@click.option(
    "--update-cohort",
    is_flag=True,
    help="Also store the results (card, predictions) in the cohort file.",
)
def model(
    cohort: Path,
    target: str,
    features: str,
    clinical_columns: str | None,
    out: Path,
    event: str | None,
    task: str | None,
    positive: str | None,
    learner: str,
    selection: str,
    n_features: str,
    harmonize: str | None,
    layers: str | None,
    folds: int,
    repeats: int,
    inner_folds: int,
    bootstraps: int,
    permutations: int,
    test_split: str | None,
    test_cohort: Path | None,
    seed: int,
    n_jobs: int | None,
    key: str | None,
    update_cohort: bool,
) -> None:
    """Fit a predictive model with nested cross-validation and save it with its card.

    Selection, harmonisation and tuning are fitted inside each training fold; performance
    comes with bootstrap 95% intervals and a permutation test. Example:

    \b
    radiogenomics model cohort.h5mu --target egfr_mutant --features radiomics,clinical \\
        --out egfr_model
    """
    from ..tl.models import run_model

    spec: dict = {}
    for name in _csv(features):
        if name == "clinical" and clinical_columns:
            spec["clinical"] = _csv(clinical_columns)
        else:
            spec[name] = None
    try:
        sizes = [int(v) for v in _csv(n_features)]
    except ValueError:
        raise click.BadParameter(
            f"expected integers, found {n_features!r}", param_hint="--n-features"
        ) from None
    if not sizes or min(sizes) < 1:
        raise InputError(
            "--n-features must be whole numbers of 1 or more",
            expected="e.g. 5 or 5,10,20",
            found=n_features,
        )
    layer_map = {}
    for item in _csv(layers):
        mod, _, layer = item.partition("=")
        if not layer:
            raise click.BadParameter(
                f"expected MODALITY=LAYER, found {item!r}", param_hint="--layers"
            )
        layer_map[mod.strip()] = layer.strip()
    test = None
    if test_split:
        column, _, value = test_split.partition("=")
        test = (column, value) if value else column
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        fitted = run_model(
            cohort,
            out,
            target,
            spec,
            event=event,
            task=task,
            positive=positive,
            model=learner,
            selection=None if selection == "none" else selection,
            n_features=sizes[0] if len(sizes) == 1 else sizes,
            harmonize=harmonize,
            layers=layer_map or None,
            outer_folds=folds,
            n_repeats=repeats,
            inner_folds=inner_folds,
            n_bootstraps=bootstraps,
            n_permutations=permutations,
            test=test,
            test_cohort=test_cohort,
            random_state=seed,
            n_jobs=n_jobs,
            key_added=key,
            update_cohort=update_cohort,
        )
    for warning in caught:
        if issubclass(warning.category, UserWarning) and "radiogenomics" in warning.filename:
            click.echo(f"warning: {warning.message}", err=True)
    click.echo(fitted.summary())
    click.echo(f"Wrote the model, its card and figures to {out}")


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _block_spec(value: str) -> str | list[str]:
    """A modality name, or comma-separated clinical columns."""
    names = _names(value)
    return names[0] if len(names) == 1 else names


@cli.command(context_settings=CONTEXT)
@click.argument("cohort", type=click.Path(path_type=Path))
@click.option(
    "--x",
    "x",
    default="radiomics",
    show_default=True,
    help="Modality, or comma-separated clinical columns, of the x features.",
)
@click.option(
    "--y",
    "y",
    default="rna",
    show_default=True,
    help="Modality, or comma-separated clinical columns, of the y features.",
)
@click.option(
    "--covariates",
    default=None,
    help="Comma-separated clinical columns to adjust for, e.g. age,sex.",
)
@click.option(
    "--method",
    type=click.Choice(["linear", "pearson", "spearman", "mannwhitney", "welch", "logistic"]),
    default="linear",
    show_default=True,
    help="Association test.",
)
@click.option(
    "--multitest",
    type=click.Choice(["bh", "by", "bonferroni", "holm", "storey", "permutation"]),
    default="bh",
    show_default=True,
    help="Multiple-testing correction (permutation: empirical FDR from joint "
    "permutations of the y patients).",
)
@click.option(
    "--permutations",
    "n_permutations",
    type=click.IntRange(1, None),
    default=100,
    show_default=True,
    help="Permutations for --multitest permutation.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the permutations.")
@click.option(
    "--family",
    type=click.Choice(["all", "x", "y"]),
    default="all",
    show_default=True,
    help="Tests corrected together: all, or per x feature, or per y feature.",
)
@click.option(
    "--p-threshold",
    "p_threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Keep only the pairs with p-value at most this (threshold mode, e.g. "
    "1e-5); q-values are still corrected over all tests.",
)
@click.option(
    "--stream",
    is_flag=True,
    help="Write the table to OUT (.parquet) chunk by chunk as it is computed, "
    "never holding it whole.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output table: .csv, .tsv, .parquet or .xlsx (a .meta.json is written beside it).",
)
@click.option(
    "--q",
    "q",
    type=click.FloatRange(0, 1),
    default=None,
    help="Write only the pairs with q-value at most this.",
)
@click.option(
    "--top",
    type=click.IntRange(1, None),
    default=None,
    help="Write only this many most significant pairs.",
)
def associate(
    cohort: Path,
    x: str,
    y: str,
    covariates: str | None,
    method: str,
    multitest: str,
    n_permutations: int,
    seed: int,
    family: str,
    p_threshold: float | None,
    stream: bool,
    out: Path,
    q: float | None,
    top: int | None,
) -> None:
    """Test every x feature against every y feature of a cohort (.h5mu) and write the
    association table with its provenance."""
    from ..cohort import read_cohort
    from ..export import write_table
    from ..tl import associate as run

    if stream and (q is not None or top is not None):
        raise InputError(
            "--stream writes every pair", expected="no --q or --top", found={"q": q, "top": top}
        )
    mdata = read_cohort(cohort)
    table = run(
        mdata,
        x=_block_spec(x),
        y=_block_spec(y),
        covariates=_names(covariates),
        method=method,
        multitest=multitest,
        family=family,
        p_threshold=p_threshold,
        n_permutations=n_permutations,
        random_state=seed,
        out=out if stream else None,
    )
    params = table.attrs.get("radiogenomics", {})
    if not stream:
        write_table(table, out, q=q, top=top, cohort=mdata)
    significant = int((table["q_value"] < 0.05).sum())
    tested = params.get("n_tests", len(table))
    kept = f", {len(table)} with p <= {p_threshold} kept" if p_threshold is not None else ""
    click.echo(
        f"{tested} pairs tested ({method}){kept}, {significant} with q < 0.05 "
        f"({multitest}, family {family}); wrote {out} and {out.name}.meta.json"
    )


@cli.command(context_settings=CONTEXT)
@click.argument("cohort", type=click.Path(path_type=Path))
@click.option("--time", "time_column", required=True, help="Clinical column of follow-up times.")
@click.option(
    "--event",
    "event_column",
    required=True,
    help="Clinical column of events (0/1, or codes with --event-map).",
)
@click.option(
    "--mod",
    "mods",
    default=None,
    help="Modality (or comma-separated modalities) to screen [default: every one].",
)
@click.option(
    "--covariates",
    default=None,
    help="Comma-separated clinical columns adjusted for in every model, e.g. age,stage.",
)
@click.option("--strata", default=None, help="Comma-separated clinical columns to stratify on.")
@click.option(
    "--ties",
    type=click.Choice(["efron", "breslow"]),
    default="efron",
    show_default=True,
    help="Handling of tied event times.",
)
@click.option("--event-map", default=None, help="Event coding, e.g. 'Dead=1,Alive=0'.")
@click.option(
    "--drop-missing",
    is_flag=True,
    help="Leave out patients without time or event instead of stopping.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output table (.parquet, .csv, .tsv or .xlsx); OUT.meta.json is written beside it.",
)
def survival(
    cohort: Path,
    time_column: str,
    event_column: str,
    mods: str | None,
    covariates: str | None,
    strata: str | None,
    ties: str,
    event_map: str | None,
    drop_missing: bool,
    out: Path,
) -> None:
    """Cox screen of every feature of a cohort: one model per feature (adjusted for the
    covariates), hazard ratios, p-values, BH q-values and C-index, written to OUT."""
    from ..workflow import survival_screen_file

    def split(value):
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    mapping = None
    if event_map:
        mapping = {}
        for item in split(event_map):
            key, sep, value = item.partition("=")
            if not sep or value.strip() not in ("0", "1"):
                raise click.BadParameter(
                    f"expected CODE=0 or CODE=1, found {item!r}", param_hint="--event-map"
                )
            mapping[key.strip()] = int(value)
    modalities = split(mods)
    written = survival_screen_file(
        cohort,
        out,
        time=time_column,
        event=event_column,
        mod=modalities[0] if modalities and len(modalities) == 1 else modalities,
        covariates=split(covariates),
        strata=split(strata),
        ties=ties,
        event_map=mapping,
        missing="drop" if drop_missing else "error",
    )
    click.echo(f"Wrote {written} and {written.name}.meta.json")
