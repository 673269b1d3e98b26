#!/usr/bin/env python3
"""Deterministic ~120-word English prose passages for embedding benchmarks.

Usage: make_passages.py N OUT.jsonl [--deb PATH_TO_python3.11-doc.deb] [--words 120] [--seed 42]

Source corpus: the HTML of Debian's `python3.11-doc` package (the CPython 3.11
documentation). If --deb is not given, the package is fetched with
`apt-get download python3.11-doc` into a temporary directory. The script keeps
only the prose paragraphs (<p>, <li>, <dd> inside the page body; code blocks,
navigation, index pages are dropped), concatenates them per page, cuts them
into consecutive windows of --words words and picks N windows with a
fixed-seed shuffle. Output: one JSON object {"text": ...} per line.
Same .deb + same arguments => byte-identical output (the package version used
is printed on stderr).
"""
import argparse
import glob
import html.parser
import json
import os
import random
import re
import subprocess
import sys
import tempfile

SKIP_PAGES = re.compile(r"(genindex|py-modindex|search|contents|copyright|license|bugs|download|about)\.html$")


class ProseExtractor(html.parser.HTMLParser):
    """Collects text of <p>/<li>/<dd> elements inside <div role="main">, outside <pre>."""

    BLOCK = {"p", "li", "dd"}
    VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []  # open tags
        self.main_depth = None
        self.pre = 0
        self.skip = 0
        self.block = 0
        self.cur = []
        self.paras = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        a = dict(attrs)
        self.stack.append(tag)
        if self.main_depth is None and tag == "div" and a.get("role") == "main":
            self.main_depth = len(self.stack)
        if tag == "pre":
            self.pre += 1
        if tag in ("script", "style") or "headerlink" in (a.get("class") or ""):
            self.skip += 1
            self.stack[-1] = tag + "#skip"
        if tag in self.BLOCK:
            if self.block == 0:
                self.cur = []
            self.block += 1

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        # pop to the matching tag (HTML from Sphinx is well formed; be lenient anyway)
        while self.stack:
            t = self.stack.pop()
            base = t.split("#")[0]
            if t.endswith("#skip"):
                self.skip -= 1
            if base == "pre":
                self.pre -= 1
            if base in self.BLOCK:
                self.block -= 1
                if self.block == 0:
                    txt = " ".join("".join(self.cur).split())
                    if self.main_depth is not None and txt:
                        self.paras.append(txt)
            if self.main_depth is not None and len(self.stack) < self.main_depth:
                self.main_depth = -1  # main closed; ignore the rest
            if base == tag:
                break

    def handle_data(self, data):
        if self.block and not self.pre and not self.skip and self.main_depth not in (None, -1):
            self.cur.append(data)


def page_words(path):
    p = ProseExtractor()
    with open(path, encoding="utf-8", errors="replace") as f:
        p.feed(f.read())
    words = []
    for para in p.paras:
        w = para.split()
        if len(w) >= 8:  # drop one-liners / captions
            words.extend(w)
    return words


def get_html_roots(debs, packages):
    """Extract each .deb (downloading `packages` with apt-get when no --deb is given) and return
    the documentation folders to read."""
    tmp = tempfile.mkdtemp(prefix="pydoc-")
    if not debs:
        debs = []
        for package in packages:
            subprocess.run(["apt-get", "download", package], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            found = glob.glob(os.path.join(tmp, f"{package}_*.deb"))
            if not found:
                sys.exit(f"apt-get download {package} produced no .deb")
            debs.append(found[0])
    roots = []
    for i, deb in enumerate(debs):
        print(f"corpus: {os.path.basename(deb)}", file=sys.stderr)
        dest = os.path.join(tmp, f"x{i}")
        subprocess.run(["dpkg-deb", "-x", deb, dest], check=True)
        roots.append(os.path.join(dest, "usr", "share", "doc"))
    return roots


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--deb", action="append", default=[], help="a documentation .deb (repeatable)")
    ap.add_argument("--packages", default="python3.11-doc",
                    help="comma-separated Debian documentation packages to download when no --deb is given")
    ap.add_argument("--words", type=int, default=120)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    files, seen = [], set()
    for root in get_html_roots(args.deb, args.packages.split(",")):
        for p in sorted(glob.glob(os.path.join(root, "**", "*.html"), recursive=True)):
            # python3.11-doc links html/ to ../python3.11/html: the recursive glob reaches every
            # page twice, so a page counts once by its real path.
            real = os.path.realpath(p)
            if SKIP_PAGES.search(p) or "/_" in os.path.relpath(p, root) or real in seen:
                continue
            seen.add(real)
            files.append(p)
    windows = []
    for path in files:
        w = page_words(path)
        for i in range(0, len(w) - args.words + 1, args.words):
            windows.append(" ".join(w[i:i + args.words]))
    print(f"{len(files)} pages, {len(windows)} windows of {args.words} words", file=sys.stderr)
    if args.n > len(windows):
        sys.exit(f"only {len(windows)} windows available, asked for {args.n}")
    random.Random(args.seed).shuffle(windows)
    with open(args.out, "w", encoding="utf-8") as f:
        for t in windows[: args.n]:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    print(f"wrote {args.n} passages to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
