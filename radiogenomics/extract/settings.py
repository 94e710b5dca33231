"""pyradiomics extraction settings: parameter files, dicts and named presets."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["PRESETS", "resolve_params", "params_hash"]

_ALL_CLASSES = {
    "shape": [], "firstorder": [], "glcm": [], "glrlm": [], "glszm": [], "gldm": [], "ngtdm": [],
}

#: Named settings. ``default`` is pyradiomics' own default (original image, bin width 25,
#: all 3-D feature classes). ``demo`` is used for the synthetic demo images.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "setting": {"binWidth": 25, "label": 1},
        "imageType": {"Original": {}},
        "featureClass": _ALL_CLASSES,
    },
    "demo": {
        "setting": {"binWidth": 25, "label": 1, "minimumROIDimensions": 2,
                    "minimumROISize": 50},
        "imageType": {"Original": {}},
        "featureClass": _ALL_CLASSES,
    },
}


def _load_file(path: Path) -> dict:
    if not path.exists():
        raise InputError("the parameter file does not exist", file=path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise InputError("cannot parse the parameter file", file=path,
                         expected="pyradiomics parameters in YAML or JSON",
                         found=str(exc).splitlines()[0]) from None
    if not isinstance(data, dict):
        raise InputError("the parameter file holds no mapping", file=path,
                         expected="keys setting, imageType, featureClass", found=type(data).__name__)
    return data


def resolve_params(params: str | os.PathLike | dict | None) -> dict[str, Any]:
    """pyradiomics parameters as a dict with ``setting``, ``imageType`` and ``featureClass``.

    Parameters
    ----------
    params
        ``None`` (the ``default`` preset), a preset name (see :data:`PRESETS`), a YAML or
        JSON parameter file in pyradiomics' format, or a dict: either in that format or a
        flat dict of settings (``{"binWidth": 10, ...}``) applied to the default preset.
    """
    if params is None:
        return copy.deepcopy(PRESETS["default"])
    if isinstance(params, str) and params in PRESETS:
        return copy.deepcopy(PRESETS[params])
    if isinstance(params, (str, os.PathLike)):
        path = Path(params)
        if not path.exists() and isinstance(params, str) and path.suffix == "":
            raise InputError("unknown extraction preset", expected=f"one of {sorted(PRESETS)} "
                             "or a parameter file", found=params)
        data = _load_file(path)
    elif isinstance(params, dict):
        data = copy.deepcopy(params)
    else:
        raise InputError("cannot use these extraction parameters",
                         expected="a preset name, a parameter file or a dict",
                         found=type(params).__name__)
    structured = {"setting", "imageType", "featureClass", "voxelSetting"}
    if not set(data) & structured:
        merged = copy.deepcopy(PRESETS["default"])
        merged["setting"].update(data)
        data = merged
    data.setdefault("imageType", {"Original": {}})
    data.setdefault("featureClass", copy.deepcopy(_ALL_CLASSES))
    data.setdefault("setting", {})
    return data


def params_hash(params: dict) -> str:
    """A stable hash of resolved parameters."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
