"""IBSI: feature tags and a self-test on the IBSI 1 digital phantom.

The Image Biomarker Standardisation Initiative (IBSI) defines radiomic features and
publishes consensus values on a digital phantom. :data:`IBSI_FEATURES` maps pyradiomics'
features to the IBSI tags (from pyradiomics' own notes on its definitions and the IBSI
reference manual); :func:`ibsi_check` runs our extraction on the phantom shipped in
``ibsi_data/`` and compares every mapped feature with its consensus value.

pyradiomics computes 3-D texture matrices per direction (13 directions) and averages the
features over the directions: GLCM and GLRLM features correspond to the IBSI ``_3D_avg``
aggregation, GLSZM, GLDM (IBSI NGLDM) and NGTDM features to ``_3D``. With ``force2D`` the
matrices are in-plane and merged over slices: ``_2_5D_avg`` and ``_2_5D``.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ExtractionError, InputError

__all__ = [
    "CHECK_COLUMNS",
    "IBSI_FEATURES",
    "IBSI_PHANTOM_PARAMS",
    "IbsiFeature",
    "ibsi_check",
    "ibsi_summary",
    "ibsi_tag",
    "ibsi_tags",
    "read_reference",
    "within_tolerance",
]

CHECK_COLUMNS = ["feature", "ibsi_tag", "reference", "tolerance", "value", "passed", "claimed",
                 "note"]

_DATA = "ibsi_data"
REFERENCE_FILE = "ibsi_1_dig_phantom.csv"
PHANTOM_IMAGE = "phantom.nii.gz"
PHANTOM_MASK = "mask.nii.gz"

#: The settings of the IBSI 1 phantom benchmark in pyradiomics' terms: no resampling, no
#: re-segmentation, fixed bin size 1 (pyradiomics' bin edges then fall on the integer grey
#: levels 1..6 of the phantom, checked by :func:`ibsi_check`), no intensity shift (IBSI
#: energy has none), a symmetrical GLCM at distance 1, 3-D matrices, every feature class.
IBSI_PHANTOM_PARAMS: dict[str, Any] = {
    "setting": {"binWidth": 1, "label": 1, "minimumROIDimensions": 1, "minimumROISize": 1,
                "voxelArrayShift": 0, "distances": [1], "symmetricalGLCM": True,
                "force2D": False, "resampledPixelSpacing": None, "resegmentRange": None,
                "normalize": False, "gldm_a": 0},
    "imageType": {"Original": {}},
    "featureClass": {"shape": [], "firstorder": [], "glcm": [], "glrlm": [], "glszm": [],
                     "gldm": [], "ngtdm": []},
}

_TEXTURE_SUFFIX = {"glcm": "avg", "glrlm": "avg", "glszm": "", "gldm": "", "ngtdm": ""}


@dataclass(frozen=True)
class IbsiFeature:
    """One pyradiomics feature and the IBSI feature it is compared with.

    Attributes
    ----------
    feature_class, feature
        pyradiomics' class (``glcm``) and feature name (``JointAverage``).
    tag
        The IBSI tag without the aggregation suffix (``cm_joint_avg``).
    convert
        Conversion from pyradiomics' value to the IBSI value (``"minus 3"``), or ``None``.
    claimed
        Whether we claim the pyradiomics value (after ``convert``) is the IBSI feature.
        Features whose definition differs are compared but not claimed.
    primary
        Whether the tag is written into ``var["ibsi_tag"]`` (a pyradiomics feature that
        equals several IBSI features carries the first one).
    note
        Why, where the definitions differ or a conversion applies.
    """

    feature_class: str
    feature: str
    tag: str
    convert: str | None = None
    claimed: bool = True
    primary: bool = True
    note: str = ""


def _f(cls: str, names: str) -> list[IbsiFeature]:
    out = []
    for pair in names.split():
        feature, tag = pair.split("=")
        out.append(IbsiFeature(cls, feature, tag))
    return out


_AXIS_NOTE = ("pyradiomics normalises the covariance of the voxel positions by N, IBSI by "
              "N - 1: the axis lengths differ by sqrt(N / (N - 1)); not claimed")

#: pyradiomics features and their IBSI counterparts (IBSI 1 reference manual tags).
IBSI_FEATURES: tuple[IbsiFeature, ...] = tuple(
    _f("shape", "MeshVolume=morph_volume VoxelVolume=morph_vol_approx "
                "SurfaceArea=morph_area_mesh SurfaceVolumeRatio=morph_av "
                "Sphericity=morph_sphericity Maximum3DDiameter=morph_diam "
                "Elongation=morph_pca_elongation Flatness=morph_pca_flatness")
    + [IbsiFeature("shape", name, tag, claimed=False, primary=False, note=_AXIS_NOTE)
       for name, tag in (("MajorAxisLength", "morph_pca_maj_axis"),
                         ("MinorAxisLength", "morph_pca_min_axis"),
                         ("LeastAxisLength", "morph_pca_least_axis"))]
    + _f("firstorder", "Mean=stat_mean Variance=stat_var Skewness=stat_skew "
                       "Median=stat_median Minimum=stat_min 10Percentile=stat_p10 "
                       "90Percentile=stat_p90 Maximum=stat_max InterquartileRange=stat_iqr "
                       "Range=stat_range MeanAbsoluteDeviation=stat_mad "
                       "RobustMeanAbsoluteDeviation=stat_rmad Energy=stat_energy "
                       "RootMeanSquared=stat_rms Entropy=ih_entropy Uniformity=ih_uniformity")
    + [IbsiFeature("firstorder", "Kurtosis", "stat_kurt", convert="minus 3", primary=False,
                   note="IBSI kurtosis is excess kurtosis: pyradiomics' Kurtosis minus 3 "
                        "(var carries no IBSI tag for the unconverted value)"),
       IbsiFeature("firstorder", "Uniformity", "ngl_glnu_norm", primary=False,
                   note="IBSI NGLDM grey level non-uniformity (normalised) equals first-order "
                        "uniformity when, as in pyradiomics, every voxel has a dependence zone")]
    + _f("glcm", "MaximumProbability=cm_joint_max JointAverage=cm_joint_avg "
                 "SumSquares=cm_joint_var JointEntropy=cm_joint_entr "
                 "DifferenceAverage=cm_diff_avg DifferenceVariance=cm_diff_var "
                 "DifferenceEntropy=cm_diff_entr SumAverage=cm_sum_avg SumEntropy=cm_sum_entr "
                 "JointEnergy=cm_energy Contrast=cm_contrast Id=cm_inv_diff Idn=cm_inv_diff_norm "
                 "Idm=cm_inv_diff_mom Idmn=cm_inv_diff_mom_norm InverseVariance=cm_inv_var "
                 "Correlation=cm_corr Autocorrelation=cm_auto_corr "
                 "ClusterTendency=cm_clust_tend ClusterShade=cm_clust_shade "
                 "ClusterProminence=cm_clust_prom Imc1=cm_info_corr1 Imc2=cm_info_corr2")
    + [IbsiFeature("glcm", "DifferenceAverage", "cm_dissimilarity", primary=False,
                   note="IBSI dissimilarity is by definition the difference average"),
       IbsiFeature("glcm", "ClusterTendency", "cm_sum_var", primary=False,
                   note="IBSI sum variance is by definition the cluster tendency")]
    + _f("glrlm", "ShortRunEmphasis=rlm_sre LongRunEmphasis=rlm_lre "
                  "LowGrayLevelRunEmphasis=rlm_lgre HighGrayLevelRunEmphasis=rlm_hgre "
                  "ShortRunLowGrayLevelEmphasis=rlm_srlge "
                  "ShortRunHighGrayLevelEmphasis=rlm_srhge "
                  "LongRunLowGrayLevelEmphasis=rlm_lrlge "
                  "LongRunHighGrayLevelEmphasis=rlm_lrhge GrayLevelNonUniformity=rlm_glnu "
                  "GrayLevelNonUniformityNormalized=rlm_glnu_norm "
                  "RunLengthNonUniformity=rlm_rlnu "
                  "RunLengthNonUniformityNormalized=rlm_rlnu_norm RunPercentage=rlm_r_perc "
                  "GrayLevelVariance=rlm_gl_var RunVariance=rlm_rl_var RunEntropy=rlm_rl_entr")
    + _f("glszm", "SmallAreaEmphasis=szm_sze LargeAreaEmphasis=szm_lze "
                  "LowGrayLevelZoneEmphasis=szm_lgze HighGrayLevelZoneEmphasis=szm_hgze "
                  "SmallAreaLowGrayLevelEmphasis=szm_szlge "
                  "SmallAreaHighGrayLevelEmphasis=szm_szhge "
                  "LargeAreaLowGrayLevelEmphasis=szm_lzlge "
                  "LargeAreaHighGrayLevelEmphasis=szm_lzhge GrayLevelNonUniformity=szm_glnu "
                  "GrayLevelNonUniformityNormalized=szm_glnu_norm "
                  "SizeZoneNonUniformity=szm_zsnu SizeZoneNonUniformityNormalized=szm_zsnu_norm "
                  "ZonePercentage=szm_z_perc GrayLevelVariance=szm_gl_var "
                  "ZoneVariance=szm_zs_var ZoneEntropy=szm_zs_entr")
    + _f("gldm", "SmallDependenceEmphasis=ngl_lde LargeDependenceEmphasis=ngl_hde "
                 "LowGrayLevelEmphasis=ngl_lgce HighGrayLevelEmphasis=ngl_hgce "
                 "SmallDependenceLowGrayLevelEmphasis=ngl_ldlge "
                 "SmallDependenceHighGrayLevelEmphasis=ngl_ldhge "
                 "LargeDependenceLowGrayLevelEmphasis=ngl_hdlge "
                 "LargeDependenceHighGrayLevelEmphasis=ngl_hdhge "
                 "GrayLevelNonUniformity=ngl_glnu DependenceNonUniformity=ngl_dcnu "
                 "DependenceNonUniformityNormalized=ngl_dcnu_norm GrayLevelVariance=ngl_gl_var "
                 "DependenceVariance=ngl_dc_var DependenceEntropy=ngl_dc_entr")
    + _f("ngtdm", "Coarseness=ngt_coarseness Contrast=ngt_contrast Busyness=ngt_busyness "
                  "Complexity=ngt_complexity Strength=ngt_strength")
)

_GLDM_NOTE = ("IBSI NGLDM with coarseness 0 and Chebyshev distance 1 (pyradiomics' gldm_a 0, "
              "distance 1)")


def _suffix(feature_class: str, force2d: bool) -> str:
    if feature_class not in _TEXTURE_SUFFIX:
        return ""
    base = "_2_5D" if force2d else "_3D"
    return base + ("_" + _TEXTURE_SUFFIX[feature_class] if _TEXTURE_SUFFIX[feature_class] else "")


def full_tag(entry: IbsiFeature, force2d: bool = False) -> str:
    """The IBSI tag with its aggregation suffix (``cm_joint_avg_3D_avg``)."""
    return entry.tag + _suffix(entry.feature_class, force2d)


_PRIMARY = {(e.feature_class, e.feature): e for e in IBSI_FEATURES
            if e.primary and e.claimed and e.convert is None}


def ibsi_tag(feature_class: str, feature: str, *, image_type: str = "original",
             force2d: bool = False) -> str:
    """The IBSI tag of a pyradiomics feature, or ``""`` where IBSI has no counterpart.

    Only features of the original image whose value is the IBSI feature carry a tag
    (filtered images: IBSI 1 defines no feature of a filter response). pyradiomics'
    Kurtosis (IBSI's plus 3) and the PCA axis lengths (another normalisation) carry none.

    Parameters
    ----------
    feature_class, feature
        pyradiomics' class and feature name, e.g. ``"glcm"``, ``"JointAverage"``.
    image_type
        ``original`` or the name of a filtered image.
    force2d
        The extraction used pyradiomics' ``force2D`` (IBSI 2.5-D aggregation).
    """
    if str(image_type) != "original":
        return ""
    entry = _PRIMARY.get((str(feature_class), str(feature)))
    return "" if entry is None else full_tag(entry, force2d)


def ibsi_tags(var: pd.DataFrame, *, force2d: bool = False) -> list[str]:
    """``ibsi_tag`` for every row of a radiomics ``var`` (image_type, feature_class, feature)."""
    return [ibsi_tag(c, f, image_type=t, force2d=force2d)
            for t, c, f in zip(var["image_type"].astype(str), var["feature_class"].astype(str),
                               var["feature"].astype(str))]


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
        raise InputError("unexpected columns in the IBSI reference table", file=path,
                         expected=expected, found=list(frame.columns))

    def number(text: str) -> float:
        return float(text) if text.strip() else math.nan

    return pd.DataFrame({
        "tag": frame["tag"].str.strip(),
        "reference": [number(v) for v in frame["reference value"]],
        "tolerance": [number(v) for v in frame["tolerance"]],
    })


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
    """
    from .case import extract_case

    image = str(image) if image is not None else str(_data_path(PHANTOM_IMAGE))
    mask = str(mask) if mask is not None else str(_data_path(PHANTOM_MASK))
    result = extract_case(0, {"image": image, "mask": mask, "label": 1}, IBSI_PHANTOM_PARAMS)
    if not result.ok:
        raise ExtractionError(f"the IBSI phantom could not be extracted at stage "
                              f"{result.stage!r}: {result.error}", file=image)
    values = result.values
    table = read_reference(reference)
    consensus = {t: (r, tol) for t, r, tol in zip(table["tag"], table["reference"],
                                                   table["tolerance"]) if math.isfinite(r)}
    discretised = _discretisation_ok(image, mask, IBSI_PHANTOM_PARAMS["setting"]["binWidth"])
    rows = []
    for entry in (IBSI_FEATURES if mapping is None else mapping):
        tag = full_tag(entry)
        if tag not in consensus:
            continue
        ref, tol = consensus[tag]
        name = f"original_{entry.feature_class}_{entry.feature}"
        raw = values.get(name)
        value = _convert(float(raw), entry.convert) if raw is not None else math.nan
        notes = [entry.note] if entry.note else []
        if entry.feature_class == "gldm":
            notes.append(_GLDM_NOTE)
        if raw is None:
            notes.append("not computed by the extraction")
        if not discretised and entry.feature_class != "shape":
            notes.append("the bin edges do not reproduce the phantom's grey levels")
        passed = within_tolerance(value, ref, tol) and (discretised
                                                         or entry.feature_class == "shape")
        rows.append({"feature": name, "ibsi_tag": tag, "reference": ref, "tolerance": tol,
                     "value": value, "passed": bool(passed), "claimed": bool(entry.claimed),
                     "note": "; ".join(notes)})
    frame = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    frame.attrs["radiogenomics"] = ibsi_summary(frame, discretisation_ok=discretised)
    return frame


def _versions() -> dict[str, str]:
    import radiomics
    import SimpleITK as sitk

    from .. import __version__

    return {"radiogenomics": str(__version__), "pyradiomics": str(radiomics.__version__),
            "SimpleITK": str(sitk.Version_VersionString())}


def ibsi_summary(table: pd.DataFrame, *, discretisation_ok: bool = True) -> dict[str, Any]:
    """Counts of an :func:`ibsi_check` table, with the versions that produced it.

    ``compliant`` is true when every feature we claim passes (and the bin edges gave
    back the phantom's grey levels).
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
    """The summary of the IBSI self-test, computed once per process (for provenance)."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in _cached_provenance()}
