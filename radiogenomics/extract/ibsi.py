"""IBSI: feature tags and a self-test on the IBSI 1 digital phantom.

The Image Biomarker Standardisation Initiative (IBSI) defines radiomic features and
publishes consensus values on a digital phantom. :data:`IBSI_FEATURES` (in
:mod:`radiogenomics.io.annotations`) maps pyradiomics' features to the IBSI tags;
:func:`ibsi_check` runs our extraction on the phantom shipped in ``ibsi_data/`` and
compares every mapped feature with its consensus value.
"""

from __future__ import annotations

import functools
import math
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import ExtractionError, InputError
from ..io.annotations import IBSI_FEATURES, IbsiFeature, full_tag, ibsi_tag, ibsi_tags
from .case import extract_case

__all__ = [
    "CHECK_COLUMNS",
    "full_tag",
    "IBSI_FEATURES",
    "IBSI_PHANTOM_PARAMS",
    "IBSI_PHANTOM_PARAMS_2D",
    "IbsiFeature",
    "ibsi_check",
    "ibsi_summary",
    "ibsi_tag",
    "ibsi_tags",
    "read_reference",
    "within_tolerance",
]

CHECK_COLUMNS = [
    "feature",
    "ibsi_tag",
    "reference",
    "tolerance",
    "value",
    "passed",
    "claimed",
    "note",
]

_DATA = "ibsi_data"
REFERENCE_FILE = "ibsi_1_dig_phantom.csv"
PHANTOM_IMAGE = "phantom.nii.gz"
PHANTOM_MASK = "mask.nii.gz"

#: The settings of the IBSI 1 phantom benchmark in pyradiomics' terms: no resampling, no
#: re-segmentation, fixed bin size 1 (pyradiomics' bin edges then fall on the integer grey
#: levels 1..6 of the phantom, checked by :func:`ibsi_check`), no intensity shift (IBSI
#: energy has none), a symmetrical GLCM at distance 1, 3-D matrices, every feature class.
IBSI_PHANTOM_PARAMS: dict[str, Any] = {
    "setting": {
        "binWidth": 1,
        "label": 1,
        "minimumROIDimensions": 1,
        "minimumROISize": 1,
        "voxelArrayShift": 0,
        "distances": [1],
        "symmetricalGLCM": True,
        "force2D": False,
        "resampledPixelSpacing": None,
        "resegmentRange": None,
        "normalize": False,
        "gldm_a": 0,
    },
    "imageType": {"Original": {}},
    "featureClass": {
        "shape": [],
        "firstorder": [],
        "glcm": [],
        "glrlm": [],
        "glszm": [],
        "gldm": [],
        "ngtdm": [],
    },
}

#: The same with pyradiomics' ``force2D`` (slices along the image's third axis): the IBSI
#: 2.5-D aggregation of the texture features.
IBSI_PHANTOM_PARAMS_2D: dict[str, Any] = {
    "setting": {**IBSI_PHANTOM_PARAMS["setting"], "force2D": True, "force2Ddimension": 0},
    "imageType": {"Original": {}},
    "featureClass": {
        "firstorder": ["Uniformity"],
        "glcm": [],
        "glrlm": [],
        "glszm": [],
        "gldm": [],
        "ngtdm": [],
    },
}

_2D_NOTE = "with pyradiomics' force2D: in-plane matrices merged over the slices (IBSI 2.5-D)"

_GLDM_NOTE = (
    "IBSI NGLDM with coarseness 0 and Chebyshev distance 1 (pyradiomics' gldm_a 0, distance 1)"
)


def _data_path(name: str) -> Path:
    return Path(str(files("radiogenomics.extract").joinpath(_DATA, name)))


def read_reference(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The IBSI consensus table: ``tag``, ``reference``, ``tolerance`` (NaN: no consensus).

    The values are parsed from the file as written (``reference value;tolerance;tag``).
    """
    path = Path(path) if path is not None else _data_path(REFERENCE_FILE)
    if not path.exists():
        raise InputError("the IBSI reference table does not exist", file=path)
    frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    expected = ["reference value", "tolerance", "tag"]
    if list(frame.columns) != expected:
        raise InputError(
            "unexpected columns in the IBSI reference table",
            file=path,
            expected=expected,
            found=list(frame.columns),
        )

    def number(text: str) -> float:
        return float(text) if text.strip() else math.nan

    return pd.DataFrame(
        {
            "tag": frame["tag"].str.strip(),
            "reference": [number(v) for v in frame["reference value"]],
            "tolerance": [number(v) for v in frame["tolerance"]],
        }
    )


def within_tolerance(value: float, reference: float, tolerance: float) -> bool:
    """Whether a value agrees with an IBSI consensus value.

    With a positive tolerance: ``|value - reference| <= tolerance``. The digital phantom's
    values have tolerance 0 and are reported to 3 significant digits, so there the value
    agrees when it rounds to the reference: within half a unit of its third significant
    digit.
    """
    if not (math.isfinite(value) and math.isfinite(reference)):
        return False
    if tolerance > 0:
        return abs(value - reference) <= tolerance * (1 + 1e-12)
    if reference == 0:
        return abs(value) < 5e-4
    half_unit = 0.5 * 10.0 ** (math.floor(math.log10(abs(reference))) - 2)
    return abs(value - reference) <= half_unit * (1 + 1e-9)


def _convert(value: float, how: str | None) -> float:
    if how is None:
        return value
    if how == "minus 3":
        return value - 3.0
    raise InputError("unknown IBSI conversion", expected="None or 'minus 3'", found=how)


def _row(
    entry: IbsiFeature,
    tag: str,
    consensus: tuple[float, float],
    values: dict,
    discretised: bool,
    force2d: bool,
) -> dict[str, Any]:
    ref, tol = consensus
    name = f"original_{entry.feature_class}_{entry.feature}"
    raw = values.get(name)
    value = _convert(float(raw), entry.convert) if raw is not None else math.nan
    notes = [entry.note] if entry.note else []
    if (entry.matrix or entry.feature_class) == "gldm":
        notes.append(_GLDM_NOTE)
    if force2d:
        notes.append(_2D_NOTE)
    if raw is None:
        notes.append("not computed by the extraction")
    if not discretised and entry.feature_class != "shape":
        notes.append("the bin edges do not reproduce the phantom's grey levels")
    passed = within_tolerance(value, ref, tol) and (discretised or entry.feature_class == "shape")
    return {
        "feature": name,
        "ibsi_tag": tag,
        "reference": ref,
        "tolerance": tol,
        "value": value,
        "passed": bool(passed),
        "claimed": bool(entry.claimed),
        "note": "; ".join(notes),
    }


def _discretisation_ok(image: str, mask: str, bin_width: float) -> bool:
    """Whether pyradiomics' fixed-bin-size edges give back the phantom's grey levels."""
    import SimpleITK as sitk
    from radiomics import imageoperations

    values = sitk.GetArrayFromImage(sitk.ReadImage(image)).astype(float)
    roi = sitk.GetArrayFromImage(sitk.ReadImage(mask)) == 1
    inside = values[roi]
    edges = imageoperations.getBinEdges(inside, binWidth=bin_width)
    binned = np.digitize(inside, edges)
    return bool(np.array_equal(binned, inside.astype(int)))


def ibsi_check(
    *,
    image: str | os.PathLike | None = None,
    mask: str | os.PathLike | None = None,
    mapping: tuple[IbsiFeature, ...] | list[IbsiFeature] | None = None,
    reference: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Run our extraction on the IBSI 1 digital phantom and compare with the consensus.

    The phantom and the reference table ship with the package (``extract/ibsi_data``,
    CC BY 4.0). Extraction goes through the same code as :func:`~radiogenomics.extract.
    features` (reading, geometry checks, pyradiomics) with :data:`IBSI_PHANTOM_PARAMS`.

    Parameters
    ----------
    image, mask
        Another phantom image or mask (default: the IBSI phantom), e.g. to see the check
        fail on a perturbed one.
    mapping
        The pyradiomics-to-IBSI mapping (default :data:`IBSI_FEATURES`).
    reference
        Another reference table in the IBSI format (default: the shipped one).

    Returns
    -------
    DataFrame
        One row per compared feature (those with a consensus value): ``feature`` (our
        name, ``original_<class>_<feature>``), ``ibsi_tag``, ``reference`` and
        ``tolerance`` (as in the IBSI table), ``value`` (ours, converted where ``note``
        says), ``passed``, ``claimed`` (whether we claim IBSI compliance for it) and
        ``note``. ``attrs["radiogenomics"]`` holds :func:`ibsi_summary` of the table.

    Raises
    ------
    ExtractionError
        When the extraction of the phantom fails.

    See Also
    --------
    ibsi_summary : the counts of the table.
    ibsi_provenance : the summary, computed once per process.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> table = rg.extract.ibsi_check()
    >>> table.columns.tolist()
    ['feature', 'ibsi_tag', 'reference', 'tolerance', 'value', 'passed', 'claimed', 'note']
    >>> volume = table[table["ibsi_tag"] == "morph_vol_approx"]
    >>> volume[["feature", "reference", "value", "passed"]].values.tolist()
    [['original_shape_VoxelVolume', 592.0, 592.0, True]]
    >>> summary = table.attrs["radiogenomics"]
    >>> summary["compliant"], summary["n_claimed_passed"] == summary["n_claimed"]
    (True, True)
    """

    image = str(image) if image is not None else str(_data_path(PHANTOM_IMAGE))
    mask = str(mask) if mask is not None else str(_data_path(PHANTOM_MASK))
    table = read_reference(reference)
    consensus = {
        t: (r, tol)
        for t, r, tol in zip(table["tag"], table["reference"], table["tolerance"])
        if math.isfinite(r)
    }
    discretised = _discretisation_ok(image, mask, IBSI_PHANTOM_PARAMS["setting"]["binWidth"])
    rows = []
    for force2d in (False, True):
        params = IBSI_PHANTOM_PARAMS_2D if force2d else IBSI_PHANTOM_PARAMS
        result = extract_case(0, {"image": image, "mask": mask, "label": 1}, params)
        if not result.ok:
            raise ExtractionError(
                f"the IBSI phantom could not be extracted at stage "
                f"{result.stage!r}: {result.error}",
                file=image,
            )
        for entry in IBSI_FEATURES if mapping is None else mapping:
            if force2d and not entry.texture:
                continue  # shape and intensity features have no 2.5-D variant
            tag = full_tag(entry, force2d)
            if tag not in consensus:
                continue
            rows.append(_row(entry, tag, consensus[tag], result.values, discretised, force2d))
    frame = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    frame.attrs["radiogenomics"] = ibsi_summary(frame, discretisation_ok=discretised)
    return frame


def _versions() -> dict[str, str]:
    import radiomics
    import SimpleITK as sitk

    return {
        "radiogenomics": str(__version__),
        "pyradiomics": str(radiomics.__version__),
        "SimpleITK": str(sitk.Version_VersionString()),
    }


def ibsi_summary(table: pd.DataFrame, *, discretisation_ok: bool = True) -> dict[str, Any]:
    """Counts of an :func:`ibsi_check` table, with the versions that produced it.

    ``compliant`` is true when every feature we claim passes (and the bin edges gave
    back the phantom's grey levels).

    See Also
    --------
    ibsi_check : the table it counts.

    Examples
    --------
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> table = pd.DataFrame(
    ...     {
    ...         "ibsi_tag": ["stat_mean", "stat_kurt", "cm_contrast_3D_avg"],
    ...         "passed": [True, False, False],
    ...         "claimed": [True, False, True],
    ...     }
    ... )
    >>> summary = rg.extract.ibsi_summary(table)
    >>> summary["n_compared"], summary["n_passed"], summary["n_claimed"]
    (3, 1, 2)
    >>> summary["failed_claims"], summary["compliant"]
    ('cm_contrast_3D_avg', False)
    >>> sorted(summary["versions"])
    ['SimpleITK', 'pyradiomics', 'radiogenomics']
    """
    claimed = table["claimed"].to_numpy(dtype=bool)
    passed = table["passed"].to_numpy(dtype=bool)
    failed_claims = table.loc[claimed & ~passed, "ibsi_tag"].tolist()
    return {
        "benchmark": "IBSI 1 digital phantom (consensus values, tolerance as published)",
        "n_compared": int(len(table)),
        "n_passed": int(passed.sum()),
        "n_claimed": int(claimed.sum()),
        "n_claimed_passed": int((claimed & passed).sum()),
        "failed_claims": ", ".join(failed_claims),
        "discretisation_ok": bool(discretisation_ok),
        "compliant": bool(not failed_claims and discretisation_ok),
        "versions": _versions(),
    }


@functools.lru_cache(maxsize=1)
def _cached_provenance() -> tuple[tuple[str, Any], ...]:
    try:
        summary = ibsi_check().attrs["radiogenomics"]
    except Exception as exc:  # provenance never stops an extraction
        summary = {"error": f"the IBSI self-test could not run: {exc}"}
    return tuple(summary.items())


def ibsi_provenance() -> dict[str, Any]:
    """The summary of the IBSI self-test, computed once per process (for provenance).

    :func:`~radiogenomics.extract.features` stores it as ``uns["radiogenomics"]["ibsi"]``.
    When the self-test cannot run, the dict holds only an ``error``.

    See Also
    --------
    ibsi_check, ibsi_summary

    Examples
    --------
    >>> import radiogenomics as rg
    >>> provenance = rg.extract.ibsi_provenance()
    >>> provenance["benchmark"]
    'IBSI 1 digital phantom (consensus values, tolerance as published)'
    >>> provenance["compliant"], provenance["discretisation_ok"]
    (True, True)
    >>> rg.extract.ibsi_provenance() == provenance  # a copy of the same summary each call
    True
    """
    return {k: dict(v) if isinstance(v, dict) else v for k, v in _cached_provenance()}
