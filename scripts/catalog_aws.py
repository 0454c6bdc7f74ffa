#!/usr/bin/env python3
"""Writes catalog/aws_instance_types.jsonl, vitals' AWS instance catalog, from
the raw `DescribeInstanceTypes` output moto ships
(`moto/ec2/resources/instance_types.json.gz`, Apache-2.0; see
catalog/README.md), or from a file of the same shape: a JSON object keyed by
instance type whose values are `InstanceTypeInfo` records, or the
`InstanceTypes` list of a live `aws ec2 describe-instance-types` (gzipped or
not).

    .venv/bin/python scripts/catalog_aws.py                 # from the moto in .venv
    .venv/bin/python scripts/catalog_aws.py --from types.json

One line per type, sorted, with the fields right-sizing and spot savings need:
vCPUs, memory, GPUs, architectures, family, size and its normalization factor
(AWS's instance size flexibility: nano 0.25, micro 0.5, small 1, medium 2,
large 4, xlarge 8, Nxlarge 8N; a metal size takes the factor of the family's
virtual size with as many vCPUs, else 2 per vCPU), generation, burstable,
spot-capable, bare metal.
"""

import argparse
import gzip
import json
import os
import sys

SIZES = {"nano": 0.25, "micro": 0.5, "small": 1.0, "medium": 2.0, "large": 4.0, "xlarge": 8.0}


def size_factor(size):
    """The factor of a virtual size, None for metal and unknown sizes."""
    if size in SIZES:
        return SIZES[size]
    if size.endswith("xlarge") and size[:-6].isdigit():
        return 8.0 * int(size[:-6])
    return None


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        doc = json.load(f)
    if isinstance(doc, dict) and "InstanceTypes" in doc:
        return {t["InstanceType"]: t for t in doc["InstanceTypes"]}
    if isinstance(doc, dict):
        return doc
    sys.exit(f"{path}: neither a DescribeInstanceTypes answer nor an object keyed by type")


def rows(types):
    out = []
    for name, t in sorted(types.items()):
        family, _, size = name.partition(".")
        gpus = (t.get("GpuInfo") or {}).get("Gpus") or []
        out.append({
            "instance_type": name,
            "family": family,
            "size": size,
            "generation": "current" if t.get("CurrentGeneration") else "previous",
            "vcpu": t["VCpuInfo"]["DefaultVCpus"],
            "memory_mib": t["MemoryInfo"]["SizeInMiB"],
            "gpu_count": sum(g.get("Count", 0) for g in gpus),
            "gpu_model": gpus[0].get("Name") if gpus else None,
            "gpu_memory_mib": (t.get("GpuInfo") or {}).get("TotalGpuMemoryInMiB", 0),
            "architectures": sorted(t["ProcessorInfo"]["SupportedArchitectures"]),
            "burstable": bool(t.get("BurstablePerformanceSupported")),
            "spot": "spot" in (t.get("SupportedUsageClasses") or []),
            "bare_metal": bool(t.get("BareMetal")),
            "normalization_factor": size_factor(size),
        })
    # Metal sizes: the factor of the family's virtual size with the same
    # vCPUs, else two units per vCPU (what the virtual sizes give).
    by_family = {}
    for r in out:
        if r["normalization_factor"] is not None:
            by_family.setdefault(r["family"], {})[r["vcpu"]] = r["normalization_factor"]
    for r in out:
        if r["normalization_factor"] is None:
            r["normalization_factor"] = by_family.get(r["family"], {}).get(r["vcpu"], 2.0 * r["vcpu"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="source", help="instance_types.json(.gz); default: moto's in this Python")
    args = ap.parse_args()
    source = args.source
    if source is None:
        import moto
        source = os.path.join(os.path.dirname(moto.__file__), "ec2", "resources", "instance_types.json.gz")
    out = rows(load(source))
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(repo, "catalog", "aws_instance_types.jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in out:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    print(f"wrote {path}: {len(out)} instance types from {source}")


if __name__ == "__main__":
    main()
