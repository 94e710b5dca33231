"""Semi-automatic segmentation for images without contours: PET SUV thresholds and region
growing from a seed point (CT, MR). The result is a mask image on the image's grid,
which can be written and listed in a manifest.

Methods:

- ``"suv"``: voxels with SUV at least ``threshold`` (fixed, e.g. 2.5) inside ``box``;
- ``"suv_fraction"``: voxels at least ``fraction`` x SUVmax (e.g. 0.41 or 0.5, as in the
  EANM guideline) inside ``box``, SUVmax taken inside the box (so a hot bladder or brain
  elsewhere does not set it);
- ``"region_growing"``: the voxels connected to ``seed`` (face neighbours) whose
  intensity lies in ``[lower, upper]`` (SimpleITK ``ConnectedThreshold``); by default
  the seed's value +- ``tolerance``.

With ``largest_component`` (the default for the thresholds), only the largest connected
region is kept (or, with a seed, the region holding it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from .._files import atomic_path
from ..errors import InputError
from .case import read_image

__all__ = ["segment", "SEGMENT_METHODS"]

SEGMENT_METHODS = ("suv", "suv_fraction", "region_growing")


def _box_slices(box, shape_zyx: tuple[int, ...]) -> tuple[slice, ...]:
    """``box`` as voxel index bounds ``((x0, x1), (y0, y1), (z0, z1))`` (inclusive,
    SimpleITK's x, y, z order) -> numpy slices in z, y, x."""
    if box is None:
        return tuple(slice(0, n) for n in shape_zyx)
    bounds = np.asarray(box, dtype=int)
    if bounds.shape != (len(shape_zyx), 2):
        raise InputError(
            "box is the voxel index range on each axis",
            expected=f"(({len(shape_zyx)}) pairs) ((x0, x1), (y0, y1), (z0, z1))",
            found=np.asarray(box).tolist(),
        )
    slices = []
    for (lo, hi), n in zip(bounds[::-1], shape_zyx):
        if lo > hi or lo < 0 or hi >= n:
            raise InputError(
                "box is outside the image",
                expected=f"indices within 0..{n - 1}",
                found=[int(lo), int(hi)],
            )
        slices.append(slice(int(lo), int(hi) + 1))
    return tuple(slices)


def _largest(mask: np.ndarray, seed_zyx: tuple[int, ...] | None) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    if seed_zyx is not None and labels[seed_zyx]:
        return labels == labels[seed_zyx]
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


def _seed_index(seed: Sequence[int] | None, shape_zyx: tuple[int, ...], image) -> tuple | None:
    """The seed ``(x, y, z)`` as a numpy index ``(z, y, x)``, checked to be in the image."""
    if seed is None:
        return None
    index = [int(v) for v in seed]
    if len(index) != 3 or any(not 0 <= v < n for v, n in zip(index[::-1], shape_zyx)):
        raise InputError(
            "seed is a voxel index (x, y, z) inside the image",
            expected=f"indices below {list(image.GetSize())}",
            found=index,
        )
    return tuple(index[::-1])


def _threshold_mask(
    array: np.ndarray,
    region: tuple[slice, ...],
    inside: np.ndarray,
    method: str,
    threshold: float,
    fraction: float,
    largest_component: bool | None,
    seed_zyx: tuple | None,
) -> tuple[np.ndarray, dict]:
    """The voxels in the box at or above a fixed SUV or a fraction of SUVmax, and the cut."""
    if method == "suv_fraction":
        if not 0 < fraction < 1:
            raise InputError(
                "fraction is a fraction of SUVmax",
                expected="a number between 0 and 1",
                found=fraction,
            )
        cut = fraction * float(array[region].max())
    else:
        cut = float(threshold)
    mask = inside & (array >= cut)
    if largest_component is None or largest_component:
        mask = _largest(mask, seed_zyx)
    return mask, {"threshold_suv": cut}


def _growing_range(
    array: np.ndarray,
    region: tuple[slice, ...],
    seed_zyx: tuple | None,
    lower: float | None,
    upper: float | None,
    tolerance: float | None,
) -> tuple[float, float]:
    """The intensity range of region growing, which must hold the seed's value."""
    if seed_zyx is None:
        raise InputError("region growing starts from a seed", expected="seed=(x, y, z)", found=None)
    value = float(array[seed_zyx])
    spread = tolerance if tolerance is not None else float(array[region].std())
    lo = value - spread if lower is None else float(lower)
    hi = value + spread if upper is None else float(upper)
    if not lo <= value <= hi:
        raise InputError(
            "the seed's value is outside the growing range",
            expected=f"{lo} <= value <= {hi}",
            found=value,
        )
    return lo, hi


def segment(
    image,
    method: str = "suv_fraction",
    *,
    threshold: float = 2.5,
    fraction: float = 0.41,
    box: Sequence[Sequence[int]] | None = None,
    seed: Sequence[int] | None = None,
    lower: float | None = None,
    upper: float | None = None,
    tolerance: float | None = None,
    largest_component: bool | None = None,
    out: str | os.PathLike | None = None,
):
    """Segment a lesion semi-automatically.

    Parameters
    ----------
    image
        A SimpleITK image, or a path to an image file or a DICOM series folder. For the
        SUV methods, the values must already be SUV (PET ``Units`` = ``GML`` or converted).
    method
        ``"suv"``, ``"suv_fraction"`` or ``"region_growing"`` (see the module docstring).
    threshold
        Fixed SUV (``"suv"``).
    fraction
        Fraction of SUVmax in the box (``"suv_fraction"``), between 0 and 1.
    box
        Voxel index bounds ``((x0, x1), (y0, y1), (z0, z1))``, inclusive, to search in
        (default: the whole image).
    seed
        Voxel index ``(x, y, z)``: the start of region growing; with a threshold, keeps
        the region holding it.
    lower, upper, tolerance
        Intensity range of region growing (default: the seed's value +- ``tolerance``,
        itself by default one standard deviation of the image in the box).
    largest_component
        Keep only the largest connected region (default: True for the thresholds).
    out
        Write the mask here (NRRD, NIfTI, ...; atomically) and return the path too.

    Returns
    -------
    SimpleITK.Image
        A ``uint8`` mask (1 = lesion) with the image's geometry; ``(mask, path)`` with
        ``out``.
    """
    import SimpleITK as sitk

    if method not in SEGMENT_METHODS:
        raise InputError(
            f"unknown segmentation method {method!r}",
            expected=f"one of {SEGMENT_METHODS}",
            found=method,
        )
    if not isinstance(image, sitk.Image):
        image = read_image(image, "image")
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    if array.ndim != 3:
        raise InputError("segmentation needs a 3-D image", found=f"{array.ndim}-D")
    region = _box_slices(box, array.shape)
    seed_zyx = _seed_index(seed, array.shape, image)
    inside = np.zeros(array.shape, dtype=bool)
    inside[region] = True
    if method in ("suv", "suv_fraction"):
        mask, info = _threshold_mask(
            array, region, inside, method, threshold, fraction, largest_component, seed_zyx
        )
    else:
        lo, hi = _growing_range(array, region, seed_zyx, lower, upper, tolerance)
        grown = sitk.ConnectedThreshold(
            sitk.Cast(image, sitk.sitkFloat64),
            seedList=[tuple(int(v) for v in seed)],
            lower=lo,
            upper=hi,
            replaceValue=1,
        )
        mask = (sitk.GetArrayFromImage(grown) > 0) & inside
        if box is not None:
            mask = _largest(mask, seed_zyx)
        info = {"lower": lo, "upper": hi}
    if not mask.any():
        raise InputError("the segmentation is empty", expected="at least one voxel", found=info)
    result = sitk.GetImageFromArray(mask.astype(np.uint8))
    result.CopyInformation(image)
    for key, v in info.items():
        result.SetMetaData(f"radiogenomics_{key}", repr(v))
    if out is None:
        return result
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".nrrd"
    with atomic_path(path, suffix=suffix) as tmp:
        sitk.WriteImage(result, str(tmp), useCompression=True)
    return result, path
