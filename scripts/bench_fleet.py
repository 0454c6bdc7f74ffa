#!/usr/bin/env python3
"""Writes a large synthetic fleet for measuring the savings analyzers:

    python3 scripts/bench_fleet.py INSTANCES DIR

DIR gets inventory.csv (INSTANCES instances in two regions, a tenth of them
in Auto Scaling groups, each with a boot volume), utilization.csv.gz (14
days of hourly cpu_utilization, network_in_bytes and network_out_bytes for
every instance, 1,008 rows each, and memory_utilization for the oversized,
336 more) and prices.csv; a third of the instances idle, a third oversized,
the rest busy. Seeded, standard library
only.
"""

import csv
import gzip
import json
import random
import sys
import os

START = 1_726_444_800  # 2024-09-16T00:00:00Z
HOURS = 14 * 24
TYPES = [("m5.large", 0.096), ("m5.xlarge", 0.192), ("m5.2xlarge", 0.384), ("c5.xlarge", 0.17)]


def iso(t):
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    snapshot = iso(START + HOURS * 3600 - 6 * 3600)
    with open(os.path.join(out, "inventory.csv"), "w", newline="") as inv, \
            gzip.open(os.path.join(out, "utilization.csv.gz"), "wt", compresslevel=1, newline="") as use:
        iw, uw = csv.writer(inv, lineterminator="\n"), csv.writer(use, lineterminator="\n")
        iw.writerow(["ts", "provider", "account_id", "region_id", "resource_id", "resource_type",
                     "instance_type", "state", "attached_to", "lifecycle", "group", "launched_at",
                     "tags", "volume_type", "size_gib", "boot", "attributes"])
        uw.writerow(["ts", "resource_id", "metric", "avg", "max", "samples"])
        for i in range(n):
            iid = f"i-{i:017x}"
            region = "us-east-1" if i % 2 else "eu-west-1"
            itype = TYPES[i % len(TYPES)][0]
            group = f"asg-{i // 10}" if i % 10 == 0 else ""
            iw.writerow([snapshot, "AWS", "111122223333", region, iid, "instance", itype, "running",
                         "", "on_demand", group, "2024-06-01T00:00:00Z",
                         json.dumps({"service": f"svc-{i % 50}"}), "", "", "",
                         json.dumps({"availability_zone": f"{region}a"})])
            iw.writerow([snapshot, "AWS", "111122223333", region, f"vol-{i:017x}", "volume", "",
                         "in-use", iid, "", "", "2024-06-01T00:00:00Z", "{}", "gp3", 20, "true", ""])
            kind = i % 3
            for h in range(HOURS):
                ts = iso(START + h * 3600)
                cpu = (1.5 if kind == 0 else 8.0 if kind == 1 else 55.0) + rng.random() * 3
                uw.writerow([ts, iid, "cpu_utilization", f"{cpu:.3f}", f"{cpu * 1.3:.3f}", 12])
                if kind == 1:
                    # The CloudWatch agent's memory on the oversized, so
                    # right-sizing may shrink memory too.
                    mem = 10.0 + rng.random() * 8
                    uw.writerow([ts, iid, "memory_utilization", f"{mem:.3f}", f"{mem * 1.1:.3f}", 12])
                net = 20.0 if kind == 0 else 50_000.0
                uw.writerow([ts, iid, "network_in_bytes", f"{net:.1f}", "", 12])
                uw.writerow([ts, iid, "network_out_bytes", f"{net:.1f}", "", 12])
    with open(os.path.join(out, "prices.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["ts", "provider", "region_id", "availability_zone", "instance_type",
                    "purchase_option", "operating_system", "price_per_hour", "currency", "price_source"])
        for region in ["us-east-1", "eu-west-1"]:
            for t, p in TYPES:
                w.writerow([snapshot, "AWS", region, "", t, "on_demand", "linux", p, "USD", "bench"])
                w.writerow([snapshot, "AWS", region, f"{region}a", t, "spot", "linux", p * 0.35,
                            "USD", "bench"])
    rows = n * HOURS * 3 + len(range(1, n, 3)) * HOURS
    print(f"wrote {out}: {n:,} instances, {rows:,} utilization rows")


if __name__ == "__main__":
    main()
