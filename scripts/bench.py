"""vitals against DuckDB on the same files: wall time, peak RSS, and equal answers.

Run through `bash scripts/bench.sh` (it builds vitals in release and sets up
`.venv`). Every step runs as its own process so that its peak RSS is its own:
vitals as the release binary, DuckDB in a child Python (the interpreter's own
~40 MB included). Both use the same number of threads.

Steps:
  generate   a seeded FOCUS 1.2 Parquet export of N rows (91 days, 3 providers,
             40 accounts, 60 services, 20,000 resources, tags on 80 % of rows)
             and a day of M raw requests (20 services x 10 endpoints); same
             seed, same bytes
  collect    vitals `collect` (read, normalize, write the hive store) against
             DuckDB `COPY (SELECT ...) TO ... (PARTITION_BY (day, source))`
  analyze    vitals `analyze` (cost_summary + cost_anomaly over the last full
             week) against DuckDB's same group-bys and baselines over vitals' store
  requests   vitals `collect` of the request log against DuckDB's per-(service,
             endpoint, 5-minute) counts, Apdex counts and quantile_cont P50/P95/P99
  savings    vitals `analyze` with idle_resource, rightsizing and spot_candidate
             over a fleet of K instances (scripts/bench_fleet.py: 14 days of
             hourly CPU and network, loaded by `collect` from CSV) against
             DuckDB's daily means and quantile_cont P99.5 over vitals' store

Checks (the run fails if any differs): the store's billed and effective totals
per day equal DuckDB's over the raw file; the week's totals, by provider and
by service, equal DuckDB's; every interval's requests, errors, Apdex counts and
P50/P95/P99 equal DuckDB's (relative 1e-9); the idle instances are the ones
DuckDB finds by the same rule, with the same daily figures, and every
right-sizing's P99.5 equals DuckDB's.
"""

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time

REL = 1e-9
START = dt.date(2026, 6, 1)
DAYS = 91


def run(argv, env=None, capture=False, repeat=1):
    """Runs a process `repeat` times; returns (the median seconds, the largest
    of its own peak RSS in MiB, the last stdout)."""
    runs = [run_once(argv, env, capture) for _ in range(repeat)]
    seconds = sorted(r[0] for r in runs)[len(runs) // 2]
    return seconds, max(r[1] for r in runs), runs[-1][2]


def run_once(argv, env, capture):
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, text=True)
        # wait4, not wait: the child's own rusage, not the sum of all children's.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"bench: `{' '.join(argv[:4])} ...` failed ({proc.returncode}):\n{err.read()[-4000:]}")
        return seconds, usage.ru_maxrss / 1024.0, out.read() if capture else ""


def duckdb_child(script, threads, repeat=1):
    """Runs `script` (Python using `con`) in a child process with DuckDB."""
    prelude = textwrap.dedent(
        f"""
        import duckdb, json, sys
        con = duckdb.connect()
        con.execute("SET threads = {threads}")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        """
    )
    return run([sys.executable, "-c", prelude + textwrap.dedent(script)], capture=True, repeat=repeat)


def generate(work, rows, requests, threads):
    focus = os.path.join(work, "focus.parquet")
    logs = os.path.join(work, "requests.parquet")
    marker = os.path.join(work, "generated")
    made = f"{rows} {requests}\n"
    if os.path.exists(marker) and open(marker).read() == made:
        print("  (reusing the files generated in the work dir; same sizes, same seed)")
        return focus, logs
    script = f"""
    con.execute('''
    COPY (
      WITH r AS (
        SELECT i,
               (hash(i, 'resource') % 20000)::BIGINT AS res,
               (hash(i, 'day') % {DAYS})::BIGINT AS day,
               (hash(i, 'hour') % 24)::BIGINT AS hour,
               (hash(i, 'cost') % 1000000000) / 1e9 AS u,
               (hash(i, 'charge') % 100)::BIGINT AS charge
        FROM range({rows}) t(i)
      ), s AS (
        SELECT r.*,
               res % 3 AS p,
               res % 40 AS account,
               (res * 7) % 60 AS service,
               hash(res, 'tagged') % 10 < 8 AS tagged
        FROM r
      )
      SELECT
        -- Amounts with 10 decimals, as exports carry them; a few spikes on one
        -- service for the anomaly detector to find.
        round(CASE WHEN charge = 0 THEN -u * 2 ELSE u * 3 END
              * (1 + service / 10.0)
              * CASE WHEN service = 7 AND day = {DAYS - 3} THEN 40 ELSE 1 END, 10) AS BilledCost,
        round(CASE WHEN charge = 0 THEN -u * 2 ELSE u * 3 END
              * (1 + service / 10.0) * 0.9
              * CASE WHEN service = 7 AND day = {DAYS - 3} THEN 40 ELSE 1 END, 10) AS EffectiveCost,
        CASE WHEN charge < 90 THEN round(u * 3.3 * (1 + service / 10.0), 10) END AS ListCost,
        'USD' AS BillingCurrency,
        CASE WHEN charge = 0 THEN 'Credit' WHEN charge = 1 THEN 'Tax'
             WHEN charge = 2 THEN 'Purchase' ELSE 'Usage' END AS ChargeCategory,
        CASE WHEN charge < 3 THEN NULL
             WHEN charge < 15 THEN 'Dynamic' WHEN charge < 35 THEN 'Committed'
             ELSE 'Standard' END AS PricingCategory,
        TIMESTAMP '{START} 00:00:00' + INTERVAL (day) DAY + INTERVAL (hour) HOUR AS ChargePeriodStart,
        TIMESTAMP '{START} 00:00:00' + INTERVAL (day) DAY + INTERVAL (hour + 1) HOUR AS ChargePeriodEnd,
        ['Amazon Web Services', 'Google Cloud', 'Microsoft'][p + 1] AS ProviderName,
        'billing-' || p AS BillingAccountId,
        'acct-' || lpad(account::VARCHAR, 3, '0') AS SubAccountId,
        'Account ' || account AS SubAccountName,
        'Service ' || lpad(service::VARCHAR, 2, '0') AS ServiceName,
        ['Compute', 'Storage', 'Databases', 'Networking'][service % 4 + 1] AS ServiceCategory,
        'SKU-' || service || '-' || (res % 9) AS SkuId,
        'res-' || res AS ResourceId,
        'resource ' || res AS ResourceName,
        ['Instance', 'Volume', 'Bucket', 'Database'][res % 4 + 1] AS ResourceType,
        ['us-east-1', 'europe-west1', 'westeurope', 'ap-south-1'][res % 4 + 1] AS RegionId,
        round(u * 10, 6) AS ConsumedQuantity,
        'Hours' AS ConsumedUnit,
        round(u * 10, 6) AS PricingQuantity,
        'Hours' AS PricingUnit,
        CASE WHEN tagged THEN
          '{{"environment":"' || ['prod', 'staging', 'dev', 'prod'][res % 4 + 1]
          || '","team":"team-' || (res % 25) || '","app":"app-' || (res % 400) || '"}}'
        END AS Tags
      FROM s
    ) TO '{focus}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
    ''')
    con.execute('''
    COPY (
      SELECT
        TIMESTAMP '{START + dt.timedelta(days=DAYS - 1)} 00:00:00'
          + to_microseconds((hash(i, 'ts') % 86400000000)::BIGINT) AS timestamp,
        'svc-' || lpad(((hash(i, 'svc') % 20))::VARCHAR, 2, '0') AS service,
        '/api/e' || (hash(i, 'ep') % 10) AS endpoint,
        -- log-normal around 80 ms, in ms with microsecond precision
        round(exp(ln(80) + 0.6 * sqrt(-2 * ln(((hash(i, 'u1') % 1000000) + 1) / 1000001.0))
                  * cos(2 * pi() * (hash(i, 'u2') % 1000000) / 1000000.0)), 3) AS duration_ms,
        CASE WHEN hash(i, 'err') % 100 = 0 THEN 503 ELSE 200 END AS status
      FROM range({requests}) t(i)
    ) TO '{logs}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
    ''')
    """
    duckdb_child(script, threads)
    with open(marker, "w") as f:
        f.write(made)
    return focus, logs


def vitals_config(work, focus, logs):
    path = os.path.join(work, "vitals.toml")
    with open(path, "w") as f:
        f.write(
            textwrap.dedent(
                f"""
                [store]
                path = "{work}/store"

                [collectors.bill]
                type = "focus_file"
                path = "{focus}"

                [collectors.logs]
                type = "request_log"
                path = "{logs}"
                interval = "5m"
                duration_unit = "ms"
                apdex_t_s = 0.1

                [analyzers.cost]
                type = "cost_summary"
                tag_key = "environment"

                [analyzers.anomalies]
                type = "cost_anomaly"
                """
            )
        )
    return path


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= REL * max(1.0, abs(a), abs(b))


def check(what, pairs):
    """pairs: {key: (vitals, duckdb)}; exits naming the first difference."""
    bad = [(k, v, d) for k, (v, d) in sorted(pairs.items(), key=str) if not close(v, d)]
    if bad:
        k, v, d = bad[0]
        sys.exit(f"bench: {what} differ at {k}: vitals {v!r}, DuckDB {d!r} ({len(bad)} differences)")
    print(f"  check: {what}: {len(pairs)} values equal (relative {REL:g})")


def week_range():
    last = START + dt.timedelta(days=DAYS - 1)
    # The last complete ISO week (Monday..Sunday) in the data.
    end = last - dt.timedelta(days=(last.isoweekday() % 7))
    if end > last:
        end -= dt.timedelta(days=7)
    return end - dt.timedelta(days=6), end


def daemon(args, work, env):
    """`vitals run` on the bundled sample: resident memory once its first
    cycle is done and it idles, and how long /metrics takes to answer; then
    the bench_metrics example, the same registry and router with 10,000
    series."""
    import socket
    import urllib.request

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = os.path.join(work, "daemon.toml")
    with open(os.path.join(repo, "config.toml")) as f:
        text = f.read()
    text = text.replace('path = "./data"', f'path = "{work}/daemon-store"')
    text = text.replace('path = "sample/focus/*.csv"', f'path = "{repo}/sample/focus/*.csv"')
    text = text.replace('path = "sample/requests/*.csv.gz"', f'path = "{repo}/sample/requests/*.csv.gz"')
    text = text.replace('out_dir = "./reports-out"', f'out_dir = "{work}/reports-out"')
    text = text.replace('listen = "127.0.0.1:9464"', f'listen = "127.0.0.1:{port}"')
    with open(config, "w") as f:
        f.write(text)
    proc = subprocess.Popen([args.vitals, "--config", config, "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("bench: `vitals run` did not become ready")
            time.sleep(0.2)
        time.sleep(2)
        with open(f"/proc/{proc.pid}/status") as f:
            status = {l.split(":")[0]: int(l.split()[1]) / 1024 for l in f if l.startswith(("VmRSS:", "RssAnon:", "RssFile:"))}
        rss = status["VmRSS"]
        times = []
        series = 0
        for _ in range(200):
            t = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                body = r.read()
            times.append(time.monotonic() - t)
        series = sum(1 for l in body.decode().splitlines() if l and not l.startswith("#"))
        with open(f"/proc/{proc.pid}/status") as f:
            after = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
        times.sort()
        print(f"  daemon on the sample: idle RSS {rss:.0f} MiB after its first cycle "
              f"(heap and other anonymous {status['RssAnon']:.0f} MiB, its binary's pages {status['RssFile']:.0f} MiB); /metrics "
              f"({series} series) p50 {times[100] * 1e3:.2f} ms, p99 {times[197] * 1e3:.2f} ms over 200 requests, "
              f"after which it holds {after:.0f} MiB")
    finally:
        proc.terminate()
        proc.wait()
    if args.bench_metrics:
        out = subprocess.run([args.bench_metrics, "--series", "10000"], env=env, check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            print(f"  {line}")


def savings(args, work, env, step):
    """The savings analyzers over a generated fleet, against DuckDB doing
    their reductions (daily means per resource, metric and day; P99.5 of the
    hourly maxima per instance) over the same store."""
    n = args.instances
    fleet = os.path.join(work, f"fleet-{n}")
    ws = os.path.join(fleet, "ws")
    os.makedirs(ws, exist_ok=True)
    if not os.path.exists(os.path.join(fleet, "utilization.csv.gz")):
        run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_fleet.py"),
             str(n), fleet])
    config = os.path.join(ws, "config.toml")
    with open(config, "w") as fh:
        fh.write('[store]\npath = "store"\n')
        for name in ["inventory", "utilization", "prices"]:
            path = "utilization.csv.gz" if name == "utilization" else f"{name}.csv"
            fh.write(f'[collectors.{name}]\ntype = "table_file"\ndataset = "{name}"\n'
                     f'path = "../{path}"\n')
        fh.write('[analyzers.idle]\ntype = "idle_resource"\n'
                 '[analyzers.rightsizing]\ntype = "rightsizing"\n'
                 '[analyzers.spot]\ntype = "spot_candidate"\n')
    if not (args.skip_collect and os.path.isdir(os.path.join(ws, "store", "utilization"))):
        run([args.vitals, "--config", config, "collect"], env=env)
    # bench_fleet.py's 14 days.
    since, until = dt.date(2024, 9, 16), dt.date(2024, 9, 29)
    v_s, v_rss, out = run(
        [args.vitals, "--config", config, "analyze", "--since", str(since), "--until", str(until),
         "--format", "json"],
        env=env, capture=True, repeat=args.repeat)
    doc = json.loads(out)
    src = f"read_parquet('{ws}/store/utilization/**/*.parquet', hive_partitioning = false)"
    d_s, d_rss, out = duckdb_child(
        """
        src = SRC
        con.execute(f'''
          CREATE TEMP TABLE daily AS
          SELECT resource_id, metric, CAST(ts AS DATE) AS day, avg(avg) AS mean, count(*) AS hours
          FROM {src}
          WHERE metric IN ('cpu_utilization', 'network_in_bytes', 'network_out_bytes',
                           'volume_read_ops', 'volume_write_ops', 'request_count')
            AND avg IS NOT NULL
          GROUP BY ALL''')
        p = {}
        for metric in ['cpu_utilization', 'memory_utilization']:
            p[metric] = dict(con.execute(f'''
              SELECT resource_id, quantile_cont(coalesce(max, avg), 0.995) FROM {src}
              WHERE metric = '{metric}' AND coalesce(max, avg) IS NOT NULL
              GROUP BY 1''').fetchall())
        # Trusted Advisor's rule with idle_resource's defaults: a day (with CPU
        # and network data) is low when its mean CPU <= 10 % and network in +
        # out <= 5 MB; an instance with 4 low days is idle.
        con.execute('''
          CREATE TEMP TABLE judged AS
          SELECT resource_id, day, cpu, net FROM (
            SELECT resource_id, day,
                   any_value(mean) FILTER (metric = 'cpu_utilization') AS cpu,
                   sum(mean) FILTER (metric IN ('network_in_bytes', 'network_out_bytes')) * 86400 AS net
            FROM daily GROUP BY ALL)
          WHERE cpu IS NOT NULL AND net IS NOT NULL''')
        idle = [r[0] for r in con.execute('''
          SELECT resource_id FROM judged GROUP BY 1
          HAVING count(*) FILTER (cpu <= 10 AND net <= 5e6) >= 4 ORDER BY 1''').fetchall()]
        figures = {f"{r}|{d}": [c, n] for r, d, c, n in con.execute(
            "SELECT resource_id, CAST(day AS VARCHAR), cpu, net FROM judged "
            "WHERE resource_id IN (SELECT unnest(?))", [idle]).fetchall()}
        print(json.dumps({"idle": sorted(idle), "figures": figures, "p995": p['cpu_utilization']}))
        """.replace("SRC", repr(src)),
        args.threads, repeat=args.repeat)
    step(f"savings over {n:,} instances x 14 days", v_s, v_rss, d_s, d_rss)
    duck = json.loads(out)
    findings = doc["findings"]
    idle = sorted(f["resource_id"] for f in findings
                  if f["kind"] == "idle_resource" and f["evidence"]["resource_type"] == "instance")
    if idle != duck["idle"]:
        sys.exit(f"bench: idle instances differ from DuckDB's: {len(idle)} vs {len(duck['idle'])}, "
                 f"e.g. {sorted(set(idle) ^ set(duck['idle']))[:5]}")
    pairs = {}
    for f in findings:
        e = f["evidence"]
        if f["kind"] == "idle_resource" and e["resource_type"] == "instance":
            for d in e["days"]:
                cpu, net = duck["figures"][f"{f['resource_id']}|{d['day']}"]
                pairs[(f["resource_id"], d["day"], "cpu")] = (d["cpu_percent"], cpu)
                pairs[(f["resource_id"], d["day"], "network")] = (d["network_bytes"], net)
        elif f["kind"] == "rightsizing" and e["group"] is None:
            pairs[(f["resource_id"], "p99.5")] = (e["cpu_percentile_percent"],
                                                   duck["p995"][f["resource_id"]])
    checked = sum(k[1] == "p99.5" for k in pairs)
    if not checked:
        sys.exit("bench: no right-sizing finding to check")
    check(f"{len(idle):,} idle instances, their daily figures, and the P99.5 of "
          f"{checked:,} right-sizings against DuckDB", pairs)
    print(f"  savings: {len(findings):,} findings")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000, help="FOCUS rows (default 10 M)")
    ap.add_argument("--requests", type=int, default=10_000_000, help="raw requests (default 10 M)")
    ap.add_argument("--vitals", required=True, help="the vitals binary")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the analyze and request steps, the median kept (default 3)")
    ap.add_argument("--work", help="working directory (default: a temporary one)")
    ap.add_argument("--bench-metrics", help="the bench_metrics example binary (/metrics with 10,000 series)")
    ap.add_argument("--instances", type=int, default=5_000,
                    help="instances of the savings step's fleet (default 5,000; 0 skips the step)")
    ap.add_argument("--skip-collect", action="store_true",
                    help="reuse the cost store a previous run left in --work (analyze is re-measured)")
    ap.add_argument("--savings-only", action="store_true",
                    help="only the savings step (its fleet is generated, no bill or requests)")
    ap.add_argument("--daemon-only", action="store_true",
                    help="only the daemon's idle RSS and /metrics (no data is generated)")
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="vitals-bench-")
    os.makedirs(work, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"threads {args.threads}; work dir {work}")
    if args.daemon_only:
        env = dict(os.environ, POLARS_MAX_THREADS=str(args.threads), RUST_LOG="warn")
        daemon(args, work, env)
        return
    if args.savings_only:
        env = dict(os.environ, POLARS_MAX_THREADS=str(args.threads), RUST_LOG="warn")
        table = []
        savings(args, work, env, lambda *row: table.append(row) or print(
            f"  {row[0]}: vitals {row[1]:.1f} s, {row[2]:.0f} MiB; DuckDB {row[3]:.1f} s, {row[4]:.0f} MiB"))
        print_table(table)
        return
    t, _, _ = time.monotonic(), None, None
    focus, logs = generate(work, args.rows, args.requests, args.threads)
    print(f"generated {args.rows:,} FOCUS rows ({os.path.getsize(focus) / 2**20:.0f} MiB Parquet) and "
          f"{args.requests:,} requests ({os.path.getsize(logs) / 2**20:.0f} MiB) in {time.monotonic() - t:.0f} s")
    config = vitals_config(work, focus, logs)
    env = dict(os.environ, POLARS_MAX_THREADS=str(args.threads), RUST_LOG="warn")
    table = []

    def step(name, vs, vr, ds, dr):
        table.append((name, vs, vr, ds, dr))
        print(f"  {name}: vitals {vs:.1f} s, {vr:.0f} MiB; DuckDB {ds:.1f} s, {dr:.0f} MiB", flush=True)

    # collect: cost (skipped with --skip-collect: the work dir's store is reused)
    if not args.skip_collect:
        v_s, v_rss, _ = run([args.vitals, "--config", config, "collect", "--source", "bill"], env=env)
        d_s, d_rss, _ = duckdb_child(
            f"""
            con.execute('''
            COPY (
              SELECT ChargePeriodStart AS charge_period_start, ChargePeriodEnd AS charge_period_end,
                     ProviderName AS provider, BillingAccountId AS billing_account_id,
                     SubAccountId AS sub_account_id, SubAccountName AS sub_account_name,
                     ServiceName AS service_name, ServiceCategory AS service_category, SkuId AS sku_id,
                     ChargeCategory AS charge_category, PricingCategory AS pricing_category,
                     ResourceId AS resource_id, ResourceName AS resource_name, ResourceType AS resource_type,
                     RegionId AS region_id, ConsumedQuantity AS consumed_quantity, ConsumedUnit AS consumed_unit,
                     PricingQuantity AS pricing_quantity, PricingUnit AS pricing_unit,
                     BilledCost AS billed_cost, EffectiveCost AS effective_cost, ListCost AS list_cost,
                     BillingCurrency AS billing_currency, Tags AS tags,
                     CAST(ChargePeriodStart AS DATE) AS day, 'bill' AS source
              FROM '{focus}'
            ) TO '{work}/duck_store' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day, source), OVERWRITE_OR_IGNORE)
            ''')
            """,
            args.threads,
        )
        step(f"collect {args.rows / 1e6:g} M FOCUS rows", v_s, v_rss, d_s, d_rss)

    store_glob = f"{work}/store/cost/*/*/part.parquet"
    _, _, out = duckdb_child(
        f"""
        def q(sql):
            return {{str(r[0]): [r[1], r[2], r[3]] for r in con.execute(sql).fetchall()}}
        raw = q("SELECT CAST(ChargePeriodStart AS DATE), sum(BilledCost), sum(EffectiveCost), count(*) FROM '{focus}' GROUP BY 1")
        store = q("SELECT CAST(charge_period_start AS DATE), sum(billed_cost), sum(effective_cost), count(*) FROM read_parquet('{store_glob}') GROUP BY 1")
        print(json.dumps({{"raw": raw, "store": store}}))
        """,
        args.threads,
    )
    sums = json.loads(out)
    if set(sums["raw"]) != set(sums["store"]):
        sys.exit(f"bench: the store's days differ from the file's: {sorted(set(sums['raw']) ^ set(sums['store']))[:5]}")
    pairs = {}
    for day, (b, e, n) in sums["raw"].items():
        sb, se, sn = sums["store"][day]
        pairs[(day, "billed")] = (sb, b)
        pairs[(day, "effective")] = (se, e)
        pairs[(day, "rows")] = (sn, n)
    check("stored daily billed/effective totals and row counts against the raw file", pairs)

    # analyze: cost_summary + cost_anomaly for the last complete week
    since, until = week_range()
    v_s, v_rss, out = run(
        [args.vitals, "--config", config, "analyze", "--since", str(since), "--until", str(until),
         "--format", "json"],
        env=env,
        capture=True,
        repeat=args.repeat,
    )
    doc = json.loads(out)
    cost = next(s for s in doc["summaries"] if s.get("kind") == "cost" or "by_provider" in s.get("cost", s))
    cost = cost.get("cost", cost)
    anomalies = [f for f in doc["findings"] if f["kind"] == "cost_anomaly"]
    prev_since, prev_until = since - dt.timedelta(days=7), until - dt.timedelta(days=7)
    base_since = since - dt.timedelta(days=28 + 7)
    d_s, d_rss, out = duckdb_child(
        f"""
        store = "read_parquet('{store_glob}', hive_partitioning = false)"
        con.execute(f'''
        CREATE TEMP TABLE daily AS
        SELECT CAST(charge_period_start AS DATE) AS day, provider, sub_account_id, sub_account_name,
               service_name, billing_currency,
               NULLIF(trim(json_extract_string(tags, '$.environment')), '') AS tag,
               charge_category, pricing_category,
               sum(billed_cost) AS billed, sum(effective_cost) AS effective, sum(list_cost) AS list,
               sum(CASE WHEN list_cost IS NOT NULL THEN effective_cost ELSE 0 END) AS listed_effective
        FROM {{store}}
        WHERE charge_period_start >= DATE '{prev_since}' AND charge_period_start < DATE '{until}' + 1
           OR charge_period_start >= DATE '{until.replace(day=1)}' - INTERVAL 1 MONTH
              AND charge_period_start < DATE '{until}' + 1
        GROUP BY ALL
        ''')
        cur = "day BETWEEN DATE '{since}' AND DATE '{until}'"
        prev = "day BETWEEN DATE '{prev_since}' AND DATE '{prev_until}'"
        def roll(keys):
            return con.execute(f'''
              SELECT {{keys}}, sum(billed) FILTER ({{cur}}), sum(effective) FILTER ({{cur}}),
                     sum(billed) FILTER ({{prev}}), sum(effective) FILTER ({{prev}})
              FROM daily GROUP BY ALL''').fetchall()
        views = {{k: roll(k) for k in ["billing_currency", "provider", "provider, sub_account_id",
                                       "provider, service_name", "tag", "provider, charge_category",
                                       "provider, pricing_category", "day, provider, service_name"]}}
        con.execute("SELECT sum(billed) FILTER (WHERE tag IS NULL AND " + cur + ") FROM daily").fetchall()
        # cost_anomaly's work: per (provider, account, service) series the
        # median level of the 28 days before each judged day, the weekday
        # factor and the MAD of the residuals.
        con.execute(f'''
        CREATE TEMP TABLE series AS
        SELECT CAST(charge_period_start AS DATE) AS day, provider, sub_account_id, service_name,
               billing_currency, sum(billed_cost) AS cost
        FROM {{store}}
        WHERE charge_period_start >= DATE '{base_since}' AND charge_period_start < DATE '{until}' + 1
        GROUP BY ALL''')
        con.execute(f'''
        WITH judged AS (SELECT DISTINCT day AS judged FROM series WHERE {{cur}}),
        base AS (
          SELECT s.*, j.judged FROM series s JOIN judged j
            ON s.day < j.judged AND s.day >= j.judged - 28),
        level AS (
          SELECT provider, sub_account_id, service_name, billing_currency, judged,
                 median(cost) AS level FROM base GROUP BY ALL),
        factor AS (
          SELECT b.provider, b.sub_account_id, b.service_name, b.billing_currency, b.judged,
                 dayofweek(b.day) AS dow, median(b.cost) / nullif(any_value(l.level), 0) AS factor
          FROM base b JOIN level l USING (provider, sub_account_id, service_name, billing_currency, judged)
          GROUP BY ALL)
        SELECT count(*), sum(factor) FROM factor''').fetchall()
        week = {{r[0]: r[1:] for r in views["billing_currency"]}}
        print(json.dumps({{
          "totals": {{k: list(v) for k, v in week.items()}},
          "provider": {{r[0]: [r[1], r[2]] for r in views["provider"]}},
          "service": {{f"{{r[0]}}|{{r[1]}}": [r[2], r[3]] for r in views["provider, service_name"]}},
        }}))
        """,
        args.threads,
        repeat=args.repeat,
    )
    step(f"analyze a week of {args.rows / 1e6:g} M rows", v_s, v_rss, d_s, d_rss)
    duck = json.loads(out)
    pairs = {}
    for t in cost["totals"]:
        b, e, pb, pe = duck["totals"][t["currency"]]
        c = t["cost"]
        pairs[("total", t["currency"], "billed")] = (c["current"]["billed"], b)
        pairs[("total", t["currency"], "effective")] = (c["current"]["effective"], e)
        pairs[("previous", t["currency"], "billed")] = (c["previous"]["billed"], pb)
    for g in cost["by_provider"]:
        b, e = duck["provider"][g["provider"]]
        pairs[("provider", g["provider"])] = (g["cost"]["current"]["billed"], b or 0.0)
    for g in cost["by_service"]:
        b, e = duck["service"][f"{g['provider']}|{g['name']}"]
        pairs[("service", g["provider"], g["name"])] = (g["cost"]["current"]["effective"], e or 0.0)
    check("the week's totals by currency, provider and service against DuckDB", pairs)
    print(f"  cost_anomaly: {len(anomalies)} finding(s): "
          + ", ".join(f"{f['title']}" for f in anomalies[:3]))

    # collect: request log
    v_s, v_rss, _ = run([args.vitals, "--config", config, "collect", "--source", "logs"], env=env,
                        repeat=args.repeat)
    d_s, d_rss, _ = duckdb_child(
        f"""
        con.execute('''
        CREATE TEMP TABLE intervals AS
        SELECT time_bucket(INTERVAL 5 MINUTE, timestamp) AS ts, service, endpoint,
               count(*) AS requests, count(*) FILTER (status >= 500) AS errors,
               count(*) FILTER (status < 500 AND duration_ms <= 100) AS satisfied,
               count(*) FILTER (status < 500 AND duration_ms > 100 AND duration_ms <= 400) AS tolerating,
               quantile_cont(duration_ms / 1000.0, 0.5) AS p50,
               quantile_cont(duration_ms / 1000.0, 0.95) AS p95,
               quantile_cont(duration_ms / 1000.0, 0.99) AS p99
        FROM '{logs}' GROUP BY ALL''')
        con.execute("COPY intervals TO '{work}/duck_intervals.parquet' (FORMAT parquet)")
        """,
        args.threads,
        repeat=args.repeat,
    )
    step(f"collect {args.requests / 1e6:g} M requests", v_s, v_rss, d_s, d_rss)
    _, _, out = duckdb_child(
        f"""
        rows = con.execute('''
          SELECT strftime(d.ts, '%Y-%m-%dT%H:%M'), d.service, d.endpoint,
                 d.requests, v.requests, d.errors, v.errors, d.satisfied, v.apdex_satisfied,
                 d.tolerating, v.apdex_tolerating, d.p50, v.p50_s, d.p95, v.p95_s, d.p99, v.p99_s
          FROM '{work}/duck_intervals.parquet' d
          FULL JOIN read_parquet('{work}/store/latency/*/*/part.parquet') v
            ON d.ts = v.ts AND d.service = v.service AND d.endpoint = v.endpoint''').fetchall()
        print(json.dumps(rows))
        """,
        args.threads,
    )
    pairs = {}
    names = ["requests", "errors", "satisfied", "tolerating", "p50", "p95", "p99"]
    for r in json.loads(out):
        key = tuple(r[:3])
        for i, name in enumerate(names):
            pairs[key + (name,)] = (r[4 + 2 * i], r[3 + 2 * i])
    check("per-interval requests, errors, Apdex counts and P50/P95/P99 against DuckDB", pairs)

    if args.instances:
        savings(args, work, env, step)

    daemon(args, work, env)

    print_table(table)


def print_table(table):
    print()
    print(f"| step | vitals s | vitals peak RSS | DuckDB s | DuckDB peak RSS | time ratio | RSS ratio |")
    print(f"|---|---:|---:|---:|---:|---:|---:|")
    for name, vs, vr, ds, dr in table:
        print(f"| {name} | {vs:.1f} | {vr:.0f} MiB | {ds:.1f} | {dr:.0f} MiB | {vs / ds:.2f}x | {vr / dr:.2f}x |")


if __name__ == "__main__":
    main()
