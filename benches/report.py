#!/usr/bin/env python3
"""Prints the BENCHMARKS.md table from criterion's results.

Run after `cargo bench -p tracehound-benches --bench intercept`; reads the median of every
benchmark from target/criterion/*/new/estimates.json and checks each target against a
baseline measured in the same run.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def median(name):
    path = ROOT / name / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["median"]["point_estimate"]
    except FileNotFoundError:
        sys.exit(f"no result for {name}: run `cargo bench -p tracehound-benches --bench intercept` first")


def show(ns):
    return f"{ns:,.0f} ns" if ns < 10_000 else f"{ns / 1000:,.1f} µs"


def verdict(ok):
    return "met" if ok else "**not met**"


rows = []
clean = median("clean")
rows.append(("clean intercept", show(clean), "≤ 150 ns", verdict(clean <= 150)))
for size in ("300B", "4KB"):
    floor = median(f"floor_sha256/{size}")
    empty = median(f"unique_empty/{size}")
    full = median(f"unique_full/{size}")
    dup = median(f"duplicate/{size}")
    rows.append((f"SHA-256 floor, {size}", show(floor), "baseline", ""))
    rows.append((f"unique threat, {size}, empty buffer", show(empty), "", ""))
    rows.append((f"unique threat, {size}, full buffer (evicts)", show(full), "", ""))
    if size == "300B":
        rows.append(("300B full / floor", f"{full / floor:.2f}x", "≤ 3x", verdict(full <= 3 * floor)))
    rows.append((f"{size} full / empty", f"{full / empty:.2f}x", "≤ 1.3x", verdict(full <= 1.3 * empty)))
    rows.append((f"duplicate threat, {size}", show(dup), "", ""))
    rows.append((f"{size} duplicate / floor", f"{dup / floor:.2f}x", "≤ 1.5x", verdict(dup <= 1.5 * floor)))
scaling = [(n, median(f"unique_full_scaling_300B/{n}")) for n in (1000, 10000, 100000)]
for n, ns in scaling:
    rows.append((f"unique threat, 300B, full buffer of {n:,}", show(ns), "", ""))
rows.append(("100,000 / 1,000 entries", f"{scaling[2][1] / scaling[0][1]:.2f}x", "flat (O(log n))", ""))

print("| measurement | median | target | |")
print("|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(row) + " |")
