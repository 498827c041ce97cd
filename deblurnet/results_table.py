"""Markdown tables of `deblurnet evaluate --json` reports, one column group per set (the README's).

Usage: ``python -m deblurnet.results_table docs/results/test-polyu.json docs/results/test-lsd2.json ...``
prints one table: a row per method, per set PSNR / SSIM / seconds per pair / share of pairs worse than
the best input (the long frame or the denoised short frame), then each network's margin over the best
baseline of every set.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

BASELINE_LABELS = {
    "long": "long frame as is",
    "short": "short frame x ratio",
    "short-denoised": "short, non-local means",
    "pair-classical": "pair, kernel + deconvolution (Yuan 2007)",
}
NETWORK_LABELS = {
    "deblur-rnn": "**DeblurRNN**",
    "deblur-rnn x8": "DeblurRNN, x8 self-ensemble",
    "burstcap fuse": "`burstcap fuse` (DeblurRNN with alignment, ghost guard, colour)",
    "burstcap fuse x8": "`burstcap fuse --ensemble 8`",
    "burstcap fuse (RAW)": "`burstcap fuse` on the DNGs, the camera's noise profile",
    "burstcap fuse (RAW) x8": "`burstcap fuse --ensemble 8` on the DNGs, the camera's profile",
    "burstcap fuse (RAW, noise estimated)": "`burstcap fuse` on the DNGs, noise map estimated from the image",
    "burstcap fuse (RAW, noise estimated) x8": "`burstcap fuse --ensemble 8`, noise map estimated",
    "burstcap fuse (RAW, profile x4 variance)": "`burstcap fuse` on the DNGs, a profile of 4x the camera's variance",
    "burstcap fuse (RAW, profile x4 variance) x8": "`burstcap fuse --ensemble 8`, a profile of 4x the variance",
    "deblur-merger": "DeblurMerger",
    "deblur-merger x8": "DeblurMerger, x8 self-ensemble",
    "deblur-rnn:deblur-rnn-v5": "DeblurRNN v5 (fourth stage: near-sharp long frames)",
    "deblur-rnn:deblur-rnn-v5 x8": "DeblurRNN v5, x8 self-ensemble",
    "deblur-rnn:deblur-rnn-v4": "DeblurRNN v4 (third stage: coarser grain)",
    "deblur-rnn:deblur-rnn-v4 x8": "DeblurRNN v4, x8 self-ensemble",
    "deblur-rnn:deblur-rnn-v3": "DeblurRNN v3 (second stage: mild noise)",
    "deblur-rnn:deblur-rnn-v3 x8": "DeblurRNN v3, x8 self-ensemble",
    "deblur-rnn:deblur-rnn-v2": "DeblurRNN v2 (noise-aware first stage)",
    "deblur-rnn:deblur-rnn-v2 x8": "DeblurRNN v2, x8 self-ensemble",
    "deblur-rnn:deblur-rnn-v1": "DeblurRNN v1 (before the noise map)",
    "deblur-rnn:deblur-rnn-v1 x8": "DeblurRNN v1, x8 self-ensemble",
}


def _label(method: str) -> str:
    return NETWORK_LABELS.get(method) or BASELINE_LABELS.get(method) or method


def _order(method: str) -> tuple[int, int]:
    """Sort key of a table's rows: the networks in NETWORK_LABELS' order (unknown ones after them, in
    the order the reports list them: the sort is stable), then the baselines in theirs."""
    if method in BASELINE_LABELS:
        return 1, list(BASELINE_LABELS).index(method)
    return 0, list(NETWORK_LABELS).index(method) if method in NETWORK_LABELS else len(NETWORK_LABELS)


def _cell(entry: dict[str, Any] | None) -> list[str]:
    if entry is None:
        return ["", "", "", ""]
    worse = entry.get("worse_than_best_input", float("nan"))
    return [f"{entry['psnr']:.2f}", f"{entry['ssim']:.4f}", f"{entry['seconds_per_pair']:.1f}",
            "" if worse is None or math.isnan(worse) else f"{worse:.0%}"]


def table(reports: dict[str, dict[str, Any]]) -> str:
    """One markdown table over ``reports`` (set name -> report dict), networks first."""
    methods: list[str] = []
    for report in reports.values():
        methods += [m for m in report["methods"] if m not in methods]
    methods.sort(key=_order)
    head = ["method"] + [f"{name} {col}" for name in reports for col in ("PSNR", "SSIM", "s/pair", "worse")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        cells = [c for report in reports.values() for c in _cell(report["methods"].get(m))]
        lines.append("| " + " | ".join([_label(m), *cells]) + " |")
    return "\n".join(lines)


def margins(reports: dict[str, dict[str, Any]]) -> str:
    """Per set: each network's PSNR minus the best baseline's, naming that baseline."""
    out = []
    for name, report in reports.items():
        methods = report["methods"]
        base = max((m for m in BASELINE_LABELS if m in methods), key=lambda m: methods[m]["psnr"])
        parts = [f"{_label(m).strip('*')} {methods[m]['psnr'] - methods[base]['psnr']:+.2f} dB"
                 for m in sorted(methods, key=_order) if m not in BASELINE_LABELS]
        out.append(f"- {name}: best baseline {_label(base)} {methods[base]['psnr']:.2f} dB; " + ", ".join(parts))
    return "\n".join(out)


def main(paths: list[str]) -> int:
    reports = {Path(p).stem: json.loads(Path(p).read_text()) for p in paths}
    print(table(reports))
    print()
    print(margins(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
