"""The host-side steps of the one fuse path at 24 MP, the network left out: before/after figures.

On a GPU the 24 MP command is bound by its CPU work (docs/benchmarks.md, "GPU"): normalising,
aligning, the ghost guard, decoding back to linear. This times those steps of
``burstcap.fuse.fuse_arrays`` on a synthetic 6000x4000 pair (a smooth random scene, the long frame
brighter, colour-cast and shifted 3 px, the short one 8x darker and noisy) with the network replaced
by a stand-in that returns its short input, so the network's own time (measured by bench_fuse.py and
bench_command.py) is not in the figures. Each run is its own process, the first call of
``fuse_arrays`` in it, as a command's is; with ``--code DIR`` the runs alternate between that source
tree (e.g. ``git archive`` of an older commit) and this one. Medians per step, and the ratio of the
totals, this tree over ``--code``.

    python benchmarks/bench_host_steps.py --runs 5 --code /tmp/old-tree
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench_command import command_env

REPO = Path(__file__).resolve().parents[1]
STEPS = ("normalise", "align", "guard", "network", "decode")

CHILD = r"""
import json, sys
import cv2
import numpy as np
import burstcap.fuse as fuse_module

fuse_module.fuse = lambda model, short, long, noise, **kw: short.copy()  # the stand-in network
h, w = 4000, 6000
rng = np.random.default_rng(0)
scene = cv2.resize(0.05 + 0.5 * rng.random((h // 16, w // 16, 3), np.float32), (w, h),
                   interpolation=cv2.INTER_CUBIC)
long = np.roll(scene * np.float32([1.1, 1.0, 0.8]), 3, axis=1).astype(np.float32)
short = (scene / 8 + 0.004 * rng.standard_normal(scene.shape, np.float32)).astype(np.float32)
del scene
result = fuse_module.fuse_arrays(short, long, 8.0, None, progress=False)
print(json.dumps({"file": fuse_module.__file__, "seconds": result.seconds}))
"""


def run_once(code: Path) -> dict[str, float]:
    """Seconds per step of one ``fuse_arrays`` call in a new process importing from ``code``."""
    out = subprocess.run([sys.executable, "-c", CHILD], env=command_env(code), cwd=code, check=True,
                         capture_output=True, text=True)  # cwd: "-c" puts it first on the path
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(report["file"]).resolve().is_relative_to(code.resolve()):
        raise SystemExit(f"the child imported {report['file']}, not the tree {code}")
    return report["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="processes per tree (default 3)")
    parser.add_argument("--code", type=Path, default=None, help="another source tree to compare with")
    args = parser.parse_args()
    trees = {"this tree": REPO} | ({"--code": args.code} if args.code else {})
    seconds: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
    for i in range(args.runs):
        for label, code in trees.items():
            seconds[label].append(run_once(code))
            print(f"run {i + 1} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds[label][-1].items()),
                  flush=True)
    totals = {}
    for label, runs in seconds.items():
        medians = {step: statistics.median(r[step] for r in runs) for step in STEPS}
        totals[label] = statistics.median(sum(r[s] for s in STEPS) for r in runs)
        print(f"{label} (median of {len(runs)}): " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items())
              + f"; total {totals[label]:.2f} s")
    if args.code:
        print(f"this tree / --code: x{totals['this tree'] / totals['--code']:.2f}")


if __name__ == "__main__":
    main()
