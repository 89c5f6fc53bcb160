"""Benchmark: jobs per second and latency of the cluster backend (serve --redis + N arq workers) with 1, 2,
4 and 8 workers, for a stand-in whose model time is a fixed sleep (a GPU's time: the 2 CPU cores are not
the limit) and for a CPU-bound stand-in (tools/engine_standins.py), plus the queue's own overhead per job.

    .venv/bin/python bench/cluster_throughput.py [--workers 1,2,4,8] [--jobs-per-worker 12] [--repeats 3]
                                                 [--sleep 0.2] [--engines sleep_engine,cpu_engine]

A real redis-server (Debian's) on a free loopback port, one API process and 8 worker processes per engine
are started once; a configuration with N workers resumes N of them and SIGSTOPs the rest (idle, nothing
held), so the configurations interleave in one run. Each round submits N x jobs-per-worker jobs at once
(64x48 PNGs) from 16 client threads. Throughput: jobs / (last job finished - first submitted); latency:
a job's finished - created, from its Redis record. Queue overhead: one worker, one job at a time with an
instant engine: (finished - created) - the job's own run time (decode, engine, encode), median of 60."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import httpx  # noqa: E402
import redis  # noqa: E402
from cluster_processes import Processes, redis_server  # noqa: E402

from faceswap_v3.server.redis_store import job_key  # noqa: E402


def payload(i: int) -> dict:
    import base64
    import io

    import numpy as np
    from PIL import Image

    def png(colour, size=(48, 64)) -> str:
        out = io.BytesIO()
        Image.fromarray(np.full((*size, 3), colour, np.uint8)).save(out, format="PNG")
        return base64.b64encode(out.getvalue()).decode()

    return {"source_img": png((90, 60, 30)), "target_img": png((i % 250, 100, 200)), "image_format": "png"}


def run_round(api: str, client: redis.Redis, jobs: int) -> tuple[float, list[float]]:
    """Submit jobs at once, wait for all; (jobs/s, latencies in s)."""
    bodies = [payload(i) for i in range(jobs)]
    with httpx.Client(timeout=60) as http, ThreadPoolExecutor(16) as pool:
        started = time.time()
        answers = list(pool.map(lambda b: http.post(f"{api}/v2/faceswap-v3", json=b), bodies))
        refused = [a.text for a in answers if a.status_code != 200]
        assert not refused, f"{len(refused)} submissions refused: {refused[0]}"
        ids = [a.json()["request_id"] for a in answers]
        while True:
            with client.pipeline(transaction=False) as pipe:  # one round trip: the poll must not load the CPUs
                for request_id in ids:
                    pipe.hmget(job_key(request_id), "state", "created", "finished")
                records = pipe.execute()
            if all(r[0] in (b"COMPLETED", b"FAILED") for r in records):
                break
            time.sleep(0.05)
    assert all(r[0] == b"COMPLETED" for r in records), "a job failed"
    last = max(float(r[2]) for r in records)
    return jobs / (last - started), [float(r[2]) - float(r[1]) for r in records]


def queue_overhead(url: str, processes: Processes, count: int = 60) -> list[float]:
    worker = processes.worker(url, "instant_engine")
    _, api = processes.api(url, REPO)
    client = redis.Redis.from_url(url)
    overheads = []
    with httpx.Client(timeout=60) as http:
        for i in range(count):
            request_id = http.post(f"{api}/v2/faceswap-v3", json=payload(i)).json()["request_id"]
            while client.hget(job_key(request_id), "state") not in (b"COMPLETED", b"FAILED"):
                time.sleep(0.001)
            created, finished, ran = (float(v) for v in client.hmget(job_key(request_id), "created", "finished",
                                                                       "inference_time"))
            overheads.append(finished - created - ran)
    os.killpg(worker.pid, signal.SIGTERM)
    return overheads


def spread(values: list[float], scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(values) * scale)} ({fmt.format(min(values) * scale)}-" \
           f"{fmt.format(max(values) * scale)})"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--jobs-per-worker", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.2, help="the sleep stand-in's model time, s")
    parser.add_argument("--engines", default="sleep_engine,cpu_engine")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    os.environ["FACESWAP_V3_STANDIN_SLEEP_S"] = str(args.sleep)
    print(f"{os.cpu_count()} CPU cores; {args.jobs_per_worker} jobs per worker per round; {args.repeats} rounds")
    with redis_server() as url:
        processes = Processes()
        try:
            overhead = queue_overhead(url, processes)
            print("queue overhead per job (1 worker, one job at a time): "
                  f"p50 {statistics.median(overhead) * 1e3:.1f} ms, p99 {percentile(overhead, 0.99) * 1e3:.1f} ms")
            for engine in args.engines.split(","):
                workers = [processes.worker(url, engine) for _ in range(max(counts))]
                _, api = processes.api(url, REPO, "--max-jobs", "10000")
                client = redis.Redis.from_url(url)
                rates: dict[int, list[float]] = {n: [] for n in counts}
                latencies: dict[int, list[float]] = {n: [] for n in counts}
                run_round(api, client, 4)  # warm-up
                for _ in range(args.repeats):
                    for n in counts:
                        for i, worker in enumerate(workers):
                            os.killpg(worker.pid, signal.SIGCONT if i < n else signal.SIGSTOP)
                        rate, latency = run_round(api, client, n * args.jobs_per_worker)
                        rates[n].append(rate)
                        latencies[n] += latency
                for worker in workers:
                    os.killpg(worker.pid, signal.SIGCONT)
                base = statistics.median(rates[counts[0]])
                p50_base = statistics.median(latencies[counts[0]])
                p99_base = percentile(latencies[counts[0]], 0.99)
                print(f"\n{engine}" + (f" ({args.sleep:g} s per job)" if engine == "sleep_engine" else ""))
                print(f"{'workers':>7}  {'jobs/s median (min-max)':>26}  {'x 1 worker':>10}  {'of linear':>9}  "
                      f"{'p50 latency (x 1 worker)':>24}  {'p99 latency (x 1 worker)':>24}")
                for n in counts:
                    ratio = statistics.median(rates[n]) / base
                    p50, p99 = statistics.median(latencies[n]), percentile(latencies[n], 0.99)
                    print(f"{n:>7}  {spread(rates[n]):>26}  {ratio:>10.2f}  {ratio / n * counts[0]:>9.2f}  "
                          f"{f'{p50:.2f}s ({p50 / p50_base:.2f})':>24}  {f'{p99:.2f}s ({p99 / p99_base:.2f})':>24}")
                for worker in workers:
                    os.killpg(worker.pid, signal.SIGTERM)
        finally:
            processes.stop()


if __name__ == "__main__":
    main()
