"""Benchmark: DICOM in (scan, series, RTSTRUCT) against reading the NIfTI conversion.

Measured in one run on the shared soft-tissue sarcoma cases (``../shared/data/dicom/sts``:
3 patients x CT, MR T1 and PET, an RTSTRUCT on each), with the ``default`` pyradiomics
settings (``--params`` for another preset):

- ``rg.io.scan_dicom`` over the whole tree (headers of every file, pairing);
- per case, the conversion: ``rg.io.read_dicom_series`` + ``rg.io.read_rtstruct``, beside
  SimpleITK's own GDCM series reader (the usual alternative, which reads no RTSTRUCT) and
  beside reading the NIfTI image and mask (``SimpleITK.ReadImage``, the files a user would
  otherwise have converted beforehand);
- per case, the pyradiomics extraction itself (``execute`` on the images in memory);
- ``rg.extract.features`` end to end on the scanned manifest against the NIfTI manifest.

Goal (issue 13): the conversion overhead (DICOM conversion minus NIfTI reading) below 10 %
of the pyradiomics time of the case. Wall times, best of ``--repeat``; the machine may be
shared. Only STS_001 ships a NIfTI image; for the other patients the NIfTI image is written
from the series before timing (the masks are the independent NIfTI masks).

Run ``python benchmarks/bench_dicom.py`` (``--quick``: one patient).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import radiogenomics as rg  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom" / "sts"
MODALITIES = ("CT", "MR_T1", "PET")


def best(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one patient, one repeat")
    parser.add_argument(
        "--params",
        default="default",
        help="pyradiomics preset or parameter file (default: default)",
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data at {args.data}")
    import SimpleITK as sitk
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    patients = ["STS_002"] if args.quick else ["STS_001", "STS_002", "STS_003"]
    repeat = 1 if args.quick else args.repeat
    params = rg.extract.resolve_params(args.params)
    extractor = featureextractor.RadiomicsFeatureExtractor(params)

    seconds, scan = best(lambda: rg.io.scan_dicom(args.data / "dicom"), repeat)
    print(f"scan_dicom over {args.data / 'dicom'}: {seconds:.3f} s, {len(scan.manifest)} rows")

    rows, nifti_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for patient in patients:
            for modality in MODALITIES:
                folder = args.data / "dicom" / patient / modality
                image_path = args.data / "nifti" / patient / f"{modality}_image.nii.gz"
                mask_path = args.data / "nifti" / patient / f"{modality}_mask.nii.gz"
                if not image_path.exists():
                    image_path = Path(tmp) / f"{patient}_{modality}_image.nii.gz"
                    sitk.WriteImage(rg.io.read_dicom_series(folder / "image"), str(image_path))

                def convert(folder=folder):
                    image = rg.io.read_dicom_series(folder / "image")
                    return image, rg.io.read_rtstruct(folder / "mask" / "RS.dcm", image)

                def gdcm(folder=folder):
                    reader = sitk.ImageSeriesReader()
                    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder / "image")))
                    return reader.Execute()

                def nifti(image_path=image_path, mask_path=mask_path):
                    return sitk.ReadImage(str(image_path)), sitk.ReadImage(str(mask_path))

                t_convert, (image, mask) = best(convert, repeat)
                t_gdcm, _ = best(gdcm, repeat)
                t_nifti, _ = best(nifti, repeat)
                t_extract, _ = best(
                    lambda image=image, mask=mask: extractor.execute(image, mask), 1
                )
                overhead = t_convert - t_nifti
                rows.append(
                    {
                        "case": f"{patient} {modality}",
                        "voxels": image.GetNumberOfPixels(),
                        "convert_s": t_convert,
                        "gdcm_series_only_s": t_gdcm,
                        "nifti_read_s": t_nifti,
                        "pyradiomics_s": t_extract,
                        "overhead_pct": 100 * overhead / t_extract,
                    }
                )
                nifti_rows.append(
                    {
                        "patient_id": patient,
                        "lesion_id": modality,
                        "image": str(image_path),
                        "mask": str(mask_path),
                    }
                )
        table = pd.DataFrame(rows)
        with pd.option_context("display.width", 140, "display.float_format", "{:.3f}".format):
            print(table.to_string(index=False))
        print(
            f"conversion overhead: median {table['overhead_pct'].median():.1f} %, worst "
            f"{table['overhead_pct'].max():.1f} % of the pyradiomics time (goal < 10 %)"
        )

        manifest = scan.manifest[scan.manifest["patient_id"].isin(patients)]
        t_dicom, _ = best(lambda: rg.extract.features(manifest, params=params), 1)
        t_nifti_all, _ = best(
            lambda: rg.extract.features(pd.DataFrame(nifti_rows), params=params), 1
        )
        print(
            f"extract.features, {len(manifest)} cases, 1 process: DICOM + RTSTRUCT "
            f"{t_dicom:.2f} s, NIfTI {t_nifti_all:.2f} s "
            f"({100 * (t_dicom - t_nifti_all) / t_nifti_all:+.1f} %)"
        )


if __name__ == "__main__":
    main()
