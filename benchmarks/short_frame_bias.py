"""Is a fusion pair's short frame an unbiased, noisy view of the truth? (The premise of a risk estimate.)

Stein's risk estimate (benchmarks/risk_guard.py) scores an output against the short frame y and
assumes E[y] = x, the truth. Whatever else y carries, ``d = E[y] - x``, the estimate counts as error
to keep: an output that removes it is charged for it, one that keeps it is credited. This script
measures ``e = y - x`` per pair of triplet folders (network domain, sRGB [0, 1]) and, for pairs that a
set's ``meta.json`` says were rendered as RAW files (``deblurnet.synth.camera``: bilinear demosaic of
a pixel-sharp scene), how much of ``e`` is the truth's own demosaic error
(:func:`demosaic_error`), which is in E[y] and which the network, trained on the same rendering,
removes:

- ``|e|^2``: mean square of y - x; ``mean e``: its mean (a brightness offset);
- ``|d|^2``, ``corr``: the truth's demosaic error and its correlation with e;
- ``explained``: 1 - |e - d|^2 / |e|^2, the share of e's energy that the demosaic error accounts for.

    python benchmarks/short_frame_bias.py data-cache/val-stills data-cache/test-lsd2 data-cache/test-polyu

Findings in docs/training.md ("A risk estimate at fuse time").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from deblurnet.data import list_triplets, read_triplet
from deblurnet.synth.camera import demosaic_bilinear, mosaic_rggb, white_balance
from deblurnet.synth.common import srgb_decode, srgb_encode


def demosaic_error(truth: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: the sRGB truth (H, W, 3) [0, 1] developed the way the synthesis' raw rendering
    develops a frame (white balance ``wb`` (3,) undone, RGGB mosaic, balance, bilinear demosaic, sRGB),
    without noise, minus the truth: the part of a RAW-rendered short frame's expectation that is not
    the truth."""
    lin = srgb_decode(truth)
    gains = np.asarray(wb, np.float32)
    developed = demosaic_bilinear(white_balance(mosaic_rggb(lin / gains), gains))
    return srgb_encode(np.clip(developed, 0.0, 1.0)) - truth


def pair_bias(y: np.ndarray, x: np.ndarray, wb: np.ndarray | None) -> dict[str, float]:
    """The figures of the module docstring for one pair: short frame ``y`` and truth ``x`` (H, W, 3); the
    demosaic figures only when the pair's white balance ``wb`` (3,) is given (a RAW-rendered pair)."""
    e = y - x
    row = {"energy": float((e * e).mean()), "mean": float(e.mean())}
    if wb is not None:
        d = demosaic_error(x, wb)
        rest = e - d
        row["d_energy"] = float((d * d).mean())
        row["corr"] = float((d * e).sum() / max(np.sqrt((d * d).sum() * (e * e).sum()), 1e-20))
        row["explained"] = 1.0 - float((rest * rest).mean()) / max(row["energy"], 1e-20)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", type=Path, help="triplet folders (deblurnet synth / make results)")
    args = parser.parse_args()
    for root in args.sets:
        meta_file = root / "meta.json"
        samples = json.loads(meta_file.read_text()).get("samples", {}) if meta_file.is_file() else {}
        print(f"{root.name}:")
        rows = []
        for name in list_triplets(root):
            y, _, x = read_triplet(root, name)
            info = samples.get(name, {})
            wb = np.array(info["wb"], np.float32) if info.get("rendering") == "raw" else None
            row = pair_bias(y, x, wb)
            rows.append(row)
            line = f"  {name}: |e|^2 {row['energy']:.2e}  mean e {row['mean']:+.4f}"
            if wb is not None:
                line += (f"  |d|^2 {row['d_energy']:.2e}  corr {row['corr']:.2f}"
                         f"  explained {100 * row['explained']:.0f}%")
            print(line)
        raw = [r for r in rows if "explained" in r]
        print(f"  median |mean e| {np.median([abs(r['mean']) for r in rows]):.4f}"
              + (f"; RAW-rendered pairs: {len(raw)}, demosaic error explains a median "
                 f"{100 * np.median([r['explained'] for r in raw]):.0f}% of e (corr median "
                 f"{np.median([r['corr'] for r in raw]):.2f})" if raw else ""))


if __name__ == "__main__":
    main()
