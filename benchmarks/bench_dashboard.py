"""Load test of the association explorer on loopback.

20 simulated users run the explorer's callbacks (filter, volcano and heatmap, pages,
sorts, a pair) for 60 seconds against a 20-million-row association table served by
``radiogenomics serve`` in its own process. Prints requests served, errors, p50/p95
callback latency, the server's memory, the first page load, and beside them what a user
would otherwise do: load the table with pandas and filter it in memory.

    python benchmarks/bench_dashboard.py            # 20 users, 60 s, 20 million rows
    python benchmarks/bench_dashboard.py --quick    # 5 users, 10 s, 1 million rows
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


def first_page_load(url: str) -> float:
    """Seconds for what a browser fetches before the explorer shows: the page, layout,
    callbacks, scripts and the first callbacks."""
    session = requests.Session()
    started = time.perf_counter()
    page = session.get(url + "/associations", timeout=60)
    for src in [p.split('"')[0] for p in page.text.split('src="')[1:]]:
        session.get(url + src if src.startswith("/") else src, timeout=60)
    session.get(url + "/_dash-layout", timeout=60)
    session.get(url + "/_dash-dependencies", timeout=60)
    return time.perf_counter() - started


def browser_first_load(url: str) -> float | None:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(url + "/associations")
        page.wait_for_selector("#assoc-volcano .main-svg")
        page.wait_for_function("() => !document.querySelector('[data-dash-is-loading=\"true\"]')")
        elapsed = time.perf_counter() - started
        browser.close()
    return elapsed


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
    return {"load_s": round(load, 1), "query_ms": round(query * 1000, 1),
            "memory_mb": round(peak / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--rows", type=int, default=None, help="table rows (millions)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the table and cache go (kept between runs)")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
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

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "radiogenomics", "serve", str(folder), "--port", str(port),
               "--cache-dir", str(workdir / "cache")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        startup = wait_until_up(url, process)
        server = psutil.Process(process.pid)
        memory_idle = server.memory_info().rss
        page_load = first_page_load(url)
        browser_load = browser_first_load(url)
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
        result = run_load(url, TABLE, users=users, seconds=seconds,
                          classes=["glcm", "firstorder", "shape"],
                          searches=["G0001", "MKI67", "G12"])
        sampling.set()
        sampler.join()
        memory_end = server.memory_info().rss
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    summary = result.summary()
    reference = None if args.no_pandas else pandas_reference(table)
    print()
    print(f"association table: {n_x * n_y:,} rows, Parquet {size_mb:,.0f} MB; machine: "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"server start (first time includes building the serving database): {startup:.1f} s")
    print(f"first page load: {page_load * 1000:.0f} ms over HTTP"
          + (f", {browser_load * 1000:.0f} ms in Chromium until the volcano is drawn"
             if browser_load is not None else ""))
    print(f"{'':28s}{'dashboard (DuckDB)':>22s}{'pandas in memory':>20s}")
    print(f"{'requests served':28s}{summary['requests']:>22,d}")
    print(f"{'errors':28s}{summary['errors']:>22d}")
    print(f"{'requests per second':28s}{summary['requests_per_second']:>22.1f}")
    print(f"{'p50 callback latency (ms)':28s}{summary['p50_ms']:>22.1f}"
          + (f"{reference['query_ms']:>20.1f}" if reference else ""))
    print(f"{'p95 callback latency (ms)':28s}{summary['p95_ms']:>22.1f}")
    print(f"{'server memory (MB)':28s}"
          f"{f'{memory_idle / 2**20:.0f} idle, {max(peak) / 2**20:.0f} peak':>22s}"
          + (f"{reference['memory_mb']:>20d}" if reference else ""))
    if reference:
        print(f"{'load the table (s)':28s}{startup:>22.1f}{reference['load_s']:>20.1f}")
    print("per callback:", json.dumps(summary["callbacks"]))
    if result.error_messages:
        print("errors:", result.error_messages)
    print(json.dumps({**summary, "memory_idle_mb": round(memory_idle / 2**20),
                      "memory_peak_mb": round(max(peak) / 2**20),
                      "memory_end_mb": round(memory_end / 2**20),
                      "first_page_load_ms": round(page_load * 1000),
                      "browser_first_load_ms": None if browser_load is None
                      else round(browser_load * 1000),
                      "startup_s": round(startup, 1), "pandas": reference}))


if __name__ == "__main__":
    main()
