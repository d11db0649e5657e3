"""Latency and throughput of a running server:
`python -m text_recognizer.api_server.load_test FILE... [--url] [--clients 1 4 16]`.

Each client sends its requests one after another (a new one as soon as the last is answered); the
table gives p50 and p95 latency and requests per second for each number of concurrent clients.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    status: int
    seconds: float
    body: dict


def post(client, url: str, name: str, data: bytes) -> Result:
    started = time.perf_counter()
    response = client.post(f"{url}/v1/recognize", files={"image": (name, data, "image/png")})
    try:
        body = response.json()
    except ValueError:
        body = {}
    return Result(response.status_code, time.perf_counter() - started, body)


def run(url: str, uploads: list[tuple[str, bytes]], clients: int, requests: int, timeout_s: float = 300) -> list[Result]:
    """`requests` uploads (cycling through `uploads`) by `clients` concurrent clients; results in upload order."""
    import httpx

    with httpx.Client(timeout=timeout_s) as client, ThreadPoolExecutor(clients) as pool:
        jobs = [pool.submit(post, client, url, *uploads[i % len(uploads)]) for i in range(requests)]
        return [job.result() for job in jobs]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="images to upload (cycled)")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests_per_client", type=int, default=8)
    args = parser.parse_args(argv)
    uploads = [(Path(name).name, Path(name).read_bytes()) for name in args.files]
    print(f"{'clients':>7} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7} {'errors':>6}")
    for clients in args.clients:
        count = clients * args.requests_per_client
        started = time.perf_counter()
        results = run(args.url, uploads, clients, count)
        elapsed = time.perf_counter() - started
        latencies = [r.seconds * 1e3 for r in results if r.status == 200]
        errors = sum(r.status != 200 for r in results)
        p50 = statistics.median(latencies) if latencies else float("nan")
        p95 = percentile(latencies, 0.95) if latencies else float("nan")
        print(f"{clients:>7} {count:>8} {p50:8.0f} {p95:8.0f} {count / elapsed:7.2f} {errors:>6}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
