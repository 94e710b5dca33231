"""Figures of one patient against the cohort, their lesion, and the cohort's make-up."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..errors import InputError

__all__ = ["patient_percentiles", "lesion_slice", "lesion_slice_png", "read_lesion_slice",
           "modality_overlap"]


def patient_percentiles(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Horizontal bars of a patient's percentiles (from ``rg.tl.patient_percentiles``).

    The 25th-75th band of the cohort is shaded; the hover shows value and cohort median.
    """
    table = table.iloc[::-1]
    fig = go.Figure()
    fig.add_vrect(x0=25, x1=75, fillcolor="#e8eef6", line_width=0, layer="below")
    fig.add_vline(x=50, line_color="#9aa7b8", line_dash="dot")
    colors = np.where(table["percentile"] >= 50, "#c0392b", "#2c6fbb")
    fig.add_bar(
        x=table["percentile"], y=table["feature"], orientation="h", marker_color=colors,
        customdata=np.c_[table["value"], table["cohort_median"]],
        hovertemplate="%{y}<br>percentile %{x:.0f}<br>value %{customdata[0]:.4g}"
                      "<br>cohort median %{customdata[1]:.4g}<extra></extra>",
    )
    fig.update_layout(
        title=title, xaxis=dict(range=[0, 100], title="percentile in the cohort"),
        yaxis=dict(automargin=True), margin=dict(l=10, r=10, t=40 if title else 10, b=40),
        height=max(220, 26 * len(table) + 80), showlegend=False, template="plotly_white",
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
    """
    import SimpleITK as sitk

    try:
        image_itk = sitk.ReadImage(str(image))
        mask_itk = sitk.ReadImage(str(mask))
    except RuntimeError as exc:
        raise InputError("cannot read the image or mask", file=image,
                         found=str(exc).splitlines()[0] if str(exc) else "unreadable") from None
    volume = sitk.GetArrayFromImage(image_itk)
    labels = sitk.GetArrayFromImage(mask_itk)
    if volume.shape != labels.shape:
        raise InputError("image and mask differ in shape", file=mask,
                         expected=str(volume.shape), found=str(labels.shape))
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
    image: str | os.PathLike, mask: str | os.PathLike, label: int = 1,
    title: str | None = None,
) -> go.Figure:
    """The image slice through the largest cross-section of the lesion, with the mask
    outline drawn over it."""
    pixels, lesion, spacing = read_lesion_slice(image, mask, label)
    rows, cols = pixels.shape
    y = np.arange(rows) * spacing[0]
    x = np.arange(cols) * spacing[1]
    low, high = np.percentile(pixels, [1, 99])
    fig = go.Figure()
    fig.add_heatmap(z=pixels, x=x, y=y, colorscale="Gray", zmin=low, zmax=high,
                    showscale=False, hovertemplate="%{z:.0f}<extra></extra>")
    fig.add_contour(z=lesion.astype(float), x=x, y=y, showscale=False,
                    contours=dict(start=0.5, end=0.5, size=1, coloring="lines"),
                    line=dict(color="#ff4136", width=2), colorscale=[[0, "#ff4136"],
                                                                      [1, "#ff4136"]],
                    hoverinfo="skip", name="lesion")
    fig.update_layout(
        title=title, template="plotly_white", margin=dict(l=10, r=10, t=40 if title else 10,
                                                          b=10),
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, scaleanchor="x", autorange="reversed"),
        height=360,
    )
    return fig


def lesion_slice_png(
    image: str | os.PathLike, mask: str | os.PathLike, label: int = 1, size: int = 320
) -> bytes:
    """The slice of :func:`lesion_slice` as a PNG image (grey levels, mask outline in red),
    for printed reports."""
    import io

    from PIL import Image
    from scipy import ndimage

    pixels, lesion, spacing = read_lesion_slice(image, mask, label)
    low, high = np.percentile(pixels, [1, 99])
    grey = np.clip((pixels - low) / (high - low if high > low else 1.0), 0, 1)
    rgb = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    outline = lesion & ~ndimage.binary_erosion(lesion)
    rgb[outline] = (255, 65, 54)
    picture = Image.fromarray(rgb)
    height_mm, width_mm = pixels.shape[0] * spacing[0], pixels.shape[1] * spacing[1]
    scale = size / max(height_mm, width_mm)
    picture = picture.resize((max(1, round(width_mm * scale)), max(1, round(height_mm * scale))),
                             Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def modality_overlap(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Bars of patients per combination of modalities (from ``rg.tl.modality_overlap``)."""
    modalities = [c for c in table.columns if c != "n_patients"]
    labels = [" + ".join(m for m in modalities if row[m]) or "none"
              for _, row in table.iterrows()]
    fig = go.Figure(go.Bar(x=table["n_patients"], y=labels, orientation="h",
                           marker_color="#2c6fbb", text=table["n_patients"],
                           textposition="auto"))
    fig.update_layout(title=title, template="plotly_white", yaxis=dict(autorange="reversed",
                                                                       automargin=True),
                      xaxis_title="patients", height=max(200, 40 * len(table) + 80),
                      margin=dict(l=10, r=10, t=40 if title else 10, b=40))
    return fig
