"""Integrity checks of image files before they are read.

SimpleITK reads a truncated ``.nii.gz`` or ``.nii`` without complaint and fills the
missing voxels with zeros, which gives wrong features and no warning. :func:`check_image_file`
refuses such files: a compressed stream must be complete, and a NIfTI file (compressed or
not) must hold as many voxel bytes as its header promises. :func:`header_problem` explains
why a file that SimpleITK refuses is unreadable, in place of ITK's own message.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import ExtractionError

__all__ = ["check_image_file", "header_problem", "nifti_header", "nifti_nonfinite"]

_CHUNK = 1 << 22  # 4 MiB

# NIfTI data types: code -> bits per voxel
_NIFTI_BITS = {
    1: 1,
    2: 8,
    4: 16,
    8: 32,
    16: 32,
    32: 64,
    64: 64,
    128: 24,
    256: 8,
    512: 16,
    768: 32,
    1024: 64,
    1280: 64,
    1536: 128,
    1792: 128,
    2048: 256,
    2304: 32,
}


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".nii", ".nii.gz"))


def nifti_header(head: bytes) -> dict | None:
    """Dimensions, bits per voxel and data offset of a NIfTI-1 or NIfTI-2 header.

    Returns ``None`` when ``head`` does not start with a NIfTI header; a dict with
    ``problem`` set when it does but the header is inconsistent.
    """
    if len(head) < 348:
        return None
    for order in ("<", ">"):
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348:
            dims = struct.unpack(order + "8h", head[40:56])
            datatype, bitpix = struct.unpack(order + "hh", head[70:74])
            offset = struct.unpack(order + "f", head[108:112])[0]
            break
        if size == 540 and len(head) >= 540:
            datatype, bitpix = struct.unpack(order + "hh", head[12:16])
            dims = struct.unpack(order + "8q", head[16:80])
            offset = struct.unpack(order + "q", head[168:176])[0]
            break
    else:
        return {"problem": "the header size field is neither 348 (NIfTI-1) nor 540 (NIfTI-2)"}
    n_dims = int(dims[0])
    if not 1 <= n_dims <= 7:
        return {
            "problem": f"the header's number of dimensions dim[0] is {n_dims} (expected 1 to 7)"
        }
    shape = [int(d) for d in dims[1 : 1 + n_dims]]
    if any(d < 1 for d in shape):
        return {"problem": f"the header gives a dimension below 1: {shape}"}
    bits = _NIFTI_BITS.get(int(datatype))
    if bits is None or (bitpix and bits != int(bitpix)):
        return {
            "problem": f"unknown data type {int(datatype)} (bitpix {int(bitpix)}) in the header"
        }
    n_voxels = 1
    for d in shape:
        n_voxels *= d
    return {
        "shape": shape,
        "bits": bits,
        "offset": int(offset),
        "datatype": int(datatype),
        "byteorder": order,
        "n_bytes": int(offset) + (n_voxels * bits + 7) // 8,
    }


def _gzip_size(path: Path) -> tuple[int, bytes]:
    """Decompressed size and first bytes of a whole gzip file; raises on a truncated one."""
    total, head = 0, b""
    with open(path, "rb") as handle:
        engine = zlib.decompressobj(wbits=31)
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            while chunk:
                data = engine.decompress(chunk)
                total += len(data)
                if len(head) < 540:
                    head += data[: 540 - len(head)]
                if engine.eof:  # a further member may follow
                    chunk = engine.unused_data.lstrip(b"\x00")
                    if chunk:
                        engine = zlib.decompressobj(wbits=31)
                    continue
                chunk = b""
        if not engine.eof:
            raise EOFError("the compressed data end before the end of the stream")
    return total, head


def check_image_file(path: str | os.PathLike, what: str = "image") -> None:
    """Raise :class:`ExtractionError` when an image file is truncated or corrupt.

    Checks every ``.gz`` file for a complete stream and every NIfTI file for as many
    bytes as its header's dimensions and data type need. Other formats pass unchecked
    (SimpleITK checks their sizes itself).
    """
    path = Path(path)
    if path.is_dir():
        return
    compressed = path.name.lower().endswith(".gz")
    if compressed:
        with open(path, "rb") as handle:
            if handle.read(2) != b"\x1f\x8b":
                return  # not gzip data at all: SimpleITK refuses it with its own reason
        try:
            size, head = _gzip_size(path)
        except (EOFError, zlib.error, OSError) as exc:
            raise ExtractionError(
                f"the {what} file is truncated or its compressed data are corrupt",
                file=path,
                expected="a complete gzip stream",
                found=str(exc) or type(exc).__name__,
                hint="Copy or convert the image again",
            ) from None
    elif _is_nifti(path):
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(540)
    else:
        return
    if not _is_nifti(path):
        return
    header = nifti_header(head)
    if header is None or "problem" in header:
        return  # SimpleITK refuses it; header_problem() says why
    if size < header["n_bytes"]:
        raise ExtractionError(
            f"the {what} file is truncated",
            file=path,
            expected=f"{header['n_bytes']} bytes for {'x'.join(map(str, header['shape']))} "
            f"voxels of {header['bits']} bits",
            found=f"{size} bytes" + (" after decompression" if compressed else ""),
            hint="Copy or convert the image again",
        )


def nifti_nonfinite(path: str | os.PathLike) -> np.ndarray | None:
    """Where a floating-point NIfTI file holds NaN or infinite voxels, as stored in the file.

    SimpleITK's NIfTI reader turns NaN voxels into 0 silently, so they must be found in the
    file itself. Returns a boolean array in SimpleITK's array order (z, y, x), or ``None``
    when the file is not a floating-point NIfTI or every voxel is finite.
    """
    path = Path(path)
    if not _is_nifti(path) or path.is_dir():
        return None
    compressed = path.name.lower().endswith(".gz")
    try:
        with open(path, "rb") as handle:
            head = (
                zlib.decompressobj(wbits=31).decompress(handle.read(1 << 16))
                if compressed
                else handle.read(540)
            )
        header = nifti_header(head)
        if header is None or "problem" in header or header["datatype"] not in (16, 64):
            return None
        if compressed:
            with open(path, "rb") as handle:
                raw = zlib.decompress(handle.read(), wbits=31)
        else:
            raw = path.read_bytes()
    except (OSError, zlib.error):
        return None  # check_image_file reports unreadable files
    dtype = np.dtype(header["byteorder"] + ("f4" if header["datatype"] == 16 else "f8"))
    count = int(np.prod(header["shape"]))
    values = np.frombuffer(raw, dtype=dtype, count=count, offset=header["offset"])
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    shape = header["shape"][:3] + [1] * (3 - len(header["shape"][:3]))
    return bad[: int(np.prod(shape))].reshape(shape[::-1]).squeeze()


def header_problem(path: str | os.PathLike) -> str | None:
    """Why a NIfTI file's header is unusable, or ``None`` when it looks sound or is not NIfTI."""
    path = Path(path)
    if not _is_nifti(path) or path.is_dir():
        return None
    try:
        if path.name.lower().endswith(".gz"):
            with open(path, "rb") as handle:
                head = zlib.decompressobj(wbits=31).decompress(handle.read(1 << 16))
        else:
            with open(path, "rb") as handle:
                head = handle.read(540)
    except (OSError, zlib.error):
        return None  # not readable as NIfTI at all: the reader's own message says more
    if len(head) < 348:
        return f"the file holds {len(head)} header bytes, fewer than a NIfTI header's 348"
    header = nifti_header(head)
    return None if header is None else header.get("problem")
