"""Cost of a sign-in check: a wrong user name against a wrong password, and CPU under a
flood of guesses.

Prints the median time of a failed check for an unknown user name and for a known one
with a wrong password, with ``dashboards.auth.BasicAuth`` and, beside it, with the plain
check a Flask app would write (``name in users and check_password_hash(...)``), whose
fast answer for unknown names tells an attacker which names exist. Then the time to
answer a burst of bad guesses from many threads with the hashing bound, and how many of
them were answered 429 without hashing once the back-off started.

    python benchmarks/bench_auth.py            # 15 checks each, a burst of 64 guesses
    python benchmarks/bench_auth.py --quick    # 5 checks each, a burst of 16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from werkzeug.security import check_password_hash  # noqa: E402

from dashboards.auth import BasicAuth, add_user, read_users  # noqa: E402


def _median_ms(function, repeats: int) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        function(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats, burst = (5, 16) if args.quick else (15, 64)
    with tempfile.TemporaryDirectory() as folder:
        path = add_user(Path(folder) / "users.txt", "board", "tumor-board-2024")
        users = read_users(path)
        auth = BasicAuth(path, max_failures_per_user=10**9, max_failures_per_address=10**9)

        def plain(name, password):
            return name in users and check_password_hash(users[name], password)

        rows = [
            (
                "BasicAuth",
                _median_ms(lambda i: auth.check(f"nobody{i}", "x"), repeats),
                _median_ms(lambda i: auth.check("board", f"wrong{i}"), repeats),
            ),
            (
                "plain check",
                _median_ms(lambda i: plain(f"nobody{i}", "x"), repeats),
                _median_ms(lambda i: plain("board", f"wrong{i}"), repeats),
            ),
        ]
        print(
            f"{'failed check, median ms':<26}{'unknown user':>14}{'wrong password':>16}{'ratio':>8}"
        )
        for name, unknown, wrong in rows:
            print(f"{name:<26}{unknown:>14.2f}{wrong:>16.2f}{unknown / wrong:>8.2f}")

        limited = BasicAuth(path, max_failures_per_user=5, max_failures_per_address=20)
        start = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            statuses = list(
                pool.map(
                    lambda i: limited.authenticate("board", f"guess{i}", "198.51.100.1").status,
                    range(burst),
                )
            )
        elapsed = time.perf_counter() - start
        counts = {s: statuses.count(s) for s in sorted(set(statuses))}
        print(
            f"burst of {burst} wrong guesses from one address, 16 threads: {elapsed:.2f} s, "
            f"answers {counts} (429: refused without hashing)"
        )


if __name__ == "__main__":
    main()
