#!/usr/bin/env python3
"""Builds the compact NAB fixture that lets the scorer tests reproduce CAD OSE's published scores
without NAB's 7 MB of results files.

Reads a NAB development directory (default ../shared/nab-dev relative to the repository root, or
the first argument): labels/combined_windows.json and reference-results/contextOSE/. Writes
Tests/WardenDetectTests/Fixtures/nab/:
  - combined_windows.json  the labels, unchanged
  - contextOSE-compact.json  for every series: its row count, its timestamps as run-length-encoded
    steps in seconds, and CAD OSE's scores that are >= CUTOFF (the rest are written as 0). NAB's
    optimal thresholds for CAD OSE are ~0.77, so zeroing lower scores does not move the optimum;
    the test checks that by reproducing the published 77.16 / 74.90 / 79.80.
NAB is MIT licensed (github.com/numenta/NAB, commit ea702d75); its license is copied to Fixtures/nab/LICENSE.
"""
import csv
import datetime
import glob
import json
import os
import shutil
import sys

CUTOFF = 0.5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "WardenDetectTests", "Fixtures", "nab")


def main():
    nab = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "nab-dev")
    os.makedirs(OUT, exist_ok=True)
    shutil.copy(os.path.join(nab, "labels", "combined_windows.json"), os.path.join(OUT, "combined_windows.json"))
    series = []
    base = os.path.join(nab, "reference-results", "contextOSE")
    for path in sorted(glob.glob(os.path.join(base, "*", "*.csv"))):
        category = os.path.basename(os.path.dirname(path))
        name = os.path.basename(path)[len("contextOSE_"):]
        with open(path) as f:
            rows = list(csv.DictReader(f))
        times = [int(datetime.datetime.fromisoformat(r["timestamp"]).replace(
            tzinfo=datetime.timezone.utc).timestamp()) for r in rows]
        steps = []
        for a, b in zip(times, times[1:]):
            if steps and steps[-1][0] == b - a:
                steps[-1][1] += 1
            else:
                steps.append([b - a, 1])
        scores = [[i, float(r["anomaly_score"])] for i, r in enumerate(rows) if float(r["anomaly_score"]) >= CUTOFF]
        series.append({"name": f"{category}/{name}", "rows": len(rows), "start": times[0], "steps": steps,
                       "scores": scores})
    with open(os.path.join(OUT, "contextOSE-compact.json"), "w") as f:
        json.dump({"cutoff": CUTOFF, "series": series}, f, separators=(",", ":"))
    print(f"{len(series)} series -> {os.path.relpath(OUT, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
