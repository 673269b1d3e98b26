#!/usr/bin/env python3
"""Checks the retrieval evaluation sets under eval/sets/ against their corpora (stdlib only).

For every set directory that has a questions.jsonl it checks that:
  * every passage is found, verbatim, in the visible text of its document: HTML is reduced to
    its visible text with html.parser (script, style, head and the like skipped), whitespace is
    collapsed and the comparison is case-insensitive; a passage that only matches across a block
    boundary (table cell, list item, paragraph, code block) is reported as a warning;
  * passages are 6-25 words long;
  * queries.jsonl, qrels.tsv and questions.jsonl agree (same ids, texts, languages, splits; each
    question's document is among its qrels) and every qrels document exists in the corpus;
  * ids are unique and each language has both a tune and a heldout split;
  * no other document of the corpus contains the passage without being in the question's qrels
    (reported as a warning: the qrels may be incomplete).

Usage: eval/check_sets.py [--corpus DIR] [--sets DIR] [SET ...]
  --corpus  where scripts/fetch-eval-corpus.sh put the corpora (default: eval/corpus)
  --sets    where the sets are (default: eval/sets)
Exit status: 0 when nothing is missing, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent

SKIPPED = {"head", "script", "style", "noscript", "template", "svg", "iframe", "object", "canvas", "title"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
BLOCKS = {
    "p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "blockquote",
    "pre", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "ul", "ol", "li", "dl",
    "dt", "dd", "figure", "figcaption", "form", "hr", "br", "address", "details", "summary",
    "h1", "h2", "h3", "h4", "h5", "h6", "body", "html",
}
BOUNDARY = "\x00"
WS = re.compile(r"\s+")


class Visible(HTMLParser):
    """Collects the visible text of a page, marking block boundaries with BOUNDARY."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in SKIPPED and tag not in VOID:
            self.skip += 1
        if tag in BLOCKS:
            self.parts.append(BOUNDARY)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in BLOCKS:
            self.parts.append(BOUNDARY)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED and self.skip:
            self.skip -= 1
        if tag in BLOCKS:
            self.parts.append(BOUNDARY)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def normalise(text: str) -> str:
    """Collapses whitespace and lower-cases: the normalisation every comparison uses."""
    return WS.sub(" ", text).strip().lower()


def blocks_of(path: Path) -> list[str]:
    """The normalised text blocks of a document (HTML: visible text; anything else: as text)."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in {".html", ".htm", ".xhtml"}:
        parser = Visible()
        parser.feed(raw)
        parser.close()
        raw = "".join(parser.parts)
    else:
        raw = re.sub(r"\n\s*\n", BOUNDARY, raw)
    return [b for b in (normalise(x) for x in raw.split(BOUNDARY)) if b]


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: {e}")
    return rows


def check_set(set_dir: Path, corpus_dir: Path) -> tuple[int, int]:
    """Checks one set; returns (errors, warnings)."""
    name = set_dir.name
    errors = warnings = 0

    def err(msg: str) -> None:
        nonlocal errors
        errors += 1
        print(f"  ERROR {msg}")

    def warn(msg: str) -> None:
        nonlocal warnings
        warnings += 1
        print(f"  warning {msg}")

    print(f"[{name}] corpus {corpus_dir}")
    questions = read_jsonl(set_dir / "questions.jsonl")
    queries = {q["_id"]: q for q in read_jsonl(set_dir / "queries.jsonl")}
    qrels: dict[str, set[str]] = collections.defaultdict(set)
    with (set_dir / "qrels.tsv").open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        if header != ["query-id", "corpus-id", "score"]:
            err(f"qrels.tsv header is {header}")
        for row in reader:
            if len(row) != 3 or not row[2].isdigit():
                err(f"qrels.tsv bad line {row}")
                continue
            qrels[row[0]].add(row[1])

    if not corpus_dir.is_dir():
        err(f"no corpus at {corpus_dir} (run scripts/fetch-eval-corpus.sh)")
        return errors, warnings

    cache: dict[str, list[str]] = {}

    def doc_blocks(doc: str) -> list[str] | None:
        if doc not in cache:
            path = corpus_dir / doc
            cache[doc] = blocks_of(path) if path.is_file() else None
        return cache[doc]

    texts: dict[str, str] = {}

    def doc_text(doc: str) -> str:
        if doc not in texts:
            texts[doc] = " ".join(doc_blocks(doc) or [])
        return texts[doc]

    all_docs = sorted(
        p.relative_to(corpus_dir).as_posix()
        for p in corpus_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    )
    seen: set[str] = set()
    found = missing = 0
    counts: collections.Counter = collections.Counter()
    for q in questions:
        qid = q.get("id")
        for key in ("id", "question", "document", "passage", "lang", "split"):
            if not q.get(key):
                err(f"{qid}: no {key}")
        if qid in seen:
            err(f"{qid}: duplicate id")
        seen.add(qid)
        if q.get("split") not in {"tune", "heldout"}:
            err(f"{qid}: split {q.get('split')!r}")
        counts[(q.get("lang"), q.get("split"))] += 1
        query = queries.get(qid)
        if query is None:
            err(f"{qid}: not in queries.jsonl")
        else:
            meta = query.get("metadata", {})
            if query.get("text") != q.get("question"):
                err(f"{qid}: question differs from queries.jsonl text")
            if meta.get("lang") != q.get("lang") or meta.get("split") != q.get("split"):
                err(f"{qid}: lang/split differ from queries.jsonl")
        if q.get("document") not in qrels.get(qid, set()):
            err(f"{qid}: document {q.get('document')} not in qrels.tsv")
        words = len(q.get("passage", "").split())
        if not 6 <= words <= 25:
            warn(f"{qid}: passage has {words} words (want 6-25)")
        blocks = doc_blocks(q.get("document", ""))
        if blocks is None:
            err(f"{qid}: document {q.get('document')} not in the corpus")
            missing += 1
            continue
        needle = normalise(q.get("passage", ""))
        others = sorted(
            d for d in all_docs
            if d != q["document"] and d not in qrels.get(qid, set()) and needle in doc_text(d)
        )
        if others:
            warn(f"{qid}: passage also found in {', '.join(others)}, which qrels.tsv does not list")
        if any(needle in b for b in blocks):
            found += 1
        elif needle in " ".join(blocks):
            found += 1
            warn(f"{qid}: passage spans a block boundary in {q['document']}: {q['passage']!r}")
        else:
            missing += 1
            err(f"{qid}: passage not found in {q['document']}: {q['passage']!r}")

    for qid in queries:
        if qid not in seen:
            err(f"{qid}: in queries.jsonl but not in questions.jsonl")
    for qid, docs in qrels.items():
        if qid not in queries:
            err(f"{qid}: in qrels.tsv but not in queries.jsonl")
        for doc in docs:
            if doc_blocks(doc) is None:
                err(f"{qid}: qrels document {doc} not in the corpus")
    for lang in sorted({lang for lang, _ in counts}):
        for split in ("tune", "heldout"):
            if not counts[(lang, split)]:
                err(f"language {lang} has no {split} questions")

    summary = ", ".join(f"{lang}/{split} {n}" for (lang, split), n in sorted(counts.items()))
    print(f"  {len(questions)} questions ({summary}); passages found {found}, missing {missing}")
    return errors, warnings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=HERE / "corpus")
    ap.add_argument("--sets", type=Path, default=HERE / "sets")
    ap.add_argument("names", nargs="*", help="sets to check (default: all)")
    args = ap.parse_args()
    dirs = sorted(d for d in args.sets.iterdir() if (d / "questions.jsonl").is_file())
    if args.names:
        dirs = [d for d in dirs if d.name in args.names]
        if len(dirs) != len(args.names):
            print(f"unknown set among {args.names}", file=sys.stderr)
            return 2
    errors = warnings = 0
    for d in dirs:
        e, w = check_set(d, args.corpus / d.name)
        errors += e
        warnings += w
    print(f"{len(dirs)} sets, {errors} errors, {warnings} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
