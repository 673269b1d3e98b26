#!/usr/bin/env python3
"""Markdown tables of one bench/fleet.sh run (stdlib only).

Usage: fleet_report.py FLEET.jsonl [--run RUN_ID] [--api-results API.jsonl]

Without --run, the last run in the file. The python and embedded rows come from the api run
named in the fleet run's fleet_setup row (bench/api.sh's rows in API.jsonl, default
bench/out/api-results.jsonl beside FLEET.jsonl). Prints: (1) /query req/s, p50, p99 per setup
and concurrency, with ratios against the Python stack, and the resources each point used;
(2) the overhead nginx adds (pg1-nginx against pg1-direct); (3) the rate-limit decision
latency, in process against Redis.
"""
import argparse
import json
import os

SETUPS = {
    "python": "python (chapter stack)",
    "embedded": "ragd embedded (SQLite, direct)",
    "pg1-direct": "ragd ×1 PostgreSQL+Redis, direct",
    "pg1-nginx": "ragd ×1 PostgreSQL+Redis, nginx",
    "pg3-nginx": "ragd ×3 PostgreSQL+Redis, nginx",
    "pg3-nginx-t1": "ragd ×3, nginx, RAGD_EMBED_THREADS=1",
    "pg3-nginx-warm": "ragd ×3, nginx, question cache on (warm)",
}


def fmt(v, nd=1):
    return "–" if v is None else f"{v:.{nd}f}"


def ratio(a, b):
    return "–" if a is None or not b else f"{a / b:.2f}×"


def socket_errors(r):
    return sum(r.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))


def load(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--run")
    ap.add_argument("--api-results")
    args = ap.parse_args()
    rows = [r for r in load(args.results) if str(r.get("bench", "")).startswith(("fleet_", "ratelimit_"))]
    if not rows:
        print("no fleet results")
        return
    run = args.run or rows[-1]["run"]
    rows = [r for r in rows if r.get("run") == run]
    setup = next((r for r in rows if r["bench"] == "fleet_setup"), {})
    api_path = args.api_results or os.path.join(os.path.dirname(args.results), "api-results.jsonl")
    api_run = setup.get("api_run")
    api_rows = [r for r in load(api_path) if api_run and r.get("run") == api_run]
    api = [r for r in api_rows if r.get("bench") == "api_query"]
    api_rss = {r["stack"]: r.get("rss_after_load_mib") for r in api_rows if r.get("bench") == "api_server"}

    # one row per (setup, concurrency)
    by = {}
    for r in api:
        by[("python" if r["stack"] == "python" else "embedded", r["concurrency"])] = r
    for r in rows:
        if r["bench"] == "fleet_query":
            by[(r["point"], r["concurrency"])] = r
    levels = sorted({c for _, c in by})

    print(f"\n### Fleet /query, run {run}: {setup.get('chunks', '?')} chunks, "
          f"{setup.get('duration_s', '?')} s per point, {setup.get('cores', '?')} cores, "
          f"nginx {setup.get('nginx', '?')} (worker_processes {setup.get('nginx_worker_processes', '?')}), "
          f"Redis {setup.get('redis', '?')}\n")
    if api_run:
        print(f"python and embedded rows: api run {api_run} ({setup.get('api_run_source', '?')}); "
              "every ragd row cold (question cache off) unless marked warm.")
        if setup.get("api_run_source") != "this run":
            print("That api run is not part of this run: its embedded row is cold only if it ran with "
                  "RAGD_QUERY_CACHE=0 (bench/fleet.sh does that; bench/api.sh alone does not).")
        if any(r.get("chunks") != setup.get("chunks") for r in api):
            print(f"**The api run measured {sorted({r.get('chunks') for r in api})} chunks, this run "
                  f"{setup.get('chunks')}.**")
        print()
    else:
        print("no api run: python and embedded rows are missing.\n")
    print("÷ python: the figure divided by the Python stack's at the same concurrency "
          "(req/s: higher is better; p50: lower is better).\n")
    print("| setup | c | req/s | p50 ms | p99 ms | req/s ÷ python | p50 ÷ python | non-2xx | socket errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in levels:
        py = by.get(("python", c))
        for key, label in SETUPS.items():
            r = by.get((key, c))
            if not r:
                continue
            print(f"| {label} | {c} | {fmt(r['rps'])} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} "
                  f"| {ratio(r['rps'], py and py['rps'])} | {ratio(r['p50_ms'], py and py['p50_ms'])} "
                  f"| {r['non2xx']} | {socket_errors(r)} |")

    print("\nCores used during each point (averaged over the wrk run) and RSS after it:\n")
    print("| setup | c | embed threads / instance | ragd (cores, per instance) | nginx | PostgreSQL | Redis | machine | ragd RSS MiB |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---|")
    for c in levels:
        for key, label in SETUPS.items():
            r = by.get((key, c))
            if not r:
                continue
            if r.get("bench") == "api_query":
                # bench/api.sh ran ragd with RAGD_EMBED_THREADS unset: one thread per core
                threads = setup.get("embed_threads_default") if key == "embedded" else None
                each = fmt(r.get("server_cpu_cores"), 2)
                rss = api_rss.get(r["stack"])
                extra = ("–", "–", "–", f"{fmt(rss, 0)}*" if rss is not None else "–")
            else:
                threads = r["embed_threads"]
                each = f"{fmt(r['ragd_cpu_cores'], 2)}"
                if r["instances"] > 1:
                    each += " (" + " + ".join(fmt(x, 2) for x in r["ragd_cpu_cores_each"]) + ")"
                extra = (fmt(r.get("nginx_cpu_cores"), 2), fmt(r.get("postgres_cpu_cores"), 2),
                         fmt(r.get("redis_cpu_cores"), 2), " / ".join(fmt(x, 0) for x in r["ragd_rss_mib"]))
            print(f"| {label} | {c} | {threads if threads is not None else '–'} | {each} | {extra[0]} | {extra[1]} "
                  f"| {extra[2]} | {fmt(r.get('cpu_busy_cores'), 2)} | {extra[3]} |")
    print("\nmachine = all processes, wrk included. python and embedded (bench/api.sh): the server's "
          "cores only; * RSS of the server's process tree after its last point.")
    stages = [r for r in rows if r["bench"] == "fleet_stage"]
    if stages:
        print("\nStartup to /health/ready (ms; the first instance alone, then the others together): "
              + "; ".join(f"{s['instances']}× threads {s['embed_threads']} {s['question_cache']}: "
                          + ", ".join(str(x) for x in s["ready_ms"]) for s in stages)
              + f". Migration of the data dir into PostgreSQL: {setup.get('migrate_ms', '?')} ms.")

    print("\n### Overhead of nginx (one instance: through nginx against direct)\n")
    print("| c | direct req/s | nginx req/s | Δ req/s | direct p50 ms | nginx p50 ms | Δ p50 ms | Δ p99 ms | nginx cores |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in levels:
        d, g = by.get(("pg1-direct", c)), by.get(("pg1-nginx", c))
        if not (d and g):
            continue
        drps = (g["rps"] - d["rps"]) / d["rps"] * 100 if d["rps"] else 0.0
        print(f"| {c} | {fmt(d['rps'])} | {fmt(g['rps'])} | {drps:+.1f}% | {fmt(d['p50_ms'], 2)} "
              f"| {fmt(g['p50_ms'], 2)} | {g['p50_ms'] - d['p50_ms']:+.2f} | {g['p99_ms'] - d['p99_ms']:+.2f} "
              f"| {fmt(g.get('nginx_cpu_cores'), 2)} |")

    lim = {(r["limiter"], r["concurrency"]): r for r in rows if r["bench"] == "ratelimit_decision"}
    if lim:
        print("\n### Rate-limit decision latency, in process against Redis (one decision each, "
              f"{next(iter(lim.values()))['decisions']} decisions per point)\n")
        print("| c | memory p50 µs | memory p99 µs | memory decisions/s | Redis p50 µs | Redis p99 µs | Redis decisions/s |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for c in sorted({c for _, c in lim}):
            m, r = lim.get(("memory", c)), lim.get(("redis", c))
            cells = []
            for x in (m, r):
                cells += [fmt(x and x["p50_us"], 2), fmt(x and x["p99_us"], 2), fmt(x and x["decisions_per_s"], 0)]
            print(f"| {c} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
