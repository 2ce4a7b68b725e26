"""The Python load generator (when wrk is not installed): asyncio + httpx, N keep-alive clients.

Run by the harness in its own process: `python -m bench.loadgen URL SPEC.json --clients N --duration S`.
Prints one JSON line: counts, requests/s, latency percentiles (ms), non-2xx and transport errors.
Closed loop like wrk: each client sends its next request when the previous answer arrived.
"""

import argparse
import asyncio
import itertools
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def drive(url: str, spec: dict[str, Any], clients: int, duration: float) -> dict[str, Any]:
    method = spec["method"]
    path = spec["path"]
    base_headers = dict(spec.get("headers", {}))
    unique_header = spec.get("unique_header")
    # several bodies: each request takes one at random (e.g. orders of 1, 2 or 3 lines)
    bodies = spec.get("bodies") or ([spec["body"]] if spec.get("body") is not None else [])
    users = spec.get("user_ids") or [""]
    tokens = spec.get("tokens") or []  # each request a bearer token at random (citizens reading their own data)
    prefix = spec["prefix"]
    times = spec.get("times")  # [min s ago, max s ago, duration s] for $ENDED_AT (= $AT) / $STARTED_AT
    counter = itertools.count(1)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    transport_errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(10.0)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        # Open the connections before the clock starts.
        await asyncio.gather(*(client.get("/healthz") for _ in range(clients)))
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            while True:
                now = time.perf_counter()
                if now >= deadline:
                    return
                unique = f"{prefix}-{next(counter)}"
                headers = dict(base_headers)
                if unique_header:
                    headers[unique_header] = unique
                if tokens:
                    headers["Authorization"] = f"Bearer {random.choice(tokens)}"
                content = None
                if bodies:
                    content = random.choice(bodies).replace("$UNIQUE", unique).replace("$USER_ID", random.choice(users))
                    if times:
                        ended = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=random.randint(times[0], times[1]))
                        started = ended - timedelta(seconds=times[2])
                        content = (
                            content.replace("$ENDED_AT", ended.isoformat())
                            .replace("$AT", ended.isoformat())
                            .replace("$STARTED_AT", started.isoformat())
                        )
                t0 = time.perf_counter()
                try:
                    response = await client.request(method, path, headers=headers, content=content)
                except httpx.HTTPError as exc:
                    transport_errors[type(exc).__name__] += 1
                    continue
                t1 = time.perf_counter()
                if t1 <= deadline:
                    latencies.append(t1 - t0)
                    statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = min(time.perf_counter(), deadline + 10) - started

    latencies.sort()
    total = sum(statuses.values())
    non_2xx = sum(n for code, n in statuses.items() if not 200 <= code < 300)
    errors = non_2xx + sum(transport_errors.values())
    ms = [v * 1000 for v in latencies]
    return {
        "requests": total,
        "ok": total - non_2xx,
        "errors": errors,
        "error_detail": {**{str(k): v for k, v in statuses.items() if not 200 <= k < 300}, **transport_errors},
        "rps": round(total / elapsed, 1),
        "ok_rps": round((total - non_2xx) / elapsed, 1),
        "latency_ms": {
            "p50": round(percentile(ms, 50), 2),
            "p90": round(percentile(ms, 90), 2),
            "p95": round(percentile(ms, 95), 2),
            "p99": round(percentile(ms, 99), 2),
            "p999": round(percentile(ms, 99.9), 2),
            "max": round(ms[-1], 2) if ms else 0.0,
            "mean": round(sum(ms) / len(ms), 2) if ms else 0.0,
        },
        "measured_s": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("url")
    parser.add_argument("spec")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0)
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    coro = drive(args.url, spec, args.clients, args.duration)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
