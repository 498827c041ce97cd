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
- ``explained``: 1 - |e - d|^2 / |e|^2, the share of e's energy that the demosaic error accounts for;
- with ``--outputs``, ``kept``: how much of d an output F keeps, <F - x, d> / |d|^2 (the short frame
  keeps all of it, 1; an output that removed it, 0), for the shipped DeblurRNN (network alone, the
  triplet's noise map) and non-local means on the short frame.

    python benchmarks/short_frame_bias.py data-cache/val-stills data-cache/test-lsd2 data-cache/test-polyu
    python benchmarks/short_frame_bias.py --outputs data-cache/val-stills

Findings in docs/training.md ("A risk estimate at fuse time").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from deblurnet.data import list_triplets, read_triplet
from deblurnet.synth.camera import demosaic_bilinear, mosaic_rggb
from deblurnet.synth.common import srgb_decode, srgb_encode


def demosaic_error(truth: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: the sRGB truth (H, W, 3) [0, 1] developed the way the synthesis' raw rendering
    develops a frame (RGGB mosaic, bilinear demosaic, sRGB), without noise, minus the truth: the part of
    a RAW-rendered short frame's expectation that is not the truth. (The rendering's white balance,
    taken off before the mosaic and put back per CFA site after it, cancels for a truth below the
    white level, so it is left out.)"""
    developed = demosaic_bilinear(mosaic_rggb(srgb_decode(truth)))
    return srgb_encode(np.clip(developed, 0.0, 1.0)) - truth


def pair_bias(y: np.ndarray, x: np.ndarray, d: np.ndarray | None) -> dict[str, float]:
    """The figures of the module docstring for one pair: short frame ``y`` and truth ``x`` (H, W, 3); the
    demosaic figures only when the truth's demosaic error ``d`` (:func:`demosaic_error`) is given, for a
    RAW-rendered pair."""
    e = y - x
    row = {"energy": float((e * e).mean()), "mean": float(e.mean())}
    if d is not None:
        rest = e - d
        row["d_energy"] = float((d * d).mean())
        row["corr"] = float((d * e).sum() / max(np.sqrt((d * d).sum() * (e * e).sum()), 1e-20))
        row["explained"] = 1.0 - float((rest * rest).mean()) / max(row["energy"], 1e-20)
    return row


def kept_share(output: np.ndarray, x: np.ndarray, d: np.ndarray) -> float:
    """<output - x, d> / |d|^2 for (H, W, 3) arrays: the share of the demosaic error ``d`` that ``output``
    keeps (1 for the short frame's expectation, 0 for the truth)."""
    return float(((output - x) * d).sum() / max(float((d * d).sum()), 1e-20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", type=Path, help="triplet folders (deblurnet synth / make results)")
    parser.add_argument("--outputs", action="store_true",
                        help="also the share of the demosaic error that DeblurRNN and non-local means keep")
    args = parser.parse_args()
    model = None
    if args.outputs:
        from deblurnet.baselines import denoise_nlm
        from deblurnet.data import read_noise_map
        from deblurnet.inference import fuse, load_model

        model = load_model("deblur-rnn", None, device="cpu", threads=1)
    for root in args.sets:
        meta_file = root / "meta.json"
        samples = json.loads(meta_file.read_text()).get("samples", {}) if meta_file.is_file() else {}
        print(f"{root.name}:")
        rows = []
        for name in list_triplets(root):
            y, long, x = read_triplet(root, name)
            d = demosaic_error(x) if samples.get(name, {}).get("rendering") == "raw" else None
            row = pair_bias(y, x, d)
            rows.append(row)
            line = f"  {name}: |e|^2 {row['energy']:.2e}  mean e {row['mean']:+.4f}"
            if d is not None:
                line += (f"  |d|^2 {row['d_energy']:.2e}  corr {row['corr']:.2f}"
                         f"  explained {100 * row['explained']:.0f}%")
                if model is not None:
                    net = np.clip(fuse(model, y, long, read_noise_map(root, name, y), progress=False), 0.0, 1.0)
                    row["kept_net"] = kept_share(net, x, d)
                    row["kept_nlm"] = kept_share(denoise_nlm(np.clip(y, 0.0, 1.0)), x, d)
                    line += f"  kept: network {row['kept_net']:.2f}, non-local means {row['kept_nlm']:.2f}"
            print(line)
        raw = [r for r in rows if "explained" in r]
        print(f"  median |mean e| {np.median([abs(r['mean']) for r in rows]):.4f}"
              + (f"; RAW-rendered pairs: {len(raw)}, demosaic error explains a median "
                 f"{100 * np.median([r['explained'] for r in raw]):.0f}% of e (corr median "
                 f"{np.median([r['corr'] for r in raw]):.2f})" if raw else "")
              + (f"; kept, median: network {np.median([r['kept_net'] for r in raw]):.2f}, non-local means "
                 f"{np.median([r['kept_nlm'] for r in raw]):.2f}" if raw and model is not None else ""))


if __name__ == "__main__":
    main()
