#!/usr/bin/env python3
"""Prints each criterion benchmark's median (p50) beside its mean.

criterion's console line gives the mean; a latency goal is stated as a p50, and on a shared
VM a few slow samples move the mean well away from it. Reads target/criterion/**/new/estimates.json.
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
rows = []
for estimates in sorted(root.glob("**/new/estimates.json")):
    name = estimates.parent.parent.relative_to(root).as_posix()
    data = json.loads(estimates.read_text())
    rows.append((name, data["median"]["point_estimate"], data["mean"]["point_estimate"]))
if not rows:
    sys.exit(f"no criterion estimates under {root}: run `make bench` first")
width = max(len(name) for name, _, _ in rows)
print(f"{'benchmark'.ljust(width)}  {'p50':>10}  {'mean':>10}")
for name, median, mean in rows:
    print(f"{name.ljust(width)}  {median / 1e6:>8.3f}ms  {mean / 1e6:>8.3f}ms")
