#!/usr/bin/env python3
"""Ingest text files the way a team would feed the chapter's Python stack: LangChain's recursive
character splitter (1,000 characters, 200 overlap — its documented example), sentence-transformers
all-MiniLM-L6-v2 (the chapter's EMBEDDINGS_MODEL) in batches of 32, Chroma (the chapter's store,
cosine space) in add() calls of 1,000 chunks.

Usage: ingest_files.py DIR --db DIR [--model PATH]
Prints one JSON line: files, bytes, chunks, seconds (from reading the first file to the last
add(), the model already loaded) and seconds_total (from the process start).
"""
import argparse
import json
import os
import time

T_START = time.perf_counter()

import chromadb  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--db", required=True)
    ap.add_argument("--collection", default="documents")
    ap.add_argument("--model", default=os.getenv("EMBEDDINGS_MODEL", "sentence-transformers/all-MiniLM-L6-v2"))
    args = ap.parse_args()

    model = SentenceTransformer(args.model, device="cpu")
    client = chromadb.PersistentClient(path=args.db)
    try:
        client.delete_collection(args.collection)
    except Exception:  # noqa: BLE001 - absent on the first run
        pass
    collection = client.create_collection(args.collection, metadata={"hnsw:space": "cosine"})
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)

    t0 = time.perf_counter()
    names = sorted(n for n in os.listdir(args.dir) if not n.startswith("."))
    ids, texts, metas = [], [], []
    total_bytes = 0
    for name in names:
        with open(os.path.join(args.dir, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        total_bytes += len(text.encode("utf-8"))
        for i, chunk in enumerate(splitter.split_text(text)):
            ids.append(f"{name}-{i}")
            texts.append(chunk)
            metas.append({"source": name, "chunk": i})
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    for start in range(0, len(texts), 1000):
        end = start + 1000
        collection.add(ids=ids[start:end], documents=texts[start:end],
                       embeddings=vectors[start:end].tolist(), metadatas=metas[start:end])
    took = time.perf_counter() - t0
    print(json.dumps({"files": len(names), "bytes": total_bytes, "chunks": len(texts),
                      "seconds": round(took, 3), "seconds_total": round(time.perf_counter() - T_START, 3)}))


if __name__ == "__main__":
    main()
