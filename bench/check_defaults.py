"""``python -m bench.check_defaults``: what `edgegru check`'s default budgets see on today's files.

For each shipped classification dataset, trains the README's GRU-32, quantizes it (static and
dynamic), exports every format x form x precision the exporters make, and runs
``edgegru check --json`` (default budgets on) on the whole test split and on the 64 evenly spaced
rows the pipeline uses on emulated targets. Records each file's accuracy drop and agreement
against the float model on the rows as given (with their lengths), and whether the default
budgets would pass it. Writes bench/results/check_defaults.json; docs/checks.md quotes it.
Through the CLI, as a user runs it (about 10 minutes on 2 cores, most of it training on watch).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import write_results

DATASETS = ("watch", "basicmotions", "japanesevowels")
EXPORTS = [  # (bundle, precision, formats)
    ("float", "float32", ("onnx", "ort", "tflite")),
    ("static", "int8-static", ("tflite",)),
    ("dynamic", "int8-dynamic", ("onnx", "tflite")),
]
SUBSET = 64  # the pipeline's emulated_limit


def edgegru(*args: str) -> str:
    cmd = [sys.executable, "-m", "edgegru", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"edgegru {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def subset(name: str, folder: Path) -> Path | None:
    """The pipeline's emulated rows: SUBSET evenly spaced rows of the test split (None when the
    split is no larger: the pipeline then checks it whole)."""
    from edgegru.datasets import load_dataset

    test = load_dataset(name).test
    if len(test) <= SUBSET:
        return None
    idx = np.linspace(0, len(test) - 1, SUBSET).round().astype(np.int64)
    arrays = {"X": test.X[idx], "y": test.y[idx]}
    if test.lengths is not None:
        arrays["lengths"] = test.lengths[idx]
    path = folder / f"{name}-{SUBSET}.npz"
    np.savez(path, **arrays)
    return path


def measure(name: str, folder: Path, epochs: int) -> dict[str, Any]:
    run = folder / name
    edgegru("train", "--dataset", name, "--hidden", "32", "--epochs", str(epochs), "-o",
            str(run / "float"))  # fmt: skip
    for scheme in ("static", "dynamic"):
        edgegru("quantize", str(run / "float"), "--scheme", scheme, "-o", str(run / scheme))
    files = []
    for source, precision, formats in EXPORTS:
        out = run / "export" / source
        fmt_args = [a for f in formats for a in ("--format", f)]
        edgegru("export", str(run / source), *fmt_args, "--precision", precision, "-o", str(out))
        files += sorted(str(p) for p in out.iterdir() if p.suffix != ".json")
    common = ["--reference", str(run / "float"), "--json", "--runs", "3", "--warmup", "1"]
    part = subset(name, folder)
    result = {}
    splits = {"test": ["--dataset", name]}
    if part is not None:
        splits[f"{SUBSET} rows"] = ["--data", str(part), "--test-data", str(part)]
    for split, data in splits.items():
        rows = json.loads(edgegru("check", *files, *data, *common))["rows"]
        result[split] = [
            {
                "file": str(Path(r["artifact"]).relative_to(run / "export")),
                "precision": r["precision"],
                "n": r["n"],
                "accuracy": r["accuracy"],
                "float_accuracy": r["reference_accuracy"],
                "accuracy_drop_pts": r["accuracy_drop_pts"],
                "agreement": r["agreement"],
                "discordant": r["discordant"],
                "padded": r["padded_rows"] > 0,
                "defaults_broken": sorted(b["name"] for b in r["broken"] if b["default"]),
            }
            for r in rows
        ]
    return result


def markdown(datasets: dict[str, Any]) -> str:
    """The table docs/checks.md quotes: per dataset and rows checked, the worst drop and
    agreement of the float and int8 files that honour the lengths, of the fixed-T files without
    a length input, and which files the default budgets fail."""
    lines = [
        "| dataset | rows | float32 files: drop, agreement | int8 files: largest drop, lowest "
        "agreement | fixed-T files run over padding | fail the defaults |",
        "|---|---|---|---|---|---|",
    ]

    def worst(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "-"
        drop = max(r["accuracy_drop_pts"] for r in rows)
        return f"{drop:.2f} pts, {min(r['agreement'] for r in rows):.4f}"

    for name, splits in datasets.items():
        for split, rows in splits.items():
            honest = [r for r in rows if not r["padded"]]
            fails = [r for r in rows if r["defaults_broken"]]
            which = " (all fixed-T without lengths)" if all(r["padded"] for r in fails) else ""
            lines.append(
                f"| {name} | {split} ({rows[0]['n']}) "
                f"| {worst([r for r in honest if r['precision'] == 'float32'])} "
                f"| {worst([r for r in honest if r['precision'] != 'float32'])} "
                f"| {worst([r for r in rows if r['padded']])} "
                f"| {len(fails)} of {len(rows)}{which if fails else ''} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40, help="The train command's default.")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-check-") as tmp:
        for name in args.datasets.split(","):
            results[name] = measure(name, Path(tmp), args.epochs)
            print(name, json.dumps(results[name], indent=1), flush=True)
    path = write_results("check_defaults", {"epochs": args.epochs, "datasets": results})
    print(markdown(results))
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
