#!/usr/bin/env python3
"""Run a command, and print one JSON line with its wall time, peak RSS (of the child) and, for
`ragd ingest --json`, its chunk counts. Usage: measure.py LABEL -- CMD..."""
import json
import resource
import subprocess
import sys
import time

label = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]
start = time.monotonic()
proc = subprocess.run(cmd, stdout=subprocess.PIPE)
seconds = time.monotonic() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
result = {"bench": label, "seconds": round(seconds, 2), "peak_rss_mib": round(peak_kib / 1024, 1),
          "exit_code": proc.returncode}
try:
    summary = json.loads(proc.stdout)
    result.update({k: summary[k] for k in ("ingested", "unchanged", "failed", "chunks")})
    result["chunks_per_s"] = round(summary["chunks"] / seconds, 1)
except (ValueError, KeyError):
    pass
print(json.dumps(result))
