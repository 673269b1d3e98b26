#!/usr/bin/env python3
"""One pass over the benchmark questions before the load test (stdlib only).

Usage: probe.py BASE_URL TOKEN QUESTIONS STACK OUT_DETAIL.jsonl [--threshold 0.7] [--max-results 5]

Sends every question once, sequentially, with the same body as bench/api/query.lua. It warms the
server up and tells what work the load test will make it do: how many answers came back 2xx and
with at least one source above the threshold (a stack that finds no source does less work per
request than one that builds an answer from five). A second pass at threshold 0 records each
question's top-k sources, so that the two stacks' retrieval can be compared (report.py: overlap
of the top-k passages between stacks). Prints one JSON line; writes per-question rows to
OUT_DETAIL.jsonl.
"""
import argparse
import json
import statistics
import sys
import time
import urllib.error
import urllib.request


def post(url, token, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, data = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    ms = (time.perf_counter() - t0) * 1000
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    return status, payload, ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("token")
    ap.add_argument("questions")
    ap.add_argument("stack")
    ap.add_argument("detail_out")
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--max-results", type=int, default=5)
    args = ap.parse_args()

    url = args.base_url.rstrip("/") + "/query"
    questions = [q.strip() for q in open(args.questions, encoding="utf-8") if q.strip()]
    statuses, lat, n_sources, top_sims, with_src = {}, [], [], [], 0
    rows = []
    for q in questions:
        body = {"query": q, "max_results": args.max_results, "threshold": args.threshold,
                "use_guardrails": True}
        status, payload, ms = post(url, args.token, body)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        lat.append(ms)
        srcs = (payload or {}).get("sources") or [] if 200 <= status < 300 else []
        n_sources.append(len(srcs))
        if srcs:
            with_src += 1
            top_sims.append(max(s.get("similarity", 0.0) for s in srcs))
        # threshold 0: which passages does this stack retrieve, in order, and with what scores?
        status0, payload0, _ = post(url, args.token, dict(body, threshold=0.0))
        srcs0 = (payload0 or {}).get("sources") or [] if 200 <= status0 < 300 else []
        rows.append({
            "stack": args.stack, "query": q, "status": status, "sources": len(srcs),
            "top_k": [" ".join(s.get("content", "").split())[:200] for s in srcs0],
            "top_k_similarity": [round(s.get("similarity", 0.0), 4) for s in srcs0],
        })
    with open(args.detail_out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    lat.sort()
    print(json.dumps({
        "bench": "api_probe", "stack": args.stack, "questions": len(questions),
        "threshold": args.threshold, "max_results": args.max_results, "status": statuses,
        "with_sources": with_src, "mean_sources": round(statistics.mean(n_sources), 3),
        "mean_top_similarity": round(statistics.mean(top_sims), 4) if top_sims else None,
        "sequential_p50_ms": round(lat[len(lat) // 2], 2),
    }))
    return 0 if all(s.startswith("2") for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
