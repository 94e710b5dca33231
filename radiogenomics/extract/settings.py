"""pyradiomics extraction settings: parameter files, dicts, named presets and image types."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ExtractionError, InputError
from .case import _quiet_pyradiomics, build_extractor

__all__ = [
    "IMAGE_TYPES",
    "PRESETS",
    "PRESET_DESCRIPTIONS",
    "params_hash",
    "resolve_params",
    "validate_params",
]

_ALL_CLASSES = {
    "shape": [],
    "firstorder": [],
    "glcm": [],
    "glrlm": [],
    "glszm": [],
    "gldm": [],
    "ngtdm": [],
}

#: pyradiomics image types (filters), by the lower-case names accepted in ``image_types``.
IMAGE_TYPES: dict[str, str] = {
    "original": "Original",
    "wavelet": "Wavelet",
    "log": "LoG",
    "square": "Square",
    "squareroot": "SquareRoot",
    "logarithm": "Logarithm",
    "exponential": "Exponential",
    "gradient": "Gradient",
    "lbp2d": "LBP2D",
    "lbp3d": "LBP3D",
}

#: LoG sigmas (mm) used when ``LoG`` is selected without its own arguments.
DEFAULT_LOG_SIGMA = [1.0, 2.0, 3.0, 4.0, 5.0]

#: Named settings. ``default`` is pyradiomics' own default; ``ct`` and ``mr`` follow the
#: example parameter files that pyradiomics publishes as starting points for CT and for MR
#: (resampling, bin width, intensity shift, LoG and wavelet filters); ``demo`` is used for
#: the synthetic demo images.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "setting": {"binWidth": 25, "label": 1},
        "imageType": {"Original": {}},
        "featureClass": _ALL_CLASSES,
    },
    "demo": {
        "setting": {"binWidth": 25, "label": 1, "minimumROIDimensions": 2, "minimumROISize": 50},
        "imageType": {"Original": {}},
        "featureClass": _ALL_CLASSES,
    },
    "ct": {
        "setting": {
            "binWidth": 25,
            "label": 1,
            "interpolator": "sitkBSpline",
            "resampledPixelSpacing": [1, 1, 1],
            "padDistance": 10,
            "voxelArrayShift": 1000,
        },
        "imageType": {"Original": {}, "LoG": {"sigma": [1.0, 2.0, 3.0, 4.0, 5.0]}, "Wavelet": {}},
        "featureClass": _ALL_CLASSES,
    },
    "mr": {
        "setting": {
            "binWidth": 5,
            "label": 1,
            "normalize": True,
            "normalizeScale": 100,
            "interpolator": "sitkBSpline",
            "resampledPixelSpacing": [2, 2, 2],
            "padDistance": 10,
            "voxelArrayShift": 300,
        },
        "imageType": {"Original": {}, "LoG": {"sigma": [2.0, 3.0, 4.0, 5.0]}, "Wavelet": {}},
        "featureClass": _ALL_CLASSES,
    },
}

#: One line per preset, for the README and ``radiogenomics extract --help``.
PRESET_DESCRIPTIONS: dict[str, str] = {
    "default": "pyradiomics defaults: original image, bin width 25, no resampling, "
    "all 3-D feature classes",
    "demo": "as default, with ROIs of at least 50 voxels in 2 dimensions (the demo images)",
    "ct": "CT: resampled to 1 mm isotropic (B-spline), bin width 25 HU, intensity shift "
    "1000, original + LoG (sigma 1-5 mm) + wavelet",
    "mr": "MR: intensities normalised (scale 100), resampled to 2 mm isotropic, bin width "
    "5, intensity shift 300, original + LoG (sigma 2-5 mm) + wavelet",
}


def _load_file(path: Path) -> dict:
    if not path.exists():
        raise InputError("the parameter file does not exist", file=path)
    if path.is_dir():
        raise InputError(
            "the parameter file is a folder", file=path, expected="a YAML or JSON file"
        )
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except Exception as exc:
        raise InputError(
            "cannot parse the parameter file",
            file=path,
            expected="pyradiomics parameters in YAML or JSON",
            found=str(exc).splitlines()[0],
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            "the parameter file holds no mapping",
            file=path,
            expected="keys setting, imageType, featureClass",
            found=type(data).__name__,
        )
    return data


def _image_types(
    selection: Iterable[str] | Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, Any]:
    """pyradiomics ``imageType`` mapping for a selection of filter names."""
    if isinstance(selection, str):
        selection = [s for s in selection.replace(";", ",").split(",") if s.strip()]
    items = selection.items() if isinstance(selection, Mapping) else ((s, None) for s in selection)
    out: dict[str, Any] = {}
    for name, arguments in items:
        key = str(name).strip().lower().replace("-", "").replace("_", "")
        if key not in IMAGE_TYPES:
            raise InputError(
                "unknown image type", expected=f"one of {sorted(IMAGE_TYPES)}", found=name
            )
        pyradiomics_name = IMAGE_TYPES[key]
        if arguments is None:
            arguments = copy.deepcopy(current.get(pyradiomics_name, {}))
            if pyradiomics_name == "LoG" and "sigma" not in arguments:
                arguments["sigma"] = list(DEFAULT_LOG_SIGMA)
        out[pyradiomics_name] = dict(arguments)
    if not out:
        raise InputError("no image type selected", expected=f"some of {sorted(IMAGE_TYPES)}")
    return out


def resolve_params(
    params: str | os.PathLike | dict | None,
    image_types: Iterable[str] | Mapping[str, Any] | str | None = None,
) -> dict[str, Any]:
    """pyradiomics parameters as a dict with ``setting``, ``imageType`` and ``featureClass``.

    Parameters
    ----------
    params
        ``None`` (the ``default`` preset), a preset name (see :data:`PRESETS`), a YAML or
        JSON parameter file in pyradiomics' format, or a dict: either in that format or a
        flat dict of settings (``{"binWidth": 10, ...}``) applied to the default preset.
    image_types
        Replace the image types (filters) of ``params``: names such as
        ``["original", "wavelet", "log"]`` (or a comma-separated string), or a mapping of
        names to pyradiomics filter arguments (``{"LoG": {"sigma": [1.0, 3.0]}}``). A
        filter named without arguments keeps those of ``params`` (LoG: sigma 1-5 mm).

    Returns
    -------
    dict
        A new dict; the caller may change it.

    See Also
    --------
    validate_params : check them with pyradiomics.
    params_hash : a short hash of them.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> params = rg.extract.resolve_params("default")
    >>> sorted(params), params["setting"], params["imageType"]
    (['featureClass', 'imageType', 'setting'], {'binWidth': 25, 'label': 1}, {'Original': {}})
    >>> rg.extract.resolve_params({"binWidth": 10})["setting"]  # flat: onto the default
    {'binWidth': 10, 'label': 1}
    >>> rg.extract.resolve_params("ct", image_types=["original", "log"])["imageType"]
    {'Original': {}, 'LoG': {'sigma': [1.0, 2.0, 3.0, 4.0, 5.0]}}

    A parameter file in pyradiomics' format (``name:`` means all features, no arguments):

    >>> path = Path(tempfile.mkdtemp()) / "params.yaml"
    >>> _ = path.write_text(
    ...     "setting:\\n  binWidth: 5\\nimageType:\\n  Original:\\nfeatureClass:\\n  firstorder:\\n"
    ... )
    >>> resolved = rg.extract.resolve_params(path)
    >>> resolved["setting"], resolved["imageType"], resolved["featureClass"]
    ({'binWidth': 5}, {'Original': {}}, {'firstorder': []})
    """
    if params is None:
        data = copy.deepcopy(PRESETS["default"])
    elif isinstance(params, str) and params in PRESETS:
        data = copy.deepcopy(PRESETS[params])
    elif isinstance(params, (str, os.PathLike)):
        path = Path(params)
        if not path.exists() and isinstance(params, str) and path.suffix == "":
            raise InputError(
                "unknown extraction preset",
                expected=f"one of {sorted(PRESETS)} or a parameter file",
                found=params,
            )
        data = _load_file(path)
    elif isinstance(params, Mapping):
        data = copy.deepcopy(dict(params))
    else:
        raise InputError(
            "cannot use these extraction parameters",
            expected="a preset name, a parameter file or a dict",
            found=type(params).__name__,
        )
    structured = {"setting", "imageType", "featureClass", "voxelSetting"}
    if not set(data) & structured:
        merged = copy.deepcopy(PRESETS["default"])
        merged["setting"].update(data)
        data = merged
    if not data.get("imageType"):
        data["imageType"] = {"Original": {}}
    if not data.get("featureClass"):
        data["featureClass"] = copy.deepcopy(_ALL_CLASSES)
    if data.get("setting") is None:
        data["setting"] = {}
    # pyradiomics accepts ``name:`` (None) for "all features of the class" and "no arguments"
    data["featureClass"] = {k: (v or []) for k, v in data["featureClass"].items()}
    data["imageType"] = {k: (v or {}) for k, v in data["imageType"].items()}
    if image_types is not None:
        data["imageType"] = _image_types(image_types, data["imageType"])
    return data


def validate_params(params: dict, source: str | os.PathLike | None = None) -> None:
    """Check resolved parameters with pyradiomics' own validation; raise ``InputError``.

    See Also
    --------
    resolve_params : the parameters to check.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> rg.extract.validate_params(rg.extract.resolve_params("demo"))  # valid: no output
    >>> params = rg.extract.resolve_params({"featureClass": {"glcmm": []}})
    >>> try:
    ...     rg.extract.validate_params(params)
    ... except rg.errors.InputError as exc:
    ...     print(exc.message)
    ...     print(exc.found)
    invalid pyradiomics parameters
    Feature Class glcmm is not recognized. Available feature classes are ['firstorder',
    'glcm', 'gldm', 'glrlm', 'glszm', 'ngtdm', 'shape', 'shape2D']
    """

    _quiet_pyradiomics()
    try:
        build_extractor(params)
    except ExtractionError as exc:
        raise InputError(
            "invalid pyradiomics parameters",
            file=source
            if isinstance(source, (str, os.PathLike)) and Path(source).exists()
            else None,
            expected="settings, image types and feature classes pyradiomics accepts",
            found=exc.found,
        ) from None


def params_hash(params: dict) -> str:
    """A stable hash of resolved parameters.

    16 hexadecimal digits of a SHA-256 of the parameters as sorted JSON: the same for
    equal parameters in any key order, in any process.

    See Also
    --------
    resolve_params : the parameters to hash.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> params = rg.extract.resolve_params("default")
    >>> digest = rg.extract.params_hash(params)
    >>> len(digest)
    16
    >>> rg.extract.params_hash(dict(reversed(params.items()))) == digest  # key order
    True
    >>> rg.extract.params_hash(rg.extract.resolve_params({"binWidth": 10})) == digest
    False
    """
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
