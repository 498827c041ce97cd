"""Synthesis speed: milliseconds per training sample for each protocol, against the 20 ms target.

Reference run in the same process: decoding one source PNG (the work the in-memory cache saves on
every sample). Source images are cached before timing (as they are after the first epoch).

    python benchmarks/bench_synth.py [--size 256] [--samples 40] [--baselines]

--baselines also times the classical baselines of `deblurnet evaluate` on one 1280x720 pair.
"""

from __future__ import annotations

import argparse
import time

import cv2
import torch

from deblurnet.data import SynthDataset
from deblurnet.synth import PROTOCOLS, SynthConfig, sample_rng
from deblurnet.synth.common import read_rgb8

TARGET_MS = 20.0


def per_call_ms(fn, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - start) / count * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="crop side in px (default 256)")
    parser.add_argument("--samples", type=int, default=40, help="samples timed per protocol (default 40)")
    parser.add_argument("--baselines", action="store_true", help="also time the baselines on 1280x720")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    dataset = SynthDataset(SynthConfig(size=args.size), length=10_000, seed=0)
    synth = dataset.synth
    for cache in (synth.frames, synth.images):
        for i in range(len(cache)):
            cache.get(i)
    ref_ms = per_call_ms(lambda i: read_rgb8(synth.frames.files[i % len(synth.frames)]), 10)
    print(f"reference: decode one 1280x720 PNG  {ref_ms:7.1f} ms")
    for protocol in PROTOCOLS:
        ms = per_call_ms(lambda i: synth.sample(sample_rng(1, i), protocol), args.samples)
        print(f"{protocol:8s} {args.size}x{args.size}: {ms:7.1f} ms/sample  "
              f"{ms / TARGET_MS:5.2f} x target  {ms / ref_ms:5.2f} x reference")
    ms = per_call_ms(lambda i: dataset[i], args.samples)
    print(f"SynthDataset[i] mix (tensors): {ms:7.1f} ms/sample  {ms / TARGET_MS:5.2f} x target  "
          f"{ms / ref_ms:5.2f} x reference")

    if args.baselines:
        from deblurnet.baselines import BASELINES
        full = SynthDataset(SynthConfig(size=None, weight_camera=0, weight_stills=0), length=1, seed=0)
        t = full.triplet(0)
        for name, method in BASELINES.items():
            ms = per_call_ms(lambda i: method(t.short, t.long), 1)
            print(f"baseline {name:15s} 1280x720: {ms / 1000:6.2f} s/pair")


if __name__ == "__main__":
    main()
