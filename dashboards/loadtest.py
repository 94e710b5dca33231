"""A load test of the association explorer: simulated users sending the same callback
requests a browser sends, against a running server, bounded in time and count.

Each user repeatedly picks a filter (q threshold, feature class, gene search), asks for
the counts, volcano and heatmap and the first page of rows, pages and sorts the table,
and opens a pair, pausing between actions as a person would.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import requests

__all__ = ["LoadResult", "run_load", "explorer_callbacks"]


@dataclass
class LoadResult:
    users: int
    seconds: float
    requests: int = 0
    errors: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    error_messages: list[str] = field(default_factory=list)

    def all_latencies(self) -> np.ndarray:
        return np.asarray([v for values in self.latencies.values() for v in values], float)

    def percentile(self, q: float, name: str | None = None) -> float:
        values = self.all_latencies() if name is None else np.asarray(self.latencies[name])
        return float(np.percentile(values, q)) if values.size else float("nan")

    def summary(self) -> dict:
        out = {
            "users": self.users,
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_second": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "p50_ms": round(self.percentile(50) * 1000, 1),
            "p95_ms": round(self.percentile(95) * 1000, 1),
            "max_ms": round(float(self.all_latencies().max()) * 1000, 1)
            if self.requests
            else float("nan"),
            "callbacks": {
                name: {
                    "n": len(v),
                    "p50_ms": round(self.percentile(50, name) * 1000, 1),
                    "p95_ms": round(self.percentile(95, name) * 1000, 1),
                }
                for name, v in sorted(self.latencies.items())
            },
        }
        return out


def explorer_callbacks(dependencies: list[dict]) -> dict[str, dict]:
    """The explorer's callbacks, by a short name, from the server's ``/_dash-dependencies``."""
    wanted = {
        "overview": "assoc-count.children",
        "rows": "assoc-rows.data",
        "select": "assoc-selected.data",
        "pair": "assoc-pair.figure",
    }
    found = {}
    for spec in dependencies:
        for name, output in wanted.items():
            if output in spec["output"]:
                found[name] = spec
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise RuntimeError(f"the server has no explorer callbacks {missing}")
    return found


def _outputs(spec: dict) -> list[dict]:
    text = spec["output"]
    parts = text.strip(".").split("...") if text.startswith("..") else [text]
    out = []
    for part in parts:
        component, _, prop = part.rpartition(".")
        out.append({"id": component, "property": prop.split("@")[0]})
    return out if text.startswith("..") else out[0]


def _payload(spec: dict, values: dict, changed: list[str]) -> dict:
    def fill(items):
        return [
            {
                "id": i["id"],
                "property": i["property"],
                "value": values.get(f"{i['id']}.{i['property']}"),
            }
            for i in items
        ]

    return {
        "output": spec["output"],
        "outputs": _outputs(spec),
        "inputs": fill(spec["inputs"]),
        "state": fill(spec.get("state", [])),
        "changedPropIds": changed,
    }


def run_load(
    url: str,
    table: str,
    *,
    users: int = 20,
    seconds: float = 60.0,
    max_requests: int | None = None,
    think: tuple[float, float] = (0.2, 1.0),
    classes: list[str] | None = None,
    searches: list[str] | None = None,
    auth: tuple[str, str] | None = None,
    seed: int = 0,
    timeout: float = 60.0,
) -> LoadResult:
    """Run ``users`` simulated users against the explorer at ``url`` for ``seconds``
    (or until ``max_requests`` callback requests were sent).

    Parameters
    ----------
    table
        Key of the association table to explore.
    think
        Range of pauses between a user's actions, in seconds.
    classes, searches
        Feature classes and gene-name substrings the users pick from (besides none).
    auth
        (user, password) for HTTP basic authentication.
    """
    session = requests.Session()
    if auth:
        session.auth = auth
    dependencies = session.get(f"{url}/_dash-dependencies", timeout=timeout).json()
    callbacks = explorer_callbacks(dependencies)
    result = LoadResult(users=users, seconds=seconds)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    budget = [max_requests if max_requests is not None else float("inf")]
    q_choices = [0.001, 0.01, 0.05, 0.1, 0.25, 1.0]
    classes = [None, *(classes or [])]
    searches = ["", "", *(searches or [])]

    def call(client, name, values, changed) -> dict | None:
        with lock:
            if budget[0] <= 0:
                return None
            budget[0] -= 1
        body = _payload(callbacks[name], values, changed)
        started = time.perf_counter()
        try:
            response = client.post(
                f"{url}/_dash-update-component",
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=timeout,
            )
            elapsed = time.perf_counter() - started
            ok = response.status_code in (200, 204)
            data = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError) as exc:
            elapsed, ok, data = time.perf_counter() - started, False, None
            response = exc
        with lock:
            result.requests += 1
            result.latencies[name].append(elapsed)
            if not ok:
                result.errors += 1
                if len(result.error_messages) < 10:
                    result.error_messages.append(
                        f"{name}: {getattr(response, 'status_code', response)}"
                    )
        return data

    def user(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        client = requests.Session()
        if auth:
            client.auth = auth
        while time.perf_counter() < stop_at and budget[0] > 0:
            values = {
                "assoc-table.value": table,
                "assoc-q.value": rng.choice(q_choices),
                "assoc-method.value": None,
                "assoc-class.value": rng.choice(classes),
                "assoc-x-search.value": None,
                "assoc-y-search.value": rng.choice(searches),
                "assoc-rows.page_current": 0,
                "assoc-rows.page_size": 15,
                "assoc-rows.sort_by": [],
            }
            changed = ["assoc-q.value"]
            call(client, "overview", values, changed)
            rows = call(client, "rows", values, changed)
            for _ in range(rng.randint(0, 2)):
                if time.perf_counter() >= stop_at:
                    return
                time.sleep(rng.uniform(*think))
                values["assoc-rows.page_current"] = rng.randint(1, 5)
                if rng.random() < 0.4:
                    values["assoc-rows.sort_by"] = [
                        {
                            "column_id": rng.choice(["estimate", "q_value", "y", "n"]),
                            "direction": rng.choice(["asc", "desc"]),
                        }
                    ]
                rows = call(client, "rows", values, ["assoc-rows.page_current"])
            data = (((rows or {}).get("response") or {}).get("assoc-rows") or {}).get("data")
            if data:
                time.sleep(rng.uniform(*think))
                values["assoc-rows.active_cell"] = {"row": 0, "column": 0}
                values["assoc-rows.data"] = data
                values["assoc-volcano.clickData"] = None
                selected = call(client, "select", values, ["assoc-rows.active_cell"])
                chosen = ((selected or {}).get("response") or {}).get("assoc-selected") or {}
                if chosen.get("data"):
                    values["assoc-selected.data"] = chosen["data"]
                    call(client, "pair", values, ["assoc-selected.data"])
            time.sleep(rng.uniform(*think))

    threads = [threading.Thread(target=user, args=(k,), daemon=True) for k in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + timeout + 30)
    result.seconds = time.perf_counter() - started
    return result
