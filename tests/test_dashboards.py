"""The dashboards without a browser: the table store against pandas, loading results,
access control, what the server logs, and a short bounded load test."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pandas as pd
import pytest
import requests
from dashboard_support import PASSWORD, survival_screen

import radiogenomics as rg
from dashboards.store import TableFilter, TableStore
from dashboards.synthetic import write_association_table
from radiogenomics.errors import InputError

TABLE = "associations_radiomics_rna"


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "assoc.parquet"
    return write_association_table(path, n_x=60, n_y=300, seed=4, n_signal=300)


def _reference(frame: pd.DataFrame, flt: TableFilter, classes: dict) -> pd.DataFrame:
    keep = np.ones(len(frame), bool)
    if flt.q_max is not None:
        keep &= frame["q_value"].to_numpy() <= flt.q_max
    if flt.y_search:
        keep &= frame["y"].str.lower().str.contains(flt.y_search.lower(), regex=False).to_numpy()
    if flt.x_search:
        keep &= frame["x"].str.lower().str.contains(flt.x_search.lower(), regex=False).to_numpy()
    if flt.feature_class:
        keep &= (frame["x"].map(classes) == flt.feature_class).to_numpy()
    return frame[keep]


@pytest.mark.parametrize("large", [False, True], ids=["in-memory", "cached-database"])
@pytest.mark.parametrize(
    "flt",
    [
        TableFilter(),
        TableFilter(q_max=0.05),
        TableFilter(q_max=0.5, y_search="g001"),
        TableFilter(feature_class="glcm", x_search="original"),
        TableFilter(y_search="nothing-like"),
    ],
    ids=["all", "q", "q+gene", "class+feature", "empty"],
)
def test_store_filters_like_pandas(table_file, tmp_path, monkeypatch, flt, large):
    import dashboards.store as store_module

    if large:  # serve through the on-disk sorted database, as for a very large table
        monkeypatch.setattr(store_module, "SORT_THRESHOLD", 100)
    frame = pd.read_parquet(table_file)
    classes = {name: name.split("_")[1] for name in frame["x"].unique()}
    store = TableStore(table_file, feature_classes=classes, cache_dir=tmp_path)
    assert (store.serving_path is not None) == large
    expected = _reference(frame, flt, classes)
    assert store.count(flt) == len(expected)
    # the first page, by p-value, then by estimate descending
    page = store.page(flt, None, page=1, page_size=10)
    by_p = expected.sort_values(["p_value"], kind="stable").iloc[10:20]
    assert list(page["p_value"]) == pytest.approx(list(by_p["p_value"]))
    page = store.page(flt, [{"column_id": "estimate", "direction": "desc"}], 0, 7)
    assert list(page["estimate"]) == pytest.approx(
        list(expected["estimate"].sort_values(ascending=False).iloc[:7])
    )
    # the download holds exactly the filtered rows
    csv = b"".join(store.iter_csv(flt))
    downloaded = pd.read_csv(io.BytesIO(csv), keep_default_na=False, na_values=[""])
    assert list(downloaded.columns) == list(frame.columns)
    assert len(downloaded) == len(expected)
    assert sorted(zip(downloaded["x"], downloaded["y"])) == sorted(
        zip(expected["x"], expected["y"])
    )


def test_store_block_and_pair(table_file):
    frame = pd.read_parquet(table_file)
    store = TableStore(table_file)
    flt = TableFilter(q_max=0.2)
    block = store.block(flt, n_x=5, n_y=6)
    top = frame[frame["q_value"] <= 0.2].sort_values("p_value", kind="stable")
    xs = list(dict.fromkeys(top["x"]))[:5]
    ys = list(dict.fromkeys(top["y"]))[:6]
    assert set(block["x"]) == set(xs) and set(block["y"]) == set(ys)
    expected = frame[frame["x"].isin(xs) & frame["y"].isin(ys)].set_index(["x", "y"])["estimate"]
    got = block.set_index(["x", "y"])["estimate"]
    assert got.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy())
    row = store.pair(frame["x"].iloc[7], frame["y"].iloc[7])
    assert len(row) == 1 and row["estimate"].iloc[0] == pytest.approx(frame["estimate"].iloc[7])
    assert store.pair("no such feature", "TP53").empty
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.pair(frame["x"].iloc[7], frame["y"].iloc[7])
    store.close()  # closing twice is harmless


def test_store_refuses_foreign_tables(tmp_path):
    path = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1.0]}).to_parquet(path)
    with pytest.raises(InputError, match="lacks contract columns"):
        TableStore(path)
    with pytest.raises(InputError, match="does not exist"):
        TableStore(tmp_path / "missing.parquet")


def test_load_results(results_folder):
    from dashboards.results import load_results

    results = load_results(results_folder)
    assert list(results.associations) == [TABLE]
    assert list(results.survival) == ["survival_radiomics"]
    assert (results.time, results.event) == ("os_months", "os_event")
    # a cohort file alone: its tables come from the results folder beside it
    alone = load_results(results_folder / "cohort.h5mu", pseudonymize=True)
    shown = alone.display_id(alone.patients[0])
    assert shown.startswith("PT-") and alone.patient_id(shown) == alone.patients[0]
    assert alone.patient_id(alone.patients[0]) is None  # real IDs are not accepted
    assert alone.display_id("someone outside the cohort") == "(pseudonymised)"
    with pytest.raises(InputError, match="does not exist"):
        load_results(results_folder / "nowhere")


def test_password_file(tmp_path):
    from dashboards.auth import BasicAuth, add_user, read_users

    path = add_user(tmp_path / "users", "alice", "correct horse")
    add_user(path, "bob", "battery staple")
    text = path.read_text()
    assert "correct horse" not in text and "battery staple" not in text
    users = read_users(path)
    assert set(users) == {"alice", "bob"} and users["alice"].startswith("scrypt:")
    assert users["alice"] != add_user(tmp_path / "other", "alice", "correct horse") and (
        read_users(tmp_path / "other")["alice"] != users["alice"]
    )  # salted
    auth = BasicAuth(path)
    assert auth.check("alice", "correct horse") and auth.check("alice", "correct horse")
    assert not auth.check("alice", "battery staple") and not auth.check("eve", "x")
    with pytest.raises(InputError, match="too short"):
        add_user(path, "carol", "short")
    with pytest.raises(InputError, match="invalid user name"):
        add_user(path, "a:b", "long enough")


def test_refuses_network_address_without_auth(results_folder):
    from dashboards import serve

    with pytest.raises(InputError, match="refusing to listen on 0.0.0.0 without authentication"):
        serve(results_folder, host="0.0.0.0", port=0)
    with pytest.raises(InputError, match="without authentication"):
        serve(results_folder, host="192.168.1.20", port=0)


def test_unauthenticated_requests_are_refused(live_app_auth):
    for path in (
        "/",
        "/_dash-layout",
        "/_dash-dependencies",
        f"/download/associations.csv?table={TABLE}",
    ):
        response = requests.get(live_app_auth.url + path, timeout=30)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    wrong = requests.get(live_app_auth.url + "/", auth=("board", "wrong password"), timeout=30)
    assert wrong.status_code == 401
    right = requests.get(live_app_auth.url + "/", auth=("board", PASSWORD), timeout=30)
    assert right.status_code == 200


def test_download_route_reads_no_path(live_app, results_folder):
    for table in ("../cohort.h5mu", str(results_folder / "cohort.h5mu"), "/etc/passwd"):
        response = requests.get(
            f"{live_app.url}/download/associations.csv", params={"table": table}, timeout=30
        )
        assert response.status_code == 404


def _callback(app, output: str, inputs: dict, changed: str) -> dict:
    specs = {spec["output"]: spec for spec in app._callback_list}
    spec = next(s for key, s in specs.items() if output in key)

    def fill(items):
        return [
            {
                "id": i["id"],
                "property": i["property"],
                "value": inputs.get(f"{i['id']}.{i['property']}"),
            }
            for i in items
        ]

    from dashboards.loadtest import _outputs

    return {
        "output": spec["output"],
        "outputs": _outputs(spec),
        "inputs": fill(spec["inputs"]),
        "state": fill(spec["state"]),
        "changedPropIds": [changed],
    }


def test_server_log_holds_no_patient_data(results_folder, caplog, capfd):
    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    results = app.server.config["RADIOGENOMICS_RESULTS"]
    patients = results.patients
    caplog.set_level(logging.DEBUG)
    for patient in patients[:3]:
        body = _callback(
            app, "patient-body.children", {"patient-select.value": patient}, "patient-select.value"
        )
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == 200
        assert patient in response.get_data(as_text=True)
    # a request that fails inside a callback is logged without its details
    body = _callback(
        app, "patient-body.children", {"patient-select.value": patients[0]}, "patient-select.value"
    )
    from dashboards.pages import patient as patient_page

    original = patient_page.build_profile

    def broken(results, patient):
        raise KeyError(f"no data for {patient}")

    patient_page.build_profile = broken
    try:
        response = client.post("/_dash-update-component", json=body)
    finally:
        patient_page.build_profile = original
    assert response.status_code == 500
    captured = capfd.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "request to /_dash-update-component failed (KeyError)" in logged
    for patient in patients:
        assert patient not in logged


def test_short_load_test(live_app):
    """A bounded version of benchmarks/bench_dashboard.py: 4 users, at most 60 requests."""
    from dashboards.loadtest import run_load

    result = run_load(
        live_app.url,
        TABLE,
        users=4,
        seconds=20,
        max_requests=60,
        think=(0.0, 0.05),
        classes=["glcm", "shape"],
        searches=["G00", "mk"],
    )
    summary = result.summary()
    print(json.dumps(summary))
    assert result.errors == 0, result.error_messages
    assert result.requests >= 20
    assert {"overview", "rows"} <= set(summary["callbacks"])


def test_survival_screen_helper_has_contract_columns():
    from dashboards.store import SURVIVAL_COLUMNS

    assert list(survival_screen(["a", "b"]).columns) == SURVIVAL_COLUMNS


def test_serve_and_passwd_commands(results_folder, tmp_path):
    import socket
    import subprocess
    import sys
    import time

    from helpers import run_cli

    users = tmp_path / "users.txt"
    script = [sys.executable, "-m", "radiogenomics"]
    done = subprocess.run(
        [*script, "passwd", str(users), "board", "--password-stdin"],
        input="a long password\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "a long password" not in users.read_text()
    refused = run_cli("serve", str(results_folder), "--host", "0.0.0.0")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "refusing to listen on 0.0.0.0 without authentication" in refused.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [*script, "serve", str(results_folder), "--port", str(port), "--auth-file", str(users)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = None
        for _ in range(240):
            try:
                status = requests.get(
                    f"http://127.0.0.1:{port}/", timeout=5, auth=("board", "a long password")
                ).status_code
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read()
                time.sleep(0.5)
        assert status == 200
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 401
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}/" in out
    for patient in rg.read_cohort(results_folder / "cohort.h5mu").obs_names:
        assert patient not in out + err


def _layout_of(client, path: str) -> dict:
    """The layout the server sends to a browser showing ``path``."""
    response = client.get("/_dash-layout", headers={"Referer": f"http://localhost{path}"})
    assert response.status_code == 200
    return response.get_json()


def _find(value, component_id: str):
    if isinstance(value, dict):
        if value.get("props", {}).get("id") == component_id:
            return value["props"]
        for item in value.values():
            found = _find(item, component_id)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find(item, component_id)
            if found is not None:
                return found
    return None


def _trace_types(value, found: set) -> set:
    """Trace types of every plotly figure (``{"data": [...], "layout": ...}``) inside."""
    if isinstance(value, dict):
        if isinstance(value.get("data"), list) and "layout" in value:
            found.update(
                trace.get("type", "scatter") for trace in value["data"] if isinstance(trace, dict)
            )
        for item in value.values():
            _trace_types(item, found)
    elif isinstance(value, list):
        for item in value:
            _trace_types(item, found)
    return found


def test_pages_arrive_whole_and_no_callback_runs_at_load(results_folder):
    """The layout of a page holds its figures and tables (made on the server), and no
    callback runs when a page loads; without a Referer the router fills the page."""
    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    layout = _layout_of(client, "/associations")
    assert _find(layout, "url")["pathname"] == "/associations"
    volcano = _find(layout, "assoc-volcano")["figure"]
    assert volcano["data"] and volcano["data"][-1]["type"] == "scatter"  # SVG, few points
    rows = _find(layout, "assoc-rows")
    frame = pd.read_parquet(results_folder / "results" / f"{TABLE}.parquet")
    best = frame[frame["q_value"] <= 0.05].sort_values("p_value", kind="stable")
    assert [(r["x"], r["y"]) for r in rows["data"]] == list(zip(best["x"], best["y"]))[:15]
    assert rows["page_count"] == -(-len(best) // 15)
    assert (
        f"{len(best):,} of {len(frame):,} pairs match" in _find(layout, "assoc-count")["children"]
    )
    survival = _layout_of(client, "/survival")
    assert _find(survival, "surv-km")["figure"]["data"]
    assert _find(survival, "surv-rows")["data"]
    patient = _layout_of(client, "/patient")
    assert _find(patient, "patient-shown")["children"] == _find(patient, "patient-select")["value"]
    assert _find(_layout_of(client, "/"), "overview-clinical")["data"]
    shell = client.get("/_dash-layout").get_json()
    assert "pathname" not in _find(shell, "url") and _find(shell, "page")["children"] is None
    dependencies = client.get("/_dash-dependencies").get_json()
    assert dependencies and all(d["prevent_initial_call"] for d in dependencies)


def test_figures_use_the_served_plotly_bundle(results_folder):
    """The dashboards serve plotly.js's cartesian bundle: every figure the pages and their
    callbacks show uses one of its trace types (plotly.js would draw another as a scatter)."""
    import re

    from dashboards import create_app
    from dashboards.app import PLOTLY_BUNDLE

    bundle = PLOTLY_BUNDLE.read_text(encoding="utf-8")
    available = set(re.findall(r'moduleType:"trace",name:"(\w+)"', bundle))
    assert {"scatter", "bar", "box", "heatmap", "contour"} <= available
    import plotly

    assert f"v{plotly.offline.get_plotlyjs_version()}" in bundle[:200]
    app = create_app(results_folder)
    client = app.server.test_client()
    found: set = set()
    for path in ("/", "/associations", "/survival", "/patient"):
        _trace_types(_layout_of(client, path), found)
    results = app.server.config["RADIOGENOMICS_RESULTS"]
    frame = pd.read_parquet(results_folder / "results" / f"{TABLE}.parquet")
    binary = results.mdata["mutation"].var_names[0]
    calls = [
        (
            "assoc-pair.figure",
            {
                "assoc-selected.data": {
                    "table": TABLE,
                    "x": frame["x"].iloc[0],
                    "y": frame["y"].iloc[0],
                }
            },
            "assoc-selected.data",
        ),
        (
            "assoc-count.children",
            {"assoc-table.value": TABLE, "assoc-q.value": 1.0},
            "assoc-q.value",
        ),
        (
            "surv-km.figure",
            {"surv-variable.value": f"mutation:{binary}", "surv-split.value": "optimal"},
            "surv-split.value",
        ),
        (
            "patient-body.children",
            {"patient-select.value": results.patients[3]},
            "patient-select.value",
        ),
    ]
    for output, inputs, changed in calls:
        response = client.post(
            "/_dash-update-component", json=_callback(app, output, inputs, changed)
        )
        assert response.status_code == 200, output
        _trace_types(response.get_json(), found)
    assert {"scatter", "bar", "heatmap"} <= found
    assert found <= available, f"trace types missing from the bundle: {found - available}"


# ----------------------------------------------------------------------------- survival v2


@pytest.fixture(scope="module")
def served_results(results_folder):
    from dashboards.results import load_results

    return load_results(results_folder)


def test_survival_splits_a_category_by_level_against_lifelines(served_results):
    from lifelines.statistics import multivariate_logrank_test

    from dashboards.survival import split_survival

    mdata = served_results.mdata
    outcome = split_survival(mdata, "stage", time="os_months", event="os_event")
    obs = mdata.obs
    reference = multivariate_logrank_test(
        obs["os_months"], obs["stage"].astype(str), obs["os_event"]
    )
    assert outcome["categorical"]
    levels = [str(c) for c in obs["stage"].cat.categories if (obs["stage"] == c).any()]
    groups = outcome["groups"].set_index("group")
    assert list(groups.index) == levels
    counts = obs["stage"].astype(str).value_counts()
    events = obs.groupby(obs["stage"].astype(str), observed=True)["os_event"].sum()
    for level in levels:
        assert groups.loc[level, "patients"] == counts[level]
        assert groups.loc[level, "events"] == events[level]
    key = next(k for k in outcome["stats"] if k.startswith("log-rank p"))
    assert f"({len(levels)} groups, {len(levels) - 1} df)" in key
    assert outcome["p_value"] == pytest.approx(reference.p_value, rel=1e-6)
    assert outcome["statistic"] == pytest.approx(reference.test_statistic, rel=1e-6)
    traces = {
        t.name.split(" (n=")[0]
        for t in outcome["figure"].data
        if t.showlegend is not False and t.name
    }
    assert traces == set(levels)


def test_survival_requests_leave_the_served_cohort_unchanged(served_results, monkeypatch):
    """The survival explorer, the compare page and the patient page answer from the shared
    cohort without a full copy of it and without writing into it."""
    import mudata as md

    from dashboards.profile import risk_km
    from dashboards.survival import split_survival

    mdata = served_results.mdata
    obs_before = mdata.obs.copy()
    uns_before = {
        k: sorted(v) if isinstance(v, dict) else v
        for k, v in mdata.uns["radiogenomics"].items()
        if k != "truth"
    }
    mod_obs_before = {m: mdata[m].obs.copy() for m in mdata.mod}

    def refuse_copy(self, *args, **kwargs):
        raise AssertionError("the served cohort was copied whole")

    monkeypatch.setattr(md.MuData, "copy", refuse_copy)
    feature = "original_shape_VoxelVolume"
    split_survival(
        mdata,
        f"radiomics:{feature}",
        time="os_months",
        event="os_event",
        split="optimal",
        covariates=["age"],
    )
    split_survival(mdata, "stage", time="os_months", event="os_event")
    if served_results.risk_columns():
        assert risk_km(served_results, str(mdata.obs_names[0])) is not None
    monkeypatch.undo()

    pd.testing.assert_frame_equal(mdata.obs, obs_before)
    assert {
        k: sorted(v) if isinstance(v, dict) else v
        for k, v in mdata.uns["radiogenomics"].items()
        if k != "truth"
    } == uns_before
    for m, frame in mod_obs_before.items():
        pd.testing.assert_frame_equal(mdata[m].obs, frame)


def test_survival_splits_mutation_status_and_flags(served_results):
    from dashboards.survival import split_survival

    mdata = served_results.mdata
    gene = mdata["mutation"].var_names[0]
    outcome = split_survival(mdata, f"mutation:{gene}", time="os_months", event="os_event")
    values = mdata["mutation"][:, gene].to_df()[gene]
    groups = outcome["groups"].set_index("group")
    assert groups.loc["mutant", "patients"] == int((values > 0).sum())
    assert groups.loc["wild-type", "patients"] == int((values == 0).sum())
    flags = split_survival(mdata, "egfr_mutant", time="os_months", event="os_event")
    assert set(flags["groups"]["group"]) == {"no", "yes"}
    assert flags["groups"].set_index("group").loc["yes", "patients"] == int(
        (mdata.obs["egfr_mutant"] == 1).sum()
    )


def test_survival_cut_offs_are_in_physical_units(served_results):
    """A typed cut-off and the median are read in mm³ from layers["raw"], not in the
    scaled values of X."""
    from dashboards.survival import split_survival

    mdata = served_results.mdata
    feature = "original_shape_VoxelVolume"
    radiomics = mdata["radiomics"]
    raw = pd.Series(
        np.asarray(radiomics[:, feature].layers["raw"]).ravel(), index=radiomics.obs_names
    )
    scaled = np.asarray(radiomics[:, feature].X).ravel()
    assert abs(np.nanmean(scaled)) < 1e-6 and np.nanmean(raw) > 100  # X is scaled
    cut = float(np.round(np.median(raw), -2))
    outcome = split_survival(
        mdata,
        f"radiomics:{feature}",
        time="os_months",
        event="os_event",
        split="cutoff",
        cutoff=cut,
    )
    groups = outcome["groups"].set_index("group")
    low = f"≤ {cut:,.0f} mm³"
    assert groups.loc[low, "patients"] == int((raw <= cut).sum())
    assert groups.loc[f"> {cut:,.0f} mm³", "patients"] == int((raw > cut).sum())
    median = split_survival(
        mdata, f"radiomics:{feature}", time="os_months", event="os_event", split="median"
    )
    assert median["cutpoints"] == [pytest.approx(float(np.median(raw)))]
    assert median["unit"] == "mm³"
    optimal = split_survival(
        mdata, f"radiomics:{feature}", time="os_months", event="os_event", split="optimal"
    )
    assert raw.min() <= optimal["cutpoints"][0] <= raw.max()
    assert optimal["stats"]["optimal cut-point"].endswith("mm³")


def test_marker_groups_and_maxstat_read_a_layer(served_results):
    mdata = served_results.mdata.copy()
    feature = "radiomics:original_shape_Maximum3DDiameter"
    raw = np.asarray(mdata["radiomics"][:, feature.split(":")[1]].layers["raw"]).ravel()
    groups = rg.tl.marker_groups(mdata, feature, "tertiles", layer="raw", key_added="g")
    thresholds = mdata.uns["radiogenomics"]["marker_groups"]["g"]["thresholds"]
    assert thresholds == pytest.approx(list(np.quantile(raw, [1 / 3, 2 / 3])))
    assert (groups == "low").sum() == (raw <= thresholds[0]).sum()
    best = rg.tl.maxstat(mdata, feature, time="os_months", event="os_event", layer="raw")
    assert raw.min() <= best["cutpoint"].iloc[0] <= raw.max()


def test_units_of_features_and_time():
    import anndata as ad

    from dashboards.units import feature_unit, format_value, human_label, time_unit

    var = pd.DataFrame(
        {
            "feature_class": ["shape", "shape", "glcm", "firstorder"],
            "feature": ["VoxelVolume", "Maximum3DDiameter", "Contrast", "Mean"],
        },
        index=[
            "original_shape_VoxelVolume",
            "original_shape_Maximum3DDiameter",
            "original_glcm_Contrast",
            "original_firstorder_Mean",
        ],
    )
    adata = ad.AnnData(np.zeros((2, 4)), var=var)
    assert [feature_unit(adata, n) for n in var.index] == ["mm³", "mm", "", ""]
    adata.var["unit"] = ["mm³", "mm", "", "HU"]  # recorded units win
    assert feature_unit(adata, "original_firstorder_Mean") == "HU"
    assert time_unit("os_months") == "months" and time_unit("pfs_days") == "days"
    assert time_unit("followup", {"time_unit": "weeks"}) == "weeks"
    assert human_label("os_months") == "OS (months)"
    assert human_label("egfr_mutant") == "EGFR mutant"
    assert format_value(2374.4, "mm³") == "2,374 mm³"


def test_survival_page_reads_its_state_from_the_address(results_folder):
    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    feature = "original_shape_VoxelVolume"
    layout = _layout_of(client, f"/survival?variable=radiomics:{feature}&split=2000")
    assert _find(layout, "url")["search"] == f"?variable=radiomics:{feature}&split=2000"
    assert _find(layout, "surv-variable")["value"] == f"radiomics:{feature}"
    assert _find(layout, "surv-split")["value"] == "cutoff"
    assert _find(layout, "surv-cutoff")["value"] == 2000
    names = [
        t["name"]
        for t in _find(layout, "surv-km")["figure"]["data"]
        if t.get("showlegend", True) is not False and t.get("name")
    ]
    assert any(n.startswith("≤ 2,000 mm³") for n in names)
    stage = _layout_of(client, "/survival?variable=stage")
    assert _find(stage, "surv-variable")["value"] == "stage"
    assert "4 groups" in json.dumps(_find(stage, "surv-stats"), ensure_ascii=False)
    # unknown values fall back to the defaults
    junk = _layout_of(client, "/survival?variable=../../etc&split=huge")
    assert _find(junk, "surv-split")["value"] == "median"
    assert _find(junk, "surv-variable")["value"] != "../../etc"


# ----------------------------------------------------------------------------- associations v2


def test_volcano_background_and_threshold_against_pandas(table_file):
    store = TableStore(table_file)
    frame = pd.read_parquet(table_file)
    background = store.background(bins_x=40, bins_y=20)
    usable = frame[frame["p_value"].notna() & np.isfinite(frame["estimate"])]
    assert background["pairs"].sum() == len(usable)
    mlp = -np.log10(np.maximum(usable["p_value"].to_numpy(), 1e-300))
    est = usable["estimate"].to_numpy()
    cx = np.minimum(np.floor((est - est.min()) / (est.max() - est.min()) * 40), 39)
    cy = np.minimum(np.floor(mlp / mlp.max() * 20), 19)
    cells = usable.assign(cx=cx, cy=cy)
    best = cells.loc[cells.groupby(["cx", "cy"])["p_value"].idxmin()]
    assert len(background) == len(best)
    assert sorted(zip(background["x"], background["y"])) == sorted(zip(best["x"], best["y"]))
    for q in (0.01, 0.05, 0.25):
        assert store.p_threshold(q) == frame.loc[frame["q_value"] <= q, "p_value"].max()
    assert store.p_threshold(0.0) is None or (frame["q_value"] <= 0).any()


def test_associations_page_reads_its_state_from_the_address(results_folder):
    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    layout = _layout_of(client, "/associations?pair=radiomics_vs_rna&gene=G001&q=0.25")
    assert _find(layout, "assoc-table")["value"] == TABLE
    assert _find(layout, "assoc-q")["value"] == 0.25
    assert _find(layout, "assoc-y-search")["value"] == "G001"
    rows = _find(layout, "assoc-rows")["data"]
    frame = pd.read_parquet(results_folder / "results" / f"{TABLE}.parquet")
    expected = frame[(frame["q_value"] <= 0.25) & frame["y"].str.lower().str.contains("g001")]
    assert rows and all("g001" in r["y"].lower() for r in rows)
    assert len(rows) == min(15, len(expected))
    volcano = _find(layout, "assoc-volcano")["figure"]
    assert volcano["data"][0]["name"] == "all pairs (thinned)"
    line = volcano["layout"]["shapes"][0]
    threshold = frame.loc[frame["q_value"] <= 0.25, "p_value"].max()
    assert line["y0"] == pytest.approx(-np.log10(threshold))
    assert volcano["layout"]["xaxis"]["title"]["text"].startswith("slope (")
    best = expected.sort_values("p_value").iloc[0]
    opened = _layout_of(client, f"/associations?x={best['x']}&y={best['y']}")
    assert _find(opened, "pair-name")["children"] == f"{best['x']} ~ {best['y']}"
    mark = _find(opened, "assoc-volcano")["figure"]["layout"]["annotations"][0]
    assert mark["x"] == pytest.approx(best["estimate"])
    assert mark["y"] == pytest.approx(-np.log10(best["p_value"]))


def test_largest_association_table_comes_first(table_file, tmp_path):
    from dashboards.pages.associations import ordered_tables
    from dashboards.results import Results

    small = write_association_table(tmp_path / "a_small.parquet", n_x=5, n_y=10, seed=1)
    results = Results(
        source=tmp_path,
        associations={"a_small": TableStore(small), "z_large": TableStore(table_file)},
    )
    assert ordered_tables(results) == ["z_large", "a_small"]


# ----------------------------------------------------------------------------- patient v2


def test_patient_variants_match_the_maf(served_results, demo_build):
    from radiogenomics.io import NON_SYNONYMOUS

    mdata = served_results.mdata
    maf = pd.read_csv(demo_build[1]["mutations"], sep="\t", comment="#")
    maf = maf[maf["Variant_Classification"].isin(NON_SYNONYMOUS)]
    checked = 0
    for patient in mdata["mutation"].obs_names[:20]:
        sample = mdata["mutation"].obs.loc[patient, "sample_id"]
        rows = maf[maf["Tumor_Sample_Barcode"] == sample].sort_values("Hugo_Symbol", kind="stable")
        found = rg.tl.patient_variants(mdata, patient)
        assert list(found["gene"]) == list(rows["Hugo_Symbol"])
        assert list(found["protein_change"]) == list(rows["HGVSp_Short"].fillna(""))
        vaf = rows["t_alt_count"] / (rows["t_alt_count"] + rows["t_ref_count"])
        np.testing.assert_allclose(found["vaf"], vaf, rtol=1e-12)
        checked += len(rows)
    assert checked > 10
    assert set(found["classification"]) <= {
        "missense",
        "nonsense",
        "frameshift deletion",
        "splice site",
        "in-frame deletion",
    }


def test_patient_outliers_against_numpy(served_results):
    mdata = served_results.mdata
    patient = mdata.obs_names[4]
    found = rg.tl.patient_outliers(mdata, patient, mod="rna", n=50, min_abs_z=2.0)
    x = mdata["rna"].to_df()
    z = (x.loc[patient] - x.mean()) / x.std(ddof=1)
    expected = z[z.abs() >= 2].abs().sort_values(ascending=False, kind="stable").head(50)
    assert list(found["feature"]) == list(expected.index)
    np.testing.assert_allclose(found["z_score"], z[expected.index], rtol=1e-9)
    assert set(found["direction"]) <= {"high", "low"}


def test_lesion_volume_and_window_presets(served_results):
    import SimpleITK as sitk

    manifest = served_results.manifest()
    row = manifest.iloc[0]
    view = rg.pl.read_lesion_volume(row["image"], row["mask"], label=int(row["label"]))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(row["mask"]))) == int(row["label"])
    assert view["lesion"].sum() == mask.sum()  # the crop holds every lesion voxel
    assert view["lesion"][view["largest"]].sum() == mask.reshape(len(mask), -1).sum(1).max()
    assert rg.pl.window_range(view["pixels"], "ct-soft") == (-160.0, 240.0)
    low, high = rg.pl.window_range(view["pixels"], "mr")
    assert (low, high) == tuple(np.percentile(view["pixels"], [1, 99]))
    figure = rg.pl.lesion_slice_view(view, 0, "ct-lung")
    assert figure.data[0].zmin == -1350 and figure.data[0].zmax == 150
    assert figure.layout.annotations[0].text.endswith("mm")


def test_patient_page_reads_its_patient_and_says_if_in_training(results_folder):
    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    results = app.server.config["RADIOGENOMICS_RESULTS"]
    obs = results.mdata.obs
    training = next(
        p for p in sorted(results.patients) if obs.loc[p, "demo_risk_set"] == "training"
    )
    held_out = next(
        p for p in sorted(results.patients) if obs.loc[p, "demo_risk_set"] == "held_out"
    )
    layout = _layout_of(client, f"/patient?patient={training}")
    assert _find(layout, "patient-shown")["children"] == training
    assert _find(layout, "patient-select")["value"] == training
    assert "In the training data" in _find(layout, "patient-risk-note")["children"]
    clinical = json.dumps(_find(layout, "patient-clinical"))
    assert f'"{int(obs.loc[training, "age"])} years"' in clinical and "Stage" in clinical
    layout = _layout_of(client, f"/patient?patient={held_out}")
    assert "Held out" in _find(layout, "patient-risk-note")["children"]
    unknown = _layout_of(client, "/patient?patient=nobody")
    assert _find(unknown, "patient-shown")["children"] == sorted(results.patients)[0]


def test_models_page_shows_the_stored_model(results_folder):
    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    results = app.server.config["RADIOGENOMICS_RESULTS"]
    metrics = results.mdata.uns["radiogenomics"]["models"]["egfr_mutant"]
    layout = _layout_of(client, "/models?model=egfr_mutant")
    assert _find(layout, "models-select")["value"] == "egfr_mutant"
    rows = _find(layout, "models-metrics")["data"]
    assert [r["metric"] for r in rows] == [m.replace("_", " ") for m in metrics["metric"]]
    auc = metrics.set_index("metric").loc["auc"]
    row = next(r for r in rows if r["metric"] == "auc")
    assert float(row["estimate"]) == pytest.approx(auc["estimate"], abs=5e-4)
    assert row["95% CI"] == f"{auc['ci_lower']:.3f} to {auc['ci_upper']:.3f}"
    roc = _find(layout, "models-roc")["figure"]
    names = [t.get("name", "") for t in roc["data"]]
    assert any(
        f"AUC {auc['estimate']:.2f} ({auc['ci_lower']:.2f}-{auc['ci_upper']:.2f})" in n
        for n in names
    )
    assert _find(layout, "models-importance")["figure"]["data"]
    assert "5 used by the final model" in json.dumps(_find(layout, "models-card"))


def test_subtypes_page_against_scipy_and_lifelines(results_folder):
    from lifelines.statistics import multivariate_logrank_test
    from scipy import stats

    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    results = app.server.config["RADIOGENOMICS_RESULTS"]
    mdata = results.mdata
    stored = mdata.uns["radiogenomics"]["phenotypes"]["radiomic_subtype"]
    layout = _layout_of(client, "/subtypes?color=stage")
    assert _find(layout, "subtypes-color")["value"] == "stage"
    sizes = _find(layout, "subtypes-sizes")["data"]
    assert [int(r["patients"]) for r in sizes] == list(stored["n_patients"])
    subtype = mdata.obs["radiomic_subtype"].astype(str)
    assert [int(r["patients"]) for r in sizes] == [
        int((subtype == str(s)).sum()) for s in stored["subtype"]
    ]
    genes = _find(layout, "subtypes-genes")["data"]
    rna = mdata["rna"].to_df().loc[subtype.index]
    first = str(stored["subtype"].iloc[0])
    inside = (subtype == first).to_numpy()
    p = stats.ttest_ind(rna[inside], rna[~inside], equal_var=False).pvalue
    assert next(g["gene"] for g in genes if g["subtype"] == first) == rna.columns[np.argmin(p)]
    text = json.dumps(layout, ensure_ascii=False)
    reference = multivariate_logrank_test(mdata.obs["os_months"], subtype, mdata.obs["os_event"])
    assert f"{reference.p_value:.2e}" in text


# ----------------------------------------------------------------------------- comparison


def test_compare_groups_against_scipy_and_lifelines(served_results):
    from lifelines.statistics import logrank_test
    from scipy import stats

    mdata = served_results.mdata.copy()
    out = rg.tl.compare_groups(mdata, "stage:III", "stage:I", time="os_months", event="os_event")
    obs = mdata.obs
    a, b = (obs["stage"] == "III").to_numpy(), (obs["stage"] == "I").to_numpy()
    assert list(out["sizes"]["patients"]) == [a.sum(), b.sum()]
    reference = logrank_test(
        obs["os_months"][a], obs["os_months"][b], obs["os_event"][a], obs["os_event"][b]
    )
    assert out["survival"]["p_value"].iloc[0] == pytest.approx(reference.p_value, rel=1e-6)
    rna = out["features"][out["features"]["modality"] == "rna"].set_index("feature")
    x = mdata["rna"].to_df().loc[obs.index]
    welch = stats.ttest_ind(x[a], x[b], equal_var=False)
    np.testing.assert_allclose(rna.loc[x.columns, "p_value"], welch.pvalue, rtol=1e-6)
    mutations = out["mutations"].set_index("gene")
    status = mdata["mutation"].to_df().loc[obs.index, "TP53"] > 0
    table = [
        [status[a].sum(), a.sum() - status[a].sum()],
        [status[b].sum(), b.sum() - status[b].sum()],
    ]
    assert mutations.loc["TP53", "p_value"] == pytest.approx(stats.fisher_exact(table)[1])
    raw = mdata["radiomics"][:, "original_shape_VoxelVolume"].layers["raw"].ravel()
    mask = rg.tl.group_mask(mdata, "radiomics:original_shape_VoxelVolume>2000")
    assert mask.sum() == (raw > 2000).sum()
    assert rg.tl.group_mask(mdata, "rest", other=mask).sum() == (raw <= 2000).sum()
    with pytest.raises(InputError):
        rg.tl.group_mask(mdata, "no such thing")


def test_compare_page_reads_its_groups(results_folder):
    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    layout = _layout_of(client, "/compare?a=mutation:TP53&b=mutation:TP53=wt")
    assert _find(layout, "compare-a")["value"] == "mutation:TP53"
    sizes = json.dumps(_find(layout, "compare-sizes"))
    results = app.server.config["RADIOGENOMICS_RESULTS"]
    status = results.mdata["mutation"].to_df()["TP53"] > 0
    assert f"{status.sum()} patients" in sizes and f"{(~status).sum()} patients" in sizes
    rows = _find(layout, "compare-mutations")["data"]
    assert rows[0]["gene"] == "TP53" and rows[0]["share a"] == "100%"
    assert _find(layout, "compare-km")["figure"]["data"]


def test_cohort_page_filters_from_the_address(results_folder):
    from dashboards import create_app

    app = create_app(results_folder)
    client = app.server.test_client()
    results = app.server.config["RADIOGENOMICS_RESULTS"]
    obs = results.mdata.obs
    layout = _layout_of(client, "/?filter=stage:III;age>=60;nonsense:::")
    assert _find(layout, "cohort-filters")["data"] == ["stage:III", "age>=60"]
    expected = int(((obs["stage"] == "III") & (obs["age"] >= 60)).sum())
    assert _find(layout, "cohort-count")["children"] == (
        f"{expected} of {results.mdata.n_obs} patients match"
    )
    sex = _find(layout, {"type": "cohort-chart", "column": "sex"})["figure"]["data"][0]
    counts = obs.loc[(obs["stage"] == "III") & (obs["age"] >= 60), "sex"].astype(str).value_counts()
    assert dict(zip(sex["x"], _values(sex["y"]))) == counts.to_dict()
    assert _find(layout, "overview-clinical")["data"]  # the overview stays below


def _values(array):
    """A plotly array as sent (a list, or typed: {"dtype", "bdata"})."""
    if isinstance(array, dict) and "bdata" in array:
        import base64

        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_survival_forest_of_the_adjusted_cox_model_against_lifelines(served_results):
    from lifelines import CoxPHFitter

    from dashboards.survival import split_survival

    mdata = served_results.mdata
    feature = "original_shape_VoxelVolume"
    outcome = split_survival(
        mdata,
        f"radiomics:{feature}",
        time="os_months",
        event="os_event",
        split="cutoff",
        cutoff=2000,
        covariates=["age"],
    )
    raw = mdata["radiomics"][:, feature].layers["raw"].ravel()
    frame = pd.DataFrame(
        {
            "T": mdata.obs["os_months"].to_numpy(),
            "E": mdata.obs["os_event"].to_numpy(),
            "high": (raw > 2000).astype(float),
            "age": mdata.obs["age"].to_numpy(float),
        }
    )
    reference = CoxPHFitter().fit(frame, "T", "E").summary
    forest = outcome["forest"].data[0]
    hazard = dict(zip(forest.y, forest.x))
    assert hazard["> 2,000 mm³ vs ≤ 2,000 mm³"] == pytest.approx(
        reference.loc["high", "exp(coef)"], rel=1e-4
    )
    assert hazard["Age"] == pytest.approx(reference.loc["age", "exp(coef)"], rel=1e-4)


def test_patient_features_come_from_the_cohorts_curation():
    """Without association tables the patient page shows features the cohort's curation
    kept, one per feature class in turn, whatever the features are called."""
    from types import SimpleNamespace

    import mudata as md
    from anndata import AnnData

    from dashboards.profile import key_features

    names = [
        "original_shape_A",
        "original_shape_B",
        "wavelet-LLH_glcm_C",
        "original_firstorder_D",
        "original_glcm_E",
        "log-sigma-1_firstorder_F",
        "original_ngtdm_G",
    ]
    var = pd.DataFrame(
        {
            "robust": [True, True, True, False, True, True, True],
            "redundancy_kept": [True, False, True, True, True, True, True],
        },
        index=names,
    )
    radiomics = AnnData(np.zeros((2, len(names))), var=var, obs=pd.DataFrame(index=["p1", "p2"]))
    results = SimpleNamespace(mdata=md.MuData({"radiomics": radiomics}), associations={})
    # B is redundant, D not robust; original features before filtered ones; one class in turn
    assert key_features(results, n=10) == [
        "original_shape_A",
        "log-sigma-1_firstorder_F",
        "original_glcm_E",
        "original_ngtdm_G",
        "wavelet-LLH_glcm_C",
    ]
    assert key_features(results, n=2) == ["original_shape_A", "log-sigma-1_firstorder_F"]
