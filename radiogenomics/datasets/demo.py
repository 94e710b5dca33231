"""The built-in demo cohort: files on disk, and the cohort built from them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import mudata as md
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from .. import io
from .._compat import renamed
from .._files import atomic_path
from ..cohort import build_cohort
from ..errors import CohortError
from ..extract import features
from .simulate import MODULE_GENES, DemoData, simulate

__all__ = [
    "DEMO_FILES",
    "write_demo_files",
    "load_demo_tables",
    "demo",
    "read_truth",
    "subtype_recovery",
]

#: File names written by :func:`write_demo_files`, relative to the demo folder.
DEMO_FILES = {
    "manifest": "manifest.csv",
    "clinical": "clinical.csv",
    "rna": "rna_counts.tsv",
    "protein": "proteomics.csv",
    "mutations": "mutations.maf",
    "genesets": "genesets.gmt",
    "truth": "truth",
}

#: How the demo's sample barcodes map to patients, and how its tables are read.
DEMO_ID_RULE = "tcga"
#: The environment variable naming a default extraction cache for :func:`demo`.
CACHE_ENV = "RADIOGENOMICS_CACHE_DIR"
DEMO_STAGE_ORDER = ["I", "II", "III", "IV"]


def _atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_image(array: np.ndarray, spacing, path: Path) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin((0.0, 0.0, 0.0))
    with atomic_path(path, suffix=".nii.gz") as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def _gmt(data: DemoData, rng: np.random.Generator) -> str:
    lines = []
    modules = data.truth["gene_modules"]["module"]
    for module in MODULE_GENES:
        genes = list(modules.index[modules == module])
        lines.append("\t".join([f"DEMO_{module.upper()}", f"planted {module} module", *genes]))
    null_pool = list(modules.index[modules == "none"])
    for k in range(1, 11):
        genes = list(rng.choice(null_pool, size=40, replace=False))
        lines.append("\t".join([f"DEMO_RANDOM_{k:02d}", "random genes, no planted signal", *genes]))
    return "\n".join(lines) + "\n"


@renamed(seed="random_state")
def write_demo_files(
    path: str | os.PathLike, n_patients: int = 120, random_state: int = 0
) -> dict[str, Path]:
    """Simulate the demo cohort and write its input files, as a study would have them.

    Writes NIfTI images and masks under ``images/``, an image manifest, an RNA counts
    matrix (genes as rows, sample barcodes as columns), a proteomics matrix with missing
    values, a MAF, a clinical table, a GMT file of gene sets, and the planted truth.

    Returns
    -------
    dict
        Paths by kind (keys of :data:`DEMO_FILES`, plus ``images``).

    Examples
    --------
    >>> import tempfile
    >>> import radiogenomics as rg
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = rg.datasets.write_demo_files(folder.name, n_patients=12)
    >>> sorted(paths)
    ['clinical', 'genesets', 'images', 'manifest', 'mutations', 'protein', 'rna', 'truth']
    >>> paths["rna"].name, paths["mutations"].name
    ('rna_counts.tsv', 'mutations.maf')
    >>> len(list(paths["images"].glob("*.nii.gz")))  # an image and a mask per patient
    24
    >>> rg.io.read_manifest(paths["manifest"]).loc[0, ["patient_id", "lesion_id"]].tolist()
    ['RGD-02-0001', 'L1']
    >>> folder.cleanup()
    """
    out = Path(path)
    (out / "images").mkdir(parents=True, exist_ok=True)
    data = simulate(n_patients=n_patients, random_state=random_state)
    rng = np.random.default_rng(random_state + 1)
    rows = []
    for patient in data.patients:
        image, mask = data.images[patient]
        image_path = out / "images" / f"{patient}_image.nii.gz"
        mask_path = out / "images" / f"{patient}_mask.nii.gz"
        _write_image(image, data.spacing, image_path)
        _write_image(mask, data.spacing, mask_path)
        rows.append(
            {
                "patient_id": patient,
                "image": f"images/{image_path.name}",
                "mask": f"images/{mask_path.name}",
                "label": 1,
                "lesion_id": "L1",
            }
        )
    paths = {kind: out / name for kind, name in DEMO_FILES.items()}
    paths["images"] = out / "images"
    _atomic_write_text(paths["manifest"], pd.DataFrame(rows).to_csv(index=False))
    _atomic_write_text(paths["clinical"], data.clinical.to_csv(index=False))
    counts = data.counts.copy()
    counts.index.name = "gene"
    _atomic_write_text(paths["rna"], counts.to_csv(sep="\t"))
    protein = data.protein.copy()
    protein.index.name = "protein"
    _atomic_write_text(paths["protein"], protein.to_csv(na_rep=""))
    _atomic_write_text(
        paths["mutations"],
        "#version 2.4\n" + data.maf.to_csv(sep="\t", index=False),
    )
    _atomic_write_text(paths["genesets"], _gmt(data, rng))
    truth_dir = paths["truth"]
    truth_dir.mkdir(exist_ok=True)
    scalars = {}
    for key, value in data.truth.items():
        if isinstance(value, pd.DataFrame):
            value.to_csv(truth_dir / f"{key}.csv", index=isinstance(value.index[0], str))
        else:
            scalars[key] = value
    _atomic_write_text(truth_dir / "truth.json", json.dumps(scalars, indent=2))
    return paths


def read_truth(path: str | os.PathLike) -> dict:
    """The planted truth written by :func:`write_demo_files` (folder ``truth/``).

    Examples
    --------
    >>> import tempfile
    >>> import radiogenomics as rg
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = rg.datasets.write_demo_files(folder.name, n_patients=12)
    >>> truth = rg.datasets.read_truth(folder.name)
    >>> sorted(truth)
    ['factors', 'gene_modules', 'log_hazard', 'marker_features', 'model', 'mutation_markers',
     'site_effects']
    >>> truth["factors"].shape, truth["factors"]["subtype"].cat.categories.tolist()
    ((12, 7), ['hypoxic', 'inflamed', 'proliferative'])
    >>> truth["log_hazard"]["proliferation"], truth["model"]["n_patients"]
    (0.6, 12)
    >>> folder.cleanup()
    """
    folder = Path(path)
    if (folder / "truth").is_dir():
        folder = folder / "truth"
    truth = json.loads((folder / "truth.json").read_text())
    for csv in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(csv)
        first = frame.columns[0]
        if first.startswith("Unnamed"):
            frame = frame.set_index(first)
            frame.index.name = None
        truth[csv.stem] = frame
    if "factors" in truth:
        truth["factors"]["subtype"] = pd.Categorical(truth["factors"]["subtype"])
    return truth


def load_demo_tables(paths: dict[str, Path]) -> dict:
    """Read the demo's molecular and clinical files with the library's readers.

    Examples
    --------
    >>> import tempfile
    >>> import radiogenomics as rg
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = rg.datasets.write_demo_files(folder.name, n_patients=12)
    >>> tables = rg.datasets.load_demo_tables(paths)
    >>> {kind: table.shape for kind, table in tables.items()}  # 2 patients lack proteomics
    {'rna': (12, 2000), 'protein': (10, 200), 'mutation': (12, 13), 'clinical': (12, 9)}
    >>> tables["rna"].obs_names[0], tables["clinical"].index[0]  # barcodes and patients
    ('RGD-02-0001-01A', 'RGD-02-0001')
    >>> folder.cleanup()
    """

    return {
        "rna": io.read_expression(paths["rna"], orientation="genes_as_rows", counts=True),
        "protein": io.read_proteomics(paths["protein"], orientation="features_as_rows"),
        "mutation": io.read_mutations(paths["mutations"]),
        "clinical": io.read_clinical(
            paths["clinical"],
            time="os_months",
            event="os_event",
            ordered={"stage": DEMO_STAGE_ORDER},
            categorical=["site"],
        ),
    }


@renamed(seed="random_state")
def demo(
    n_patients: int = 120,
    random_state: int = 0,
    path: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    join: str = "inner",
    cache_dir: str | os.PathLike | None = None,
) -> md.MuData:
    """The synthetic demo cohort, built from images and tables as a real study would be.

    Simulates the cohort (see :mod:`radiogenomics.datasets.simulate`), writes its files
    to ``path``, extracts radiomic features from the images with pyradiomics, reads the
    RNA, protein, mutation and clinical tables, and joins them.

    Parameters
    ----------
    n_patients
        Patients simulated (a few lack RNA, protein or sequencing, and are dropped by the
        inner join: see the join report).
    random_state
        Random seed: the same seed gives the same cohort (``seed=`` is the old name).
    path
        Folder for the files (a new temporary folder by default).
    n_jobs
        Worker processes for feature extraction.
    join
        ``"inner"`` or ``"outer"``.
    cache_dir
        Folder of the extraction cache (see :func:`radiogenomics.extract.features`), keyed
        by the images' content, so that building the same demo again (same
        ``n_patients`` and ``random_state``, any ``path``) reads the features instead of
        extracting them. Default: the folder named by the environment variable
        ``RADIOGENOMICS_CACHE_DIR`` when it is set, else no cache.

    Returns
    -------
    mudata.MuData
        Modalities ``radiomics``, ``rna``, ``protein``, ``mutation``; clinical columns in
        ``obs``; ``uns["radiogenomics"]`` holds the join report, the image ``manifest``,
        the demo ``files`` and the planted ``truth``.

    Examples
    --------
    Simulating, writing and extracting features from every image takes a while:

    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.demo(n_patients=60, random_state=0)  # doctest: +SKIP
    >>> sorted(mdata.mod)  # doctest: +SKIP
    ['mutation', 'protein', 'radiomics', 'rna']
    >>> int(rg.join_report(mdata)["kept"].sum()) == mdata.n_obs  # doctest: +SKIP
    True
    >>> sorted(mdata.uns["radiogenomics"]["files"])  # doctest: +SKIP
    ['clinical', 'genesets', 'images', 'manifest', 'mutations', 'protein', 'rna', 'truth']
    """

    if path is None:
        path = tempfile.mkdtemp(prefix="radiogenomics-demo-")
    paths = write_demo_files(path, n_patients=n_patients, random_state=random_state)
    cache_dir = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or None
    radiomics = features(
        paths["manifest"], params="demo", n_jobs=n_jobs, cache_dir=cache_dir, cache_key="content"
    )
    return assemble_demo(paths, radiomics, join=join, build=build_cohort)


def assemble_demo(paths: dict[str, Path], radiomics, *, join: str = "inner", build=None):
    """Join extracted radiomics with the demo's other tables into the demo cohort.

    Examples
    --------
    The radiomic features are extracted from the demo's images with pyradiomics, which
    takes a while:

    >>> import tempfile
    >>> import radiogenomics as rg
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = rg.datasets.write_demo_files(folder.name, n_patients=12)  # doctest: +SKIP
    >>> radiomics = rg.extract.features(paths["manifest"], params="demo")  # doctest: +SKIP
    >>> radiomics.shape  # doctest: +SKIP
    (12, 107)
    >>> mdata = rg.datasets.assemble_demo(paths, radiomics)  # doctest: +SKIP
    >>> mdata.n_obs, sorted(mdata.mod)  # doctest: +SKIP
    (10, ['mutation', 'protein', 'radiomics', 'rna'])
    >>> rg.join_report(mdata)["reason"].tolist().count("not in protein")  # doctest: +SKIP
    2
    >>> folder.cleanup()
    """

    build = build or build_cohort
    tables = load_demo_tables(paths)
    mdata = build(
        {
            "radiomics": radiomics,
            "rna": tables["rna"],
            "protein": tables["protein"],
            "mutation": tables["mutation"],
        },
        clinical=tables["clinical"],
        join=join,
        id_rule={"rna": DEMO_ID_RULE, "protein": DEMO_ID_RULE, "mutation": DEMO_ID_RULE},
    )
    root = mdata.uns["radiogenomics"]
    root["manifest"] = io.read_manifest(paths["manifest"]).astype({"lesion_id": str})
    root["files"] = {k: str(v) for k, v in paths.items()}
    truth = read_truth(paths["truth"])
    root["truth"] = truth
    return mdata


def subtype_recovery(mdata: md.MuData, key: str = "radiomic_subtype") -> float:
    """Adjusted Rand index of the subtypes in ``mdata.obs[key]`` against the planted ones.

    Patients without a subtype are left out. Needs the demo's planted truth
    (``mdata.uns["radiogenomics"]["truth"]``).

    Examples
    --------
    >>> import tempfile
    >>> import radiogenomics as rg
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = rg.datasets.write_demo_files(folder.name, n_patients=12)
    >>> tables = rg.datasets.load_demo_tables(paths)
    >>> mdata = rg.build_cohort(
    ...     {"rna": tables["rna"], "mutation": tables["mutation"]},
    ...     clinical=tables["clinical"],
    ...     id_rule={"rna": "tcga", "mutation": "tcga"},
    ... )
    >>> truth = rg.datasets.read_truth(paths["truth"])
    >>> mdata.uns["radiogenomics"]["truth"] = truth
    >>> planted = truth["factors"]["subtype"].reindex(mdata.obs_names)
    >>> mdata.obs["radiomic_subtype"] = planted.map(lambda s: s[:3].upper()).to_numpy()
    >>> rg.datasets.subtype_recovery(mdata)  # the planted subtypes under other names
    1.0
    >>> mdata.obs["one_group"] = "all"
    >>> rg.datasets.subtype_recovery(mdata, key="one_group")
    0.0
    >>> folder.cleanup()
    """

    try:
        planted = mdata.uns["radiogenomics"]["truth"]["factors"]["subtype"]
    except KeyError:
        raise CohortError(
            "the cohort holds no planted truth (only the demo cohort does)",
            expected="mdata.uns['radiogenomics']['truth']",
        ) from None
    if key not in mdata.obs.columns:
        raise CohortError(
            f"the cohort has no column {key!r}",
            column=key,
            hint="Run radiogenomics.tl.phenotypes first",
        )
    found = mdata.obs[key]
    known = found.notna().to_numpy()
    planted = planted.reindex(mdata.obs_names).astype(str)[known]
    return float(adjusted_rand_score(planted, found.astype(str)[known]))
