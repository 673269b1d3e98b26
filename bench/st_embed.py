#!/usr/bin/env python3
"""sentence-transformers CPU throughput baseline.

Usage: st_embed.py PASSAGES_JSONL [--batch 32] [--model MODEL_DIR] [--limit N]

Embeds every {"text": ...} line of PASSAGES_JSONL with all-MiniLM-L6-v2 on CPU
(torch threads = os.cpu_count(), normalize_embeddings=True). The first batch is
run once as warm-up and is not timed. Prints one JSON line:
{"engine":"sentence-transformers","passages":N,"seconds":S,"passages_per_s":R,"torch":ver}
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("passages")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--limit", type=int, default=0, help="use only the first N passages (0 = all)")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(os.cpu_count() or 1)
    with open(args.passages, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    if args.limit:
        texts = texts[: args.limit]
    if not texts:
        sys.exit("no passages")
    model = SentenceTransformer(args.model, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length

    # warm-up (not timed)
    model.encode(texts[: args.batch], batch_size=args.batch, normalize_embeddings=True)

    t0 = time.perf_counter()
    emb = model.encode(texts, batch_size=args.batch, normalize_embeddings=True, convert_to_numpy=True)
    secs = time.perf_counter() - t0
    assert emb.shape == (len(texts), 384)
    print(json.dumps({
        "engine": "sentence-transformers",
        "passages": len(texts),
        "seconds": round(secs, 3),
        "passages_per_s": round(len(texts) / secs, 2),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
