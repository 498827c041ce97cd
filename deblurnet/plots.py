"""Plot a training log: ``train.jsonl`` -> PNG with the generator loss vs step (raw and smoothed) and
the validation PSNR vs step (with the inputs' PSNR as reference lines). Matplotlib, Agg backend.

    python -m deblurnet.plots runs/rnn/train.jsonl [-o runs/rnn/train.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from isp.atomic import atomic_path  # noqa: E402

from deblurnet.errors import DeblurnetError  # noqa: E402


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The JSON records of a training log (one per line); blank lines skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DeblurnetError(f"{path}: cannot read the training log ({exc.strerror})") from None
    records = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise DeblurnetError(f"{path}:{n}: not a JSON line") from None
    return records


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (shorter at the start)."""
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def split_validation(val: list[dict[str, Any]], names: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
    """Validation records grouped by the set they were measured on, in order of first appearance.

    A resumed run may validate on another folder (``--val``). A set is recognised by its inputs' PSNR,
    which is fixed per set, so records from before and after a resume on the same set stay one curve.
    Its name is the ``val_set`` field that newer records carry, else the next of ``names``, else
    "set A", "set B", ..."""
    groups: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for r in val:
        key = (round(r.get("val_psnr_long", 0.0), 3), round(r.get("val_psnr_short", 0.0), 3))
        groups.setdefault(key, []).append(r)
    unnamed = iter(names)
    out: dict[str, list[dict[str, Any]]] = {}
    for i, group in enumerate(groups.values()):
        named = [r["val_set"] for r in group if r.get("val_set")]
        out[named[-1] if named else next(unnamed, f"set {chr(65 + i)}")] = group
    return out


def plot_log(log_path: str | Path, out_path: str | Path, set_names: Sequence[str] = ()) -> Path:
    """Write the loss / validation-PSNR figure of ``log_path`` to ``out_path`` (PNG, atomic).
    ``set_names``: names of validation sets the log does not name (see `split_validation`)."""
    records = read_log(log_path)
    train = [r for r in records if "loss_g" in r]
    val = [r for r in records if "val_psnr" in r]
    if not train:
        raise DeblurnetError(f"{log_path}: no training steps logged")
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.array([r["step"] for r in train])
    loss = np.array([r["loss_g"] for r in train])
    ax_loss.plot(steps, loss, color="0.8", lw=0.8, label="generator loss")
    ax_loss.plot(steps, smooth(loss, max(1, len(loss) // 50)), color="C0", label="smoothed")
    ax_loss.set(xlabel="step", ylabel="loss", yscale="log", title="training loss")
    ax_loss.legend()
    if val:
        for n, (name, series) in enumerate(split_validation(val, set_names).items()):
            vs = [r["step"] for r in series]
            colour = f"C{n + 1}"
            ax_psnr.plot(vs, [r["val_psnr"] for r in series], "o-", ms=3, color=colour, label=f"network, {name}")
            for key, style, label in (("val_psnr_long", "--", "long"), ("val_psnr_short", ":", "short")):
                if key in series[-1]:
                    ax_psnr.plot(vs, [r[key] for r in series], style, color=colour, alpha=0.5,
                                 label=f"{label} input, {name}")
        ax_psnr.legend(fontsize="x-small", loc="best")
    else:
        ax_psnr.text(0.5, 0.5, "no validation logged", ha="center", va="center", transform=ax_psnr.transAxes)
    ax_psnr.set(xlabel="step", ylabel="PSNR (dB)", title="validation PSNR")
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(out_path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return out_path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deblurnet.plots",
                                description="Plot loss and validation PSNR of a deblurnet training log.",
                                epilog="example: python -m deblurnet.plots runs/rnn/train.jsonl")
    p.add_argument("log", type=Path, help="train.jsonl written by 'deblurnet train'")
    p.add_argument("-o", "--out", type=Path, help="PNG to write (default: the log's name with .png)")
    p.add_argument("--set-name", action="append", default=[], metavar="NAME",
                   help="name of a validation set an older log does not name, in order of appearance; repeat")
    args = p.parse_args(argv)
    try:
        out = plot_log(args.log, args.out or args.log.with_suffix(".png"), args.set_name)
    except DeblurnetError as exc:
        print(f"deblurnet.plots: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
