"""Security: saved models that cannot run code, the sign-in back-off and the equal cost of
wrong user names and wrong passwords, response headers, callback requests checked before
they run, the results folder's own pseudonym key, and commands that refuse early."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import statistics
import time
import zipfile
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

import radiogenomics as rg
from radiogenomics.errors import InputError

# --------------------------------------------------------------------------- models


def _marker_command(marker: Path) -> str:
    return f"touch {marker}"


def _crafted_skops(file: Path, marker: Path) -> Path:
    """A skops file whose schema asks the loader to call ``os.system("touch MARKER")``."""
    schema = {
        "__class__": "system",
        "__module__": "os",
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [
                {
                    "__class__": "str",
                    "__module__": "builtins",
                    "__loader__": "JsonNode",
                    "content": json.dumps(_marker_command(marker)),
                    "is_json": True,
                    "__id__": 2,
                }
            ],
            "__id__": 3,
        },
        "__id__": 1,
        "protocol": 2,
        "_skops_version": "0.16.0",
    }
    with zipfile.ZipFile(file, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    return file


class _Payload:
    """Unpickling this runs a shell command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_crafted_skops_model_is_refused_unread(tmp_path):
    import skops.io as sio

    marker = tmp_path / "ran"
    folder = tmp_path / "model"
    folder.mkdir()
    file = _crafted_skops(folder / "model.skops", marker)
    with pytest.raises(InputError, match="not trusted: os.system") as info:
        rg.tl.load_model(folder)
    assert str(file) in str(info.value)
    assert not marker.exists()
    # the payload is live: a loader that trusts the type runs it
    sio.load(file, trusted=["os.system"])
    assert marker.exists()


def test_pickled_model_is_refused_unless_trusted(tmp_path):
    import joblib

    marker = tmp_path / "ran"
    folder = tmp_path / "old-model"
    folder.mkdir()
    joblib.dump(_Payload(_marker_command(marker)), folder / "model.joblib", compress=3)
    with pytest.raises(InputError, match="saved as a pickle") as info:
        rg.tl.load_model(folder)
    assert "trust=True" in str(info.value) and "radiogenomics model" in str(info.value)
    assert not marker.exists()
    joblib.load(folder / "model.joblib")  # the payload is live
    assert marker.exists()


def test_damaged_model_files_are_clear_errors(tmp_path):
    (tmp_path / "noise.skops").write_bytes(b"\x00\x01not a model at all")
    with pytest.raises(InputError, match="not a saved model"):
        rg.tl.load_model(tmp_path / "noise.skops")
    (tmp_path / "cut.skops").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(InputError, match="cannot read the saved model"):
        rg.tl.load_model(tmp_path / "cut.skops")
    with pytest.raises(InputError, match="no saved model"):
        rg.tl.load_model(tmp_path / "nothing")


def _small_cohort(seed=0, n=60, p=10):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    names = [f"P{i:03d}" for i in range(n)]
    site = np.repeat(["A", "B", "C"], n // 3)
    X[site == "B"] += 0.7  # a batch effect for the harmonisation to remove
    radiomics = ad.AnnData(
        X, obs=pd.DataFrame(index=names), var=pd.DataFrame(index=[f"f{j}" for j in range(p)])
    )
    mdata = md.MuData({"radiomics": radiomics})
    mdata.obs["label"] = np.where(X[:, 0] + rng.normal(size=n) > 0.3, "mutant", "wild")
    mdata.obs["site"] = site
    mdata.obs["stage"] = pd.Categorical(rng.choice(["I", "II", "III"], n))
    return mdata


@pytest.mark.parametrize("learner", ["penalized", "random_forest"])
def test_saved_model_holds_only_trusted_types_and_predicts_the_same(tmp_path, learner):
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    from radiogenomics.tl.models.persistence import TRUSTED_TYPES

    mdata = _small_cohort()
    model = rg.tl.fit_model(
        mdata,
        "label",
        {"radiomics": None, "clinical": ["stage"]},
        model=learner,
        harmonize="site",
        redundancy=0.9,
        n_features=4,
        param_grid={},
        outer_folds=3,
        n_repeats=1,
        n_bootstraps=20,
        importance_repeats=1,
        store=False,
    )
    folder = model.save(tmp_path / "m", figures=False)
    assert not (folder / "model.joblib").exists()
    found = set(sio.get_untrusted_types(file=folder / "model.skops"))
    assert found <= set(TRUSTED_TYPES)
    assert "radiogenomics.stats.combat.CombatModel" in found  # the harmonisation is kept
    loaded = rg.tl.load_model(folder)
    assert isinstance(loaded.pipeline, Pipeline)
    pd.testing.assert_frame_equal(loaded.predict(mdata), model.predict(mdata))
    for table in ("metrics", "predictions", "importance", "curves"):
        pd.testing.assert_frame_equal(getattr(loaded, table), getattr(model, table))
    assert loaded.card["name"] == model.card["name"]
    # a file naming one type more than the library trusts is refused by that name
    with zipfile.ZipFile(folder / "model.skops") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = (
        members["schema.json"]
        .decode()
        .replace('"radiogenomics.stats.combat"', '"radiogenomics.stats.combat_elsewhere"')
    )
    members["schema.json"] = schema.encode()
    with zipfile.ZipFile(tmp_path / "altered.skops", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(InputError, match="combat_elsewhere.CombatModel"):
        rg.tl.load_model(tmp_path / "altered.skops")


def test_model_n_features_zero_is_a_one_line_error(tmp_path):
    cohort = tmp_path / "cohort.h5mu"
    cohort.write_bytes(b"")
    for value in ("0", "5,0", "-3"):
        result = run_cli(
            "model",
            str(cohort),
            "--target",
            "label",
            "--out",
            str(tmp_path / "m"),
            "--n-features",
            value,
            timeout=300,
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --n-features"), lines
        assert "Traceback" not in result.stderr
    with pytest.raises(InputError, match="at least 1"):
        rg.tl.models.build_pipeline("classification", n_features=[0, 5])


def test_demo_on_a_network_address_refuses_before_the_study(tmp_path):
    out = tmp_path / "demo"
    result = run_cli(
        "demo", "--out", str(out), "--host", "0.0.0.0", "--patients", "12", timeout=300
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to listen on 0.0.0.0 without authentication" in lines[0]
    assert "--no-serve" in lines[0]
    assert not out.exists()


# --------------------------------------------------------------------------- sign-in


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def users(tmp_path_factory):
    from dashboards.auth import add_user

    path = add_user(tmp_path_factory.mktemp("users") / "users.txt", "alice", "correct horse")
    return add_user(path, "bob", "battery staple")


def test_back_off_per_user_doubles_and_recovers(users):
    from dashboards.auth import BasicAuth

    clock = Clock()
    auth = BasicAuth(
        users,
        max_failures_per_user=3,
        max_failures_per_address=100,
        base_delay=10.0,
        max_delay=1000.0,
        clock=clock,
    )
    statuses = [auth.authenticate("alice", "wrong", "10.0.0.1").status for _ in range(3)]
    assert statuses == [401, 401, 401]
    blocked = auth.authenticate("alice", "correct horse", "10.0.0.2")  # even the right one
    assert blocked.status == 429 and blocked.retry_after == pytest.approx(10.0)
    assert auth.authenticate("bob", "battery staple", "10.0.0.1").status == 200  # others not
    clock.now += 10.5
    assert auth.authenticate("alice", "wrong", "10.0.0.1").status == 401  # one more try
    blocked = auth.authenticate("alice", "correct horse", "10.0.0.1")
    assert blocked.status == 429 and blocked.retry_after == pytest.approx(20.0)  # doubled
    clock.now += 20.5
    assert auth.authenticate("alice", "correct horse", "10.0.0.1").status == 200
    # the success cleared the count: three new failures before the next wait
    assert [auth.authenticate("alice", "no", "10.0.0.1").status for _ in range(3)] == [
        401,
        401,
        401,
    ]
    assert auth.authenticate("alice", "no", "10.0.0.1").status == 429


def test_back_off_per_address_and_unknown_users(users):
    from dashboards.auth import BasicAuth

    clock = Clock()
    auth = BasicAuth(
        users, max_failures_per_user=100, max_failures_per_address=4, base_delay=5.0, clock=clock
    )
    assert auth.authenticate("bob", "battery staple", "10.0.0.9").status == 200  # remembered
    for name in ("carol", "dave", "erin", "frank"):  # a different made-up name each time
        assert auth.authenticate(name, "guess", "10.0.0.9").status == 401
    assert auth.authenticate("alice", "correct horse", "10.0.0.9").status == 429
    assert auth.authenticate("alice", "correct horse", "10.0.0.8").status == 200
    # credentials already accepted go on working from the blocked address
    assert auth.authenticate("bob", "battery staple", "10.0.0.9").status == 200
    clock.now += 5.5
    assert auth.authenticate("alice", "correct horse", "10.0.0.9").status == 200


def test_unknown_user_costs_one_hash_like_a_wrong_password(users, monkeypatch):
    """Equal work (one scrypt check either way), counted; then equal time, measured."""
    import dashboards.auth as auth_module
    from dashboards.auth import BasicAuth

    auth = BasicAuth(users, max_failures_per_user=10_000, max_failures_per_address=10_000)
    calls = []
    real = auth_module.check_password_hash

    def counting(stored, password):
        calls.append(stored.split("$", 1)[0])
        return real(stored, password)

    monkeypatch.setattr(auth_module, "check_password_hash", counting)
    assert not auth.check("nobody", "whatever")
    assert not auth.check("alice", "whatever")
    assert len(calls) == 2 and calls[0] == calls[1]  # same scrypt parameters
    assert auth.check("alice", "correct horse") and len(calls) == 3
    assert auth.check("alice", "correct horse") and len(calls) == 3  # remembered, no hash
    monkeypatch.setattr(auth_module, "check_password_hash", real)

    unknown, wrong = [], []
    for i in range(7):  # interleaved, so that load on the machine hits both alike
        start = time.perf_counter()
        auth.check(f"nobody{i}", "whatever")
        unknown.append(time.perf_counter() - start)
        start = time.perf_counter()
        auth.check("alice", f"whatever{i}")
        wrong.append(time.perf_counter() - start)
    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(
        f"median unknown user {statistics.median(unknown) * 1e3:.1f} ms, wrong password "
        f"{statistics.median(wrong) * 1e3:.1f} ms"
    )
    assert ratio > 1 / 3 and ratio < 3  # within a factor of 3 (before: 8 ms vs 217 ms)


def test_hash_checks_are_bounded(users):
    from dashboards.auth import BasicAuth

    auth = BasicAuth(users, max_concurrent_hashes=1, hash_wait=0.05)
    assert auth.check("alice", "correct horse")
    auth._hashing.acquire()  # another request is hashing
    try:
        busy = auth.authenticate("bob", "battery staple", "10.0.0.1")
        assert busy.status == 503 and busy.retry_after >= 1
        assert auth.check("alice", "correct horse")  # remembered: needs no hash
    finally:
        auth._hashing.release()
    assert auth.check("bob", "battery staple")


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def app_auth(results_folder, users):
    from dashboards import create_app
    from dashboards.auth import BasicAuth

    auth = BasicAuth(users, max_failures_per_user=3, max_failures_per_address=50, base_delay=1.0)
    return create_app(results_folder, auth_file=auth)


@pytest.fixture(scope="module")
def app_open(results_folder):
    from dashboards import create_app

    return create_app(results_folder)


def test_http_lockout_answers_429_with_retry_after(app_auth):
    client = app_auth.server.test_client()
    env = {"REMOTE_ADDR": "192.0.2.7"}
    for _ in range(3):
        response = client.get("/", auth=("bob", "not it"), environ_base=env)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    locked = client.get("/", auth=("bob", "battery staple"), environ_base=env)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in locked.headers
    time.sleep(float(locked.headers["Retry-After"]) + 0.2)
    assert client.get("/", auth=("bob", "battery staple"), environ_base=env).status_code == 200


def test_security_headers(app_open):
    client = app_open.server.test_client()
    page = client.get("/")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'self'"
    # the hash of the renderer's inline start-up script is the one in the page
    import base64
    import re

    inline = re.findall(r"<script[^>]*>(.*?)</script>", page.get_data(as_text=True), re.S)
    runnable = [s for s in inline if s.strip() and "DashRenderer" in s]
    assert runnable
    for script in runnable:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives["script-src"]
    for response in (page, client.get("/_dash-layout"), client.get("/_dash-dependencies")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in response.headers
    script = re.search(r'src="(/_dash-component-suites/[^"]+)"', page.get_data(as_text=True))
    asset = client.get(script.group(1))
    assert asset.status_code == 200 and "no-store" not in asset.headers.get("Cache-Control", "")
    behind_tls = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.headers["Strict-Transport-Security"].startswith("max-age=")


def _spec(app, output_part: str) -> dict:
    return next(s for s in app._callback_list if output_part in s["output"])


def _body(app, output_part: str, values: dict, changed: str | None = None) -> dict:
    from dashboards.loadtest import _outputs

    spec = _spec(app, output_part)

    def fill(items):
        return [
            {
                "id": i["id"],
                "property": i["property"],
                "value": values.get(f"{i['id']}.{i['property']}"),
            }
            for i in items
        ]

    inputs = fill(spec["inputs"])
    return {
        "output": spec["output"],
        "outputs": _outputs(spec),
        "inputs": inputs,
        "state": fill(spec["state"]),
        "changedPropIds": [changed or f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }


def test_callbacks_with_garbage_get_4xx(app_open):
    import copy

    client = app_open.server.test_client()
    results = app_open.server.config["RADIOGENOMICS_RESULTS"]
    patient = results.display_id(results.patients[0])
    good = _body(app_open, "patient-body", {"patient-select.value": patient})
    assert client.post("/_dash-update-component", json=good).status_code == 200
    route = _body(app_open, "page.children", {"url.pathname": "/survival"})
    assert client.post("/_dash-update-component", json=route).status_code == 200

    def altered(body, change):
        body = copy.deepcopy(body)
        change(body)
        return body

    raw = [
        b"",
        b"{",
        b"not json",
        b"[1, 2]",
        b"null",
        b'"text"',
        b'{"output": "patient-body.children", "inputs": [{"value": NaN}]}',
        b"[" * 5000 + b"]" * 5000,
    ]
    crafted = [
        {},
        {"output": 3},
        {"output": "nothing.children", "outputs": {}, "inputs": []},
        altered(good, lambda b: b.pop("inputs")),
        altered(good, lambda b: b.pop("outputs")),
        altered(good, lambda b: b.update(inputs=[])),
        altered(good, lambda b: b.update(inputs=good["inputs"] * 2)),
        altered(good, lambda b: b.update(inputs="patient-select")),
        altered(
            good, lambda b: b.update(inputs=[{"id": "url", "property": "pathname", "value": "/"}])
        ),
        altered(good, lambda b: b["inputs"][0].update(property="children")),
        altered(good, lambda b: b["inputs"][0].update(id=["a list"])),
        altered(good, lambda b: b["inputs"][0].update(value={"$ne": 1})),
        altered(good, lambda b: b["inputs"][0].update(value=[patient, patient])),
        altered(good, lambda b: b["inputs"][0].update(value=12)),
        altered(good, lambda b: b.update(changedPropIds="patient-select.value")),
        altered(good, lambda b: b.update(state=[{"id": 1}])),
        altered(route, lambda b: b["inputs"][0].update(value={"path": "/"})),
        altered(route, lambda b: b["inputs"][0].update(value=["/survival"])),
    ]
    for spec_part, prop, value in [
        ("surv-rows.data", "page_current", "first"),
        ("surv-rows.data", "sort_by", "p_value"),
        ("surv-rows.data", "sort_by", [{"column_id": 1}]),
        ("surv-rows.data", "page_size", [10]),
    ]:
        spec = _spec(app_open, spec_part)
        values = {f"{i['id']}.{i['property']}": None for i in spec["inputs"]}
        body = _body(app_open, spec_part, values)
        for item in body["inputs"]:
            if item["property"] == prop:
                item["value"] = value
        crafted.append(body)
    statuses = []
    for data in raw:
        statuses.append(
            client.post(
                "/_dash-update-component", data=data, content_type="application/json"
            ).status_code
        )
    for body in crafted:
        statuses.append(client.post("/_dash-update-component", json=body).status_code)
    bad = [(i, s) for i, s in enumerate(statuses) if not 400 <= s < 500]
    assert not bad, bad
    big = b'{"output": "' + b"x" * 3_000_000 + b'"}'
    assert (
        client.post(
            "/_dash-update-component", data=big, content_type="application/json"
        ).status_code
        == 413
    )
    # a value of the right type that names nothing is the page's to answer, not a crash
    unknown = altered(good, lambda b: b["inputs"][0].update(value="PT-999999"))
    assert client.post("/_dash-update-component", json=unknown).status_code < 500


def test_library_input_errors_in_callbacks_are_400(app_open, monkeypatch, caplog):
    """An InputError raised by the library for a request is the request's fault (400),
    logged by its type only; other exceptions stay server errors (see test_dashboards)."""
    from dashboards.pages import patient as patient_page

    client = app_open.server.test_client()
    results = app_open.server.config["RADIOGENOMICS_RESULTS"]
    patient = results.display_id(results.patients[1])
    body = _body(app_open, "patient-body", {"patient-select.value": patient})

    def refuse(results, patient):
        raise InputError(f"nothing known about {patient}")

    monkeypatch.setattr(patient_page, "build_profile", refuse)
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 400
    assert "InputError" in caplog.text
    for name in results.patients:
        assert name not in caplog.text


# --------------------------------------------------------------------------- pseudonyms


def _expected_order(patients, key):
    digests = {p: hashlib.sha256(f"{key}\0{p}".encode()).hexdigest() for p in patients}
    return sorted(digests, key=digests.get)


def test_pseudonym_key_per_results_folder(results_folder, tmp_path):
    from dashboards.pseudonyms import KEY_FILE
    from dashboards.results import load_results

    first = shutil.copytree(results_folder, tmp_path / "first")
    (first / KEY_FILE).unlink(missing_ok=True)
    second = shutil.copytree(first, tmp_path / "second")
    a = load_results(first, pseudonymize=True)
    key_file = first / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) == 64 and key != "radiogenomics"
    shown = {p: a.display_id(p) for p in a.patients}
    order = _expected_order(a.patients, key)
    assert [shown[p] for p in order] == [f"PT-{i:03d}" for i in range(1, len(order) + 1)]
    again = load_results(first / "cohort.h5mu", pseudonymize=True)  # a restart
    assert {p: again.display_id(p) for p in again.patients} == shown
    assert key_file.read_text().strip() == key
    other = load_results(second, pseudonymize=True)
    assert (second / KEY_FILE).read_text().strip() != key
    assert {p: other.display_id(p) for p in other.patients} != shown
    given = load_results(first, pseudonymize=True, pseudonym_key="board secret")
    order = _expected_order(given.patients, "board secret")
    assert given.display_id(order[0]) == "PT-001"
    assert key_file.read_text().strip() == key  # an explicit key leaves the file alone
    key_file.chmod(0o644)
    load_results(first, pseudonymize=True)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
