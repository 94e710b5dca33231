"""DICOM in: series, RTSTRUCT and SEG readers against independent references."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_support import square, write_rtstruct, write_series
from helpers import SHARED_DATA

from radiogenomics.errors import InputError
from radiogenomics.io import conversion_report, read_dicom_series, read_rtstruct, read_seg

STS = SHARED_DATA / "dicom" / "sts"
PATIENTS = ("STS_001", "STS_002", "STS_003")
MODALITIES = ("CT", "MR_T1", "PET")
needs_sts = pytest.mark.skipif(not STS.is_dir(), reason=f"shared DICOM data absent: {STS}")


def _array(image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


# ----------------------------------------------------------------- shared STS patients


@needs_sts
@pytest.mark.parametrize("patient", PATIENTS)
@pytest.mark.parametrize("modality", MODALITIES)
def test_rtstruct_matches_independent_mask(patient, modality):
    folder = STS / "dicom" / patient / modality
    series = read_dicom_series(folder / "image")
    mask = read_rtstruct(folder / "mask" / "RS.dcm", series)
    reference = sitk.ReadImage(str(STS / "nifti" / patient / f"{modality}_mask.nii.gz"))
    assert mask.GetSize() == reference.GetSize()
    np.testing.assert_allclose(mask.GetOrigin(), reference.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(mask.GetSpacing(), reference.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(mask.GetDirection(), reference.GetDirection(), atol=1e-6)
    assert dice(_array(mask), _array(reference)) >= 0.99
    report = conversion_report(mask)
    assert report["roi"] == f"GTV_Mass_{modality}"
    assert report["n_voxels"] == int(_array(mask).sum())
    assert report["volume_mm3"] == pytest.approx(
        report["n_voxels"] * np.prod(reference.GetSpacing()), rel=1e-5
    )
    # none of the contours' image references are in the series: a warning, not a failure
    assert any("stale references" in w for w in report["warnings"])


@needs_sts
@pytest.mark.parametrize("modality", MODALITIES)
def test_series_equals_nifti_conversion(modality):
    image = read_dicom_series(STS / "dicom" / "STS_001" / modality / "image")
    reference = sitk.ReadImage(str(STS / "nifti" / "STS_001" / f"{modality}_image.nii.gz"))
    assert image.GetSize() == reference.GetSize()
    np.testing.assert_allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(
        _array(image).astype(float), _array(reference).astype(float), rtol=1e-6, atol=1e-6
    )
    if modality == "PET":
        assert conversion_report(image)["units"] == "GML"


@needs_sts
def test_series_sorted_by_position_not_file_name(tmp_path):
    source = STS / "dicom" / "STS_002" / "PET" / "image"
    files = sorted(source.glob("*.dcm"))
    rng = np.random.default_rng(3)
    for file, name in zip(files, rng.permutation(len(files))):
        shutil.copy(file, tmp_path / f"{name:04x}")  # hashed-looking names, no suffix
    np.testing.assert_array_equal(
        _array(read_dicom_series(tmp_path)), _array(read_dicom_series(source))
    )


def _rewrite_pet(source, target, **changes):
    target.mkdir()
    for file in sorted(source.glob("*.dcm")):
        ds = pydicom.dcmread(file)
        for keyword, value in changes.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            elif keyword.startswith("radio_"):
                info = ds.RadiopharmaceuticalInformationSequence[0]
                if value == "delete":
                    delattr(info, keyword[6:])
                else:
                    setattr(info, keyword[6:], value)
            else:
                setattr(ds, keyword, value)
        ds.save_as(target / file.name)
    return target


_KNOWN = {
    "Units": "BQML",
    "DecayCorrection": "START",
    "PatientWeight": 70.0,
    "SeriesDate": "20240102",
    "SeriesTime": "113000",
    "radio_RadionuclideTotalDose": 3.7e8,
    "radio_RadionuclideHalfLife": 6586.2,
    "radio_RadiopharmaceuticalStartTime": "100000",
    "radio_RadiopharmaceuticalStartDateTime": "delete",
}


@needs_sts
@pytest.mark.parametrize("start", ["delete", "20240102100000.00"])
def test_pet_bqml_to_suv_against_hand_computation(tmp_path, start):
    source = STS / "dicom" / "STS_002" / "PET" / "image"
    folder = _rewrite_pet(
        source, tmp_path / "bqml", **{**_KNOWN, "radio_RadiopharmaceuticalStartDateTime": start}
    )
    stored = read_dicom_series(source)  # the same stored values, read as GML
    # by hand: 70 kg = 70000 g; dose 3.7e8 Bq decays over 1 h 30 min = 5400 s with a
    # half-life of 6586.2 s: 3.7e8 * 2 ** (-0.81989) = 3.7e8 * 0.56648 = 2.0960e8 Bq
    decayed = 3.7e8 * 0.5 ** (5400 / 6586.2)
    assert decayed == pytest.approx(2.0960e8, rel=1e-4)
    expected = _array(stored).astype(float) * 70000.0 / decayed
    image = read_dicom_series(folder)
    np.testing.assert_allclose(_array(image), expected, rtol=1e-6, atol=1e-9)
    report = conversion_report(image)
    assert report["units"] == "SUVbw (from BQML)"
    assert any("BQML" in w for w in report["warnings"])


@needs_sts
def test_pet_admin_decay_correction_needs_no_decay(tmp_path):
    source = STS / "dicom" / "STS_002" / "PET" / "image"
    folder = _rewrite_pet(source, tmp_path / "admin", **{**_KNOWN, "DecayCorrection": "ADMIN"})
    expected = _array(read_dicom_series(source)).astype(float) * 70000.0 / 3.7e8
    np.testing.assert_allclose(_array(read_dicom_series(folder)), expected, rtol=1e-6)


@needs_sts
@pytest.mark.parametrize(
    ("change", "tag"),
    [
        ({"PatientWeight": None}, "PatientWeight (0010,1030)"),
        ({"radio_RadionuclideTotalDose": "delete"}, "RadionuclideTotalDose (0018,1074)"),
        ({"radio_RadionuclideHalfLife": "delete"}, "RadionuclideHalfLife (0018,1075)"),
        ({"radio_RadiopharmaceuticalStartTime": "delete"}, "RadiopharmaceuticalStartTime"),
        ({"DecayCorrection": None}, "DecayCorrection (0054,1102)"),
        ({"SeriesTime": None}, "SeriesTime (0008,0031)"),
    ],
)
def test_pet_missing_tag_is_refused_by_name(tmp_path, change, tag):
    source = STS / "dicom" / "STS_002" / "PET" / "image"
    folder = _rewrite_pet(source, tmp_path / "bad", **{**_KNOWN, **change})
    with pytest.raises(InputError, match="cannot be converted to SUV") as info:
        read_dicom_series(folder)
    assert tag in str(info.value)


@needs_sts
def test_pet_unknown_units_refused(tmp_path):
    source = STS / "dicom" / "STS_002" / "PET" / "image"
    folder = _rewrite_pet(source, tmp_path / "cnts", Units="CNTS")
    with pytest.raises(InputError, match=r"Units \(0054,1001\).*found 'CNTS'"):
        read_dicom_series(folder)


# ----------------------------------------------------------------- synthetic series


def _cube(n=4, rows=6, columns=5):
    return np.arange(n * rows * columns, dtype=np.int16).reshape(n, rows, columns)


def test_series_geometry_and_rescale(tmp_path):
    array = _cube()
    write_series(
        tmp_path,
        array,
        spacing=(0.5, 0.8),
        origin=(10.0, -5.0, 100.0),
        slope=2.0,
        intercept=-1024.0,
        names=[f"z{9 - k}.dcm" for k in range(4)],
    )
    image = read_dicom_series(tmp_path)
    assert image.GetSize() == (5, 6, 4)
    np.testing.assert_allclose(image.GetSpacing(), (0.8, 0.5, 2.0))  # x = column spacing
    np.testing.assert_allclose(image.GetOrigin(), (10.0, -5.0, 100.0))
    np.testing.assert_array_equal(_array(image), array * 2 - 1024)


def test_series_oblique_orientation(tmp_path):
    angle = np.deg2rad(30)
    row = (np.cos(angle), np.sin(angle), 0.0)
    column = (0.0, 0.0, -1.0)
    normal = np.cross(row, column)
    positions = [np.array([1.0, 2.0, 3.0]) + 3.0 * k * normal for k in range(4)][::-1]
    array = _cube()[::-1]
    write_series(tmp_path, array, orientation=(*row, *column), positions=positions)
    image = read_dicom_series(tmp_path)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(direction[:, 2], normal, atol=1e-9)
    np.testing.assert_allclose(image.GetOrigin(), positions[-1], atol=1e-9)
    np.testing.assert_array_equal(_array(image), array[::-1])
    np.testing.assert_allclose(image.GetSpacing()[2], 3.0)


def _positions(z):
    return [(0.0, 0.0, float(v)) for v in z]


@pytest.mark.parametrize(
    ("positions", "message"),
    [
        (_positions([0, 2, 4, 8]), r"1 missing slice\(s\).*4.00 to 8.00 mm"),
        (_positions([0, 2, 4.5, 6]), "slice spacing of the series is uneven"),
        (_positions([0, 2, 2, 4]), "same position"),
        ([(0, 0, 0), (0, 0, 2), (0, 3, 4), (0, 0, 6)], "not stacked along their normal"),
    ],
)
def test_series_bad_positions(tmp_path, positions, message):
    write_series(tmp_path, _cube(), positions=positions)
    with pytest.raises(InputError, match=message) as info:
        read_dicom_series(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_series_mixed_orientations(tmp_path):
    orientations = [(1, 0, 0, 0, 1, 0)] * 3 + [(0, 1, 0, 0, 0, -1)]
    write_series(tmp_path, _cube(), orientations=orientations)
    with pytest.raises(InputError, match="mixes slice orientations.*2 orientations"):
        read_dicom_series(tmp_path)


def test_several_series_need_series_uid(tmp_path):
    write_series(tmp_path, _cube(), series_uid="1.2.3.1", names=[f"a{k}" for k in range(4)])
    write_series(
        tmp_path,
        _cube(3),
        series_uid="1.2.3.2",
        modality="PT",
        names=[f"b{k}" for k in range(3)],
        extra={"Units": "GML"},
    )
    with pytest.raises(InputError, match=r"holds 2 DICOM series.*1\.2\.3\.1 \(CT, 4 files"):
        read_dicom_series(tmp_path)
    assert read_dicom_series(tmp_path, series_uid="1.2.3.2").GetSize()[2] == 3
    with pytest.raises(InputError, match="SeriesInstanceUID 9.9"):
        read_dicom_series(tmp_path, series_uid="9.9")


def test_folder_without_series(tmp_path):
    (tmp_path / "notes.txt").write_text("not DICOM")
    with pytest.raises(InputError, match="holds no DICOM image series.*1 unreadable"):
        read_dicom_series(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        read_dicom_series(tmp_path / "absent")


# ----------------------------------------------------------------- synthetic RTSTRUCT


@pytest.fixture
def series_folder(tmp_path):
    folder = tmp_path / "series"
    # 20 x 20 voxels of 1 mm, slices at z = 0, 2, 4, 6, 8
    write_series(folder, np.zeros((5, 20, 20), np.int16), spacing=(1.0, 1.0))
    return folder


def test_rtstruct_hole_by_xor(series_folder, tmp_path):
    outer, inner = square(1.6, 15.4, 2.6, 12.4, 4.0), square(5.5, 9.5, 5.5, 8.5, 4.0)
    path = write_rtstruct(tmp_path / "rs.dcm", series_folder, {"GTV": [outer, inner]})
    mask = read_rtstruct(path, series_folder)
    expected = np.zeros((5, 20, 20), bool)
    expected[2, 3:13, 2:16] = True  # voxel centres 2..15 in x, 3..12 in y
    expected[2, 6:9, 6:10] = False  # the hole: centres 6..9 in x, 6..8 in y
    np.testing.assert_array_equal(_array(mask).astype(bool), expected)
    report = conversion_report(mask)
    assert (report["n_contours"], report["n_slices"], report["n_holes"]) == (2, 1, 1)
    assert report["n_voxels"] == expected.sum() == 128
    assert report["volume_mm3"] == pytest.approx(128 * 2.0)


def test_rtstruct_triangle_against_point_in_polygon(series_folder, tmp_path):
    triangle = np.array([[0.3, 0.2, 6.0], [17.7, 4.1, 6.0], [6.2, 18.9, 6.0]])
    path = write_rtstruct(tmp_path / "rs.dcm", series_folder, {"T": [triangle]})
    got = _array(read_rtstruct(path, series_folder))[3].astype(bool)
    # reference: barycentric sign test on every voxel centre
    y, x = np.mgrid[0:20, 0:20].astype(float)
    (ax, ay), (bx, by), (cx, cy) = triangle[:, :2]

    def side(px, py, qx, qy):
        return (qx - px) * (y - py) - (qy - py) * (x - px)

    s1, s2, s3 = side(ax, ay, bx, by), side(bx, by, cx, cy), side(cx, cy, ax, ay)
    inside = ((s1 > 0) & (s2 > 0) & (s3 > 0)) | ((s1 < 0) & (s2 < 0) & (s3 < 0))
    np.testing.assert_array_equal(got, inside)


def test_rtstruct_roi_choice(series_folder, tmp_path):
    rois = {
        "GTV_primary": [square(2, 8, 2, 8, 2.0)],
        "GTV_node": [square(9.5, 14.5, 9.5, 14.5, 2.0)],
        "Body": [square(0, 19, 0, 19, 2.0)],
    }
    path = write_rtstruct(tmp_path / "rs.dcm", series_folder, rois)
    with pytest.raises(InputError, match="holds 3 ROIs.*'GTV_primary', 'GTV_node', 'Body'"):
        read_rtstruct(path, series_folder)
    with pytest.raises(InputError, match="no ROI 'PTV'.*'GTV_primary', 'GTV_node', 'Body'"):
        read_rtstruct(path, series_folder, roi="PTV")
    with pytest.raises(InputError, match="several ROIs match 'GTV.*'"):
        read_rtstruct(path, series_folder, roi="GTV.*")
    node = read_rtstruct(path, series_folder, roi="GTV_n.*")
    assert conversion_report(node)["roi"] == "GTV_node"
    assert _array(node).sum() == 5 * 5  # centres 10..14
    assert conversion_report(read_rtstruct(path, series_folder, roi="Body"))["roi"] == "Body"


@pytest.mark.parametrize(
    ("contour", "message"),
    [
        (square(-3, 8, 2, 8, 2.0), r"lies outside the image.*x -3\.0"),
        (square(2, 8, 2, 8, 16.0), r"lies outside the image.*z 8"),
        (square(2, 8, 2, 8, 3.0), "does not lie on a slice of the series"),
        (square(2, 8, 2, 8, 2.0)[:2], "fewer than three points.*2 point"),
        (square(2.1, 2.4, 2.1, 2.4, 2.0), "empty mask"),
    ],
)
def test_rtstruct_bad_contours(series_folder, tmp_path, contour, message):
    path = write_rtstruct(tmp_path / "rs.dcm", series_folder, {"GTV": [contour]})
    with pytest.raises(InputError, match=message) as info:
        read_rtstruct(path, series_folder)
    assert "rs.dcm" in str(info.value)


def test_rtstruct_other_frame_of_reference(series_folder, tmp_path):
    path = write_rtstruct(
        tmp_path / "rs.dcm", series_folder, {"GTV": [square(2, 8, 2, 8, 2)]}, frame_uid="1.2.3.4.5"
    )
    with pytest.raises(InputError, match="another frame of reference.*found '?1.2.3.4.5"):
        read_rtstruct(path, series_folder)


def test_rtstruct_open_contour_refused(series_folder, tmp_path):
    path = write_rtstruct(
        tmp_path / "rs.dcm",
        series_folder,
        {"GTV": [square(2, 8, 2, 8, 2)]},
        contour_type="OPEN_PLANAR",
    )
    with pytest.raises(InputError, match="not a closed polygon.*OPEN_PLANAR"):
        read_rtstruct(path, series_folder)


def test_rtstruct_not_an_rtstruct(series_folder):
    with pytest.raises(InputError, match="not an RTSTRUCT.*found 'CT'"):
        read_rtstruct(sorted(series_folder.glob("*.dcm"))[0], series_folder)


# ----------------------------------------------------------------- SEG


def _write_seg(path, sources, masks, labels, *, fractional=False):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    descriptions = [
        hd.seg.SegmentDescription(
            i + 1,
            label,
            codes.SCT.MorphologicallyAbnormalStructure,
            codes.SCT.Neoplasm,
            hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for i, label in enumerate(labels)
    ]
    pixels = np.stack(masks, axis=-1)
    kind = (
        hd.seg.SegmentationTypeValues.FRACTIONAL
        if fractional
        else hd.seg.SegmentationTypeValues.BINARY
    )
    pixels = pixels.astype(np.float32 if fractional else np.uint8)
    seg = hd.seg.Segmentation(
        sources,
        pixels,
        kind,
        descriptions,
        hd.UID(),
        1,
        hd.UID(),
        1,
        "radiogenomics",
        "tests",
        "1",
        "0",
    )
    seg.save_as(path)
    return path


def _sorted_sources(folder):
    sources = [pydicom.dcmread(f) for f in sorted(folder.iterdir())]
    normal = np.cross(
        np.asarray(sources[0].ImageOrientationPatient[:3], float),
        np.asarray(sources[0].ImageOrientationPatient[3:], float),
    )
    return sorted(
        sources, key=lambda s: float(np.dot(np.asarray(s.ImagePositionPatient, float), normal))
    )


@needs_sts
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_seg_two_segments_read_back_exactly(tmp_path):
    from scipy import ndimage

    folder = STS / "dicom" / "STS_002" / "PET" / "image"
    tumour = _array(sitk.ReadImage(str(STS / "nifti" / "STS_002" / "PET_mask.nii.gz"))) > 0
    ring = ndimage.binary_dilation(tumour, iterations=2) & ~tumour  # overlaps nothing
    path = _write_seg(
        tmp_path / "seg.dcm", _sorted_sources(folder), [tumour, ring], ["tumour", "ring"]
    )
    series = read_dicom_series(folder)
    for segment, expected in (("tumour", tumour), ("ring", ring), (2, ring), ("r.n.", ring)):
        mask = read_seg(path, series, segment)
        np.testing.assert_array_equal(_array(mask).astype(bool), expected)
        assert mask.GetSize() == series.GetSize()
        np.testing.assert_allclose(mask.GetOrigin(), series.GetOrigin())
        report = conversion_report(mask)
        assert report["n_voxels"] == expected.sum() and report["warnings"] == []
    with pytest.raises(InputError, match="holds 2 segments.*1 'tumour', 2 'ring'"):
        read_seg(path, folder)
    with pytest.raises(InputError, match="no segment 'node'.*1 'tumour', 2 'ring'"):
        read_seg(path, folder, "node")
    with pytest.raises(InputError, match="no segment number 7"):
        read_seg(path, folder, 7)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_seg_fractional_and_overlapping(series_folder, tmp_path):
    shape = (5, 20, 20)
    first = np.zeros(shape, np.float32)
    first[1:4, 2:10, 3:12] = 0.8
    first[2, 4, 5] = 0.3  # below one half: left out
    second = np.zeros(shape, np.float32)
    second[2:5, 5:15, 5:15] = 1.0  # overlaps the first
    path = _write_seg(
        tmp_path / "seg.dcm",
        _sorted_sources(series_folder),
        [first, second],
        ["a", "b"],
        fractional=True,
    )
    got = _array(read_seg(path, series_folder, "a")).astype(bool)
    np.testing.assert_array_equal(got, first >= 0.5)
    assert "thresholded" in conversion_report(read_seg(path, series_folder, 1))["warnings"][0]
    np.testing.assert_array_equal(
        _array(read_seg(path, series_folder, "b")).astype(bool), second >= 0.5
    )


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_seg_other_frame_of_reference(series_folder, tmp_path):
    sources = _sorted_sources(series_folder)
    for ds in sources:
        ds.FrameOfReferenceUID = "1.2.3.9"
    masks = [np.ones((5, 20, 20), np.uint8)]
    path = _write_seg(tmp_path / "seg.dcm", sources, masks, ["a"])
    with pytest.raises(InputError, match="another frame of reference.*1.2.3.9"):
        read_seg(path, series_folder)
