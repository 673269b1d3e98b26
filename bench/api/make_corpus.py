#!/usr/bin/env python3
"""The API benchmark's corpus: N passages that are one chunk each in BOTH stacks.

Usage: make_corpus.py POOL.jsonl N OUT.jsonl [--txt-dir DIR] [--tokenizer tokenizer.json] [--max-tokens 190]

Reads passages ({"text": ...} per line, from bench/make_passages.py) in order and keeps the
first N whose all-MiniLM-L6-v2 token count (without [CLS]/[SEP]) is at most --max-tokens, so
that ragd's 200-token chunker keeps each one whole (ragd and Chroma then hold the same N texts
as N chunks) and sentence-transformers (max_seq_length 256) embeds each one entirely.
Writes OUT.jsonl and, with --txt-dir, one DIR/pNNNNNN.txt file per passage for `ragd ingest`.
Prints a JSON summary on stdout.
"""
import argparse
import json
import os
import sys

from tokenizers import Tokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pool")
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--txt-dir")
    ap.add_argument("--tokenizer", default="models/all-MiniLM-L6-v2/tokenizer.json")
    ap.add_argument("--max-tokens", type=int, default=190)
    args = ap.parse_args()

    tok = Tokenizer.from_file(args.tokenizer)
    tok.no_truncation()
    tok.no_padding()
    kept, seen = [], 0
    with open(args.pool, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            seen += 1
            text = json.loads(line)["text"]
            if len(tok.encode(text, add_special_tokens=False).ids) <= args.max_tokens:
                kept.append(text)
                if len(kept) == args.n:
                    break
    if len(kept) < args.n:
        sys.exit(f"only {len(kept)} of {seen} pool passages have <= {args.max_tokens} tokens; need {args.n}")
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for t in kept:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    os.replace(tmp, args.out)
    if args.txt_dir:
        os.makedirs(args.txt_dir, exist_ok=True)
        for i, t in enumerate(kept):
            with open(os.path.join(args.txt_dir, f"p{i:06d}.txt"), "w", encoding="utf-8") as f:
                f.write(t + "\n")
    print(json.dumps({"passages": len(kept), "pool_read": seen, "max_tokens": args.max_tokens,
                      "words": sum(len(t.split()) for t in kept)}))


if __name__ == "__main__":
    main()
