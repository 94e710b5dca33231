"""A simulated follow-up scan for the demo study, whose change follows the response.

For each demo patient, a week-6 image is derived from the baseline image: a responder's
tumour shrinks (its mask eroded by ``shrink_mm``, with some spread between patients) and its
enhancement drops (tumour intensities scaled by ``enhancement_drop``); a non-responder's
tumour grows slightly. Voxels that leave the tumour take the surrounding tissue's
intensity (the median of the tissue outside the tumour). A longitudinal manifest (a ``timepoint`` column: ``baseline`` and ``week6``)
lists both scans, for :func:`radiogenomics.extract.features_by_timepoint` and
:func:`radiogenomics.tl.delta`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from .._compat import renamed
from .._files import atomic_path

__all__ = ["write_follow_up", "FOLLOW_UP_MANIFEST"]

#: File name of the longitudinal manifest, in the demo folder.
FOLLOW_UP_MANIFEST = "manifest_longitudinal.csv"


@renamed(seed="random_state")
def write_follow_up(
    paths: dict[str, Path],
    *,
    timepoint: str = "week6",
    shrink_mm: float = 1.5,
    growth_mm: float = 1.2,
    enhancement_drop: float = 0.85,
    response_column: str = "response",
    responder: str = "responder",
    random_state: int = 0,
) -> Path:
    """Write a follow-up image and mask for every patient of a demo folder.

    Parameters
    ----------
    paths
        As returned by :func:`radiogenomics.datasets.write_demo_files`.
    timepoint
        Name of the follow-up time point.
    shrink_mm, growth_mm
        Mean erosion of a responder's tumour and dilation of a non-responder's, in mm.
    enhancement_drop
        Factor on a responder's tumour intensities above the background.
    random_state
        Seed of the spread between patients (``seed=`` is the old name).

    Returns
    -------
    Path
        The longitudinal manifest (``manifest_longitudinal.csv``); the truth (each
        patient's planted erosion/dilation and intensity factor) is written beside it as
        ``truth/follow_up.csv``.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = rg.datasets.write_demo_files(folder.name, n_patients=12)
    >>> manifest = rg.datasets.write_follow_up(paths, timepoint="week6")
    >>> manifest.name
    'manifest_longitudinal.csv'
    >>> scans = pd.read_csv(manifest)
    >>> scans.shape, scans["timepoint"].value_counts().to_dict()
    ((24, 6), {'baseline': 12, 'week6': 12})
    >>> scans.loc[1, "image"]
    'images/RGD-02-0001_week6_image.nii.gz'
    >>> pd.read_csv(paths["truth"] / "follow_up.csv").columns.tolist()
    ['patient_id', 'responder', 'margin_mm', 'intensity_factor', 'volume_ratio']
    >>> folder.cleanup()
    """
    import SimpleITK as sitk

    folder = Path(paths["manifest"]).parent
    manifest = pd.read_csv(paths["manifest"], dtype=str)
    clinical = pd.read_csv(paths["clinical"], dtype={"patient_id": str}).set_index("patient_id")
    rng = np.random.default_rng(random_state)
    rows, truth = [], []
    for case in manifest.itertuples(index=False):
        image = sitk.ReadImage(str(folder / case.image))
        mask = sitk.ReadImage(str(folder / case.mask))
        values = sitk.GetArrayFromImage(image).astype(np.float64)
        tumour = sitk.GetArrayFromImage(mask) > 0
        spacing = np.asarray(image.GetSpacing(), dtype=float)[::-1]
        responds = str(clinical.loc[case.patient_id, response_column]) == responder
        if responds:
            distance = max(0.0, rng.normal(shrink_mm, 0.3 * shrink_mm))
            inside = ndimage.distance_transform_edt(tumour, sampling=spacing)
            follow = tumour & (inside > distance)
            if follow.sum() < 0.2 * tumour.sum():  # keep a measurable lesion
                follow = tumour & (inside > np.quantile(inside[tumour], 0.8))
            factor = enhancement_drop
        else:
            distance = max(0.0, rng.normal(growth_mm, 0.3 * growth_mm))
            outside = ndimage.distance_transform_edt(~tumour, sampling=spacing)
            follow = tumour | (outside <= distance)
            factor = 1.0
        background = float(np.median(values[~tumour]))
        new = values.copy()
        new[tumour & ~follow] = background + rng.normal(0, 2.0, size=int((tumour & ~follow).sum()))
        if not responds:  # grown margin takes the tumour's mean intensity
            new[follow & ~tumour] = values[tumour].mean()
        new[follow] = background + factor * (new[follow] - background)
        out_image = sitk.GetImageFromArray(new.astype(np.float32))
        out_image.CopyInformation(image)
        out_mask = sitk.GetImageFromArray(follow.astype(np.uint8))
        out_mask.CopyInformation(mask)
        names = {}
        for kind, img in (("image", out_image), ("mask", out_mask)):
            target = folder / "images" / f"{case.patient_id}_{timepoint}_{kind}.nii.gz"
            with atomic_path(target, suffix=".nii.gz") as tmp:
                sitk.WriteImage(img, str(tmp), useCompression=True)
            names[kind] = f"images/{target.name}"
        base = case._asdict()
        rows.append({**base, "timepoint": "baseline"})
        rows.append(
            {**base, "image": names["image"], "mask": names["mask"], "timepoint": timepoint}
        )
        truth.append(
            {
                "patient_id": case.patient_id,
                "responder": responds,
                "margin_mm": -distance if responds else distance,
                "intensity_factor": factor,
                "volume_ratio": float(follow.sum() / tumour.sum()),
            }
        )
    target = folder / FOLLOW_UP_MANIFEST
    with atomic_path(target, suffix=".csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    truth_dir = Path(paths.get("truth", folder / "truth"))
    truth_dir.mkdir(exist_ok=True)
    with atomic_path(truth_dir / "follow_up.csv", suffix=".csv") as tmp:
        pd.DataFrame(truth).to_csv(tmp, index=False)
    return target
