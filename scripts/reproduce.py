#!/usr/bin/env python3
"""Reproduces the comparisons from the committed recipes (scripts/reproduce.toml).

    scripts/reproduce.py [--quick] [--out DIR] [--publish] [TASK...]

Per task: trains the model (`deepiot train`, skipped when OUT/TASK/model.safetensors
exists), then runs each of its comparisons (`deepiot compare`: every method, every
target, every seed, timed in the i686 runtime in one run). A recipe's `compare` is one
list of arguments, or a table of named ones (say `headline` and `pareto`): they all run
in OUT/TASK/compare, so a run two comparisons share is made once, and each report is
kept in OUT/TASK/NAME. When a recipe is latency-aware, the runtime is profiled once
first (`deepiot profile -o OUT/latency.json`). Every step prints its wall time; the
last lines list them all.

--quick runs each recipe's tiny variant (`quick_train`, `quick_compare`) of the same
pipeline, on tasks that have one: what CI runs. --publish copies each comparison's
report and plots into docs/results/NAME-TASK (never with --quick).
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHORT = {"mnist-lenet5": "lenet5", "userid-deepsense": "userid", "har-deepsense": "har",
         "speech-bilstm": "bilstm", "cifar-vgg": "cifar"}


def run(what, cmd, times):
    print(f"== {what}: {' '.join(map(str, cmd))}", flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    secs = time.monotonic() - t0
    times.append((what, secs))
    print(f"== {what}: {secs:.0f} s wall", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    ap.add_argument("tasks", nargs="*", help="tasks to run (default: every recipe)")
    ap.add_argument("--quick", action="store_true", help="the tiny variants, for CI")
    ap.add_argument("--out", default=None, help="output folder (default: target/reproduce[-quick])")
    ap.add_argument("--publish", action="store_true", help="copy reports into docs/results")
    ap.add_argument("--deepiot", default=None, help="the deepiot binary (default: build it)")
    a = ap.parse_args()
    if a.quick and a.publish:
        sys.exit("reproduce.py: --publish takes full runs only")
    recipes = tomllib.loads((ROOT / "scripts" / "reproduce.toml").read_text())
    tasks = a.tasks or list(recipes)
    unknown = [t for t in tasks if t not in recipes]
    if unknown:
        sys.exit(f"reproduce.py: no recipe for {', '.join(unknown)} (recipes: {', '.join(recipes)})")
    if a.quick:
        tasks = [t for t in tasks if "quick_compare" in recipes[t]]
        if not tasks:
            sys.exit("reproduce.py: none of these recipes has a quick variant")
    out = pathlib.Path(a.out or ROOT / "target" / ("reproduce-quick" if a.quick else "reproduce"))
    out.mkdir(parents=True, exist_ok=True)
    times = []
    deepiot = a.deepiot
    if deepiot is None:
        run("build", ["cargo", "build", "--quiet", "--release", "-p", "deepiot",
                      "--manifest-path", str(ROOT / "Cargo.toml")], times)
        deepiot = str(ROOT / "target" / "release" / "deepiot")
    latency = out / "latency.json"
    if any(recipes[t].get("latency") for t in tasks) and not latency.exists():
        profile = [deepiot, "profile", "-o", str(latency)] + (["--quick"] if a.quick else [])
        run("profile", profile, times)
    for task in tasks:
        r = recipes[task]
        folder = out / task
        folder.mkdir(exist_ok=True)
        model = folder / "model.safetensors"
        if not model.exists():
            args = r.get("quick_train", r["train"]) if a.quick else r["train"]
            run(f"{task}: train", [deepiot, "train", "--task", task, "-o", str(model)] + args, times)
        comparisons = r["quick_compare"] if a.quick else r["compare"]
        if isinstance(comparisons, list):
            comparisons = {"compare": comparisons}
        work = folder / "compare"
        for name, args in comparisons.items():
            if r.get("latency"):
                args = args + ["--latency-model", str(latency)]
            run(f"{task}: {name}",
                [deepiot, "compare", "--task", task, "--model", str(model), "-o", str(work)] + args,
                times)
            report = folder / name
            report.mkdir(exist_ok=True)
            for f in work.iterdir():
                if f.is_file() and f.suffix in (".md", ".json", ".svg", ".png"):
                    shutil.copy2(f, report / f.name)
            if a.publish:
                dest = ROOT / "docs" / "results" / f"{name}-{SHORT.get(task, task)}"
                dest.mkdir(parents=True, exist_ok=True)
                for f in report.iterdir():
                    shutil.copy2(f, dest / f.name)
                print(f"== {task}: {name} published to {dest.relative_to(ROOT)}")
    print("\nwall time per step:")
    for what, secs in times:
        print(f"  {what:<32} {secs:8.0f} s")
    print(f"  {'total':<32} {sum(s for _, s in times):8.0f} s")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:
        sys.exit(f"reproduce.py: `{' '.join(map(str, e.cmd))}` failed with exit code {e.returncode}")
