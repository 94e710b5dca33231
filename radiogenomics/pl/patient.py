"""Figures of one patient against the cohort, their lesion, and the cohort's make-up."""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import ndimage

from ..errors import InputError

__all__ = [
    "patient_percentiles",
    "lesion_slice",
    "lesion_slice_png",
    "read_lesion_slice",
    "modality_overlap",
    "read_lesion_volume",
    "lesion_slice_view",
    "window_range",
    "WINDOWS",
]


def patient_percentiles(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Horizontal bars of a patient's percentiles (from ``rg.tl.patient_percentiles``).

    The 25th-75th band of the cohort is shaded; the hover shows value and cohort median.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> table = rg.tl.patient_percentiles(mdata, "P001")
    >>> table.shape
    (12, 6)
    >>> fig = rg.pl.patient_percentiles(table, title="P001")
    >>> len(fig.data[0].y), fig.layout.xaxis.title.text, fig.layout.title.text
    (12, 'percentile in the cohort', 'P001')
    """
    table = table.iloc[::-1]
    fig = go.Figure()
    fig.add_vrect(x0=25, x1=75, fillcolor="#e8eef6", line_width=0, layer="below")
    fig.add_vline(x=50, line_color="#9aa7b8", line_dash="dot")
    colors = np.where(table["percentile"] >= 50, "#c0392b", "#2c6fbb")
    fig.add_bar(
        x=table["percentile"],
        y=table["feature"],
        orientation="h",
        marker_color=colors,
        customdata=np.c_[table["value"], table["cohort_median"]],
        hovertemplate="%{y}<br>percentile %{x:.0f}<br>value %{customdata[0]:.4g}"
        "<br>cohort median %{customdata[1]:.4g}<extra></extra>",
    )
    fig.update_layout(
        title=title,
        xaxis=dict(range=[0, 100], title="percentile in the cohort"),
        yaxis=dict(automargin=True),
        margin=dict(l=10, r=10, t=40 if title else 10, b=40),
        height=max(220, 26 * len(table) + 80),
        showlegend=False,
        template="plotly_white",
    )
    return fig


def read_lesion_slice(
    image: str | os.PathLike, mask: str | os.PathLike, label: int = 1
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The axial slice through the largest cross-section of a lesion.

    Returns
    -------
    (image_slice, mask_slice, spacing)
        2-D arrays (rows, columns) and the pixel spacing (row, column) in mm.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> z, y, x = np.mgrid[:5, :32, :32]  # 5 slices of 32 x 32 voxels
    >>> mask = (4 * (z - 2) ** 2 + (y - 16) ** 2 + (x - 14) ** 2 <= 36).astype(np.uint8)
    >>> ct = np.where(mask == 1, 40.0, -700.0)  # a soft-tissue nodule in lung, in HU
    >>> folder = tempfile.TemporaryDirectory()
    >>> for name, array in [("ct.nii.gz", ct), ("seg.nii.gz", mask)]:
    ...     volume = sitk.GetImageFromArray(array)
    ...     volume.SetSpacing((0.75, 0.75, 3.0))  # x, y, z in mm
    ...     sitk.WriteImage(volume, str(Path(folder.name) / name))
    >>> image, seg = Path(folder.name) / "ct.nii.gz", Path(folder.name) / "seg.nii.gz"
    >>> from radiogenomics.pl.patient import read_lesion_slice
    >>> pixels, lesion, spacing = read_lesion_slice(image, seg)
    >>> pixels.shape, int(lesion.sum()), spacing  # the middle slice, 113 lesion pixels
    ((32, 32), 113, (0.75, 0.75))
    >>> folder.cleanup()
    """
    import SimpleITK as sitk

    try:
        image_itk = sitk.ReadImage(str(image))
        mask_itk = sitk.ReadImage(str(mask))
    except RuntimeError as exc:
        raise InputError(
            "cannot read the image or mask",
            file=image,
            found=str(exc).splitlines()[0] if str(exc) else "unreadable",
        ) from None
    volume = sitk.GetArrayFromImage(image_itk)
    labels = sitk.GetArrayFromImage(mask_itk)
    if volume.shape != labels.shape:
        raise InputError(
            "image and mask differ in shape",
            file=mask,
            expected=str(volume.shape),
            found=str(labels.shape),
        )
    lesion = labels == label
    if volume.ndim == 2:
        volume, lesion = volume[None], lesion[None]
    area = lesion.reshape(lesion.shape[0], -1).sum(axis=1)
    if area.max() == 0:
        raise InputError(f"the mask has no voxel of label {label}", file=mask)
    k = int(np.argmax(area))
    spacing = image_itk.GetSpacing()
    return volume[k].astype(float), lesion[k], (float(spacing[1]), float(spacing[0]))


def lesion_slice(
    image: str | os.PathLike,
    mask: str | os.PathLike,
    label: int = 1,
    title: str | None = None,
) -> go.Figure:
    """The image slice through the largest cross-section of the lesion, with the mask
    outline drawn over it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> z, y, x = np.mgrid[:5, :32, :32]  # 5 slices of 32 x 32 voxels
    >>> mask = (4 * (z - 2) ** 2 + (y - 16) ** 2 + (x - 14) ** 2 <= 36).astype(np.uint8)
    >>> ct = np.where(mask == 1, 40.0, -700.0)  # a soft-tissue nodule in lung, in HU
    >>> folder = tempfile.TemporaryDirectory()
    >>> for name, array in [("ct.nii.gz", ct), ("seg.nii.gz", mask)]:
    ...     volume = sitk.GetImageFromArray(array)
    ...     volume.SetSpacing((0.75, 0.75, 3.0))  # x, y, z in mm
    ...     sitk.WriteImage(volume, str(Path(folder.name) / name))
    >>> image, seg = Path(folder.name) / "ct.nii.gz", Path(folder.name) / "seg.nii.gz"
    >>> fig = rg.pl.lesion_slice(image, seg, title="P1 baseline")
    >>> [trace.type for trace in fig.data]  # the slice, and the lesion's outline
    ['heatmap', 'contour']
    >>> np.shape(fig.data[0].z), fig.data[0].x[:3].tolist()  # axes in mm
    ((32, 32), [0.0, 0.75, 1.5])
    >>> folder.cleanup()
    """
    pixels, lesion, spacing = read_lesion_slice(image, mask, label)
    rows, cols = pixels.shape
    y = np.arange(rows) * spacing[0]
    x = np.arange(cols) * spacing[1]
    low, high = np.percentile(pixels, [1, 99])
    fig = go.Figure()
    fig.add_heatmap(
        z=pixels,
        x=x,
        y=y,
        colorscale="Gray",
        zmin=low,
        zmax=high,
        showscale=False,
        hovertemplate="%{z:.0f}<extra></extra>",
    )
    fig.add_contour(
        z=lesion.astype(float),
        x=x,
        y=y,
        showscale=False,
        contours=dict(start=0.5, end=0.5, size=1, coloring="lines"),
        line=dict(color="#ff4136", width=2),
        colorscale=[[0, "#ff4136"], [1, "#ff4136"]],
        hoverinfo="skip",
        name="lesion",
    )
    fig.update_layout(
        title=title,
        template="plotly_white",
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, scaleanchor="x", autorange="reversed"),
        height=360,
    )
    return fig


def lesion_slice_png(
    image: str | os.PathLike, mask: str | os.PathLike, label: int = 1, size: int = 320
) -> bytes:
    """The slice of :func:`lesion_slice` as a PNG image (grey levels, mask outline in red),
    for printed reports.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> z, y, x = np.mgrid[:5, :32, :32]  # 5 slices of 32 x 32 voxels
    >>> mask = (4 * (z - 2) ** 2 + (y - 16) ** 2 + (x - 14) ** 2 <= 36).astype(np.uint8)
    >>> ct = np.where(mask == 1, 40.0, -700.0)  # a soft-tissue nodule in lung, in HU
    >>> folder = tempfile.TemporaryDirectory()
    >>> for name, array in [("ct.nii.gz", ct), ("seg.nii.gz", mask)]:
    ...     volume = sitk.GetImageFromArray(array)
    ...     volume.SetSpacing((0.75, 0.75, 3.0))  # x, y, z in mm
    ...     sitk.WriteImage(volume, str(Path(folder.name) / name))
    >>> image, seg = Path(folder.name) / "ct.nii.gz", Path(folder.name) / "seg.nii.gz"
    >>> png = rg.pl.lesion_slice_png(image, seg, size=320)
    >>> png[1:4], Image.open(io.BytesIO(png)).size
    (b'PNG', (320, 320))
    >>> folder.cleanup()
    """

    from PIL import Image

    pixels, lesion, spacing = read_lesion_slice(image, mask, label)
    low, high = np.percentile(pixels, [1, 99])
    grey = np.clip((pixels - low) / (high - low if high > low else 1.0), 0, 1)
    rgb = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    outline = lesion & ~ndimage.binary_erosion(lesion)
    rgb[outline] = (255, 65, 54)
    picture = Image.fromarray(rgb)
    height_mm, width_mm = pixels.shape[0] * spacing[0], pixels.shape[1] * spacing[1]
    scale = size / max(height_mm, width_mm)
    picture = picture.resize(
        (max(1, round(width_mm * scale)), max(1, round(height_mm * scale))), Image.NEAREST
    )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def modality_overlap(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Bars of patients per combination of modalities (from ``rg.tl.modality_overlap``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from anndata import AnnData
    >>> import radiogenomics as rg
    >>> rna = AnnData(np.ones((4, 2)), obs=pd.DataFrame(index=["P1", "P2", "P3", "P4"]))
    >>> radiomics = AnnData(np.ones((3, 2)), obs=pd.DataFrame(index=["P1", "P2", "P5"]))
    >>> mdata = rg.build_cohort({"radiomics": radiomics, "rna": rna}, join="outer")
    >>> table = rg.tl.modality_overlap(mdata)
    >>> table.values.tolist()
    [[False, True, 2], [True, True, 2], [True, False, 1]]
    >>> fig = rg.pl.modality_overlap(table)
    >>> list(fig.data[0].y), fig.data[0].x.tolist()
    (['rna', 'radiomics + rna', 'radiomics'], [2, 2, 1])
    """
    modalities = [c for c in table.columns if c != "n_patients"]
    labels = [" + ".join(m for m in modalities if row[m]) or "none" for _, row in table.iterrows()]
    fig = go.Figure(
        go.Bar(
            x=table["n_patients"],
            y=labels,
            orientation="h",
            marker_color="#2c6fbb",
            text=table["n_patients"],
            textposition="auto",
        )
    )
    fig.update_layout(
        title=title,
        template="plotly_white",
        yaxis=dict(autorange="reversed", automargin=True),
        xaxis_title="patients",
        height=max(200, 40 * len(table) + 80),
        margin=dict(l=10, r=10, t=40 if title else 10, b=40),
    )
    return fig


#: Window/level presets (centre, width) of the slice viewer; ``None``: from the image.
WINDOWS = {
    "ct-soft": (40.0, 400.0),
    "ct-lung": (-600.0, 1500.0),
    "ct-bone": (300.0, 2000.0),
    "mr": None,
    "pet": None,
    "auto": None,
}


def read_lesion_volume(
    image: str | os.PathLike,
    mask: str | os.PathLike,
    label: int = 1,
    margin_mm: float = 15.0,
) -> dict:
    """The image around a lesion, every axial slice that holds it (and one either side),
    cropped to the lesion's extent plus ``margin_mm``.

    Returns
    -------
    dict
        ``pixels`` (slices, rows, columns; float32), ``lesion`` (bool, same shape),
        ``spacing`` (row, column, slice in mm), ``largest`` (the slice of the largest
        cross-section) and ``slices`` (their indices in the image).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> z, y, x = np.mgrid[:5, :32, :32]  # 5 slices of 32 x 32 voxels
    >>> mask = (4 * (z - 2) ** 2 + (y - 16) ** 2 + (x - 14) ** 2 <= 36).astype(np.uint8)
    >>> ct = np.where(mask == 1, 40.0, -700.0)  # a soft-tissue nodule in lung, in HU
    >>> folder = tempfile.TemporaryDirectory()
    >>> for name, array in [("ct.nii.gz", ct), ("seg.nii.gz", mask)]:
    ...     volume = sitk.GetImageFromArray(array)
    ...     volume.SetSpacing((0.75, 0.75, 3.0))  # x, y, z in mm
    ...     sitk.WriteImage(volume, str(Path(folder.name) / name))
    >>> image, seg = Path(folder.name) / "ct.nii.gz", Path(folder.name) / "seg.nii.gz"
    >>> view = rg.pl.read_lesion_volume(image, seg, margin_mm=5)
    >>> sorted(view)
    ['largest', 'lesion', 'pixels', 'slices', 'spacing']
    >>> view["pixels"].shape, view["spacing"], view["largest"], view["slices"]
    ((5, 27, 27), (0.75, 0.75, 3.0), 2, [0, 1, 2, 3, 4])
    >>> folder.cleanup()
    """
    import SimpleITK as sitk

    try:
        image_itk = sitk.ReadImage(str(image))
        mask_itk = sitk.ReadImage(str(mask))
    except RuntimeError as exc:
        raise InputError(
            "cannot read the image or mask",
            file=image,
            found=str(exc).splitlines()[0] if str(exc) else "unreadable",
        ) from None
    volume = sitk.GetArrayFromImage(image_itk)
    lesion = sitk.GetArrayFromImage(mask_itk) == label
    if volume.shape != lesion.shape:
        raise InputError(
            "image and mask differ in shape",
            file=mask,
            expected=str(volume.shape),
            found=str(lesion.shape),
        )
    if volume.ndim == 2:
        volume, lesion = volume[None], lesion[None]
    if not lesion.any():
        raise InputError(f"the mask has no voxel of label {label}", file=mask)
    spacing = image_itk.GetSpacing()
    row_mm, col_mm = float(spacing[1]), float(spacing[0])
    slice_mm = float(spacing[2]) if len(spacing) > 2 else 1.0
    ks, rs, cs = np.nonzero(lesion)
    k0, k1 = max(ks.min() - 1, 0), min(ks.max() + 2, volume.shape[0])
    dr, dc = int(np.ceil(margin_mm / row_mm)), int(np.ceil(margin_mm / col_mm))
    r0, r1 = max(rs.min() - dr, 0), min(rs.max() + dr + 1, volume.shape[1])
    c0, c1 = max(cs.min() - dc, 0), min(cs.max() + dc + 1, volume.shape[2])
    pixels = volume[k0:k1, r0:r1, c0:c1].astype(np.float32)
    crop = lesion[k0:k1, r0:r1, c0:c1]
    area = crop.reshape(crop.shape[0], -1).sum(axis=1)
    return {
        "pixels": pixels,
        "lesion": crop,
        "spacing": (row_mm, col_mm, slice_mm),
        "largest": int(np.argmax(area)),
        "slices": list(range(int(k0), int(k1))),
    }


def window_range(pixels: np.ndarray, preset: str = "auto") -> tuple[float, float]:
    """The grey-level range of a window/level preset (``WINDOWS``): CT presets by their
    centre and width in HU; ``pet`` from 0 to the 99.5th percentile (SUV); ``mr`` and
    ``auto`` from the 1st to the 99th percentile.

    Examples
    --------
    >>> import numpy as np
    >>> from radiogenomics.pl import window_range
    >>> pixels = np.linspace(-1000.0, 1000.0, 201)
    >>> window_range(pixels, "ct-lung"), window_range(pixels, "ct-soft")
    ((-1350.0, 150.0), (-160.0, 240.0))
    >>> window_range(pixels)  # the 1st to the 99th percentile
    (-980.0, 980.0)
    >>> [round(v, 2) for v in window_range(np.array([0.0, 1.5, 2.0, 8.0]), "pet")]  # SUV
    [0.0, 7.91]
    """
    fixed = WINDOWS.get(preset)
    if fixed is not None:
        centre, width = fixed
        return centre - width / 2, centre + width / 2
    finite = pixels[np.isfinite(pixels)]
    if finite.size == 0:
        return 0.0, 1.0
    if preset == "pet":
        return 0.0, float(max(np.percentile(finite, 99.5), 1e-6))
    low, high = np.percentile(finite, [1, 99])
    return float(low), float(high if high > low else low + 1)


def lesion_slice_view(
    view: dict,
    index: int | None = None,
    preset: str = "auto",
    title: str | None = None,
    scale_mm: float | None = None,
) -> go.Figure:
    """One slice of :func:`read_lesion_volume` with the lesion's outline, in the grey levels
    of a window preset, with a scale bar (10 mm, or ``scale_mm``) in the lower left.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> z, y, x = np.mgrid[:5, :32, :32]  # 5 slices of 32 x 32 voxels
    >>> mask = (4 * (z - 2) ** 2 + (y - 16) ** 2 + (x - 14) ** 2 <= 36).astype(np.uint8)
    >>> ct = np.where(mask == 1, 40.0, -700.0)  # a soft-tissue nodule in lung, in HU
    >>> folder = tempfile.TemporaryDirectory()
    >>> for name, array in [("ct.nii.gz", ct), ("seg.nii.gz", mask)]:
    ...     volume = sitk.GetImageFromArray(array)
    ...     volume.SetSpacing((0.75, 0.75, 3.0))  # x, y, z in mm
    ...     sitk.WriteImage(volume, str(Path(folder.name) / name))
    >>> image, seg = Path(folder.name) / "ct.nii.gz", Path(folder.name) / "seg.nii.gz"
    >>> view = rg.pl.read_lesion_volume(image, seg, margin_mm=5)
    >>> fig = rg.pl.lesion_slice_view(view, preset="ct-lung", scale_mm=5)
    >>> [trace.type for trace in fig.data], (fig.data[0].zmin, fig.data[0].zmax)
    (['heatmap', 'contour'], (-1350.0, 150.0))
    >>> [note.text for note in fig.layout.annotations]
    ['5 mm']
    >>> rg.pl.lesion_slice_view(view, index=0, preset="ct-soft").data[0].zmin
    -160.0
    >>> folder.cleanup()
    """
    pixels, lesion = view["pixels"], view["lesion"]
    k = int(view["largest"] if index is None else min(max(int(index), 0), len(pixels) - 1))
    row_mm, col_mm = view["spacing"][:2]
    rows, cols = pixels.shape[1:]
    y = np.arange(rows) * row_mm
    x = np.arange(cols) * col_mm
    low, high = window_range(pixels, preset)
    fig = go.Figure()
    fig.add_heatmap(
        z=pixels[k],
        x=x,
        y=y,
        colorscale="Gray",
        zmin=low,
        zmax=high,
        showscale=False,
        hovertemplate="%{z:.4g}<extra></extra>",
    )
    if lesion[k].any():
        fig.add_contour(
            z=lesion[k].astype(float),
            x=x,
            y=y,
            showscale=False,
            contours=dict(start=0.5, end=0.5, size=1, coloring="lines"),
            line=dict(color="#ff4136", width=2),
            colorscale=[[0, "#ff4136"], [1, "#ff4136"]],
            hoverinfo="skip",
            name="lesion",
        )
    width_mm = cols * col_mm
    bar = scale_mm or (10.0 if width_mm >= 25 else 5.0)
    x0, y0 = 0.06 * width_mm, (rows - 1) * row_mm * 0.93
    fig.add_shape(type="line", x0=x0, x1=x0 + bar, y0=y0, y1=y0, line=dict(color="white", width=4))
    fig.add_annotation(
        x=x0 + bar / 2,
        y=y0,
        text=f"{bar:g} mm",
        showarrow=False,
        yshift=12,
        font=dict(color="white", size=12),
    )
    fig.update_layout(
        title=title,
        template="plotly_white",
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, scaleanchor="x", autorange="reversed"),
        height=380,
        uirevision="slice",
    )
    return fig
