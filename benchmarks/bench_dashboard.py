"""Load test of the association explorer on loopback.

20 simulated users run the explorer's callbacks (filter, volcano and heatmap, pages,
sorts, a pair) for 60 seconds against a 20-million-row association table served by
``radiogenomics serve`` in its own process. Prints requests served, errors, p50/p95
callback latency, the server's memory, the first page load, and beside them what a user
would otherwise do: load the table with pandas and filter it in memory.

The first page load is measured as a user sees it: a new headless Chromium (empty cache)
opens the page, and the time runs until its figures hold their data and are drawn, its
tables hold rows and no callback is pending. That is measured for the explorer over the
large table, and for every page over the demo's results (``radiogenomics demo --no-serve``,
made once in the work folder).

    python benchmarks/bench_dashboard.py            # 20 users, 60 s, 20 million rows
    python benchmarks/bench_dashboard.py --quick    # 5 users, 10 s, 1 million rows
    python benchmarks/bench_dashboard.py --demo radiogenomics-demo   # demo results given
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboards.loadtest import run_load  # noqa: E402
from dashboards.synthetic import write_association_table  # noqa: E402

TABLE = "associations_radiomics_rna"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process, limit: float = 1800) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped: {process.stderr.read()}")
        try:
            if requests.get(url + "/", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not start")


def start_server(folder: Path, cache_dir: Path):
    """``radiogenomics serve FOLDER`` in its own process on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [
        sys.executable,
        "-m",
        "radiogenomics",
        "serve",
        str(folder),
        "--port",
        str(port),
        "--cache-dir",
        str(cache_dir),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    return url, process


def stop_server(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def demo_results(workdir: Path, quick: bool) -> Path:
    """The demo's results folder (``radiogenomics demo --no-serve``), made once."""
    folder = workdir / ("demo-quick" if quick else "demo")
    if not (folder / "cohort.h5mu").exists():
        print(f"Running the demo into {folder} ...", flush=True)
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "radiogenomics",
                "demo",
                "--out",
                str(folder),
                "--no-serve",
                *(["--patients", "40"] if quick else []),
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return folder


def first_page_load(url: str) -> float:
    """Seconds for what a browser fetches before the explorer shows: the page, layout,
    callbacks, scripts and the first callbacks."""
    session = requests.Session()
    started = time.perf_counter()
    page = session.get(url + "/associations", timeout=60)
    for src in [p.split('"')[0] for p in page.text.split('src="')[1:]]:
        session.get(url + src if src.startswith("/") else src, timeout=60)
    # the layout of the page the browser shows (named by the Referer a browser sends)
    session.get(url + "/_dash-layout", headers={"Referer": url + "/associations"}, timeout=60)
    session.get(url + "/_dash-dependencies", timeout=60)
    return time.perf_counter() - started


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: What each page shows once it has loaded: graphs that must be drawn and tables that must
#: be rendered (an id missing from the page, e.g. a table of a kind the results lack, is
#: not waited for).
PAGES = {
    "/": {"graphs": ["overview-overlap"], "tables": ["overview-clinical"]},
    "/associations": {"graphs": ["assoc-volcano", "assoc-heatmap"], "tables": ["assoc-rows"]},
    "/survival": {
        "graphs": ["surv-km"],
        "tables": ["surv-rows"],
        "selectors": ["#surv-stats table"],
    },
    "/patient": {"graphs": ["patient-percentiles"], "selectors": ["#patient-shown"]},
}

#: Loaded: no callback pending; each graph drawn with its data, or with a message when it
#: has none (an empty placeholder does not count); each table rendered.
READY = """(spec) => {
    if (!document.querySelector('#page') || !document.querySelector('#page').children.length)
        return false;
    if (document.querySelector('[data-dash-is-loading="true"]')) return false;
    for (const id of spec.graphs || []) {
        const gd = document.querySelector('#' + id + ' .js-plotly-plot');
        if (!gd || !gd._fullLayout || !gd.querySelector('.main-svg')) return false;
        const message = (gd.layout.annotations || []).length > 0;
        if (!(gd.data && gd.data.length) && !message) return false;
    }
    for (const id of spec.tables || []) {
        if (document.getElementById(id) && !document.querySelector('#' + id + ' .dash-spreadsheet'))
            return false;
    }
    for (const selector of spec.selectors || [])
        if (!document.querySelector(selector)) return false;
    return true;
}"""


def browser_load(url: str, path: str, spec: dict | None = None) -> dict | None:
    """A first visit of one page in a new headless Chromium (empty cache): seconds until
    the page's figures hold their data and are drawn, its tables hold rows and no
    callback is pending ("drawn"), and until its last request finished ("network")."""
    if not CHROMIUM.exists():
        return None
    from playwright.sync_api import sync_playwright

    spec = spec or PAGES.get(path, {})
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        finished: list[float] = []
        page.on("requestfinished", lambda request: finished.append(time.perf_counter()))
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
        started = time.perf_counter()
        page.goto(url + path)
        page.wait_for_function(READY, arg=spec, polling="raf", timeout=120_000)
        drawn = time.perf_counter() - started
        page.wait_for_load_state("networkidle")
        network = max(finished) - started if finished else float("nan")
        browser.close()
    return {"drawn_s": drawn, "network_s": network, "errors": errors}


def browser_loads(url: str, paths, repeat: int = 3) -> dict[str, dict] | None:
    """:func:`browser_load` of each page, ``repeat`` times (pages in turn): the median and
    the best of the runs, in milliseconds."""
    import statistics

    if not CHROMIUM.exists():
        return None
    runs: dict[str, list[dict]] = {p: [] for p in paths}
    for _ in range(repeat):
        for path in paths:
            runs[path].append(browser_load(url, path))
    out = {}
    for path, found in runs.items():
        drawn = [r["drawn_s"] * 1000 for r in found]
        network = [r["network_s"] * 1000 for r in found]
        out[path] = {
            "drawn_ms": round(statistics.median(drawn)),
            "drawn_best_ms": round(min(drawn)),
            "network_ms": round(statistics.median(network)),
            "runs_ms": [round(v) for v in drawn],
            "errors": sorted({e for r in found for e in r["errors"]}),
        }
    return out


def pandas_reference(path: Path) -> dict:
    """Load the whole table with pandas and run one explorer query in memory."""
    import pandas as pd

    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    frame = pd.read_parquet(path)
    load = time.perf_counter() - started
    peak = process.memory_info().rss - before
    started = time.perf_counter()
    part = frame[(frame["q_value"] <= 0.05) & frame["y"].str.contains("G001", regex=False)]
    part.sort_values("p_value").head(15)
    query = time.perf_counter() - started
    return {
        "load_s": round(load, 1),
        "query_ms": round(query * 1000, 1),
        "memory_mb": round(peak / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--rows", type=int, default=None, help="table rows (millions)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the table and cache go (kept between runs)",
    )
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
    parser.add_argument(
        "--demo",
        type=Path,
        default=None,
        help="results of 'radiogenomics demo' to load in Chromium page by page "
        "(default: made once in the workdir)",
    )
    parser.add_argument(
        "--no-demo", action="store_true", help="skip the page loads of the demo results"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="first loads of each page in Chromium (median reported)",
    )
    args = parser.parse_args()
    users = args.users or (5 if args.quick else 20)
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    millions = args.rows or (1 if args.quick else 20)
    workdir = args.workdir or Path(tempfile.gettempdir()) / "radiogenomics-bench-dashboard"
    folder = workdir / f"results-{millions}m"
    table = folder / "results" / f"{TABLE}.parquet"
    n_x = 1000 if millions >= 1 else 100
    n_y = millions * 1_000_000 // n_x
    if not table.exists():
        print(f"Writing a {n_x * n_y:,}-row association table ...", flush=True)
        write_association_table(table, n_x=n_x, n_y=n_y, seed=1, n_signal=20_000)
    size_mb = table.stat().st_size / 2**20

    url, process = start_server(folder, workdir / "cache")
    try:
        startup = wait_until_up(url, process)
        server = psutil.Process(process.pid)
        memory_idle = server.memory_info().rss
        page_load = first_page_load(url)
        load_before = os.getloadavg()[0]
        browser = browser_loads(url, ["/associations"], repeat=args.repeat)
        peak = [server.memory_info().rss]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                try:
                    peak.append(server.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        print(f"Load: {users} users for {seconds:.0f} s ...", flush=True)
        result = run_load(
            url,
            TABLE,
            users=users,
            seconds=seconds,
            classes=["glcm", "firstorder", "shape"],
            searches=["G0001", "MKI67", "G12"],
        )
        sampling.set()
        sampler.join()
        memory_end = server.memory_info().rss
    finally:
        stop_server(process)
    demo = None
    if not args.no_demo and browser is not None:
        demo_folder = args.demo or demo_results(workdir, args.quick)
        url, process = start_server(demo_folder, workdir / "cache")
        try:
            wait_until_up(url, process)
            demo = browser_loads(url, list(PAGES), repeat=args.repeat)
        finally:
            stop_server(process)
    load_after = os.getloadavg()[0]
    summary = result.summary()
    reference = None if args.no_pandas else pandas_reference(table)
    print()
    print(
        f"association table: {n_x * n_y:,} rows, Parquet {size_mb:,.0f} MB; machine: "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"server start (first time includes building the serving database): {startup:.1f} s")
    print(
        f"first page load: {page_load * 1000:.0f} ms over HTTP"
        + (
            f", {browser['/associations']['drawn_ms']} ms in Chromium until the volcano is drawn"
            if browser is not None
            else ""
        )
    )
    print(f"{'':28s}{'dashboard (DuckDB)':>22s}{'pandas in memory':>20s}")
    print(f"{'requests served':28s}{summary['requests']:>22,d}")
    print(f"{'errors':28s}{summary['errors']:>22d}")
    print(f"{'requests per second':28s}{summary['requests_per_second']:>22.1f}")
    print(
        f"{'p50 callback latency (ms)':28s}{summary['p50_ms']:>22.1f}"
        + (f"{reference['query_ms']:>20.1f}" if reference else "")
    )
    print(f"{'p95 callback latency (ms)':28s}{summary['p95_ms']:>22.1f}")
    print(
        f"{'server memory (MB)':28s}"
        f"{f'{memory_idle / 2**20:.0f} idle, {max(peak) / 2**20:.0f} peak':>22s}"
        + (f"{reference['memory_mb']:>20d}" if reference else "")
    )
    if reference:
        print(f"{'load the table (s)':28s}{startup:>22.1f}{reference['load_s']:>20.1f}")
    print("per callback:", json.dumps(summary["callbacks"]))
    if browser is not None:
        print()
        print(
            f"First load of each page in a new headless Chromium (empty cache), median of "
            f"{args.repeat} [best]; load average {load_before:.1f} before, {load_after:.1f} "
            "after:"
        )
        print(f"{'':34s}{'figures and tables drawn':>28s}{'last request done':>20s}")
        rows = [
            (f"{n_x * n_y / 1e6:g}M-row table {path}", found) for path, found in browser.items()
        ]
        rows += [(f"demo results {path}", found) for path, found in (demo or {}).items()]
        for name, found in rows:
            drawn = f"{found['drawn_ms']} ms [{found['drawn_best_ms']}]"
            print(
                f"{name:34s}{drawn:>28s}{found['network_ms']:>17d} ms"
                + (f"  errors: {found['errors']}" if found["errors"] else "")
            )
    if result.error_messages:
        print("errors:", result.error_messages)
    print(
        json.dumps(
            {
                **summary,
                "memory_idle_mb": round(memory_idle / 2**20),
                "memory_peak_mb": round(max(peak) / 2**20),
                "memory_end_mb": round(memory_end / 2**20),
                "first_page_load_ms": round(page_load * 1000),
                "browser_first_load_ms": None
                if browser is None
                else browser["/associations"]["drawn_ms"],
                "browser_page_loads": browser,
                "demo_page_loads": demo,
                "startup_s": round(startup, 1),
                "pandas": reference,
            }
        )
    )


if __name__ == "__main__":
    main()
