#!/usr/bin/env python3
"""Writes sample/requests/requests.csv.gz: a synthetic request log for the
bundled sample, so that `vitals run --once` on the root config fills the
weekly report's latency section too.

    python3 scripts/sample_requests.py

Fourteen days (2024-09-16 to 2024-09-29, the FOCUS sample's weeks W38 and
W39), 40 requests an hour for each of three services, log-normal durations
(sigma 0.5), HTTP status 200 unless an error is drawn:

- `api` (median 120 ms) is 40 % slower from Tue 2024-09-24 10:00 to Wed 01:00
  UTC, then back: a regression that recovered;
- `search` (median 80 ms) is 40 % slower from Sun 2024-09-29 19:00 UTC on: a
  regression in the last hours of the data;
- `checkout` (median 200 ms) fails 2 % of its requests (503), against the
  default 1 % error-rate objective.

Seeded, standard library only: the same bytes on every run (gzip's header
time is fixed at 0).
"""

import gzip
import io
import math
import os
import random

START = 1_726_444_800  # 2024-09-16T00:00:00Z
DAYS = 14
PER_HOUR = 40
API_SLOW = (1_727_172_000, 1_727_172_000 + 15 * 3_600)  # Tue 10:00 .. Wed 01:00
SEARCH_SLOW_FROM = 1_727_636_400  # Sun 2024-09-29 19:00
SERVICES = [("api", "/v1/orders", 120.0, 0.002), ("search", "/v1/search", 80.0, 0.002),
            ("checkout", "/v1/pay", 200.0, 0.02)]


def main():
    rng = random.Random(20240916)
    out = io.StringIO()
    out.write("timestamp,service,endpoint,duration_ms,status\n")
    for hour in range(DAYS * 24):
        t0 = START + hour * 3_600
        for service, endpoint, median, error_rate in SERVICES:
            slow = 1.0
            if service == "api" and API_SLOW[0] <= t0 < API_SLOW[1]:
                slow = 1.4
            if service == "search" and t0 >= SEARCH_SLOW_FROM:
                slow = 1.4
            for i in range(PER_HOUR):
                t = t0 + i * (3_600 // PER_HOUR) + rng.randrange(3_600 // PER_HOUR)
                duration = math.exp(math.log(median * slow) + 0.5 * rng.gauss(0.0, 1.0))
                status = 503 if rng.random() < error_rate else 200
                out.write(f"{t},{service},{endpoint},{duration:.3f},{status}\n")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(repo, "sample", "requests", "requests.csv.gz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(out.getvalue().encode())
    print(f"wrote {path}: {DAYS * 24 * PER_HOUR * len(SERVICES):,} requests, "
          f"{os.path.getsize(path):,} bytes")


if __name__ == "__main__":
    main()
