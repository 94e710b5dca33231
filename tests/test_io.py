"""Readers: valid inputs in every format and orientation, and every bad input with its message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import radiogenomics as rg
from radiogenomics.errors import InputError, SchemaError

# --------------------------------------------------------------------------- helpers


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


PYRADIOMICS_CSV = (
    "Image,Mask,ID,diagnostics_Versions_PyRadiomics,diagnostics_Configuration_Settings,"
    "diagnostics_Image-original_Hash,original_shape_VoxelVolume,original_firstorder_Mean,"
    "wavelet-LLH_glcm_Contrast,log-sigma-2-0-mm-3D_firstorder_Mean\n"
    "img/p1.nrrd,img/p1_label.nrrd,001,v3.1.4,\"{'binWidth': 25}\",abc,1200.5,101.2,3.5,7.25\n"
    "img/p2.nrrd,img/p2_label.nrrd,002,v3.1.4,\"{'binWidth': 25}\",def,800.0,99.1,2.5,6.5\n"
    "img/p3.nrrd,img/p3_label.nrrd,010,v3.1.4,\"{'binWidth': 25}\",ghi,950.0,120.0,4.0,8.0\n"
)


# --------------------------------------------------------------------------- radiomics


def test_pyradiomics_batch_csv(tmp_path):
    adata = rg.io.read_radiomics(write(tmp_path / "batch.csv", PYRADIOMICS_CSV))
    assert list(adata.obs_names) == ["001", "002", "010"]  # IDs stay strings
    assert adata.shape == (3, 4)
    var = adata.var
    assert var.loc["original_shape_VoxelVolume", "feature_class"] == "shape"
    assert var.loc["wavelet-LLH_glcm_Contrast", "image_type"] == "wavelet-LLH"
    assert var.loc["log-sigma-2-0-mm-3D_firstorder_Mean", "image_type"] == "log-sigma-2-0-mm-3D"
    assert var.loc["log-sigma-2-0-mm-3D_firstorder_Mean", "feature"] == "Mean"
    # constant diagnostics go to uns, per-case ones to obs, input columns to obs
    diagnostics = adata.uns["radiogenomics"]["diagnostics"]
    assert diagnostics["diagnostics_Versions_PyRadiomics"] == "v3.1.4"
    assert "diagnostics_Image-original_Hash" in adata.obs
    assert list(adata.obs["Image"]) == ["img/p1.nrrd", "img/p2.nrrd", "img/p3.nrrd"]
    np.testing.assert_allclose(
        adata[:, "original_shape_VoxelVolume"].X.ravel(), [1200.5, 800.0, 950.0]
    )


def test_radiomics_formats_agree(tmp_path):
    csv = rg.io.read_radiomics(write(tmp_path / "batch.csv", PYRADIOMICS_CSV))
    frame = pd.read_csv(tmp_path / "batch.csv", dtype={"ID": str})
    frame.to_csv(tmp_path / "batch.tsv", sep="\t", index=False)
    frame.to_parquet(tmp_path / "batch.parquet")
    for name in ("batch.tsv", "batch.parquet"):
        other = rg.io.read_radiomics(tmp_path / name)
        assert list(other.obs_names) == list(csv.obs_names)
        np.testing.assert_array_equal(other.X, csv.X)


def test_plain_wide_table_and_lesions(tmp_path):
    path = write(
        tmp_path / "wide.csv",
        "patient_id,lesion_id,volume,mean_intensity\nP1,a,10,1.5\nP1,b,20,2.5\nP2,a,5,3\n",
    )
    adata = rg.io.read_radiomics(path)
    assert list(adata.obs_names) == ["P1|a", "P1|b", "P2|a"]
    assert list(adata.obs["patient_id"]) == ["P1", "P1", "P2"]
    assert adata.var.loc["volume", "image_type"] == "unknown"


def test_radiomics_missing_id_column(tmp_path):
    path = write(tmp_path / "noid.csv", "Image,Mask,original_shape_VoxelVolume\na,b,1\n")
    with pytest.raises(SchemaError, match=r"noid\.csv: the required column 'patient_id'.*missing"):
        rg.io.read_radiomics(path)


def test_radiomics_duplicate_patient(tmp_path):
    path = write(tmp_path / "dup.csv", "ID,f1\nP1,1\nP2,2\nP1,3\n")
    with pytest.raises(SchemaError) as info:
        rg.io.read_radiomics(path)
    message = str(info.value)
    assert "dup.csv" in message and "line 4" in message
    assert "duplicate ID 'P1' (at 2, 4)" in message


def test_radiomics_non_numeric_value(tmp_path):
    path = write(tmp_path / "bad.csv", "ID,f1,f2\nP1,1,2\nP2,1.5,abc\n")
    with pytest.raises(SchemaError) as info:
        rg.io.read_radiomics(path)
    assert str(info.value).startswith("")
    assert "bad.csv, line 3, column 'f2': a value in a numeric matrix is not a number" in str(
        info.value
    )
    assert "found 'abc'" in str(info.value)


def test_radiomics_infinite_value(tmp_path):
    path = write(tmp_path / "inf.csv", "ID,f1,f2\nP1,1,inf\nP2,1.5,2\n")
    with pytest.raises(SchemaError, match=r"inf\.csv, line 2, column 'f2': an infinite value"):
        rg.io.read_radiomics(path)


def test_radiomics_all_nan_feature(tmp_path):
    path = write(tmp_path / "nan.csv", "ID,f1,f2\nP1,1,\nP2,1.5,NA\n")
    with pytest.raises(SchemaError) as info:
        rg.io.read_radiomics(path)
    assert "column 'f2'" in str(info.value) and "no value at all" in str(info.value)


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(InputError, match=r"empty\.csv: the file is empty"):
        rg.io.read_radiomics(write(tmp_path / "empty.csv", ""))
    with pytest.raises(InputError, match=r"header\.csv: the file has a header but no data rows"):
        rg.io.read_radiomics(write(tmp_path / "header.csv", "ID,f1\n"))
    with pytest.raises(InputError, match="the file does not exist"):
        rg.io.read_clinical(tmp_path / "absent.csv")


def test_unreadable_encoding(tmp_path):
    path = write(tmp_path / "latin.csv", "patient_id,site\nP1,Zürich\nP2,Genève\n", "latin-1")
    with pytest.raises(InputError) as info:
        rg.io.read_clinical(path)
    message = str(info.value)
    assert "latin.csv, line 2: the file is not valid UTF-8 text" in message
    assert "encoding='latin-1'" in message
    clinical = rg.io.read_clinical(path, encoding="latin-1")
    assert list(clinical["site"]) == ["Zürich", "Genève"]


def test_wrong_separator_is_named(tmp_path):
    path = write(tmp_path / "semi.csv", "patient_id\tage\nP1\t50\n")
    with pytest.raises(InputError, match="single column"):
        rg.io.read_clinical(path)


def test_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="cannot tell the table format"):
        rg.io.read_clinical(write(tmp_path / "clinical.dat", "patient_id\nP1\n"))


# --------------------------------------------------------------------------- expression


def test_expression_orientations_agree(tmp_path):
    rows = write(tmp_path / "genes.tsv", "gene\tS1\tS2\tS3\nTP53\t10\t0\t5\nEGFR\t1\t2\t3\n")
    cols = write(tmp_path / "patients.csv", "patient_id,TP53,EGFR\nS1,10,1\nS2,0,2\nS3,5,3\n")
    a = rg.io.read_expression(rows, orientation="genes_as_rows")
    b = rg.io.read_expression(cols, orientation="patients_as_rows")
    assert list(a.obs_names) == list(b.obs_names) == ["S1", "S2", "S3"]
    assert list(a.var_names) == list(b.var_names) == ["TP53", "EGFR"]
    np.testing.assert_array_equal(a.X, b.X)


def test_expression_counts_layer(tmp_path):
    path = write(tmp_path / "counts.tsv", "gene\tS1\tS2\nA\t10\t0\nB\t30\t50\n")
    adata = rg.io.read_expression(path, counts=True, normalization="cpm")
    np.testing.assert_array_equal(adata.layers["counts"], [[10, 30], [0, 50]])
    expected = np.log2(np.array([[10, 30], [0, 50]]) / np.array([[40], [50]]) * 1e6 + 1)
    np.testing.assert_allclose(adata.X, expected)


def test_median_of_ratios_matches_deseq2_definition(tmp_path):
    """Size factors by DESeq2's estimateSizeFactors formula, computed here by hand."""
    rng = np.random.default_rng(1)
    counts = rng.poisson(rng.gamma(2.0, 50.0, size=(1, 40)) * rng.uniform(0.5, 2, (6, 1)))
    counts[2, 5] = 0  # a gene with a zero is left out, as in DESeq2
    frame = pd.DataFrame(
        counts.T, index=[f"g{i}" for i in range(40)], columns=[f"S{j}" for j in range(6)]
    )
    frame.index.name = "gene"
    frame.to_csv(tmp_path / "counts.tsv", sep="\t")
    adata = rg.io.read_expression(tmp_path / "counts.tsv", counts=True)
    keep = (counts > 0).all(axis=0)
    geomean = np.exp(np.log(counts[:, keep]).mean(axis=0))
    expected = np.median(counts[:, keep] / geomean, axis=1)
    np.testing.assert_allclose(adata.obs["size_factor"], expected, rtol=1e-12)
    np.testing.assert_allclose(adata.X, np.log2(counts / expected[:, None] + 1), rtol=1e-12)


def test_expression_negative_counts(tmp_path):
    path = write(tmp_path / "neg.tsv", "gene\tS1\tS2\nA\t10\t-1\n")
    with pytest.raises(SchemaError, match=r"neg\.tsv, line 2, column 'S2': value out of range"):
        rg.io.read_expression(path, counts=True)


def test_expression_duplicate_gene(tmp_path):
    path = write(tmp_path / "dup.tsv", "gene\tS1\tS2\nA\t1\t2\nB\t3\t4\nA\t5\t6\n")
    with pytest.raises(SchemaError) as info:
        rg.io.read_expression(path)
    assert "dup.tsv, line 4, column 'gene'" in str(info.value)
    assert "'A' appears more than once (at 2, 4)" in str(info.value)
    merged = rg.io.read_expression(path, duplicate_genes="mean")
    np.testing.assert_array_equal(merged[:, "A"].X.ravel(), [3, 4])


def test_expression_duplicate_patient_column(tmp_path):
    path = write(tmp_path / "dupcol.tsv", "gene\tS1\tS1\nA\t1\t2\n")
    with pytest.raises(InputError, match=r"the header names column 'S1' twice"):
        rg.io.read_expression(path)


def test_expression_missing_value_refused_by_default(tmp_path):
    path = write(tmp_path / "gap.tsv", "gene\tS1\tS2\nA\t1\t\nB\t3\t4\n")
    with pytest.raises(SchemaError, match=r"gap\.tsv, line 2, column 'S2': a missing value"):
        rg.io.read_expression(path)
    adata = rg.io.read_expression(path, allow_missing=True)
    assert np.isnan(adata["S2", "A"].X[0, 0])


def test_expression_annotation_column(tmp_path):
    path = write(tmp_path / "annot.tsv", "gene\tdescription\tS1\nA\tkinase\t1\n")
    with pytest.raises(SchemaError) as info:
        rg.io.read_expression(path)
    assert "column 'description'" in str(info.value) and "name it as such" in str(info.value)
    adata = rg.io.read_expression(path, annotation_columns=["description"])
    assert adata.var.loc["A", "description"] == "kinase"


# --------------------------------------------------------------------------- proteomics


def test_proteomics_missing_values_stay_nan(tmp_path):
    path = write(tmp_path / "prot.csv", "protein,S1,S2,S3\nP53,0.5,,1.5\nEGFR,NA,0.1,0.2\n")
    adata = rg.io.read_proteomics(path)
    assert np.isnan(adata["S2", "P53"].X[0, 0]) and np.isnan(adata["S1", "EGFR"].X[0, 0])
    np.testing.assert_allclose(adata.var["fraction_missing"], [1 / 3, 1 / 3])


def test_proteomics_all_missing_protein(tmp_path):
    path = write(tmp_path / "prot.csv", "protein,S1,S2\nP53,0.5,1\nGONE,,\n")
    with pytest.raises(SchemaError) as info:
        rg.io.read_proteomics(path)
    assert "protein(s) have no value at all: ['GONE']" in str(info.value)
    assert "drop_all_missing=True" in str(info.value)
    adata = rg.io.read_proteomics(path, drop_all_missing=True)
    assert list(adata.var_names) == ["P53"]
    assert adata.uns["radiogenomics"]["dropped_all_missing"]["features"] == ["GONE"]


# --------------------------------------------------------------------------- mutations

MAF = """#version 2.4
Hugo_Symbol\tTumor_Sample_Barcode\tVariant_Classification\tHGVSp_Short
TP53\tS1\tMissense_Mutation\tp.R273H
TP53\tS1\tNonsense_Mutation\tp.R196*
EGFR\tS2\tIn_Frame_Del\tp.E746_A750del
KRAS\tS2\tSilent\tp.G12G
TTN\tS3\tSilent\tp.A1A
"""


def test_mutations_non_synonymous_by_default(tmp_path):
    adata = rg.io.read_mutations(write(tmp_path / "cohort.maf", MAF))
    assert list(adata.obs_names) == ["S1", "S2", "S3"]  # S3 sequenced, only silent variants
    assert list(adata.var_names) == ["TP53", "EGFR"]  # silent-only genes are not columns
    np.testing.assert_array_equal(adata.X, [[1, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(adata.layers["n_variants"], [[2, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(adata.var["n_mutated"], [1, 1])


def test_mutations_classes_samples_genes(tmp_path):
    path = write(tmp_path / "cohort.maf", MAF)
    adata = rg.io.read_mutations(
        path,
        classes=["Missense_Mutation", "Silent"],
        samples=["S1", "S2", "S3", "S4"],
        genes=["TP53", "KRAS", "PTEN"],
    )
    assert list(adata.obs_names) == ["S1", "S2", "S3", "S4"]  # S4: sequenced, no variant -> 0
    np.testing.assert_array_equal(adata.X, [[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(InputError, match="not among the sequenced samples"):
        rg.io.read_mutations(path, samples=["S1"])
    with pytest.raises(InputError, match="unknown variant classification"):
        rg.io.read_mutations(path, classes=["Missense"])


def test_mutations_bad_class_and_missing_column(tmp_path):
    bad = write(tmp_path / "bad.maf", MAF.replace("In_Frame_Del", "Inframe"))
    with pytest.raises(SchemaError) as info:
        rg.io.read_mutations(bad)
    assert "bad.maf, line 5, column 'Variant_Classification': value not allowed" in str(info.value)
    missing = write(
        tmp_path / "nobarcode.maf", "Hugo_Symbol\tVariant_Classification\nTP53\tSilent\n"
    )
    with pytest.raises(SchemaError, match="'Tumor_Sample_Barcode' is missing"):
        rg.io.read_mutations(missing)


# --------------------------------------------------------------------------- clinical

CLINICAL = """patient_id,age,sex,stage,os_months,os_event,vital_status
P1,61,F,II,12.5,1,Dead
P2,55,M,I,30,0,Alive
P3,70,F,IV,,,
P4,48,M,III,4.2,1,Dead
"""


def test_clinical_types(tmp_path):
    clinical = rg.io.read_clinical(
        write(tmp_path / "clinical.csv", CLINICAL),
        time="os_months",
        event="os_event",
        ordered={"stage": ["I", "II", "III", "IV"]},
    )
    assert clinical.index.name == "patient_id" and list(clinical.index) == ["P1", "P2", "P3", "P4"]
    assert clinical["stage"].cat.ordered and list(clinical["stage"].cat.categories) == [
        "I",
        "II",
        "III",
        "IV",
    ]
    assert isinstance(clinical["sex"].dtype, pd.CategoricalDtype)
    assert clinical["age"].dtype.kind in "if"
    assert str(clinical["os_event"].dtype) == "Int64"  # one missing event
    assert list(clinical["os_event"].iloc[[0, 1, 3]]) == [1, 0, 1]
    assert np.isnan(clinical.loc["P3", "os_months"])


def test_clinical_event_mapping(tmp_path):
    path = write(tmp_path / "clinical.csv", CLINICAL)
    clinical = rg.io.read_clinical(path, event="vital_status", event_map={"Dead": 1, "Alive": 0})
    assert list(clinical["vital_status"].iloc[[0, 1, 3]]) == [1, 0, 1]
    with pytest.raises(SchemaError) as info:
        rg.io.read_clinical(path, event="vital_status")
    assert (
        "clinical.csv, line 2, column 'vital_status': event value outside the stated coding"
        in str(info.value)
    )
    assert "found 'Dead'" in str(info.value)
    odd = write(tmp_path / "odd.csv", CLINICAL.replace("Alive", "Lost"))
    with pytest.raises(SchemaError) as info:
        rg.io.read_clinical(odd, event="vital_status", event_map={"Dead": 1, "Alive": 0})
    assert "line 3" in str(info.value) and "found 'Lost'" in str(info.value)
    two = write(tmp_path / "two.csv", CLINICAL.replace(",30,0,", ",30,2,"))
    with pytest.raises(SchemaError, match=r"line 3, column 'os_event'.*found 2"):
        rg.io.read_clinical(two, event="os_event")


def test_clinical_negative_time(tmp_path):
    path = write(tmp_path / "clinical.csv", CLINICAL.replace("4.2", "-4.2"))
    with pytest.raises(SchemaError) as info:
        rg.io.read_clinical(path, time="os_months")
    assert str(info.value) == (
        f"{path}, line 5, column 'os_months': value out of range "
        "(expected a number at least 0, found -4.2)"
    )


def test_clinical_non_numeric_time(tmp_path):
    path = write(tmp_path / "clinical.csv", CLINICAL.replace("4.2", "four"))
    with pytest.raises(SchemaError, match=r"line 5, column 'os_months': value is not a number"):
        rg.io.read_clinical(path, time="os_months")


def test_clinical_duplicate_and_missing_id(tmp_path):
    dup = write(tmp_path / "dup.csv", CLINICAL + "P2,50,M,I,3,1,Dead\n")
    with pytest.raises(
        SchemaError, match=r"line 6, column 'patient_id'.*'P2' appears more than once"
    ):
        rg.io.read_clinical(dup)
    noid = write(tmp_path / "noid.csv", "age,sex\n50,F\n")
    with pytest.raises(SchemaError, match="'patient_id' .*is missing"):
        rg.io.read_clinical(noid)
    blank = write(tmp_path / "blank.csv", "patient_id,age\nP1,50\n,60\n")
    with pytest.raises(
        SchemaError, match=r"line 3, column 'patient_id': a required value is missing"
    ):
        rg.io.read_clinical(blank)


def test_clinical_named_column_absent(tmp_path):
    path = write(tmp_path / "clinical.csv", CLINICAL)
    with pytest.raises(SchemaError, match="column 'pfs_months'"):
        rg.io.read_clinical(path, time="pfs_months")


def test_clinical_alias_and_excel(tmp_path):
    frame = pd.DataFrame({"PatientID": ["007", "008"], "age": [40, 50], "site": [1, 2]})
    frame.to_excel(tmp_path / "clinical.xlsx", index=False)
    clinical = rg.io.read_clinical(tmp_path / "clinical.xlsx", categorical=["site"])
    assert list(clinical.index) == ["007", "008"]
    assert isinstance(clinical["site"].dtype, pd.CategoricalDtype)


def test_ordered_value_outside_order(tmp_path):
    path = write(tmp_path / "clinical.csv", CLINICAL.replace(",IV,", ",4,"))
    with pytest.raises(SchemaError, match=r"line 4, column 'stage'.*found '4'"):
        rg.io.read_clinical(path, ordered={"stage": ["I", "II", "III", "IV"]})


# --------------------------------------------------------------------------- manifest


def test_manifest_paths_and_aliases(tmp_path):
    path = write(tmp_path / "manifest.csv", "ID,Image,Mask\n001,a.nii.gz,a_mask.nii.gz\n")
    manifest = rg.io.read_manifest(path)
    assert manifest.loc[0, "patient_id"] == "001"
    assert manifest.loc[0, "image"] == str(tmp_path / "a.nii.gz")
    assert manifest.loc[0, "label"] == 1


def test_manifest_bad_label_and_duplicates(tmp_path):
    bad = write(tmp_path / "m.csv", "patient_id,image,mask,label\nP1,a,b,0\n")
    with pytest.raises(SchemaError, match=r"line 2, column 'label': value out of range"):
        rg.io.read_manifest(bad)
    dup = write(tmp_path / "d.csv", "patient_id,image,mask\nP1,a,b\nP1,c,d\n")
    with pytest.raises(SchemaError, match=r"duplicate ID 'P1'.*Add a lesion_id column"):
        rg.io.read_manifest(dup)


def test_every_schema_is_valid_json_with_fields():
    names = rg.io.schema_names()
    for expected in (
        "image_manifest",
        "radiomic_features",
        "expression_matrix",
        "proteomics_matrix",
        "mutations_maf",
        "clinical",
        "association_table",
        "survival_screen",
        "join_report",
    ):
        assert expected in names
        schema = rg.io.load_schema(expected)
        assert schema["fields"] and all("name" in f for f in schema["fields"])
