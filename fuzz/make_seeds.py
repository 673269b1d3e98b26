#!/usr/bin/env python3
"""Seeds for the `loaders` fuzz target: each file prefixed with the byte that selects its parser
(the target's NAMES: txt, md, html, pdf, docx, unknown).

Usage: make_seeds.py OUT_DIR FILE...
"""
import sys
from pathlib import Path

PICK = {".txt": 0, ".md": 1, ".html": 2, ".htm": 2, ".pdf": 3, ".docx": 4}

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for name in sys.argv[2:]:
    path = Path(name)
    data = path.read_bytes()
    if len(data) > 4 * 1024 * 1024:
        continue  # libFuzzer seeds should be small; the bombs are kept by the server tests
    (out / path.name).write_bytes(bytes([PICK.get(path.suffix.lower(), 5)]) + data)
