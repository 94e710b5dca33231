"""IBSI tags and physical units of radiomic features (``var["ibsi_tag"]``, ``var["unit"]``).

:data:`IBSI_FEATURES` maps pyradiomics' features to the tags of the Image Biomarker
Standardisation Initiative (IBSI 1 reference manual), from pyradiomics' own notes on its
definitions; :func:`radiogenomics.extract.ibsi_check` verifies it on the IBSI digital
phantom. pyradiomics computes 3-D texture matrices per direction (13 directions) and
averages the features over the directions: GLCM and GLRLM features correspond to the IBSI
``_3D_avg`` aggregation, GLSZM, GLDM (IBSI NGLDM) and NGTDM features to ``_3D``. With
``force2D`` the matrices are in-plane and merged over slices: ``_2_5D_avg`` and ``_2_5D``.

Units follow from the feature and the image: shape volumes in mm³, areas in mm², lengths
in mm; first-order intensity features in the image's unit (HU for CT, SUV for PET, a.u.
for MR), their squares for variance and energy; texture features, ratios and shape
descriptors are dimensionless (an empty unit).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "IBSI_FEATURES",
    "IbsiFeature",
    "annotate_radiomics_var",
    "extraction_flags",
    "feature_unit",
    "full_tag",
    "ibsi_tag",
    "ibsi_tags",
    "intensity_unit",
]

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
    matrix
        The texture matrix whose aggregation the IBSI tag names, when it is not
        ``feature_class`` (first-order uniformity compared with an NGLDM feature).
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
    matrix: str | None = None

    @property
    def texture(self) -> bool:
        """Whether the IBSI tag carries a texture aggregation (3-D or 2.5-D)."""
        return (self.matrix or self.feature_class) in _TEXTURE_SUFFIX


def _f(cls: str, names: str) -> list[IbsiFeature]:
    out = []
    for pair in names.split():
        feature, tag = pair.split("=")
        out.append(IbsiFeature(cls, feature, tag))
    return out


_AXIS_NOTE = (
    "pyradiomics normalises the covariance of the voxel positions by N, IBSI by "
    "N - 1: the axis lengths differ by sqrt(N / (N - 1)); not claimed"
)

#: pyradiomics features and their IBSI counterparts (IBSI 1 reference manual tags).
IBSI_FEATURES: tuple[IbsiFeature, ...] = tuple(
    _f(
        "shape",
        "MeshVolume=morph_volume VoxelVolume=morph_vol_approx "
        "SurfaceArea=morph_area_mesh SurfaceVolumeRatio=morph_av "
        "Sphericity=morph_sphericity Maximum3DDiameter=morph_diam "
        "Elongation=morph_pca_elongation Flatness=morph_pca_flatness",
    )
    + [
        IbsiFeature("shape", name, tag, claimed=False, primary=False, note=_AXIS_NOTE)
        for name, tag in (
            ("MajorAxisLength", "morph_pca_maj_axis"),
            ("MinorAxisLength", "morph_pca_min_axis"),
            ("LeastAxisLength", "morph_pca_least_axis"),
        )
    ]
    + _f(
        "firstorder",
        "Mean=stat_mean Variance=stat_var Skewness=stat_skew "
        "Median=stat_median Minimum=stat_min 10Percentile=stat_p10 "
        "90Percentile=stat_p90 Maximum=stat_max InterquartileRange=stat_iqr "
        "Range=stat_range MeanAbsoluteDeviation=stat_mad "
        "RobustMeanAbsoluteDeviation=stat_rmad Energy=stat_energy "
        "RootMeanSquared=stat_rms Entropy=ih_entropy Uniformity=ih_uniformity",
    )
    + [
        IbsiFeature(
            "firstorder",
            "Kurtosis",
            "stat_kurt",
            convert="minus 3",
            primary=False,
            note="IBSI kurtosis is excess kurtosis: pyradiomics' Kurtosis minus 3 "
            "(var carries no IBSI tag for the unconverted value)",
        ),
        IbsiFeature(
            "firstorder",
            "Uniformity",
            "ngl_glnu_norm",
            primary=False,
            matrix="gldm",
            note="IBSI NGLDM grey level non-uniformity (normalised) equals first-order "
            "uniformity when, as in pyradiomics, every voxel has a dependence zone",
        ),
    ]
    + _f(
        "glcm",
        "MaximumProbability=cm_joint_max JointAverage=cm_joint_avg "
        "SumSquares=cm_joint_var JointEntropy=cm_joint_entr "
        "DifferenceAverage=cm_diff_avg DifferenceVariance=cm_diff_var "
        "DifferenceEntropy=cm_diff_entr SumAverage=cm_sum_avg SumEntropy=cm_sum_entr "
        "JointEnergy=cm_energy Contrast=cm_contrast Id=cm_inv_diff Idn=cm_inv_diff_norm "
        "Idm=cm_inv_diff_mom Idmn=cm_inv_diff_mom_norm InverseVariance=cm_inv_var "
        "Correlation=cm_corr Autocorrelation=cm_auto_corr "
        "ClusterTendency=cm_clust_tend ClusterShade=cm_clust_shade "
        "ClusterProminence=cm_clust_prom Imc1=cm_info_corr1 Imc2=cm_info_corr2",
    )
    + [
        IbsiFeature(
            "glcm",
            "DifferenceAverage",
            "cm_dissimilarity",
            primary=False,
            note="IBSI dissimilarity is by definition the difference average",
        ),
        IbsiFeature(
            "glcm",
            "ClusterTendency",
            "cm_sum_var",
            primary=False,
            note="IBSI sum variance is by definition the cluster tendency",
        ),
    ]
    + _f(
        "glrlm",
        "ShortRunEmphasis=rlm_sre LongRunEmphasis=rlm_lre "
        "LowGrayLevelRunEmphasis=rlm_lgre HighGrayLevelRunEmphasis=rlm_hgre "
        "ShortRunLowGrayLevelEmphasis=rlm_srlge "
        "ShortRunHighGrayLevelEmphasis=rlm_srhge "
        "LongRunLowGrayLevelEmphasis=rlm_lrlge "
        "LongRunHighGrayLevelEmphasis=rlm_lrhge GrayLevelNonUniformity=rlm_glnu "
        "GrayLevelNonUniformityNormalized=rlm_glnu_norm "
        "RunLengthNonUniformity=rlm_rlnu "
        "RunLengthNonUniformityNormalized=rlm_rlnu_norm RunPercentage=rlm_r_perc "
        "GrayLevelVariance=rlm_gl_var RunVariance=rlm_rl_var RunEntropy=rlm_rl_entr",
    )
    + _f(
        "glszm",
        "SmallAreaEmphasis=szm_sze LargeAreaEmphasis=szm_lze "
        "LowGrayLevelZoneEmphasis=szm_lgze HighGrayLevelZoneEmphasis=szm_hgze "
        "SmallAreaLowGrayLevelEmphasis=szm_szlge "
        "SmallAreaHighGrayLevelEmphasis=szm_szhge "
        "LargeAreaLowGrayLevelEmphasis=szm_lzlge "
        "LargeAreaHighGrayLevelEmphasis=szm_lzhge GrayLevelNonUniformity=szm_glnu "
        "GrayLevelNonUniformityNormalized=szm_glnu_norm "
        "SizeZoneNonUniformity=szm_zsnu SizeZoneNonUniformityNormalized=szm_zsnu_norm "
        "ZonePercentage=szm_z_perc GrayLevelVariance=szm_gl_var "
        "ZoneVariance=szm_zs_var ZoneEntropy=szm_zs_entr",
    )
    + _f(
        "gldm",
        "SmallDependenceEmphasis=ngl_lde LargeDependenceEmphasis=ngl_hde "
        "LowGrayLevelEmphasis=ngl_lgce HighGrayLevelEmphasis=ngl_hgce "
        "SmallDependenceLowGrayLevelEmphasis=ngl_ldlge "
        "SmallDependenceHighGrayLevelEmphasis=ngl_ldhge "
        "LargeDependenceLowGrayLevelEmphasis=ngl_hdlge "
        "LargeDependenceHighGrayLevelEmphasis=ngl_hdhge "
        "GrayLevelNonUniformity=ngl_glnu DependenceNonUniformity=ngl_dcnu "
        "DependenceNonUniformityNormalized=ngl_dcnu_norm GrayLevelVariance=ngl_gl_var "
        "DependenceVariance=ngl_dc_var DependenceEntropy=ngl_dc_entr",
    )
    + _f(
        "ngtdm",
        "Coarseness=ngt_coarseness Contrast=ngt_contrast Busyness=ngt_busyness "
        "Complexity=ngt_complexity Strength=ngt_strength",
    )
)


def _suffix(feature_class: str, force2d: bool) -> str:
    if feature_class not in _TEXTURE_SUFFIX:
        return ""
    base = "_2_5D" if force2d else "_3D"
    return base + ("_" + _TEXTURE_SUFFIX[feature_class] if _TEXTURE_SUFFIX[feature_class] else "")


def full_tag(entry: IbsiFeature, force2d: bool = False) -> str:
    """The IBSI tag with its aggregation suffix (``cm_joint_avg_3D_avg``)."""
    return entry.tag + _suffix(entry.matrix or entry.feature_class, force2d)


_PRIMARY = {
    (e.feature_class, e.feature): e
    for e in IBSI_FEATURES
    if e.primary and e.claimed and e.convert is None
}


def ibsi_tag(
    feature_class: str, feature: str, *, image_type: str = "original", force2d: bool = False
) -> str:
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

    See Also
    --------
    ibsi_tags : the tags of every row of a radiomics ``var``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> rg.extract.ibsi_tag("glcm", "JointAverage")
    'cm_joint_avg_3D_avg'
    >>> rg.extract.ibsi_tag("glcm", "JointAverage", force2d=True)
    'cm_joint_avg_2_5D_avg'
    >>> rg.extract.ibsi_tag("firstorder", "Mean"), rg.extract.ibsi_tag("shape", "Sphericity")
    ('stat_mean', 'morph_sphericity')
    >>> rg.extract.ibsi_tag("firstorder", "Kurtosis")  # pyradiomics' is IBSI's plus 3
    ''
    >>> rg.extract.ibsi_tag("firstorder", "Mean", image_type="wavelet-LLH")
    ''
    """
    if str(image_type) != "original":
        return ""
    entry = _PRIMARY.get((str(feature_class), str(feature)))
    return "" if entry is None else full_tag(entry, force2d)


def ibsi_tags(var: pd.DataFrame, *, force2d: bool = False) -> list[str]:
    """``ibsi_tag`` for every row of a radiomics ``var`` (image_type, feature_class, feature).

    See Also
    --------
    ibsi_tag : the tag of one feature.
    radiogenomics.io.feature_var : the ``var`` table of pyradiomics feature names.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> var = rg.io.feature_var(
    ...     [
    ...         "original_firstorder_Mean",
    ...         "original_glszm_ZonePercentage",
    ...         "wavelet-LLH_firstorder_Mean",
    ...         "original_firstorder_Kurtosis",
    ...     ]
    ... )
    >>> rg.extract.ibsi_tags(var)
    ['stat_mean', 'szm_z_perc_3D', '', '']
    >>> rg.extract.ibsi_tags(var, force2d=True)
    ['stat_mean', 'szm_z_perc_2_5D', '', '']
    """
    return [
        ibsi_tag(c, f, image_type=t, force2d=force2d)
        for t, c, f in zip(
            var["image_type"].astype(str),
            var["feature_class"].astype(str),
            var["feature"].astype(str),
        )
    ]


# --------------------------------------------------------------------------- units

#: The unit of image intensities by imaging modality (DICOM Modality codes and names).
MODALITY_UNITS: dict[str, str] = {
    "CT": "HU",
    "PT": "SUV",
    "PET": "SUV",
    "MR": "a.u.",
    "MRI": "a.u.",
    "US": "a.u.",
}

#: Unit of intensity when the modality is not known.
UNKNOWN_INTENSITY = "intensity units"

_SHAPE_UNITS = {
    "MeshVolume": "mm³",
    "VoxelVolume": "mm³",
    "SurfaceArea": "mm²",
    "MeshSurface": "mm²",
    "PixelSurface": "mm²",
    "SurfaceVolumeRatio": "mm⁻¹",
    "PerimeterSurfaceRatio": "mm⁻¹",
    "Perimeter": "mm",
    "Maximum3DDiameter": "mm",
    "Maximum2DDiameterSlice": "mm",
    "Maximum2DDiameterColumn": "mm",
    "Maximum2DDiameterRow": "mm",
    "MaximumDiameter": "mm",
    "MajorAxisLength": "mm",
    "MinorAxisLength": "mm",
    "LeastAxisLength": "mm",
}
_INTENSITY = {
    "Mean",
    "Median",
    "Minimum",
    "Maximum",
    "10Percentile",
    "90Percentile",
    "InterquartileRange",
    "Range",
    "MeanAbsoluteDeviation",
    "RobustMeanAbsoluteDeviation",
    "RootMeanSquared",
    "StandardDeviation",
}
_SQUARED = {"Variance", "Energy"}


def intensity_unit(modality: str | None) -> str:
    """The unit of image intensities: HU (CT), SUV (PET), a.u. (MR), else "intensity units"."""
    if modality is None or str(modality).strip() == "":
        return UNKNOWN_INTENSITY
    return MODALITY_UNITS.get(str(modality).strip().upper(), UNKNOWN_INTENSITY)


def _squared(unit: str) -> str:
    return f"{unit}²" if " " not in unit else f"({unit})²"


def feature_unit(
    image_type: str,
    feature_class: str,
    feature: str,
    *,
    intensity: str = UNKNOWN_INTENSITY,
    normalized: bool = False,
) -> str:
    """The unit of one radiomic feature (``""``: dimensionless; ``"unknown"``: not known).

    Parameters
    ----------
    image_type, feature_class, feature
        As in the radiomics ``var`` (``original``, ``firstorder``, ``Mean``).
    intensity
        The unit of the image intensities (see :func:`intensity_unit`).
    normalized
        The intensities were normalised before extraction (pyradiomics' ``normalize``):
        first-order intensity features are then in arbitrary units.
    """
    feature_class, feature = str(feature_class), str(feature)
    if feature_class in ("shape", "shape2D"):
        return _SHAPE_UNITS.get(feature, "")
    if feature_class == "firstorder":
        if feature not in _INTENSITY and feature not in _SQUARED and feature != "TotalEnergy":
            return ""  # skewness, kurtosis, entropy, uniformity
        unit = intensity
        if str(image_type) != "original" or normalized:
            unit = "a.u."  # a filter response or normalised intensities: not the image's unit
        if feature in _SQUARED:
            return _squared(unit)
        if feature == "TotalEnergy":
            return _squared(unit) + "·mm³"
        return unit
    if feature_class in ("glcm", "glrlm", "glszm", "gldm", "ngtdm"):
        return ""  # computed on discretised grey levels: dimensionless
    return "unknown"


def annotate_radiomics_var(
    var: pd.DataFrame,
    *,
    modality: str | None = None,
    force2d: bool = False,
    normalized: bool = False,
) -> pd.DataFrame:
    """Add ``ibsi_tag`` and ``unit`` to a radiomics ``var`` (in place; also returned).

    Parameters
    ----------
    var
        With ``image_type``, ``feature_class`` and ``feature``.
    modality
        Imaging modality of the images (``CT``, ``PT``/``PET``, ``MR``, ...); several
        modalities separated by ``|`` give a unit per modality (``HU | SUV``).
    force2d
        The features were extracted with pyradiomics' ``force2D`` (IBSI 2.5-D tags).
    normalized
        The intensities were normalised before extraction.
    """
    modalities = [m for m in str(modality).split("|") if m.strip()] if modality else []
    units = sorted({intensity_unit(m) for m in modalities}) or [UNKNOWN_INTENSITY]
    intensity = " | ".join(units)
    var["ibsi_tag"] = ibsi_tags(var, force2d=force2d)
    var["unit"] = [
        feature_unit(t, c, f, intensity=intensity, normalized=normalized)
        for t, c, f in zip(
            var["image_type"].astype(str),
            var["feature_class"].astype(str),
            var["feature"].astype(str),
        )
    ]
    return var


def extraction_flags(settings: str | dict | None) -> dict[str, bool]:
    """``force2d`` and ``normalized`` from pyradiomics settings (a dict or its text, as in
    the ``diagnostics_Configuration_Settings`` column of a pyradiomics batch CSV)."""
    if isinstance(settings, str):
        try:
            settings = ast.literal_eval(settings)
        except (ValueError, SyntaxError):
            settings = None
    if not isinstance(settings, dict):
        return {"force2d": False, "normalized": False}
    inner = settings.get("setting", settings)
    inner = inner if isinstance(inner, dict) else {}
    return {
        "force2d": bool(inner.get("force2D", False)),
        "normalized": bool(inner.get("normalize", False)),
    }
