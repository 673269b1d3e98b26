#!/usr/bin/env python3
"""Markdown tables of one bench/api.sh run (stdlib only).

Usage: report.py RESULTS.jsonl [--run RUN_ID] [--probe-dir DIR]

Without --run, the last run in the file. Prints: /query throughput and latency per stack and
concurrency; startup and RSS per stack; the probe (answers with sources at the benchmark's
threshold); top-k retrieval overlap between the stacks (when both probe files exist); and the
design's targets (section 7) checked against the figures.
"""
import argparse
import json
import os


def fmt(v, nd=1):
    return "–" if v is None else f"{v:.{nd}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--run")
    ap.add_argument("--probe-dir")
    args = ap.parse_args()
    rows = [json.loads(l) for l in open(args.results, encoding="utf-8") if l.strip()]
    rows = [r for r in rows if str(r.get("bench", "")).startswith("api_")]
    if not rows:
        print("no api results")
        return
    run = args.run or rows[-1].get("run")
    rows = [r for r in rows if r.get("run") == run]
    q = [r for r in rows if r["bench"] == "api_query"]
    st = {r["stack"]: r for r in rows if r["bench"] == "api_server"}
    probes = {r["stack"]: r for r in rows if r["bench"] == "api_probe"}
    stacks = []
    for r in rows:
        if r.get("stack") and r["stack"] not in stacks:
            stacks.append(r["stack"])

    meta = next((r for r in q), {})
    print(f"\n### /query, run {run}: {meta.get('chunks', '?')} chunks, "
          f"{meta.get('duration_s', '?')} s per point, max_results {meta.get('max_results', '?')}, "
          f"threshold {meta.get('threshold', '?')}, {meta.get('questions', '?')} questions\n")
    print("| stack | concurrency | req/s | p50 ms | p90 ms | p99 ms | errors (non-2xx) | socket errors | server CPU (cores) | machine CPU (cores) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in q:
        sock = r.get("connect_errors", 0) + r.get("read_errors", 0) + r.get("write_errors", 0) + r.get("timeouts", 0)
        print(f"| {r['stack']} | {r['concurrency']} | {fmt(r['rps'])} | {fmt(r['p50_ms'])} | {fmt(r['p90_ms'])} "
              f"| {fmt(r['p99_ms'])} | {r['non2xx']} | {sock} | {fmt(r.get('server_cpu_cores'), 2)} "
              f"| {fmt(r.get('cpu_busy_cores'), 2)} |")

    print("\nCPU columns: cores in use, averaged over the wrk run, out of "
          f"{os.cpu_count()}; machine minus server = wrk and any other work on the machine.")
    print("\n| stack | startup to ready (ms) | RSS at ready (MiB) | RSS idle after warm-up (MiB) | RSS after load (MiB) | peak RSS (MiB) | processes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in stacks:
        r = st.get(s)
        if r:
            print(f"| {s} | {fmt(r['startup_ms'], 0)} | {fmt(r['rss_ready_mib'])} | {fmt(r['rss_idle_mib'])} "
                  f"| {fmt(r['rss_after_load_mib'])} | {fmt(r.get('peak_rss_mib'))} | {r.get('processes', 1)} |")

    if probes:
        print("\n| stack | probe: 2xx / questions | with ≥1 source at threshold | mean sources | mean top similarity | sequential p50 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for s in stacks:
            p = probes.get(s)
            if p:
                ok = sum(v for k, v in p["status"].items() if k.startswith("2"))
                print(f"| {s} | {ok} / {p['questions']} | {p['with_sources']} | {p['mean_sources']} "
                      f"| {p['mean_top_similarity']} | {p['sequential_p50_ms']} |")

    # retrieval overlap between the two stacks, from the probes' threshold-0 pass
    if args.probe_dir and len(stacks) >= 2:
        det = {}
        for s in stacks[:2]:
            path = os.path.join(args.probe_dir, f"probe-{s}.jsonl")
            if os.path.exists(path):
                det[s] = {d["query"]: d for d in (json.loads(l) for l in open(path, encoding="utf-8"))}
        if len(det) == 2:
            a, b = stacks[:2]
            top1 = overlap = n = 0
            for query, da in det[a].items():
                db = det[b].get(query)
                if not db or not da["top_k"] or not db["top_k"]:
                    continue
                n += 1
                top1 += da["top_k"][0] == db["top_k"][0]
                overlap += len(set(da["top_k"]) & set(db["top_k"])) / max(len(da["top_k"]), 1)
            if n:
                print(f"\nretrieval agreement ({a} vs {b}, threshold 0, {n} questions): "
                      f"same top-1 passage {top1 / n:.1%}, mean top-k overlap {overlap / n:.1%}")

    # the design's targets (DESIGN.md section 7)
    by = {(r["stack"], r["concurrency"]): r for r in q}
    if "ragd" in stacks:
        print("\n| target (DESIGN.md §7) | measured | met |")
        print("|---|---:|---|")
        rg, py = by.get(("ragd", 8)), by.get(("python", 8))
        if rg and py and py["rps"] > 0:
            ratio = rg["rps"] / py["rps"]
            print(f"| c=8 req/s ≥ 10× python | {ratio:.1f}× | {'yes' if ratio >= 10 else 'NO'} |")
        if rg:
            print(f"| c=8 p50 ≤ 15 ms | {rg['p50_ms']:.1f} ms | {'yes' if rg['p50_ms'] <= 15 else 'NO'} |")
            print(f"| c=8 p99 ≤ 60 ms | {rg['p99_ms']:.1f} ms | {'yes' if rg['p99_ms'] <= 60 else 'NO'} |")
        r = st.get("ragd")
        if r:
            print(f"| startup ≤ 2 s | {r['startup_ms'] / 1000:.2f} s | {'yes' if r['startup_ms'] <= 2000 else 'NO'} |")
            print(f"| idle RSS ≤ 300 MiB | {r['rss_idle_mib']:.0f} MiB | {'yes' if r['rss_idle_mib'] <= 300 else 'NO'} |")


if __name__ == "__main__":
    main()
