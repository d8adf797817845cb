"""Callable endpoint benchmark: many clients calling a trivial callable recipe over loopback.

Why it exists: Conversation Builder bots call callable recipes as REST endpoints and give up
after 20 s, so a call must answer fast under concurrent load, and each call must still be a
job in the history. Target on a 2-core machine: 2000 requests from 8 concurrent clients, p50
at most 30 ms, p99 at most 150 ms, no errors, every call recorded as a job.

One run:

1. makes a workspace with one callable recipe (`bench/double`: input `{"n": int}`, answer
   `{"double": 2n}` through `lpstudio.kernel.respond`), starts it, and makes an API client
   whose rate limit is far above the load; sizes the server for its callers as an operator
   would: `[executor] workers` and `[kernels] pool_size` set to `--workers` (the number of
   clients unless given; the defaults, 2 and 2, would run two calls at a time and queue
   the other six);
2. starts the REST server as users run it (`lpstudio.server.serve` in its own process, on
   127.0.0.1) and waits until it answers;
3. warms up with a few calls, then sends `--requests` POSTs to `/lpstudio/api/v1/call/double`
   from `--clients` threads, each with its own keep-alive `httpx.Client`; a request counts
   as an error unless it is a 200 whose body is `{"double": 2n}` for the `n` it sent;
4. checks the history: the store must hold one succeeded `callable` job per call;
5. runs the baseline in this process: `papermill.execute_notebook` of the same notebook,
   `--baseline-runs` times one after another (a fresh kernel per run, which is what one job
   cost before kernels were pooled).

Latencies are wall clock per request at the client (`time.perf_counter`), from sending to
having the whole answer. The CPU a call costs is measured over the timed calls: the whole
machine's busy time (`/proc/stat`), the server's and this process's (its clients) apart,
the rest being the kernels and their fork server. From it the benchmark prints how many
calls a second the machine's cores could serve at that cost, and the CPU per call that the
target allows: a closed loop of 8 clients at a p50 of 30 ms is 267 calls a second.

    .venv/bin/python bench/bench_callable.py [--requests 2000] [--clients 8]
        [--baseline-runs 10] [--workers N] [--json [PATH]]
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import nbformat
import papermill
from bench_run import busy_cpu, emit, machine, process_cpu

from lpstudio.studio import Studio

RECIPE = "bench/double"
PATH = "double"
API = "/lpstudio/api/v1"
JUPYTER_TOKEN = "bench-callable-token"
TARGETS = {"p50_ms": 30.0, "p99_ms": 150.0, "errors": 0}
WARMUP_CALLS = 5


def callable_notebook() -> nbformat.NotebookNode:
    params = nbformat.v4.new_code_cell("n: int = 1  # a number")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(
        cells=[
            params,
            nbformat.v4.new_code_cell(
                "import lpstudio.kernel as lp\n"
                "event = lp.event or {'n': n}\n"
                "lp.respond({'double': 2 * event['n']})"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["lpstudio"] = {
        "title": "Double",
        "concurrency": 8,  # calls share nothing: the 8 clients' may all run at once
        "trigger": {
            "kind": "callable",
            "path": PATH,
            "input_schema": {
                "type": "object",
                "required": ["n"],
                "properties": {"n": {"type": "integer"}},
            },
            "response_schema": {
                "type": "object",
                "required": ["double"],
                "properties": {"double": {"type": "integer"}},
            },
        },
    }
    return nb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    code = (
        "from lpstudio.server import serve; "
        f"serve(port={port}, workspace={str(root)!r}, "
        f"extra_args=['--IdentityProvider.token={JUPYTER_TOKEN}'], allow_root=True)"
    )
    log = root.parent / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            status = httpx.get(f"{url}/api/status", params={"token": JUPYTER_TOKEN}, timeout=2)
            if status.status_code == 200:
                return proc, url, log
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling for start-up, not synchronising work
    proc.kill()
    raise RuntimeError("the server did not answer within 120 s")


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1): the sample at rank ceil(share * n), numpy's
    inverted CDF (the p50 of 10 runs is the 5th, their p90 the 9th)."""
    import numpy

    return float(numpy.percentile(samples, share * 100, method="inverted_cdf"))


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(samples, 0.50),
        "p90_ms": percentile(samples, 0.90),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": max(samples),
        "mean_ms": statistics.fmean(samples),
    }


def load(
    url: str, token: str, requests: int, clients: int, server: int, first: int = 0
) -> dict[str, Any]:
    """`requests` calls from `clients` threads, each with its own `n` from `first` on (a
    body sent twice within the server's repeat window would be answered as a retry, not
    run again); latencies, errors, and the CPU a call cost: the whole machine's, and the
    shares of the server (pid `server`) and of these clients (this process)."""
    counter = iter(range(first, first + requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"API-TOKEN": token, "Content-Type": "application/json"}

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                started = time.perf_counter()
                try:
                    answer = http.post(f"{API}/call/{PATH}", content=json.dumps({"n": n}))
                    problem = (
                        None
                        if answer.status_code == 200 and answer.json() == {"double": 2 * n}
                        else f"{answer.status_code} {answer.text[:200]}"
                    )
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if problem:
                        errors.append(problem)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    cpu = (busy_cpu(), process_cpu(server), time.process_time())
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    total, in_server, in_clients = (
        (busy_cpu() - cpu[0]) * 1000 / requests,
        (process_cpu(server) - cpu[1]) * 1000 / requests,
        (time.process_time() - cpu[2]) * 1000 / requests,
    )
    return {
        "requests": requests,
        "clients": clients,
        "seconds": seconds,
        "throughput_per_s": requests / seconds,
        "errors": len(errors),
        "error_samples": errors[:5],
        "cpu_ms_per_call": {
            "total": total,
            "server": in_server,
            "clients": in_clients,
            # the kernels and their fork server, and whatever else ran on the machine
            "kernels_and_rest": total - in_server - in_clients,
        },
        **summary(latencies),
        "samples_ms": latencies,
    }


def baseline(notebook: Path, out: Path, runs: int) -> dict[str, Any]:
    """papermill's API on the same notebook, one run after another."""
    samples = []
    papermill.execute_notebook(str(notebook), str(out), parameters={"n": 1}, progress_bar=False)
    for n in range(runs):
        started = time.perf_counter()
        papermill.execute_notebook(str(notebook), str(out), parameters={"n": n}, progress_bar=False)
        samples.append((time.perf_counter() - started) * 1000)
    return {"runs": runs, **summary(samples), "samples_ms": samples}


def size_for(root: Path, workers: int) -> None:
    """Sizes the server as an operator would for this many callers at once: as many
    workers (`[executor] workers`) and as many ready kernels (`[kernels] pool_size`)."""
    config = root / "lpstudio.toml"
    text = config.read_text().replace("\npool_size = 2\n", f"\npool_size = {workers}\n")
    config.write_text(f"{text}\n[executor]\nworkers = {workers}\n")


def measure(requests: int, clients: int, baseline_runs: int, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lpstudio-callable-") as tmp:
        root = Path(tmp) / "workspace"
        Studio.init(root, accept_terms=True, admin="bench").close()
        size_for(root, workers)
        with Studio.open(root, user="bench") as studio:
            notebook = root / "projects" / f"{RECIPE}.ipynb"
            notebook.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(callable_notebook(), notebook)
            studio.start(f"{RECIPE}.ipynb")
            _, token = studio.api_clients.create("bench", [PATH], rate_per_minute=10**7)
        proc, url, _ = start_server(root)
        try:
            warm = load(url, token, WARMUP_CALLS, 1, proc.pid)
            if warm["errors"]:
                raise RuntimeError(f"warm-up calls failed: {warm['error_samples']}")
            result = load(url, token, requests, clients, proc.pid, first=WARMUP_CALLS)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        with Studio.open(root) as studio:
            jobs = studio.jobs(recipe=f"{RECIPE}.ipynb", limit=requests + WARMUP_CALLS + 10)
        result["jobs_recorded"] = sum(1 for j in jobs if j.trigger == "callable")
        result["jobs_succeeded"] = sum(1 for j in jobs if j.status == "succeeded")
        result["jobs_expected"] = requests + WARMUP_CALLS
        base = baseline(notebook, Path(tmp) / "papermill-out.ipynb", baseline_runs)
    return {"callable": {**result, "workers": workers}, "papermill_api": base}


def render(result: dict[str, Any]) -> str:
    m, c, b = result["machine"], result["callable"], result["papermill_api"]
    lines = [
        f"machine: nproc={m['nproc']}  fork of 200 MB {m['fork_200mb_ms']} ms  "
        f"python {m['python']}  papermill {m['papermill']}  "
        f"({m['platform']})",
        f"callable: {c['requests']} requests from {c['clients']} clients in {c['seconds']:.1f} s "
        f"({c['throughput_per_s']:.1f}/s, {c['workers']} workers, pool of {c['workers']}), "
        f"{c['errors']} errors; jobs recorded "
        f"{c['jobs_recorded']}/{c['jobs_expected']} ({c['jobs_succeeded']} succeeded)",
        "",
        f"{'method':<30} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}",
    ]
    for name, f in (
        (f"lpstudio call, {c['clients']} clients", c),
        ("papermill API, sequential", b),
    ):
        lines.append(
            f"{name:<30} {f['p50_ms']:>9.1f} {f['p90_ms']:>9.1f} {f['p99_ms']:>9.1f} "
            f"{f['max_ms']:>9.1f}"
        )
    lines += [
        "",
        f"papermill API p50 / call p50 = {b['p50_ms'] / c['p50_ms']:.2f}x",
        "targets: p50 <= 30 ms ({}), p99 <= 150 ms ({}), no errors ({})".format(
            "ok" if c["p50_ms"] <= TARGETS["p50_ms"] else "MISS",
            "ok" if c["p99_ms"] <= TARGETS["p99_ms"] else "MISS",
            "ok" if c["errors"] == 0 else "MISS",
        ),
    ]
    cpu, cores = c["cpu_ms_per_call"], m["nproc"]
    most = cores * 1000 / cpu["total"]  # calls a second the cores could serve at this cost
    needed = c["clients"] * 1000 / TARGETS["p50_ms"]
    lines += [
        f"CPU per call (every process, from /proc): {cpu['total']:.1f} ms = server "
        f"{cpu['server']:.1f} + kernels, fork server and the rest {cpu['kernels_and_rest']:.1f} "
        f"+ these clients {cpu['clients']:.1f}",
        f"  so {cores} cores serve at most {most:.0f} calls/s and {c['clients']} clients wait "
        f"{c['clients'] * 1000 / most:.0f} ms a call on average at least (Little's law); a "
        f"p50 of {TARGETS['p50_ms']:g} ms for {c['clients']} clients needs {needed:.0f} calls/s, "
        f"at most {cores * 1000 / needed:.1f} ms of CPU per call in all",
    ]
    if c["error_samples"]:
        lines.append(f"first errors: {c['error_samples']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument(
        "--workers", type=int, help="[executor] workers and [kernels] pool_size (the clients)"
    )
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH")
    args = parser.parse_args(argv)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    started = time.perf_counter()
    result = {
        "benchmark": "bench_callable",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "targets": TARGETS,
        **measure(args.requests, args.clients, args.baseline_runs, args.workers or args.clients),
    }
    result["total_seconds"] = time.perf_counter() - started
    table = render(result) + f"\n\ntotal {result['total_seconds']:.0f} s"
    return emit(result, table, args.json)


if __name__ == "__main__":
    sys.exit(main())
