#!/usr/bin/env python3
"""Load passages into the Chroma collection of the chapter's Python stack.

Usage: ingest.py PASSAGES.jsonl [--db DIR] [--collection NAME] [--model PATH] [--batch 32]

One passage (a JSON line with a "text" field) = one Chroma document: the chapter's
text splitter would keep a ~120-word passage whole. Embeddings come from
sentence-transformers all-MiniLM-L6-v2 (the chapter's EMBEDDINGS_MODEL), computed
here in batches and handed to Chroma; the collection uses cosine space, so the
app's similarity is 1 - cosine distance as in the chapter.

Defaults follow the chapter's environment variables: CHROMA_DB_PATH (./db),
CHROMA_COLLECTION_NAME (documents), EMBEDDINGS_MODEL. The collection is dropped
and rebuilt. Prints one JSON line with the ingestion rate on stdout.
"""
import argparse
import json
import os
import sys
import time

import chromadb
from sentence_transformers import SentenceTransformer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("passages")
    ap.add_argument("--db", default=os.getenv("CHROMA_DB_PATH", "./db"))
    ap.add_argument("--collection", default=os.getenv("CHROMA_COLLECTION_NAME", "documents"))
    ap.add_argument("--model", default=os.getenv("EMBEDDINGS_MODEL", "sentence-transformers/all-MiniLM-L6-v2"))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--add-batch", type=int, default=1000, help="documents per Chroma add() call")
    args = ap.parse_args()

    with open(args.passages, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    source = os.path.basename(args.passages)

    t0 = time.perf_counter()
    model = SentenceTransformer(args.model, device="cpu")
    client = chromadb.PersistentClient(path=args.db)
    try:
        client.delete_collection(args.collection)
    except Exception:
        pass
    collection = client.create_collection(
        name=args.collection,
        metadata={"hnsw:space": "cosine"},
        embedding_function=None,
    )
    t_embed = 0.0
    for start in range(0, len(texts), args.add_batch):
        part = texts[start:start + args.add_batch]
        t1 = time.perf_counter()
        vecs = model.encode(part, batch_size=args.batch, convert_to_numpy=True)
        t_embed += time.perf_counter() - t1
        collection.add(
            ids=[f"p{start + i:06d}" for i in range(len(part))],
            documents=part,
            embeddings=vecs.tolist(),
            metadatas=[{"source": source, "passage": start + i} for i in range(len(part))],
        )
        done = start + len(part)
        el = time.perf_counter() - t0
        print(f"ingest: {done}/{len(texts)} passages, {done / el:.1f}/s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "bench": "api_python_ingest",
        "stack": "python",
        "chunks": collection.count(),
        "seconds": round(seconds, 2),
        "embed_seconds": round(t_embed, 2),
        "chunks_per_s": round(len(texts) / seconds, 2),
        "chromadb": chromadb.__version__,
    }))


if __name__ == "__main__":
    main()
