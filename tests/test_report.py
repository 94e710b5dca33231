"""The study report: HTML and PDF from a results folder, its numbers against the tables."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import radiogenomics as rg
from radiogenomics.cli import main
from radiogenomics.report import SECTIONS, find_chromium


def _numbers(html: str) -> dict:
    found = re.search(
        r'<script type="application/json" id="report-numbers">(.*?)</script>', html, re.S
    )
    assert found
    return json.loads(found[1].replace("<\\/", "</"))


@pytest.fixture(scope="module")
def study_folder(demo_build, tmp_path_factory):
    """A results folder written by the tools: associations, survival screen, one model."""
    from radiogenomics.tl.models import fit_model

    mdata = demo_build[2].copy()
    folder = tmp_path_factory.mktemp("report") / "results-folder"
    results = folder / "results"
    results.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rg.pp.filter_features(mdata, mod="radiomics")
        rg.pp.harmonize(mdata, mod="radiomics", batch_key="site")
        assoc = rg.tl.associate(mdata, x="radiomics", y="protein", key_added="radiomics_vs_protein")
        screen = rg.tl.cox_screen(
            mdata, mod="radiomics", time="os_months", event="os_event", key_added="survival_screen"
        )
        fit_model(
            mdata,
            "egfr_mutant",
            "radiomics",
            outer_folds=3,
            n_repeats=1,
            inner_folds=2,
            n_bootstraps=50,
            n_features=(5,),
            n_jobs=1,
            key_added="egfr_mutant",
            layers={"radiomics": "raw"},
        )
    rg.export.write_table(assoc, results / "radiomics_vs_protein.parquet", cohort=mdata)
    rg.export.write_table(screen, results / "survival_screen.parquet", cohort=mdata)
    rg.write_cohort(mdata, folder / "cohort.h5mu")
    return folder, mdata, assoc, screen


@pytest.fixture(scope="module")
def written(study_folder, tmp_path_factory):
    if find_chromium() is None:
        pytest.skip("Chromium is needed for the PDF (apt install chromium)")
    out = tmp_path_factory.mktemp("report-out")
    return rg.report.study(study_folder[0], out, title="Demo study")


def test_report_numbers_equal_the_result_tables(study_folder, written):
    _, mdata, assoc, screen = study_folder
    page = written["html"].read_text(encoding="utf-8")
    numbers = _numbers(page)
    assert numbers["n_patients"] == mdata.n_obs
    q = assoc["q_value"].to_numpy(dtype=float)
    assert numbers["associations"]["radiomics_vs_protein"] == {
        "pairs": len(assoc),
        "q_below_0.05": int(np.sum(q < 0.05)),
        "q_below_0.1": int(np.sum(q < 0.1)),
    }
    surv = numbers["survival"]["survival_screen"]
    assert surv["n_events"] == int(screen["n_events"].max())
    assert surv["n_events"] == int(mdata.obs["os_event"].astype(float).sum())
    assert surv["q_below_0.05"] == int((screen["q_value"] < 0.05).sum())
    metrics = mdata.uns["radiogenomics"]["models"]["egfr_mutant"]
    auc = metrics[(metrics["validation"] == "cross-validation") & (metrics["metric"] == "auc")]
    assert numbers["models"]["egfr_mutant"]["auc"] == pytest.approx(float(auc["estimate"].iloc[0]))
    # and the same numbers are what a reader sees
    assert f"<td>{float(auc['estimate'].iloc[0]):.3f}</td>" in page
    assert f"<th>patients in the cohort</th><td>{mdata.n_obs}</td>" in page
    assert f"<td>{int(np.sum(q < 0.05))}</td>" in page
    stamp = mdata["radiomics"].uns["radiogenomics"]["ibsi"]
    assert numbers["ibsi"]["n_claimed_passed"] == int(stamp["n_claimed_passed"])


def test_report_is_self_contained_with_static_figures(written):
    page = written["html"].read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page
    assert page.count('src="data:image/png;base64,') >= 4  # harmonisation, volcanoes, ROC ...
    for heading in SECTIONS:
        assert f"{heading}</h2>" in page


def test_pdf_has_the_sections(written):
    from pypdf import PdfReader

    pdf = written["pdf"]
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(str(pdf)).pages)
    flat = " ".join(text.split())
    for i, heading in enumerate(SECTIONS, start=1):
        assert f"{i}. {heading}" in flat, heading
    assert "to be completed by the authors" in flat
    for guideline in ("CLEAR", "TRIPOD+AI", "RQS"):
        assert guideline in flat


def test_checklist_fills_what_the_software_knows(study_folder):
    from radiogenomics.report import checklist_rows
    from radiogenomics.report.checklist import AUTHORS, FILLED
    from radiogenomics.report.study import collect

    data = collect(study_folder[1])
    numbers = {
        "n_patients": study_folder[1].n_obs,
        "n_dropped": 0,
        "associations": {"a": {"pairs": 10, "q_below_0.05": 2}},
        "ibsi": {"n_compared": 182, "n_claimed": 179, "n_claimed_passed": 179},
    }
    rows = pd.DataFrame(checklist_rows(data, numbers))
    assert set(rows["guideline"]) == {"CLEAR", "TRIPOD+AI", "RQS"}
    by_item = rows.set_index(["guideline", "item"])
    software = by_item.loc[("CLEAR", "Radiomics software and version")]
    assert software["status"] == FILLED and "pyradiomics" in software["content"]
    assert by_item.loc[("CLEAR", "Data availability"), "status"] == AUTHORS
    assert (
        "179 of 179"
        in by_item.loc[("CLEAR", "Compliance with IBSI feature definitions"), "content"]
    )
    assert (
        "outer folds"
        in by_item.loc[
            ("TRIPOD+AI", "Analytical methods (model, tuning, internal validation)"), "content"
        ]
    )
    assert (rows["status"] == AUTHORS).sum() >= 10
    # the site is not an imaging protocol: that item is left to the authors
    assert (
        by_item.loc[("CLEAR", "Imaging protocol (scanner, acquisition, reconstruction)"), "status"]
        == AUTHORS
    )
    numbers["acquisition"] = ["scanner", "kVp", "site"]
    rows = pd.DataFrame(checklist_rows(data, numbers)).set_index(["guideline", "item"])
    protocol = rows.loc[("CLEAR", "Imaging protocol (scanner, acquisition, reconstruction)")]
    assert protocol["status"].startswith("partly") and "scanner, kVp" in protocol["content"]


def test_report_command(study_folder, tmp_path, capsys):
    out = tmp_path / "report"
    assert (
        main(["report", str(study_folder[0]), "--out", str(out), "--no-pdf", "--no-figures"]) == 0
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert _numbers(page)["n_patients"] == study_folder[1].n_obs
    assert not (out / "report.pdf").exists()
    assert "report.html" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing"), "--out", str(out)]) == 2


def test_report_from_a_cohort_in_memory(study_folder, tmp_path):
    written = rg.report.study(study_folder[1], tmp_path, pdf=False, figures=False)
    page = Path(written["html"]).read_text(encoding="utf-8")
    assert "radiomics_vs_protein" in page and "egfr_mutant" in page


def test_dashboard_links_to_the_report(study_folder, written):
    import shutil

    from dashboards import create_app

    folder = study_folder[0]
    (folder / "report").mkdir(exist_ok=True)
    shutil.copy(written["html"], folder / "report" / "report.html")
    client = create_app(folder).server.test_client()
    response = client.get("/report/report.html")
    assert response.status_code == 200 and b"Reporting checklist" in response.data
    assert client.get("/report/report.pdf").status_code == 404  # not written here
    assert client.get("/report/cohort.h5mu").status_code == 404
    shell = client.get("/_dash-layout").get_data(as_text=True)
    assert "nav-report" in shell and "report.html" in shell
    # with pseudonyms the report (which names patients) is neither linked nor served
    hidden = create_app(folder, pseudonymize=True, pseudonym_key="k").server.test_client()
    assert hidden.get("/report/report.html").status_code == 404
    assert "nav-report" not in hidden.get("/_dash-layout").get_data(as_text=True)


def test_demo_report_step(study_folder, tmp_path):
    from radiogenomics.workflow import demo_report

    done = demo_report(study_folder[1], tmp_path, echo=lambda line: None)
    page = Path(done["html"]).read_text(encoding="utf-8")
    assert done["html"] == str(tmp_path / "report" / "report.html")
    assert _numbers(page)["n_patients"] == study_folder[1].n_obs
    assert not (tmp_path / "report" / "report.pdf").exists()


def test_acquisition_from_dicom_attributes(study_folder, tmp_path):
    mdata = study_folder[1].copy()
    rad = mdata["radiomics"]
    n = rad.n_obs
    rad.obs["Manufacturer"] = ["SIEMENS"] * (n - 3) + ["GE MEDICAL SYSTEMS"] * 3
    rad.obs["KVP"] = 120.0
    rad.obs["SliceThickness"] = 2.5
    rad.obs["ConvolutionKernel"] = "B30f"
    page = Path(rg.report.study(mdata, tmp_path, pdf=False, figures=False)["html"]).read_text(
        encoding="utf-8"
    )
    assert f"SIEMENS ({n - 3}); GE MEDICAL SYSTEMS (3)" in page
    assert f"120.0 ({n})" in page and f"B30f ({n})" in page
    numbers = _numbers(page)
    assert {"scanner", "kVp", "slice thickness (mm)", "reconstruction kernel"} <= set(
        numbers["acquisition"]
    )
