"""End-to-end workflows built from library calls (the ``radiogenomics demo`` job)."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from . import pp, tl
from ._compat import renamed
from .cohort import add_modality, get_result, read_cohort, write_cohort, write_h5ad
from .datasets import subtype_recovery
from .datasets.demo import assemble_demo, write_demo_files
from .datasets.dicom import demo_dicom_manifest
from .errors import RadiogenomicsError
from .export import file_digest, write_table
from .extract import features
from .report import study
from .tl import associate
from .tl.models import fit_model, store_model

__all__ = [
    "curate_demo",
    "demo_associations",
    "demo_models",
    "run_demo",
    "survival_screen_file",
    "survival_step",
    "write_h5ad",
]


def curate_demo(mdata, paths: dict, summary: dict, echo: Callable[[str], None] = print) -> dict:
    """Demo step: feature QC, Yeo-Johnson transform, ComBat across scanner sites (keeping
    stage), z-scoring, redundancy flags, radiomic subtypes and their differential genes
    with gene-set over-representation; everything is stored in the cohort.

    The radiomics modality keeps every feature that passes QC (harmonised and scaled;
    ``layers["raw"]`` holds the extracted values); the subtypes are found on the
    non-redundant representatives (``var["redundancy_kept"]``). A cohort too small for a
    step (a site with a single patient, too few patients for subtypes) is reported in
    ``summary["curation"]["skipped"]`` and the cohort is left as built.
    """
    t0 = time.perf_counter()
    work = mdata.copy()
    try:
        result = _curate(work, paths, echo)
    except RadiogenomicsError as exc:
        echo(f"Curation and phenotypes skipped: {exc}")
        result = {"skipped": str(exc)}
    else:
        for name in list(mdata.mod):
            add_modality(mdata, name, work.mod[name])  # keeps the clinical columns' types
        for column in work.obs.columns.difference(mdata.obs.columns):
            mdata.obs[column] = work.obs[column]
        mdata.uns["radiogenomics"] = work.uns["radiogenomics"]
    summary["curation"] = result
    summary["steps"]["curate_phenotypes"] = round(time.perf_counter() - t0, 2)
    return result


def _curate(mdata, paths: dict, echo: Callable[[str], None]) -> dict:
    echo("Curating radiomic features: QC, ComBat across sites, redundancy ...")
    qc = pp.filter_features(mdata, mod="radiomics")
    pp.transform(mdata, mod="radiomics")
    scores = pp.harmonize(mdata, mod="radiomics", batch_key="site", covariates=["stage"])
    pp.scale(mdata, mod="radiomics")
    redundancy = pp.remove_redundant(mdata, mod="radiomics", threshold=0.9, subset=False)
    echo("Finding radiomic subtypes and their differential genes ...")
    subtypes = tl.phenotypes(mdata, mod="radiomics", features="redundancy_kept")
    tl.differential(mdata, "radiomic_subtype", mod="rna", genesets=paths["genesets"])
    enrichment = mdata.uns["radiogenomics"]["enrichment"]["radiomic_subtype:rna"]
    top = (
        enrichment[enrichment["direction"] == "up"]
        .sort_values("p_value")
        .groupby("group", observed=True)
        .head(1)
    )
    ari = subtype_recovery(mdata, "radiomic_subtype")
    table = scores.set_index("metric")
    result = {
        "n_features_extracted": int(len(qc)),
        "n_features_dropped_qc": int(qc["dropped"].sum()),
        "n_representative_features": int(redundancy["kept"].sum()),
        "batch_silhouette": [
            round(float(v), 3) for v in table.loc["silhouette", ["before", "after"]]
        ],
        "batch_kbet_rejection_rate": [
            round(float(v), 3) for v in table.loc["kbet_rejection_rate", ["before", "after"]]
        ],
        "n_subtypes": int(len(subtypes)),
        "subtype_stability": [round(float(v), 3) for v in subtypes["stability"]],
        "adjusted_rand_index_vs_planted": round(float(ari), 3),
        "top_gene_set_per_subtype": dict(zip(top["group"], top["gene_set"])),
    }
    echo(
        f"Site effect (silhouette by site) {table.loc['silhouette', 'before']:.2f} -> "
        f"{table.loc['silhouette', 'after']:.2f}; {len(subtypes)} radiomic subtypes "
        f"(adjusted Rand index {ari:.2f} against the planted subtypes)"
    )
    return result


@renamed(seed="random_state")
def run_demo(
    out: str | os.PathLike,
    n_patients: int = 150,
    random_state: int = 0,
    n_jobs: int | None = None,
    echo: Callable[[str], None] = print,
    dicom: bool = False,
) -> dict:
    """Run the demo study: simulate inputs, extract features, build and save the cohort.

    Parameters
    ----------
    out
        Output folder. ``inputs/`` receives the simulated study files; ``features.h5ad``
        the extracted radiomic features; ``cohort.h5mu`` the joined cohort;
        ``summary.json`` what was done; ``cache/`` the per-case extraction cache (keyed by
        image content, so a re-run with the same seed and settings reuses it);
        ``report/report.html`` the study report (tables and checklist; figures and PDF with
        ``radiogenomics report OUT --out OUT/report``).
    n_patients, random_state
        Size and random seed of the simulated study.
    n_jobs
        Worker processes for extraction (default: every core).
    echo
        Where progress lines go.
    dicom
        Also write the images as DICOM CT series with RTSTRUCT contours
        (``inputs/dicom/``), scan that tree into ``inputs/manifest_dicom.csv`` and extract
        from it (the images are stored in 16 bits, so features differ slightly from the
        NIfTI run).

    Returns
    -------
    dict
        The summary written to ``summary.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary: dict = {"n_patients_simulated": n_patients, "seed": random_state, "steps": {}}

    def step(name: str, t0: float) -> None:
        summary["steps"][name] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    echo(f"Simulating {n_patients} patients (seed {random_state}) into {out / 'inputs'} ...")
    paths = write_demo_files(out / "inputs", n_patients=n_patients, random_state=random_state)
    step("simulate", t0)

    t0 = time.perf_counter()
    jobs = n_jobs if n_jobs is not None else -1
    echo("Extracting radiomic features with pyradiomics ...")
    manifest = paths["manifest"]
    if dicom:
        echo(
            f"Writing the images as DICOM series with RTSTRUCT contours into "
            f"{out / 'inputs' / 'dicom'} ..."
        )
        manifest = out / "inputs" / "manifest_dicom.csv"
        demo_dicom_manifest(paths["manifest"], out / "inputs" / "dicom").to_csv(
            manifest, index=False
        )
        summary["inputs"] = "DICOM series + RTSTRUCT"
    radiomics = features(
        manifest, params="demo", n_jobs=jobs, cache_dir=out / "cache", cache_key="content"
    )
    write_h5ad(radiomics, out / "features.h5ad")
    failures = radiomics.uns["radiogenomics"]["failures"]
    summary["extraction"] = {
        "n_cases": int(radiomics.uns["radiogenomics"]["n_cases"]),
        "n_features": int(radiomics.n_vars),
        "n_failed": int(len(failures)),
        "n_from_cache": int(radiomics.uns["radiogenomics"]["n_from_cache"]),
    }
    step("extract", t0)

    t0 = time.perf_counter()
    mdata = assemble_demo(paths, radiomics)
    curate_demo(mdata, paths, summary, echo)
    write_cohort(mdata, out / "cohort.h5mu")
    join = mdata.uns["radiogenomics"]["join"]
    summary["cohort"] = {
        "path": str(out / "cohort.h5mu"),
        "n_patients": int(mdata.n_obs),
        "n_dropped": int(join["n_dropped"]),
        "modalities": {name: list(mod.shape) for name, mod in mdata.mod.items()},
    }
    step("build_cohort", t0)

    t0 = time.perf_counter()
    summary["survival"] = survival_step(mdata, out, echo=echo)
    step("survival", t0)

    t0 = time.perf_counter()
    summary["associations"] = demo_associations(mdata, out / "results", echo=echo)
    step("associations", t0)

    t0 = time.perf_counter()
    summary["models"] = demo_models(mdata, out, n_jobs=n_jobs, echo=echo)
    write_cohort(mdata, out / "cohort.h5mu")
    step("models", t0)

    t0 = time.perf_counter()
    summary["report"] = demo_report(mdata, out, echo=echo)
    step("report", t0)

    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    echo(
        f"Cohort: {mdata.n_obs} patients ({join['n_dropped']} dropped by the inner join, "
        "see the join report) x "
        + ", ".join(f"{k} {v[1]}" for k, v in summary["cohort"]["modalities"].items())
    )
    echo(f"Wrote {out / 'cohort.h5mu'} in {summary['seconds']} s")
    return summary


def demo_report(mdata, out: str | os.PathLike, echo: Callable[[str], None] = print) -> dict:
    """Demo step: the study report's HTML (tables and checklist, without figures and PDF,
    a few seconds) in ``out/report/report.html``, which the dashboards link to;
    ``radiogenomics report OUT --out OUT/report`` adds the figures and the PDF."""
    try:
        written = study(mdata, Path(out) / "report", pdf=False, figures=False)
    except Exception as exc:  # the report never stops the demo
        echo(f"Study report skipped: {exc}")
        return {"skipped": str(exc)}
    echo(
        f"Study report (tables and checklist) -> {written['html']}; figures and PDF: "
        f"radiogenomics report {out} --out {Path(out) / 'report'}"
    )
    return {"html": str(written["html"])}


def demo_models(
    mdata,
    out: str | os.PathLike,
    n_jobs: int | None = None,
    echo: Callable[[str], None] = print,
    n_repeats: int = 3,
    n_permutations: int = 50,
) -> dict:
    """Demo step: a classifier of EGFR status from imaging and a survival model from
    imaging, age and stage, each with nested cross-validation (5 folds, ``n_repeats``
    repeats, 3 inner folds tuning the number of selected features and the penalty),
    ComBat across sites fitted inside each training fold (on the extracted values,
    ``layers["raw"]``, when the cohort's ``X`` was already harmonised on every patient),
    bootstrap intervals and a permutation test (``n_permutations``; cohorts of fewer than
    60 patients get one repeat and at most 19 permutations).

    Their cards, metrics and per-patient predictions are stored in the cohort
    (``uns["radiogenomics"]``: ``model_cards``, ``models``, ``model_predictions``,
    ``model_importance``, ``model_curves``, keys ``egfr_mutant`` and ``overall_survival``);
    the fitted models with their figures are saved under ``out/models/<key>``.
    """
    out = Path(out)
    jobs = n_jobs if n_jobs is not None else -1
    if mdata.n_obs < 60:  # a small demo shows the steps; its figures are not the point
        n_repeats, n_permutations = 1, min(n_permutations, 19)
    common = {
        "n_repeats": n_repeats,
        "n_permutations": n_permutations,
        "n_jobs": jobs,
        "n_features": (5, 10),
        "random_state": 0,
        "harmonize": "site",
    }
    if "raw" in mdata["radiomics"].layers:
        # X was transformed and harmonised on every patient by the curation step: the
        # models start from the extracted values and harmonise inside each training fold
        common["layers"] = {"radiomics": "raw"}
    specs = {
        "egfr_mutant": {"target": "egfr_mutant", "features": "radiomics"},
        "overall_survival": {
            "target": "os_months",
            "event": "os_event",
            "features": {"radiomics": None, "clinical": ["age", "stage"]},
        },
    }
    summary = {}
    for key, spec in specs.items():
        echo(f"Fitting the {key} model with nested cross-validation ...")
        try:
            model = fit_model(mdata, **spec, **common, key_added=key)
        except RadiogenomicsError as exc:  # a very small demo cohort cannot be validated
            echo(f"  {key}: skipped ({exc})")
            summary[key] = {"skipped": str(exc)}
            continue
        folder = model.save(out / "models" / key)
        model.card["data"]["folder"] = str(folder)
        store_model(mdata, model)  # the stored card now lists the saved figures too
        metrics = model.metrics.set_index("metric")
        primary = "auc" if model.task == "classification" else "concordance"
        row = metrics.loc[primary]
        permutation = model.card["validation"]["permutation_test"]
        summary[key] = {
            "task": model.task,
            "metric": primary,
            "estimate": round(float(row["estimate"]), 3),
            "ci": [round(float(row["ci_lower"]), 3), round(float(row["ci_upper"]), 3)],
            "permutation_p_value": permutation["p_value"],
            "folder": str(folder),
            "features_used": len(model.required),
        }
        echo(
            f"  {key}: cross-validated {primary} {row['estimate']:.3f} "
            f"(95% CI {row['ci_lower']:.3f}-{row['ci_upper']:.3f}), permutation p = "
            f"{permutation['p_value']:.3f}"
        )
    return summary


def survival_screen_file(
    cohort: str | os.PathLike,
    out: str | os.PathLike,
    *,
    time: str,
    event: str,
    mod: str | list[str] | None = None,
    covariates: list[str] | None = None,
    strata: list[str] | None = None,
    ties: str = "efron",
    event_map: dict | None = None,
    missing: str = "error",
) -> Path:
    """Cox screen of a cohort file's features, written as a table with provenance.

    Reads the cohort, runs :func:`radiogenomics.tl.cox_screen` and writes the table to
    ``out`` (csv, tsv, parquet or xlsx by suffix) with ``<out>.meta.json`` beside it.
    The cohort file is not changed.

    Returns
    -------
    pathlib.Path
        The table written.
    """
    cohort = Path(cohort)
    mdata = read_cohort(cohort)
    table = tl.cox_screen(
        mdata,
        mod=mod,
        time=time,
        event=event,
        covariates=covariates or (),
        strata=strata,
        ties=ties,
        event_map=event_map,
        missing=missing,
        key_added="survival_screen_file",
    )
    params = mdata.uns["radiogenomics"]["params"]["survival_screen"]["survival_screen_file"]
    provenance = {
        **params,
        "produced_by": "radiogenomics.tl.cox_screen",
        "cohort": str(cohort.resolve()),
        "cohort_sha256": file_digest(cohort),
    }
    return write_table(table, out, schema="survival_screen", params=provenance, cohort=mdata)


def survival_step(mdata, out: str | os.PathLike, echo: Callable[[str], None] = print) -> dict:
    """The demo's survival analysis: screens, Cox model, Kaplan-Meier, risk signature.

    Writes under ``out/results/``: ``survival_screen.parquet`` (every feature, univariate),
    ``survival_screen_adjusted.parquet`` (adjusted for age and stage), ``cox_model.csv``
    (age, stage and tumour volume), ``kaplan_meier_stage.csv`` and ``logrank_stage.csv``,
    ``risk_signature.csv`` and ``risk_signature_evaluation.csv``, each with its
    ``.meta.json``; the results are also stored in the cohort, rewritten to
    ``out/cohort.h5mu``. An analysis the cohort is too small for (a tiny demo) is skipped
    with its reason.

    Returns
    -------
    dict
        Counts, key figures and skipped analyses for ``summary.json``.
    """
    results = Path(out) / "results"
    source = {"produced_by": "radiogenomics demo", "cohort": str(Path(out) / "cohort.h5mu")}
    info: dict = {"results": str(results), "skipped": {}}
    echo("Survival: Cox screens, Cox model, Kaplan-Meier, risk signature ...")

    def run(name, compute, files):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                tables = compute()
        except RadiogenomicsError as exc:
            info["skipped"][name] = str(exc)
            echo(f"Survival: {name} skipped: {exc}")
            return None
        for table, (file, extra) in zip(tables, files):
            schema = "survival_screen" if file.startswith("survival_screen") else False
            write_table(
                table,
                results / file,
                schema=schema,
                params={**source, **extra},
                cohort=mdata if schema else None,
            )
        return tables

    # run in this order: the screens first, the risk signature last
    screens, _, stage, signature = [
        run(*analysis) for analysis in _survival_analyses(mdata, tl, get_result)
    ]
    write_cohort(mdata, Path(out) / "cohort.h5mu")
    _survival_summary(info, screens, stage, signature)
    if screens is not None:
        echo(_survival_line(info, signature is not None))
    return info


def _survival_analyses(mdata, tl, get_result) -> list[tuple[str, Callable, list]]:
    """The demo's survival analyses: (name, computation of its tables, (file, provenance))."""
    time_col, event_col = "os_months", "os_event"
    return [
        (
            "survival screen",
            lambda: (
                tl.cox_screen(
                    mdata, mod=None, time=time_col, event=event_col, key_added="survival_screen"
                ),
                tl.cox_screen(
                    mdata,
                    mod=None,
                    time=time_col,
                    event=event_col,
                    covariates=["age", "stage"],
                    key_added="survival_screen_adjusted",
                ),
            ),
            [
                ("survival_screen.parquet", {"function": "radiogenomics.tl.cox_screen"}),
                (
                    "survival_screen_adjusted.parquet",
                    {"function": "radiogenomics.tl.cox_screen", "covariates": ["age", "stage"]},
                ),
            ],
        ),
        (
            "Cox model",
            lambda: (
                tl.cox(
                    mdata,
                    ["age", "stage", "radiomics:original_shape_VoxelVolume"],
                    time=time_col,
                    event=event_col,
                    key_added="clinical_volume",
                ),
            ),
            [("cox_model.csv", {"function": "radiogenomics.tl.cox"})],
        ),
        (
            "Kaplan-Meier by stage",
            lambda: (
                tl.kaplan_meier(
                    mdata, time=time_col, event=event_col, groupby="stage", key_added="stage"
                ),
                tl.logrank(
                    mdata,
                    time=time_col,
                    event=event_col,
                    groupby="stage",
                    trend=True,
                    key_added="stage",
                ),
            ),
            [
                ("kaplan_meier_stage.csv", {"function": "radiogenomics.tl.kaplan_meier"}),
                ("logrank_stage.csv", {"function": "radiogenomics.tl.logrank", "trend": True}),
            ],
        ),
        (
            "risk signature",
            lambda: (
                tl.risk_signature(
                    mdata,
                    mod="radiomics",
                    time=time_col,
                    event=event_col,
                    key_added="risk_signature",
                ),
                get_result(mdata, "risk_signature_evaluation", "risk_signature"),
            ),
            [
                ("risk_signature.csv", {"function": "radiogenomics.tl.risk_signature"}),
                ("risk_signature_evaluation.csv", {"function": "radiogenomics.tl.risk_signature"}),
            ],
        ),
    ]


def _survival_summary(info: dict, screens, stage, signature) -> None:
    """Counts and key figures of the survival analyses that ran, into ``info``."""
    if screens is not None:
        ok = screens[0][screens[0]["status"] == "ok"]
        info["n_features_screened"] = int(len(screens[0]))
        info["n_significant_q05"] = int((ok["q_value"] < 0.05).sum())
        info["top_features"] = ok["feature"].head(5).tolist()
    if stage is not None:
        info["stage_trend_p_value"] = float(stage[1]["p_value"].iloc[0])
    if signature is not None:
        evaluation = signature[1]
        held_out = evaluation.query("set == 'held_out' and metric == 'concordance'")["value"]
        info["signature_features"] = int((signature[0]["modality"] != "clinical").sum())
        info["signature_held_out_concordance"] = float(held_out.iloc[0])


def _survival_line(info: dict, with_signature: bool) -> str:
    """The progress line summing up the survival screen (and the risk signature)."""
    line = (
        f"Survival: {info['n_significant_q05']} of {info['n_features_screened']} "
        "features prognostic at q < 0.05"
    )
    if with_signature:
        line += (
            f"; signature of {info['signature_features']} radiomic features, "
            f"held-out C-index {info['signature_held_out_concordance']:.2f}"
        )
    return line


#: The demo's association analyses: (x, y, method, covariates).
DEMO_ASSOCIATIONS = (
    ("radiomics", "rna", "linear", ("age", "sex", "site")),
    ("radiomics", "protein", "linear", ("age", "sex", "site")),
    ("radiomics", "mutation", "mannwhitney", ()),
)
#: Rows of the demo's Excel tables (the most significant pairs).
DEMO_EXCEL_ROWS = 5000


def demo_associations(
    mdata, results: str | os.PathLike, echo: Callable[[str], None] = print
) -> dict:
    """Radiomics against RNA, protein and mutations; each table written as CSV, TSV,
    Parquet and Excel (with ``.meta.json`` sidecars) under ``results``."""
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    done = {}
    for x, y, method, covariates in DEMO_ASSOCIATIONS:
        if x not in mdata.mod or y not in mdata.mod:
            continue
        with warnings.catch_warnings():  # untestable pairs are counted in the echo below
            warnings.simplefilter("ignore", UserWarning)
            table = associate(mdata, x=x, y=y, covariates=list(covariates), method=method)
        untestable = table.attrs["radiogenomics"]["n_untestable"]
        stem = results / f"{x}_vs_{y}"  # the file is named after the table's key in the cohort
        files = []
        for suffix in (".parquet", ".csv", ".tsv"):
            files.append(str(write_table(table, stem.with_suffix(suffix), cohort=mdata)))
        # the spreadsheet holds the most significant pairs (its sidecar says so)
        top = DEMO_EXCEL_ROWS if len(table) > DEMO_EXCEL_ROWS else None
        files.append(str(write_table(table, stem.with_suffix(".xlsx"), top=top, cohort=mdata)))
        significant = int((table["q_value"] < 0.05).sum())
        done[f"{x}_vs_{y}"] = {
            "method": method,
            "covariates": list(covariates),
            "pairs": len(table),
            "untestable": untestable,
            "q_below_0.05": significant,
            "files": files,
        }
        note = f" ({untestable} untestable)" if untestable else ""
        echo(
            f"Associations {x} x {y} ({method}): {len(table)} pairs{note}, {significant} "
            f"with q < 0.05 -> {stem}.*"
        )
    return done
