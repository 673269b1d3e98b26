#!/usr/bin/env python3
"""Measures where BM25 scores mean what calibrated cosines mean (stdlib only).

Usage: bench/calibrate_lexical.py URL USER PASSWORD SET_DIR [SPLIT]

Asks every question of SET_DIR/questions.jsonl (only SPLIT, default tune) through POST /search
in dense and in lexical mode (threshold 0, 10 results) and judges each hit by document. For each
anchor of the cosine calibration (cosine 0.20 -> 0.3, 0.45 -> 0.7, 0.70 -> 0.95) it prints the
precision of the dense hits at or above that cosine, and the BM25 score at which the lexical hits
reach the same precision: the anchors of Calibration::bm25_default.
"""
import http.client
import json
import sys
import urllib.parse


def main():
    url, user, password, set_dir = sys.argv[1:5]
    split = sys.argv[5] if len(sys.argv) > 5 else "tune"
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)

    def post(path, body, headers=None):
        conn.request("POST", path, json.dumps(body),
                     {"Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{path}: {r.status} {data[:300]!r}")
        return json.loads(data)

    token = post("/auth/login", {"username": user, "password": password})["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    questions = [json.loads(line) for line in open(f"{set_dir}/questions.jsonl")]
    questions = [q for q in questions if q.get("split", "tune") == split]
    judged = {"dense": [], "lexical": []}
    for q in questions:
        docs = [q["document"]] + q.get("documents", [])
        for mode, key in (("dense", "cosine"), ("lexical", "bm25")):
            found = post("/search", {"query": q["question"], "max_results": 10,
                                     "threshold": 0.0, "mode": mode}, auth)
            for s in found["sources"]:
                source = s["metadata"].get("source", "")
                relevant = any(source == d or source.endswith("/" + d) for d in docs)
                judged[mode].append((s["metadata"][key], relevant))

    def precision_at(hits, cut):
        above = [r for score, r in hits if score >= cut]
        return (sum(above) / len(above), len(above)) if above else (None, 0)

    lexical_scores = sorted({score for score, _ in judged["lexical"]})
    print(f"{len(questions)} questions ({split}), {len(judged['dense'])} dense and "
          f"{len(judged['lexical'])} lexical hits")
    for cosine, relevance in ((0.20, 0.3), (0.45, 0.7), (0.70, 0.95)):
        target, n = precision_at(judged["dense"], cosine)
        if target is None:
            print(f"cosine {cosine:.2f} -> {relevance}: no dense hit that high")
            continue
        match = next((s for s in lexical_scores
                      if (precision_at(judged["lexical"], s)[0] or 0) >= target), None)
        p, m = precision_at(judged["lexical"], match) if match is not None else (None, 0)
        shown = f"{match:.1f} (precision {p:.2f}, {m} hits)" if match is not None else "never"
        print(f"cosine {cosine:.2f} -> {relevance}: dense precision {target:.2f} ({n} hits); "
              f"BM25 reaching it: {shown}")


if __name__ == "__main__":
    main()
