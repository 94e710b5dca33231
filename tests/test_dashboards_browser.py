"""The dashboards in a real headless Chromium (Playwright): every page loads without a
console error or a failed callback, the controls update the figures, a volcano click opens
the pair, the patient view shows the chosen patient, the download gives the filtered
rows, and a server with authentication refuses a browser without credentials.

Screenshots go to test-artifacts/ (RADIOGENOMICS_TEST_ARTIFACTS).
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from dashboard_support import PASSWORD, PageWatch, screenshot, wait_for_callbacks

TABLE = "associations_radiomics_rna"
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture
def page(browser, live_app):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.mark.parametrize(
    "path, name, marker",
    [
        ("/", "overview", "#overview-qc-0"),
        ("/associations", "associations", "#assoc-volcano .main-svg"),
        ("/survival", "survival", "#surv-km"),
        ("/patient", "patient", "#patient-shown"),
        ("/models", "models", "#models-roc .main-svg"),
        ("/subtypes", "subtypes", "#subtypes-embedding .main-svg"),
        ("/compare?a=stage:III&b=stage:I", "compare", "#compare-km .main-svg"),
    ],
)
def test_page_loads_cleanly(page, live_app, path, name, marker):
    watch = PageWatch(page)
    page.goto(live_app.url + path)
    page.wait_for_selector(marker)
    wait_for_callbacks(page)
    screenshot(page, name)
    watch.assert_clean()


def _count_text(page) -> str:
    return page.locator("#assoc-count").inner_text()


def test_association_filters_update_figures_and_download(page, live_app, results_folder):
    watch = PageWatch(page)
    page.goto(live_app.url + "/associations")
    page.wait_for_selector("#assoc-volcano .main-svg")
    wait_for_callbacks(page)
    before = _count_text(page)
    points_before = page.evaluate(
        "() => document.getElementById('assoc-volcano').querySelector('.js-plotly-plot')"
        "._fullData.reduce((n, t) => n + t.x.length, 0)"
    )
    # a gene search (server-side filter) changes the count, the volcano and the table
    page.fill("#assoc-y-search", "G001")
    page.press("#assoc-y-search", "Enter")
    page.wait_for_function(f"() => document.getElementById('assoc-count').innerText !== {before!r}")
    wait_for_callbacks(page)
    points_after = page.evaluate(
        "() => document.getElementById('assoc-volcano').querySelector('.js-plotly-plot')"
        "._fullData.reduce((n, t) => n + t.x.length, 0)"
    )
    assert points_after < points_before
    ys = page.locator("#assoc-rows td[data-dash-column='y']").all_inner_texts()
    assert ys and all("g001" in y.lower() for y in ys)
    # the q threshold too
    page.click("#assoc-q")
    page.get_by_role("option", name="0.25").click()
    wait_for_callbacks(page)
    text = _count_text(page)
    shown = int(text.split(" of ")[0].replace(",", ""))
    # download: exactly the filtered rows
    with page.expect_download() as info:
        page.click("#assoc-download")
    path = info.value.path()
    downloaded = pd.read_csv(path)
    frame = pd.read_parquet(results_folder / "results" / f"{TABLE}.parquet")
    expected = frame[
        (frame["q_value"] <= 0.25) & frame["y"].str.lower().str.contains("g001", regex=False)
    ]
    assert len(downloaded) == len(expected) == shown
    assert sorted(zip(downloaded["x"], downloaded["y"])) == sorted(
        zip(expected["x"], expected["y"])
    )
    screenshot(page, "associations-filtered")
    watch.assert_clean()


def test_volcano_click_opens_pair_plot(page, live_app):
    watch = PageWatch(page)
    page.goto(live_app.url + "/associations")
    page.wait_for_selector("#assoc-volcano .main-svg")
    wait_for_callbacks(page)
    # where the most significant point is drawn
    position = page.evaluate("""() => {
        const gd = document.getElementById('assoc-volcano').querySelector('.js-plotly-plot');
        let best = null;
        gd._fullData.filter(t => t.customdata).forEach((t, i) => t.y.forEach((y, j) => {
            if (best === null || y > best.y) best = {x: t.x[j], y: y, name: t.customdata[j]};
        }));
        const L = gd._fullLayout, box = gd.querySelector('.nsewdrag').getBoundingClientRect();
        return {px: box.left + L.xaxis.d2p(best.x), py: box.top + L.yaxis.d2p(best.y),
                pair: best.name};
    }""")
    page.mouse.move(position["px"], position["py"])
    page.mouse.click(position["px"], position["py"])
    page.wait_for_selector("#pair-name")
    wait_for_callbacks(page)
    assert (
        page.locator("#pair-name").inner_text() == f"{position['pair'][0]} ~ {position['pair'][1]}"
    )
    traces = page.evaluate(
        "() => document.getElementById('assoc-pair').querySelector('.js-plotly-plot').data.length"
    )
    assert traces >= 1
    screenshot(page, "association-pair")
    watch.assert_clean()


def test_survival_split_updates_the_curves(page, live_app):
    import radiogenomics as rg

    if not callable(getattr(rg.tl, "kaplan_meier", None)):
        pytest.skip("the survival tools (rg.tl.kaplan_meier, ...) are not in this version")
    watch = PageWatch(page)
    page.goto(live_app.url + "/survival")
    page.wait_for_selector("#surv-stats table")
    wait_for_callbacks(page)
    median = page.locator("#surv-stats").inner_text()
    assert "log-rank p" in median
    page.click("#surv-split")
    page.get_by_role("option", name="tertiles").click()
    page.wait_for_function(f"() => document.getElementById('surv-stats').innerText !== {median!r}")
    wait_for_callbacks(page)
    assert "(3 groups, 2 df)" in page.locator("#surv-stats").inner_text()
    assert page.locator("#surv-groups tbody tr").count() == 3
    assert "split=tertiles" in page.url
    # a row of the screen picks its feature
    feature = page.locator("#surv-rows td[data-dash-column='feature']").nth(2).inner_text()
    page.locator("#surv-rows td[data-dash-column='feature']").nth(2).click()
    page.wait_for_function(
        "(f) => document.querySelector('#surv-variable').innerText.includes(f)", arg=feature
    )
    wait_for_callbacks(page)
    screenshot(page, "survival-tertiles")
    watch.assert_clean()


def test_patient_view_shows_the_chosen_patient(page, live_app):
    watch = PageWatch(page)
    results = live_app.app.server.config["RADIOGENOMICS_RESULTS"]
    chosen = sorted(results.patients)[5]
    page.goto(live_app.url + "/patient")
    page.wait_for_selector("#patient-shown")
    wait_for_callbacks(page)
    first = page.locator("#patient-shown").inner_text()
    assert first != chosen
    page.click("#patient-select")
    page.keyboard.type(chosen)
    page.get_by_role("option", name=chosen, exact=True).click()
    page.wait_for_function(
        f"() => document.getElementById('patient-shown').innerText === {chosen!r}"
    )
    wait_for_callbacks(page)
    assert page.locator("#patient-image .main-svg").count() >= 1
    group = str(results.mdata.obs.loc[chosen, "demo_risk_group"])
    assert page.locator("#patient-risk").inner_text().endswith(f"group {group}")
    predicted = results.mdata.uns["radiogenomics"]["model_predictions"]["response_model"]
    label = predicted.set_index("patient_id").loc[chosen, "predicted_label"]
    assert label in page.locator("#patient-predictions").inner_text()
    assert page.locator("#patient-similar td").count() > 0
    mutations = results.mdata["mutation"][chosen].to_df().iloc[0]
    expected = sorted(mutations.index[mutations.to_numpy() > 0])
    if expected:
        genes = page.locator("#patient-mutations td[data-dash-column='gene']").all_inner_texts()
        assert sorted(set(genes)) == expected
    else:
        assert page.locator("#patient-mutations").inner_text() == "none of the genes tested"
    assert f"patient={chosen}" in page.url
    screenshot(page, "patient-chosen")
    with page.expect_download() as info:
        page.click("#patient-print")
    summary = open(info.value.path(), encoding="utf-8").read()
    assert f"Tumor board summary: {chosen}" in summary and "data:image/png;base64," in summary
    # it prints on one A4 page
    printed = page.context.new_page()
    printed.set_content(summary)
    printed.emulate_media(media="print")
    pdf = printed.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    printed.close()
    watch.assert_clean()


def test_authentication_in_the_browser(browser, live_app_auth):
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    assert context.request.get(live_app_auth.url + "/").status == 401
    # Chromium answers the refused page with an authentication error, not the page
    try:
        response = page.goto(live_app_auth.url + "/")
    except PlaywrightError as exc:
        assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc)
    else:
        assert response.status == 401
    assert page.locator("#page").count() == 0
    context.close()
    context = browser.new_context(
        viewport=VIEWPORT, http_credentials={"username": "board", "password": PASSWORD}
    )
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(live_app_auth.url + "/patient")
    page.wait_for_selector("#patient-shown")
    wait_for_callbacks(page)
    assert page.locator("#patient-shown").inner_text().startswith("PT-")  # pseudonymised
    text = page.locator("body").inner_text()
    results = live_app_auth.app.server.config["RADIOGENOMICS_RESULTS"]
    assert not any(patient in text for patient in results.patients)
    screenshot(page, "patient-pseudonymised")
    page.goto(live_app_auth.url + "/")
    page.wait_for_selector("#overview-join")
    wait_for_callbacks(page)
    report = results.mdata.uns["radiogenomics"]["join_report"]
    text = page.locator("body").inner_text()
    assert not any(patient in text for patient in report["patient_id"])
    watch.assert_clean()
    context.close()


def test_readme_tour_screenshot(browser, live_app):
    """The screenshot of the README's tour: the explorer with a pair opened from the table."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(live_app.url + "/associations")
    page.wait_for_selector("#assoc-volcano .main-svg")
    wait_for_callbacks(page)
    page.locator("#assoc-rows td[data-dash-column='x']").first.click()
    page.wait_for_selector("#pair-name")
    wait_for_callbacks(page)
    first_row = page.locator("#assoc-rows td[data-dash-column='x']").first.inner_text()
    assert page.locator("#pair-name").inner_text().startswith(first_row)
    path = screenshot(page, "readme-associations")
    assert path.stat().st_size > 10_000
    watch.assert_clean()
    context.close()


def _legend(page, graph: str) -> list[str]:
    # the figure is drawn after the callbacks answer: wait for plotly's data on the page
    page.wait_for_function(
        f"() => document.querySelector('#{graph} .js-plotly-plot')?.data !== undefined"
    )
    return page.evaluate(f"""() => document.getElementById('{graph}')
        .querySelector('.js-plotly-plot').data
        .filter(t => t.showlegend !== false && t.name).map(t => t.name.split(' (n=')[0])""")


def test_survival_by_stage_from_a_link(page, live_app):
    """``/survival?variable=stage``: one curve per stage, the k-group test, the counts."""
    watch = PageWatch(page)
    page.goto(live_app.url + "/survival?variable=stage")
    page.wait_for_selector("#surv-groups")
    wait_for_callbacks(page)
    results = live_app.app.server.config["RADIOGENOMICS_RESULTS"]
    stage = results.mdata.obs["stage"].astype(str)
    levels = sorted(stage.unique())
    assert sorted(_legend(page, "surv-km")) == levels
    rows = page.locator("#surv-groups tbody tr").all_inner_texts()
    counts = {row.split("\t")[0]: int(row.split("\t")[1]) for row in rows}
    assert counts == stage.value_counts().to_dict()
    assert (
        f"({len(levels)} groups, {len(levels) - 1} df)" in page.locator("#surv-stats").inner_text()
    )
    titles = page.evaluate("""() => Array.from(document.querySelectorAll(
        '#surv-km .g-xtitle text, #surv-km .g-x2title text')).map(t => t.textContent)""")
    assert "OS (months)" in titles
    assert page.locator("#nav-survival").get_attribute("class").endswith("rg-nav-active")
    screenshot(page, "survival-stage")
    watch.assert_clean()


def test_survival_cut_off_in_mm3_and_the_address(page, live_app):
    """A typed cut-off in mm³ from the link; a new split is written to the address and
    read again when the page is reloaded."""
    watch = PageWatch(page)
    feature = "original_shape_VoxelVolume"
    page.goto(live_app.url + f"/survival?variable=radiomics:{feature}&split=2000")
    page.wait_for_selector("#surv-groups")
    wait_for_callbacks(page)
    assert page.input_value("#surv-cutoff") == "2000"
    assert _legend(page, "surv-km") == ["≤ 2,000 mm³", "> 2,000 mm³"]
    results = live_app.app.server.config["RADIOGENOMICS_RESULTS"]
    raw = results.mdata["radiomics"][:, feature].layers["raw"].ravel()
    rows = page.locator("#surv-groups tbody tr").all_inner_texts()
    assert [int(r.split("\t")[1]) for r in rows] == [
        int((raw <= 2000).sum()),
        int((raw > 2000).sum()),
    ]
    page.click("#surv-split")
    page.get_by_role("option", name="optimal cut-point (corrected)").click()
    page.wait_for_url(re.compile(r".*split=optimal.*"))
    page.wait_for_function(
        "() => document.getElementById('surv-stats').innerText.includes('optimal cut-point')"
    )
    wait_for_callbacks(page)
    text = page.locator("#surv-stats").inner_text()
    cut = float(re.search(r"optimal cut-point\s+([\d,.]+) mm³", text).group(1).replace(",", ""))
    assert raw.min() <= cut <= raw.max()
    page.reload()
    page.wait_for_selector("#surv-groups")
    wait_for_callbacks(page)
    assert "optimal cut-point" in page.locator("#surv-stats").inner_text()
    screenshot(page, "survival-optimal-mm3")
    watch.assert_clean()


def test_associations_link_filters_and_writes_the_pair(page, live_app):
    """``/associations?pair=radiomics_vs_rna&gene=...&q=...`` opens filtered; a chosen row
    is written to the address, marked on the volcano and shown again after a reload."""
    watch = PageWatch(page)
    page.goto(live_app.url + "/associations?pair=radiomics_vs_rna&gene=G001&q=0.25")
    page.wait_for_selector("#assoc-volcano .main-svg")
    wait_for_callbacks(page)
    assert page.input_value("#assoc-y-search") == "G001"
    ys = page.locator("#assoc-rows td[data-dash-column='y']").all_inner_texts()
    assert ys and all("g001" in y.lower() for y in ys)
    names = page.evaluate(
        "() => document.getElementById('assoc-volcano')"
        ".querySelector('.js-plotly-plot').data.map(t => t.name)"
    )
    assert names[0] == "all pairs (thinned)"
    assert page.locator("#assoc-volcano .shapelayer path").count() >= 1  # the q line
    page.locator("#assoc-rows td[data-dash-column='x']").first.click()
    page.wait_for_selector("#pair-name")
    pair = page.locator("#pair-name").inner_text()
    x, y = pair.split(" ~ ")
    page.wait_for_url(re.compile(r".*[?&]x=.*"))
    assert f"y={y}" in page.url and "gene=G001" in page.url and "q=0.25" in page.url
    page.wait_for_function(
        "() => document.getElementById('assoc-volcano')"
        ".querySelector('.js-plotly-plot').layout.annotations.length === 1"
    )
    page.reload()
    page.wait_for_selector("#pair-name")
    wait_for_callbacks(page)
    assert page.locator("#pair-name").inner_text() == pair
    assert page.locator("#assoc-volcano .annotation-text").text_content() == pair
    assert page.locator("#nav-associations").get_attribute("class").endswith("rg-nav-active")
    screenshot(page, "associations-link")
    watch.assert_clean()


@pytest.mark.parametrize(
    "path", ["/", "/associations", "/survival", "/patient", "/models", "/subtypes", "/compare"]
)
def test_nothing_runs_past_the_right_edge_at_1280(browser, live_app, path):
    """At 1280 px no card, table or plot reaches past the window's right edge and the
    page needs no horizontal scrolling."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(live_app.url + path)
    page.wait_for_selector("#page > *")
    wait_for_callbacks(page)
    overflow = page.evaluate("""() => {
        const out = [];
        document.querySelectorAll('.rg-card, .dash-table-container, .js-plotly-plot')
          .forEach(e => { const r = e.getBoundingClientRect();
                          if (r.right > window.innerWidth + 1) out.push(e.className); });
        return {items: out, scroll: document.documentElement.scrollWidth};
    }""")
    assert overflow["items"] == [] and overflow["scroll"] <= 1280
    context.close()


def test_patient_link_slices_windows_and_similar_rows(page, live_app):
    """``/patient?patient=ID`` opens that patient; the slider moves through the slices,
    a window preset sets the grey levels, a similar patient's row opens that patient (and
    the address follows); printing leaves out the navigation and controls."""
    watch = PageWatch(page)
    results = live_app.app.server.config["RADIOGENOMICS_RESULTS"]
    chosen = sorted(results.patients)[7]
    page.goto(live_app.url + f"/patient?patient={chosen}")
    page.wait_for_selector("#patient-image .main-svg")
    wait_for_callbacks(page)
    assert page.locator("#patient-shown").inner_text() == chosen
    assert "Age" in page.locator("#patient-clinical").inner_text()
    assert page.locator("#patient-clinical").locator(".previous-next-container").count() == 0

    def heat():
        return page.evaluate(
            "() => { const d = document.getElementById('patient-image')"
            ".querySelector('.js-plotly-plot').data[0];"
            "return {z: JSON.stringify(d.z).length + ':' + "
            "JSON.stringify(d.z).slice(0, 400), zmin: d.zmin}; }"
        )

    before = heat()
    page.focus("#patient-slice .rc-slider-handle, #patient-slice [role='slider']")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "(z) => JSON.stringify(document.getElementById('patient-image')"
        ".querySelector('.js-plotly-plot').data[0].z).slice(0, 400) !== z",
        arg=before["z"].split(":", 1)[1],
    )
    page.click("#patient-window")
    page.get_by_role("option", name="CT soft tissue").click()
    page.wait_for_function(
        "() => document.getElementById('patient-image')"
        ".querySelector('.js-plotly-plot').data[0].zmin === -160"
    )
    assert page.locator("#patient-image .annotation-text").first.text_content().endswith("mm")
    other = page.locator("#patient-similar td[data-dash-column='patient_id']").first.inner_text()
    page.locator("#patient-similar td[data-dash-column='patient_id']").first.click()
    page.wait_for_function(
        f"() => document.getElementById('patient-shown').innerText === {other!r}"
    )
    page.wait_for_url(re.compile(rf".*patient={re.escape(other)}.*"))
    wait_for_callbacks(page)
    screenshot(page, "patient-link")
    page.emulate_media(media="print")
    assert not page.locator(".rg-header").is_visible()
    assert not page.locator("#patient-select").is_visible()
    assert page.locator("#patient-shown").is_visible()
    page.emulate_media(media="screen")
    watch.assert_clean()


def test_navigation_marks_the_page_and_keeps_addresses(page, live_app):
    """Moving between pages by the navigation marks the page shown; the browser's own
    history returns to an earlier address."""
    watch = PageWatch(page)
    page.goto(live_app.url + "/survival?variable=stage")
    page.wait_for_selector("#surv-groups")
    wait_for_callbacks(page)
    page.click("#nav-models")
    page.wait_for_selector("#models-roc .main-svg")
    wait_for_callbacks(page)
    assert page.locator("#nav-models").get_attribute("class").endswith("rg-nav-active")
    assert not page.locator("#nav-survival").get_attribute("class").endswith("rg-nav-active")
    assert "ROC" in page.locator("#page").inner_text()
    screenshot(page, "models-from-nav")
    page.go_back(wait_until="commit")
    page.wait_for_function(
        "() => location.pathname === '/survival' && location.search === '?variable=stage'"
    )
    page.wait_for_selector("#surv-groups")
    wait_for_callbacks(page)
    assert page.locator("#surv-variable").inner_text().startswith("clinical: Stage")
    watch.assert_clean()


def test_compare_groups_typed_and_in_the_address(page, live_app):
    watch = PageWatch(page)
    page.goto(live_app.url + "/compare?a=stage:III&b=stage:I")
    page.wait_for_selector("#compare-km .main-svg")
    wait_for_callbacks(page)
    assert "stage:III" in page.locator("#compare-sizes").inner_text()
    page.fill("#compare-b", "stage:II")
    page.press("#compare-b", "Enter")
    page.wait_for_function(
        "() => document.getElementById('compare-sizes').innerText.includes('B: stage:II')"
    )
    page.wait_for_function("() => new URLSearchParams(location.search).get('b') === 'stage:II'")
    wait_for_callbacks(page)
    results = live_app.app.server.config["RADIOGENOMICS_RESULTS"]
    second = int((results.mdata.obs["stage"] == "II").sum())
    assert f"B: stage:II\t{second} patients" in page.locator("#compare-sizes").inner_text()
    screenshot(page, "compare-rest")
    watch.assert_clean()


def test_cohort_charts_filter_with_chips_in_the_address(page, live_app):
    """A click on a bar adds a filter chip (kept in the address), a click on the chip
    removes it."""
    watch = PageWatch(page)
    results = live_app.app.server.config["RADIOGENOMICS_RESULTS"]
    obs = results.mdata.obs
    page.goto(live_app.url + "/?filter=stage:III")
    page.wait_for_selector("#cohort-count")
    wait_for_callbacks(page)
    n_stage = int((obs["stage"] == "III").sum())
    assert page.locator("#cohort-count").inner_text().startswith(f"{n_stage} of")
    chart = page.locator("[id*='cohort-chart'][id*='\\\"sex\\\"']").first
    bar = chart.locator(".bars .point path").first
    bar.click(force=True)
    page.wait_for_function(
        "() => new URLSearchParams(location.search).get('filter').split(';').length === 2"
    )
    wait_for_callbacks(page)
    chosen = page.evaluate("() => new URLSearchParams(location.search).get('filter')")
    level = chosen.split(";")[1].split(":", 1)[1]
    expected = int(((obs["stage"] == "III") & (obs["sex"].astype(str) == level)).sum())
    page.wait_for_function(
        f"() => document.getElementById('cohort-count').innerText.startsWith('{expected} of')"
    )
    assert page.locator(".rg-chip").count() == 2
    screenshot(page, "cohort-filtered")
    page.locator(".rg-chip").first.click()
    page.wait_for_function(
        f"() => new URLSearchParams(location.search).get('filter') === 'sex:{level}'"
    )
    wait_for_callbacks(page)
    assert page.locator(".rg-chip").count() == 1
    watch.assert_clean()


def test_patient_pdf(browser, live_app):
    """``/patient/<id>.pdf``: a PDF with text (the patient, the version) on its pages."""
    import io

    from pypdf import PdfReader

    results = live_app.app.server.config["RADIOGENOMICS_RESULTS"]
    chosen = sorted(results.patients)[2]
    context = browser.new_context()
    response = context.request.get(live_app.url + f"/patient/{chosen}.pdf", timeout=120_000)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    body = response.body()
    assert body.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(body))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 1
    assert f"Tumor board summary: {chosen}" in text
    import radiogenomics as rg

    assert f"radiogenomics {rg.__version__}" in text and "page 1 of" in text
    assert context.request.get(live_app.url + "/patient/nobody.pdf").status == 404
    context.close()
