"""Bad input is refused with a message naming where and what, never read into wrong numbers."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from helpers import run_cli

import radiogenomics as rg
from radiogenomics._files import atomic_path
from radiogenomics.errors import CohortError, InputError, OutputError, SchemaError
from radiogenomics.extract.case import extract_case

# --------------------------------------------------------------------------- tables


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


@pytest.mark.parametrize(
    "value, hint",
    [
        ("abc", "categorical=['age']"),
        (".", "means missing"),
        ("51,5", "decimal comma"),
    ],
)
def test_stray_text_in_a_numeric_clinical_column_is_an_error(tmp_path, value, hint):
    path = write(
        tmp_path / "clinical.csv", f'patient_id,age,os\nA,50,10\nB,"{value}",5\nC,60,3\nD,61,4\n'
    )
    with pytest.raises(SchemaError) as info:
        rg.io.read_clinical(path, time="os")
    text = str(info.value)
    assert "clinical.csv, line 3, column 'age'" in text
    assert "value is not a number" in text and hint in text


def test_a_column_of_labels_stays_categorical(tmp_path):
    path = write(tmp_path / "clinical.csv", "patient_id,stage,grade\nA,I,1\nB,II,X\nC,III,X\n")
    clinical = rg.io.read_clinical(path)
    assert isinstance(clinical["stage"].dtype, pd.CategoricalDtype)
    assert isinstance(clinical["grade"].dtype, pd.CategoricalDtype)  # mostly not numbers
    forced = rg.io.read_clinical(path, categorical=["grade"])
    assert list(forced["grade"]) == ["1", "X", "X"]


@pytest.mark.parametrize("column, time", [("os", "os"), ("age", None)])
def test_infinite_times_and_ages_are_refused(tmp_path, column, time):
    rows = {"os": ["10", "5", "3"], "age": ["50", "51", "52"]}
    rows[column][1] = "inf"
    text = "patient_id,age,os\n" + "".join(
        f"{p},{a},{o}\n" for p, a, o in zip("ABC", rows["age"], rows["os"])
    )
    path = write(tmp_path / "clinical.csv", text)
    with pytest.raises(SchemaError, match=rf"line 3, column '{column}': an infinite value"):
        rg.io.read_clinical(path, time=time)


def test_all_missing_event_column_is_refused(tmp_path):
    path = write(tmp_path / "clinical.csv", "patient_id,os,dead\nA,10,\nB,5,\nC,3,\n")
    with pytest.raises(SchemaError, match="column 'dead': the event column has no value at all"):
        rg.io.read_clinical(path, time="os", event="dead")


@pytest.mark.parametrize(
    "value, event_map", [("2", None), ("Unknown", {"Dead": 1, "Alive": 0}), ("0.5", None)]
)
def test_events_outside_the_coding_are_refused(tmp_path, value, event_map):
    first = "Dead" if event_map else "1"
    path = write(
        tmp_path / "clinical.csv", f"patient_id,os,dead\nA,10,{first}\nB,5,{value}\nC,3,{first}\n"
    )
    with pytest.raises(SchemaError, match="line 3, column 'dead': event value outside"):
        rg.io.read_clinical(path, time="os", event="dead", event_map=event_map)


def test_wide_clinical_table_reads_ids_as_strings(tmp_path):
    n = 3000  # wider than the threshold where string columns are parsed apart
    frame = pd.DataFrame(
        np.arange(2 * n, dtype=float).reshape(2, n), columns=[f"c{i}" for i in range(n)]
    )
    frame.insert(0, "patient_id", ["001", "002"])
    frame.to_csv(tmp_path / "wide.csv", index=False)
    clinical = rg.io.read_clinical(tmp_path / "wide.csv")
    assert list(clinical.index) == ["001", "002"]
    np.testing.assert_array_equal(clinical.to_numpy(), frame.drop(columns="patient_id").to_numpy())


def test_byte_order_mark_never_joins_a_name(tmp_path):
    path = write(tmp_path / "clinical.csv", "\ufeffpatient_id,age\nA,1\nB,2\n")
    assert list(rg.io.read_clinical(path, encoding="utf-8").columns) == ["age"]
    gmt = write(tmp_path / "sets.gmt", "\ufeffSET1\tdescription\tTP53\tEGFR\n")
    assert list(rg.io.read_gmt(gmt)) == ["SET1"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"SET1\tdescription\n", "at least 3 tab-separated fields"),
        (b"SET1\tdescription\t\t\n", "lists no gene"),
        (b"SET1\tdescription\tA\n\xff\xfeSET2\tx\tB\n", "not valid UTF-8"),
        (b"", "is empty"),
    ],
)
def test_bad_gene_set_files(tmp_path, content, message):
    path = tmp_path / "sets.gmt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        rg.io.read_gmt(path)
    assert "sets.gmt" in str(info.value)


def test_gene_set_path_that_is_a_folder(tmp_path):
    with pytest.raises(InputError, match="expected a file, found a folder"):
        rg.io.read_gmt(tmp_path)


def test_truncated_gzip_table(tmp_path):
    rows = "".join(f"P{i},{i}\n" for i in range(5000))
    data = gzip.compress(("patient_id,age\n" + rows).encode())
    (tmp_path / "clinical.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="clinical.csv.gz: the gz file is truncated or corrupt"):
        rg.io.read_clinical(tmp_path / "clinical.csv.gz")


def test_files_of_another_kind_under_a_table_name(tmp_path):
    with zipfile.ZipFile(tmp_path / "book.csv", "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(
        InputError, match="an Excel workbook .* not a text table.*Rename it to .xlsx"
    ):
        rg.io.read_clinical(tmp_path / "book.csv")
    write(tmp_path / "page.csv", "<!DOCTYPE html>\n<html><body>Sign in</body></html>\n")
    with pytest.raises(InputError, match="page.csv, line 1: the file is an HTML or XML page"):
        rg.io.read_clinical(tmp_path / "page.csv")
    (tmp_path / "blob.tsv").write_bytes(b"patient_id\tx\n\x00\x01\x02")
    with pytest.raises(InputError, match="binary data"):
        rg.io.read_expression(tmp_path / "blob.tsv")


def test_fractional_values_are_not_raw_counts(tmp_path):
    path = write(tmp_path / "rna.csv", "gene,A,B\nG1,10,2\nG2,3,4.5\n")
    with pytest.raises(
        SchemaError, match=r"line 3, column 'B': value is not a whole number.*counts=False"
    ):
        rg.io.read_expression(path, counts=True)
    assert rg.io.read_expression(path).shape == (2, 2)


@pytest.mark.parametrize("reader", ["manifest", "radiomics"])
def test_bar_in_patient_ids_is_refused(tmp_path, reader):
    if reader == "manifest":
        path = write(
            tmp_path / "manifest.csv", "patient_id,image,mask\nA,a.nii,m.nii\nB|1,b.nii,m.nii\n"
        )
        call = rg.io.read_manifest
    else:
        path = write(
            tmp_path / "features.csv",
            "patient_id,lesion_id,original_firstorder_Mean\nA,1,3.0\nA|1,2,4.0\n",
        )
        call = rg.io.read_radiomics
    with pytest.raises(SchemaError, match=r"line 3, column 'patient_id': the value contains '\|'"):
        call(path)


def test_build_cohort_refuses_infinite_values():
    good = ad.AnnData(
        np.ones((3, 2)),
        obs=pd.DataFrame(index=["A", "B", "C"]),
        var=pd.DataFrame(index=["f1", "f2"]),
    )
    bad = good.copy()
    bad.X[1, 1] = -np.inf
    with pytest.raises(
        CohortError, match=r"row 'B', column 'f2': modality 'protein' holds 1 infinite"
    ):
        rg.build_cohort({"radiomics": good, "protein": bad})
    sparse = good.copy()
    import scipy.sparse as sp

    sparse.X = sp.csr_matrix(bad.X)
    with pytest.raises(CohortError, match="infinite"):
        rg.build_cohort({"radiomics": good, "rna": sparse})


# --------------------------------------------------------------------------- images


@pytest.fixture
def volume(tmp_path):
    """A 3-D float image with a cubic ROI, written as NIfTI (compressed and plain)."""
    rng = np.random.default_rng(0)
    image = rng.normal(100, 10, (20, 30, 30)).astype(np.float32)
    mask = np.zeros(image.shape, np.uint8)
    mask[5:15, 8:22, 8:22] = 1
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "image.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "image.nii"))
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(tmp_path / "mask.nii.gz"))
    return tmp_path, image, mask


def run_case(image, mask, params="default"):
    return extract_case(
        0, {"image": str(image), "mask": str(mask), "label": 1}, rg.extract.resolve_params(params)
    )


def test_a_good_case_extracts(volume):
    folder, image, mask = volume
    result = run_case(folder / "image.nii.gz", folder / "mask.nii.gz")
    assert result.ok, result.error
    assert result.values["original_firstorder_Mean"] == pytest.approx(
        image[mask == 1].mean(), rel=1e-6
    )


@pytest.mark.parametrize("name", ["image.nii.gz", "image.nii"])
def test_truncated_nifti_is_a_failure(volume, name):
    folder, _, _ = volume
    raw = (folder / name).read_bytes()
    (folder / f"cut-{name}").write_bytes(raw[: len(raw) // 2])
    result = run_case(folder / f"cut-{name}", folder / "mask.nii.gz")
    assert not result.ok and result.stage == "read image"
    assert "truncated" in result.error


def test_nan_voxels_inside_the_roi_are_a_failure(volume):
    folder, image, mask = volume
    spoiled = image.copy()
    spoiled[10, 15, 15] = np.nan  # inside the ROI
    sitk.WriteImage(sitk.GetImageFromArray(spoiled), str(folder / "nan.nii.gz"))
    # SimpleITK reads NaN voxels of NIfTI files as 0: the check must look at the file itself
    assert not np.isnan(sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "nan.nii.gz")))).any()
    result = run_case(folder / "nan.nii.gz", folder / "mask.nii.gz")
    assert not result.ok and result.stage == "check ROI"
    assert "1 of the 1960 voxels inside the ROI are not numbers" in result.error
    sitk.WriteImage(sitk.GetImageFromArray(spoiled), str(folder / "nan.nrrd"))
    assert run_case(folder / "nan.nrrd", folder / "mask.nii.gz").stage == "check ROI"
    outside = image.copy()
    outside[0, 0, 0] = np.nan  # outside the ROI: harmless
    sitk.WriteImage(sitk.GetImageFromArray(outside), str(folder / "nan-out.nrrd"))
    assert run_case(folder / "nan-out.nrrd", folder / "mask.nii.gz").ok


def test_fractional_mask_is_a_failure(volume):
    folder, _, mask = volume
    sitk.WriteImage(
        sitk.GetImageFromArray(mask.astype(np.float32) * 0.5), str(folder / "half.nii.gz")
    )
    result = run_case(folder / "image.nii.gz", folder / "half.nii.gz")
    assert not result.ok and result.stage == "check mask"
    assert "non-integer values" in result.error and "0.5" in result.error


def test_four_dimensional_image_is_a_failure(volume):
    folder, image, _ = volume
    frames = sitk.JoinSeries([sitk.GetImageFromArray(image)] * 2)
    sitk.WriteImage(frames, str(folder / "4d.nii.gz"))
    result = run_case(folder / "4d.nii.gz", folder / "mask.nii.gz")
    assert not result.ok and result.stage == "read image"
    assert "the image is 4-D" in result.error


def test_corrupt_nifti_header_is_explained(volume):
    folder, _, _ = volume
    raw = bytearray((folder / "image.nii").read_bytes())
    raw[40:42] = (0).to_bytes(2, "little")  # dim[0] = 0
    (folder / "corrupt.nii").write_bytes(bytes(raw))
    result = run_case(folder / "corrupt.nii", folder / "mask.nii.gz")
    assert not result.ok and result.stage == "read image"
    assert "header is corrupt" in result.error and "dim[0] is 0" in result.error


def test_two_dimensional_image_is_extracted_in_plane(volume):
    folder, image, mask = volume
    sitk.WriteImage(sitk.GetImageFromArray(image[10]), str(folder / "slice.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(mask[10]), str(folder / "slice-mask.nii.gz"))
    result = run_case(folder / "slice.nii.gz", folder / "slice-mask.nii.gz")
    assert result.ok, result.error
    features = {k: v for k, v in result.values.items() if k.startswith("original_")}
    assert not any(np.isnan(v) for v in features.values())
    # pixel surface of a 14 x 14 square of 1 mm pixels
    assert features["original_shape2D_PixelSurface"] == pytest.approx(196.0)
    assert features["original_firstorder_Mean"] == pytest.approx(
        image[10][mask[10] == 1].mean(), rel=1e-6
    )
    assert not any(k.startswith("original_shape_") for k in features)


# --------------------------------------------------------------------------- writes


def test_failed_write_names_the_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(OutputError, match=r"table.csv: cannot write the file.*No space left"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise OSError(28, "No space left on device")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_temporaries_of_a_killed_writer_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "cohort.h5mu"
    script = (
        "import sys, time\n"
        "from radiogenomics._files import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_bytes(b'x' * 1000)\n"
        "    print(tmp, flush=True)\n"
        "    time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    left = Path(process.stdout.readline().strip())
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert left.exists() and left.parent == tmp_path and left.name.startswith(".cohort.h5mu.")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert not left.exists()
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.h5mu"]


def test_temporaries_of_a_live_writer_are_kept(tmp_path):
    target = tmp_path / "x.csv"
    live = tmp_path / f".x.csv.{os.getpid()}-abc.tmp"
    live.write_text("in flight")
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert live.exists()


# --------------------------------------------------------------------------- command line


def test_cli_validate_truncated_gzip_is_one_line(tmp_path):
    data = gzip.compress(b"patient_id,age\n" + b"".join(b"P%d,1\n" % i for i in range(5000)))
    (tmp_path / "clinical.csv.gz").write_bytes(data[:200])
    result = run_cli("validate", "clinical", str(tmp_path / "clinical.csv.gz"))
    assert result.returncode == 2, result.stderr
    assert "truncated or corrupt" in result.stderr
    assert "Traceback" not in result.stderr and "aborted" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_cli_disk_errors_are_one_line(monkeypatch, capsys):
    from radiogenomics import cli

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", "/data/results/cohort.h5mu")

    monkeypatch.setattr(cli.cli, "main", full)
    assert cli.main(["info", "x.h5mu"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: /data/results/cohort.h5mu: No space left on device"


# --------------------------------------------------------------------------- fuzzing

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from radiogenomics.errors import RadiogenomicsError  # noqa: E402

_CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "NA",
            "nan",
            "inf",
            "-inf",
            "1e309",
            ".",
            "abc",
            "51,5",
            "0",
            "1",
            "-3",
            "2.5",
            "001",
            "A|B",
            "\ufeff",
            '"',
            "\t",
            "TRUE",
            "Dead",
            "1e-300",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


_VALID = {  # a small valid table per reader; the fuzzer spoils one thing in it
    "clinical": "patient_id,age,stage,os,dead\n001,50,I,10.5,1\n002,61,II,3,0\n003,70,I,8,1\n",
    "expression": "gene,001,002,003\nTP53,10,0,7\nEGFR,3,4,5\nKRAS,1,1,2\n",
    "proteomics": "protein,001,002,003\nP1,1.5,,0.2\nP2,-0.3,2.0,1.1\n",
    "radiomics": (
        "patient_id,original_firstorder_Mean,original_shape_VoxelVolume\n"
        "001,3.5,120\n002,4.0,98\n003,2.5,300\n"
    ),
    "manifest": "patient_id,image,mask,label\n001,a.nii.gz,m.nii.gz,1\n002,b.nii.gz,n.nii.gz,2\n",
    "mutations": (
        "Tumor_Sample_Barcode,Hugo_Symbol,Variant_Classification\n"
        "001,TP53,Missense_Mutation\n002,EGFR,Silent\n003,KRAS,Nonsense_Mutation\n"
    ),
    "gmt": "SET1\tdescription\tTP53\tEGFR\nSET2\tother\tKRAS\n",
}


@st.composite
def _spoiled(draw, kind: str):
    text = _VALID[kind]
    sep = "\t" if kind == "gmt" else ","
    lines = [line.split(sep) for line in text.splitlines()]
    how = draw(
        st.sampled_from(
            [
                "cell",
                "cell",
                "cell",
                "header",
                "drop_cell",
                "extra_cell",
                "duplicate_row",
                "truncate",
                "bom",
                "separator",
                "blank",
            ]
        )
    )
    if how in ("cell", "header", "drop_cell", "extra_cell", "duplicate_row"):
        i = 0 if how == "header" else draw(st.integers(1, len(lines) - 1))
        j = draw(st.integers(0, len(lines[i]) - 1))
        if how in ("cell", "header"):
            lines[i][j] = draw(_CELLS)
        elif how == "drop_cell":
            del lines[i][j]
        elif how == "extra_cell":
            lines[i].insert(j, draw(_CELLS))
        else:
            lines.insert(i, list(lines[i]))
    raw = ("\n".join(sep.join(line) for line in lines) + "\n").encode("utf-8", "surrogatepass")
    if how == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif how == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif how == "separator":
        raw = raw.replace(sep.encode(), draw(st.sampled_from([b";", b"|", b" "])))
    elif how == "blank":
        raw = raw.replace(b"\n", b"\n\n", 1)
    return raw


_READERS = {
    "clinical": lambda p: rg.io.read_clinical(p, time="os", event="dead"),
    "expression": lambda p: rg.io.read_expression(p, counts=True),
    "proteomics": rg.io.read_proteomics,
    "radiomics": rg.io.read_radiomics,
    "manifest": rg.io.read_manifest,
    "mutations": rg.io.read_mutations,
    "gmt": rg.io.read_gmt,
}


@st.composite
def _cases(draw):
    kind = draw(st.sampled_from(sorted(_READERS)))
    return kind, draw(_spoiled(kind))


@settings(
    max_examples=int(os.environ.get("RADIOGENOMICS_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=_cases())
def test_readers_raise_only_their_own_errors_on_malformed_tables(tmp_path, case):
    reader, content = case
    path = tmp_path / ("table.gmt" if reader == "gmt" else "table.csv")
    path.write_bytes(content)
    try:
        result = _READERS[reader](path)
    except RadiogenomicsError as exc:
        assert "table." in str(exc)  # the message names the file
        return
    # what was read holds no infinite value and keeps IDs as strings
    if isinstance(result, pd.DataFrame):
        numbers = result.select_dtypes("number").to_numpy(dtype=float, na_value=np.nan)
        assert not np.isinf(numbers).any()
        ids = result["patient_id"] if "patient_id" in result else result.index
        assert all(isinstance(i, str) for i in ids)
    elif isinstance(result, ad.AnnData):
        assert not np.isinf(np.asarray(result.X, dtype=float)).any()
        assert all(isinstance(i, str) for i in result.obs_names)
