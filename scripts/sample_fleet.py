#!/usr/bin/env python3
"""Writes sample/fleet/: a small, coherent, synthetic AWS fleet of one
fictional company (Acme Health), so that `vitals run --once` on the root
config shows savings without credentials.

    python3 scripts/sample_fleet.py

What it writes (2024-09-16 to 2024-09-29, the FOCUS sample's weeks W38 and
W39; one account, us-east-1 and eu-west-1):

- inventory.csv: one snapshot (2024-09-29 06:00 UTC) of 15 instances, their
  volumes, three Elastic IPs and three load balancers, in the columns of
  vitals' `inventory` dataset;
- utilization.csv.gz: 14 days of hourly CPU, network, memory (where the
  CloudWatch agent would run), volume I/O and load-balancer requests, in
  the columns of `utilization` (counters as per-second rates);
- prices.csv: AWS's public on-demand list prices of the types involved
  (Linux, shared tenancy) and synthetic spot prices per zone;
- focus.csv: resource-level FOCUS 1.0 billing rows for the same resources,
  one per resource and day (what AWS's FOCUS export would hold);
- expected.json: the findings the savings analyzers should make with their
  default settings, and each monthly saving computed here, independently of
  vitals, from the same costs and prices (tests/report.rs checks them).

Among healthy resources, it holds idle instances (one in each region), an
oversized and an undersized one, an Auto Scaling group and a batch instance
that could run as spot, a stopped instance whose volumes still bill,
unattached and unused volumes, idle Elastic IPs and idle load balancers.

Seeded, standard library only: the same bytes on every run.
"""

import csv
import gzip
import io
import json
import math
import os
import random

START = 1_726_444_800  # 2024-09-16T00:00:00Z
DAYS = 14
HOURS = DAYS * 24
SNAPSHOT = "2024-09-29T06:00:00Z"
ACCOUNT = "210987654321"
# Each instance's `owner` tag, by its `service` tag: the teams the weekly
# report's per-owner digests go to.
OWNERS = {
    "web": "platform", "web-eu": "platform", "api": "platform", "ci": "platform",
    "patients-db": "clinical-data", "reports": "clinical-data",
    "search": "data", "etl": "data",
    "legacy-ftp": "it-ops", "intranet": "it-ops",
}
MONTH_HOURS = 730.0

# AWS's public on-demand list prices, Linux, shared tenancy (USD/hour).
ON_DEMAND = {
    ("us-east-1", "m5.large"): 0.096,
    ("us-east-1", "m5.xlarge"): 0.192,
    ("us-east-1", "m5.2xlarge"): 0.384,
    ("us-east-1", "c5.large"): 0.085,
    ("us-east-1", "c5.xlarge"): 0.17,
    ("us-east-1", "r5.xlarge"): 0.252,
    ("us-east-1", "r5.2xlarge"): 0.504,
    ("us-east-1", "t3.medium"): 0.0416,
    ("eu-west-1", "m5.large"): 0.107,
    ("eu-west-1", "m4.large"): 0.111,
}
# Synthetic spot prices per zone.
SPOT = {
    ("us-east-1", "us-east-1a", "m5.large"): 0.035,
    ("us-east-1", "us-east-1b", "m5.large"): 0.038,
    ("us-east-1", "us-east-1a", "r5.xlarge"): 0.065,
    ("us-east-1", "us-east-1b", "r5.xlarge"): 0.071,
    ("us-east-1", "us-east-1a", "c5.xlarge"): 0.061,
}
GB_MONTH = {"gp3": 0.08, "gp2": 0.10, "io1": 0.125}
IOPS_MONTH = 0.065
ADDRESS_HOUR = 0.005
LB_DAY = 0.6  # 24 hours at 0.0225 plus LCUs


def iso(t):
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cents(x):
    """Rounded half away from zero, as vitals states money."""
    return math.floor(abs(x) * 100 + 0.5) / 100 * (1 if x >= 0 else -1)


def monthly(daily):
    """A resource billed `daily` each of the 14 days, per month of 730 h."""
    return sum([daily] * DAYS) / DAYS * MONTH_HOURS / 24


class Fleet:
    def __init__(self):
        self.rng = random.Random(20240929)
        self.inventory = []
        self.usage = []
        self.bill = []
        self.expected = []

    def instance(self, iid, itype, region, zone, *, state="running", group=None,
                 lifecycle="on_demand", launched="2024-08-01T09:00:00Z", tags=None,
                 billed=True):
        tags = dict(tags or {})
        if "service" in tags:
            tags["owner"] = OWNERS[tags["service"]]
        self.inventory.append({
            "ts": SNAPSHOT, "provider": "AWS", "account_id": ACCOUNT, "region_id": region,
            "resource_id": iid, "resource_type": "instance", "instance_type": itype,
            "state": state, "lifecycle": lifecycle, "group": group or "",
            "launched_at": launched, "tags": json.dumps(tags or {}, sort_keys=True),
            "platform": "linux", "tenancy": "default",
            "attributes": json.dumps({"availability_zone": zone}),
        })
        daily = ON_DEMAND.get((region, itype), 0) * 24 if state == "running" else 0
        if billed and daily:
            arn = f"arn:aws:ec2:{region}:{ACCOUNT}:instance/{iid}"
            self.charge(arn, iid, region, "Amazon Elastic Compute Cloud", "Compute",
                        f"BoxUsage:{itype}", daily, 24, "Hours", tags, "Instance")
        return daily

    def volume(self, vid, vtype, size, region, *, attached=None, boot=False, iops=None,
               created="2024-08-01T09:00:00Z"):
        self.inventory.append({
            "ts": SNAPSHOT, "provider": "AWS", "account_id": ACCOUNT, "region_id": region,
            "resource_id": vid, "resource_type": "volume",
            "state": "in-use" if attached else "available", "attached_to": attached or "",
            "launched_at": created, "tags": "{}", "volume_type": vtype, "size_gib": size,
            "iops": iops if iops is not None else "", "boot": "true" if boot else "false",
        })
        per_month = size * GB_MONTH[vtype] + (iops or 0) * IOPS_MONTH * (vtype == "io1")
        daily = per_month / (MONTH_HOURS / 24)
        self.charge(vid, vid, region, "Amazon Elastic Compute Cloud", "Storage",
                    f"EBS:VolumeUsage.{vtype}", daily, size / 30.0, "GB-Mo", None, "Volume")
        return daily

    def address(self, aid, region, attached=None, billed=True):
        self.inventory.append({
            "ts": SNAPSHOT, "provider": "AWS", "account_id": ACCOUNT, "region_id": region,
            "resource_id": aid, "resource_type": "address", "attached_to": attached or "",
            "state": "associated" if attached else "", "tags": "{}",
        })
        daily = ADDRESS_HOUR * 24
        if billed:
            self.charge(aid, aid, region, "Amazon Virtual Private Cloud", "Networking",
                        "PublicIPv4:InUseAddress", daily, 24, "Hours", None, "IPAddress")
        return daily

    def load_balancer(self, name, kind, region, targets, healthy):
        arn = f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/{kind[:3]}/{name}/50dc6c495c0c9188"
        self.inventory.append({
            "ts": SNAPSHOT, "provider": "AWS", "account_id": ACCOUNT, "region_id": region,
            "resource_id": arn, "resource_type": "load_balancer", "state": "active",
            "launched_at": "2024-06-01T09:00:00Z", "tags": "{}",
            "attributes": json.dumps({"type": kind, "target_groups": [
                {"name": f"{name}-tg", "targets": targets, "healthy": healthy}]}),
        })
        self.charge(arn, name, region, "Elastic Load Balancing", "Networking",
                    "LoadBalancerUsage", LB_DAY, 24, "Hours", None, "LoadBalancer")
        return arn

    def charge(self, resource_id, name, region, service, category, sku, daily, quantity,
               unit, tags, rtype):
        for d in range(DAYS):
            t = START + d * 86_400
            self.bill.append({
                "BilledCost": f"{daily:.10f}", "EffectiveCost": f"{daily:.10f}",
                "ListCost": f"{daily:.10f}", "BillingAccountId": ACCOUNT,
                "BillingAccountName": "Acme Health", "BillingCurrency": "USD",
                "ChargeCategory": "Usage", "ChargeClass": "", "ChargeDescription": sku,
                "ChargePeriodStart": iso(t), "ChargePeriodEnd": iso(t + 86_400),
                "ConsumedQuantity": f"{quantity:.6f}", "ConsumedUnit": unit,
                "PricingCategory": "Standard", "PricingQuantity": f"{quantity:.6f}",
                "PricingUnit": unit, "ProviderName": "AWS", "RegionId": region,
                "ResourceId": resource_id, "ResourceName": name, "ResourceType": rtype,
                "ServiceCategory": category, "ServiceName": service, "SkuId": sku,
                "SubAccountId": ACCOUNT, "SubAccountName": "acme-health-prod",
                "Tags": json.dumps(tags or {}, sort_keys=True),
            })

    def metric(self, rid, name, avg_max):
        """avg_max(hour) -> (avg, max or None); one row per hour."""
        for h in range(HOURS):
            avg, mx = avg_max(h)
            self.usage.append((iso(START + h * 3_600), rid, name, f"{avg:.4f}",
                               "" if mx is None else f"{mx:.4f}", 12))

    def cpu(self, rid, low, high, peak=1.3):
        """A daily cycle between `low` and `high` percent, with noise."""
        rng = self.rng

        def at(h):
            phase = math.sin((h % 24) / 24 * 2 * math.pi)
            avg = low + (high - low) * (phase + 1) / 2 + rng.uniform(-0.5, 0.5)
            avg = max(0.1, min(avg, 99.0))
            return avg, min(100.0, avg * rng.uniform(1.05, peak))
        self.metric(rid, "cpu_utilization", at)

    def network(self, rid, bytes_in, bytes_out):
        rng = self.rng
        self.metric(rid, "network_in_bytes", lambda h: (bytes_in * rng.uniform(0.8, 1.2), None))
        self.metric(rid, "network_out_bytes", lambda h: (bytes_out * rng.uniform(0.8, 1.2), None))

    def expect(self, kind, resource_id, saving, detail):
        if saving is not None:
            frac = abs(saving) * 100 - math.floor(abs(saving) * 100)
            assert abs(frac - 0.5) > 1e-6, f"{resource_id}: {saving} is a half cent"
        self.expected.append({
            "kind": kind, "resource_id": resource_id,
            "monthly_savings": None if saving is None else cents(saving), "detail": detail,
        })


def main():
    f = Fleet()
    east, west = "us-east-1", "eu-west-1"

    # The web tier: an Auto Scaling group of four on-demand m5.large (and one
    # spot instance already), busy by day: spot candidates, right-sized.
    web_daily = None
    for i in range(1, 5):
        iid = f"i-0a11web000000000{i}"
        web_daily = f.instance(iid, "m5.large", east, "us-east-1a", group="web-asg",
                               tags={"service": "web"})
        f.cpu(iid, 25, 55)
        f.network(iid, 400_000, 900_000)
        f.volume(f"vol-0a11web00000000{i}", "gp3", 30, east, attached=iid, boot=True)
        fraction = 1 - SPOT[(east, "us-east-1a", "m5.large")] / ON_DEMAND[(east, "m5.large")]
        f.expect("spot_candidate", iid, monthly(web_daily) * fraction, "auto_scaling_group")
    f.instance("i-0a11web0000000005", "m5.large", east, "us-east-1b", group="web-asg",
               lifecycle="spot", tags={"service": "web"}, billed=False)
    f.cpu("i-0a11web0000000005", 25, 55)
    f.network("i-0a11web0000000005", 400_000, 900_000)

    # The API: two busy c5.xlarge; one carries a large, quiet data volume.
    for i in (1, 2):
        iid = f"i-0b22api000000000{i}"
        f.instance(iid, "c5.xlarge", east, "us-east-1a", tags={"service": "api"})
        f.cpu(iid, 35, 58)
        f.network(iid, 2_000_000, 3_000_000)
        f.volume(f"vol-0b22api00000000{i}", "gp3", 50, east, attached=iid, boot=True)
    quiet = f.volume("vol-0b22apidata00001", "gp3", 1000, east, attached="i-0b22api0000000001")
    f.metric("vol-0b22apidata00001", "volume_read_ops", lambda h: (0.02, None))
    f.metric("vol-0b22apidata00001", "volume_write_ops", lambda h: (0.03, None))
    f.expect("idle_resource", "vol-0b22apidata00001", monthly(quiet), "low_iops")

    # The database: memory-heavy and busy, with a busy provisioned-IOPS volume.
    db = "i-0c33db00000000001"
    f.instance(db, "r5.2xlarge", east, "us-east-1a", tags={"service": "patients-db"})
    f.cpu(db, 30, 48)
    f.network(db, 5_000_000, 4_000_000)
    f.metric(db, "memory_utilization", lambda h: (78.0, 84.0 + (h % 5) * 0.2))
    f.volume("vol-0c33db000000001", "gp3", 100, east, attached=db, boot=True)
    f.volume("vol-0c33dbdata00001", "io1", 500, east, attached=db, iops=3000)
    f.metric("vol-0c33dbdata00001", "volume_read_ops", lambda h: (150.0, None))
    f.metric("vol-0c33dbdata00001", "volume_write_ops", lambda h: (80.0, None))

    # Reports: an m5.2xlarge that never uses a fifth of it: -> m5.large.
    rep = "i-0d44reports000001"
    rep_daily = f.instance(rep, "m5.2xlarge", east, "us-east-1b", tags={"service": "reports"})
    f.cpu(rep, 3, 9, peak=1.4)
    f.network(rep, 300_000, 200_000)
    f.metric(rep, "memory_utilization", lambda h: (12.0, 15.0 + (h % 7) * 0.5))
    f.volume("vol-0d44reports0001", "gp3", 100, east, attached=rep, boot=True)
    ratio = ON_DEMAND[(east, "m5.large")] / ON_DEMAND[(east, "m5.2xlarge")]
    f.expect("rightsizing", rep, monthly(rep_daily) * (1 - ratio), "over_provisioned m5.large")

    # Search: a c5.large flat out: under-provisioned -> c5.xlarge (a cost, not a saving).
    search = "i-0e55search000001"
    f.instance(search, "c5.large", east, "us-east-1a", tags={"service": "search"})
    f.metric(search, "cpu_utilization", lambda h: (88.0, 92.0 + (h % 8)))
    f.network(search, 1_000_000, 1_500_000)
    f.volume("vol-0e55search00001", "gp3", 40, east, attached=search, boot=True)
    f.expect("rightsizing", search, None, "under_provisioned c5.xlarge")

    # A nightly ETL on r5.xlarge tagged as batch: a spot candidate.
    etl = "i-0f66etl000000001"
    etl_daily = f.instance(etl, "r5.xlarge", east, "us-east-1a", launched="2024-07-10T02:00:00Z",
                           tags={"service": "etl", "workload": "batch"})
    f.metric(etl, "cpu_utilization",
             lambda h: (70.0, 80.0) if 1 <= h % 24 < 5 else (8.0, 12.0))
    f.network(etl, 8_000_000, 2_000_000)
    f.volume("vol-0f66etl00000001", "gp3", 200, east, attached=etl, boot=True)
    fraction = 1 - SPOT[(east, "us-east-1a", "r5.xlarge")] / ON_DEMAND[(east, "r5.xlarge")]
    f.expect("spot_candidate", etl, monthly(etl_daily) * fraction, "tagged")

    # An FTP server nobody uses any more: idle.
    ftp = "i-0a77legacyftp0001"
    ftp_daily = f.instance(ftp, "t3.medium", east, "us-east-1b", launched="2022-03-01T10:00:00Z",
                           tags={"service": "legacy-ftp"})
    f.cpu(ftp, 0.8, 2.5)
    f.network(ftp, 30, 20)
    f.volume("vol-0a77legacyftp001", "gp3", 20, east, attached=ftp, boot=True)
    f.expect("idle_resource", ftp, monthly(ftp_daily), "low_utilization")

    # A stopped Jenkins whose volumes still bill, and its Elastic IP.
    jenkins = "i-0b88jenkins00001"
    f.instance(jenkins, "m5.xlarge", east, "us-east-1a", state="stopped",
               launched="2023-01-15T10:00:00Z", tags={"service": "ci"})
    root = f.volume("vol-0b88jenkinsroot1", "gp3", 50, east, attached=jenkins, boot=True)
    data = f.volume("vol-0b88jenkinsdata1", "gp2", 500, east, attached=jenkins)
    f.expect("idle_resource", jenkins, monthly(root) + monthly(data), "stopped_with_volumes")
    eip = f.address("eipalloc-0b88jenkins01", east, attached=jenkins)
    f.expect("idle_resource", "eipalloc-0b88jenkins01", monthly(eip), "unassociated")

    # Orphaned volumes, long unattached.
    for vid, vtype, size, iops, created in [
        ("vol-0c99orphan00001", "gp3", 200, None, "2024-08-20T12:00:00Z"),
        ("vol-0c99orphan00002", "io1", 100, 3000, "2024-09-01T12:00:00Z"),
    ]:
        daily = f.volume(vid, vtype, size, east, iops=iops, created=created)
        f.expect("idle_resource", vid, monthly(daily), "unattached")
    # One detached yesterday: too recent to call unattached.
    f.volume("vol-0c99recent00001", "gp3", 100, east, created="2024-09-28T12:00:00Z")

    # Elastic IPs: one on the API, one spare (not in the bill: priced).
    f.address("eipalloc-0d10api0000001", east, attached="i-0b22api0000000001")
    f.address("eipalloc-0d10spare00001", east, billed=False)
    f.expect("idle_resource", "eipalloc-0d10spare00001", ADDRESS_HOUR * MONTH_HOURS, "unassociated")

    # Load balancers: the web ALB, a staging ALB whose targets are all
    # unhealthy, and an internal NLB that almost nobody calls.
    web_lb = f.load_balancer("web-prod", "application", east, 4, 4)
    f.metric(web_lb, "request_count", lambda h: (55.0, None))
    staging = f.load_balancer("web-staging", "application", east, 2, 0)
    f.expect("idle_resource", staging, monthly(LB_DAY), "no_healthy_targets")
    nlb = f.load_balancer("internal-reports", "network", east, 1, 1)
    f.metric(nlb, "request_count", lambda h: (0.0005, None))
    f.expect("idle_resource", nlb, monthly(LB_DAY), "low_requests")

    # Europe: a busy m5.large and a forgotten m4.large (idle, and an older
    # generation whose newer one is cheaper: both findings, counted once).
    eu_web = "i-0e20euweb000001"
    f.instance(eu_web, "m5.large", west, "eu-west-1a", tags={"service": "web-eu"})
    f.cpu(eu_web, 30, 52)
    f.network(eu_web, 500_000, 800_000)
    f.volume("vol-0e20euweb00001", "gp3", 30, west, attached=eu_web, boot=True)
    old = "i-0e20euold000001"
    old_daily = f.instance(old, "m4.large", west, "eu-west-1b", launched="2019-05-01T10:00:00Z",
                           tags={"service": "intranet"})
    f.cpu(old, 0.5, 2.0)
    f.network(old, 10, 10)
    f.volume("vol-0e20euold00001", "gp2", 30, west, attached=old, boot=True)
    f.expect("idle_resource", old, monthly(old_daily), "low_utilization")
    ratio = ON_DEMAND[(west, "m5.large")] / ON_DEMAND[(west, "m4.large")]
    f.expect("rightsizing", old, monthly(old_daily) * (1 - ratio), "over_provisioned m5.large")

    write(f)


def write(f):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(repo, "sample", "fleet")
    os.makedirs(out_dir, exist_ok=True)

    inv_cols = ["ts", "provider", "account_id", "region_id", "resource_id", "resource_type",
                "instance_type", "state", "attached_to", "lifecycle", "group", "launched_at",
                "tags", "platform", "tenancy", "volume_type", "size_gib", "iops", "boot",
                "attributes"]
    with open(os.path.join(out_dir, "inventory.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, inv_cols, lineterminator="\n")
        w.writeheader()
        for row in f.inventory:
            w.writerow({k: row.get(k, "") for k in inv_cols})

    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["ts", "resource_id", "metric", "avg", "max", "samples"])
    w.writerows(f.usage)
    with open(os.path.join(out_dir, "utilization.csv.gz"), "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(text.getvalue().encode())

    with open(os.path.join(out_dir, "prices.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["ts", "provider", "region_id", "availability_zone", "instance_type",
                    "purchase_option", "operating_system", "price_per_hour", "currency",
                    "price_source"])
        for (region, itype), price in sorted(ON_DEMAND.items()):
            w.writerow([SNAPSHOT, "AWS", region, "", itype, "on_demand", "linux", price, "USD",
                        "sample: AWS Price List, on-demand Linux shared tenancy"])
        for (region, zone, itype), price in sorted(SPOT.items()):
            w.writerow([SNAPSHOT, "AWS", region, zone, itype, "spot", "linux", price, "USD",
                        "sample: synthetic spot price"])

    bill_cols = list(f.bill[0].keys())
    with open(os.path.join(out_dir, "focus.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, bill_cols, lineterminator="\n")
        w.writeheader()
        w.writerows(f.bill)

    expected = sorted(f.expected, key=lambda e: (e["kind"], e["resource_id"]))
    with open(os.path.join(out_dir, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"wrote {out_dir}: {len(f.inventory)} resources, {len(f.usage):,} utilization rows, "
          f"{len(f.bill):,} billing rows, {len(expected)} expected findings")


if __name__ == "__main__":
    main()
