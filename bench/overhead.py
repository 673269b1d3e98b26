#!/usr/bin/env python3
"""Per-request cost of ragd's security stages on POST /query, from the Server-Timing headers
ragd sends with RAGD_SERVER_TIMING=true: auth (token check + user lookup), ratelimit (counter),
guardrails (input rules + output redaction + notice), and total. Sequential requests (c=1), the
question cache on so the model does not hide sub-millisecond costs.

Usage: overhead.py URL USERNAME PASSWORD QUESTIONS_FILE [N]  -> one JSON line on stdout."""
import json
import statistics
import sys
import time

import requests


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main():
    url, user, password, qfile = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
    questions = [q.strip() for q in open(qfile, encoding="utf-8") if q.strip()]
    s = requests.Session()
    token = s.post(f"{url}/auth/login", data={"username": user, "password": password}).json()["access_token"]
    s.headers["Authorization"] = f"Bearer {token}"
    stages = {"auth": [], "ratelimit": [], "guardrails": [], "total": []}
    client = []
    for i in range(n + len(questions)):
        q = questions[i % len(questions)]
        t0 = time.perf_counter()
        r = s.post(f"{url}/query", json={"query": q, "max_results": 5, "threshold": 0.7, "use_guardrails": True})
        took = (time.perf_counter() - t0) * 1e3
        r.raise_for_status()
        if i < len(questions):
            continue  # warm-up: fills the question cache
        client.append(took)
        timing = {}
        for part in r.headers.get("server-timing", "").split(","):
            name, _, dur = part.strip().partition(";dur=")
            if dur:
                timing[name] = float(dur)
        for name in stages:
            stages[name].append(timing.get(name, 0.0))
    added = [a + b + c for a, b, c in zip(stages["auth"], stages["ratelimit"], stages["guardrails"])]
    out = {"bench": "security_overhead", "requests": n}
    for name, values in list(stages.items()) + [("auth+ratelimit+guardrails", added), ("client", client)]:
        out[f"{name}_p50_ms"] = round(statistics.median(values), 4)
        out[f"{name}_p99_ms"] = round(pct(values, 99), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
