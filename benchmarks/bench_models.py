"""Speed of the fusion networks on this machine: eval time for one 1280x720 pair and the time of one
training step (batch 8 of 128x128 crops, adversarial weight 0 and 1).

Figures are printed in seconds and as ratios to a reference workload run in the same process (one 3x3
convolution 32 -> 32 channels over 1280x720), so runs on different machines compare.
Targets (2 CPU cores): compact DeblurRNN <= 1.0 s per pair, paper preset <= 6 s.

    python benchmarks/bench_models.py --threads 2 [--paper] [--repeat 3]

On a busy machine use --threads 1: two OpenMP threads competing for two loaded cores spin against each
other (a training step measured 25x slower with 2 threads than with 1 while other jobs ran).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from deblurnet.config import TrainConfig
from deblurnet.distributed import DistInfo
from deblurnet.models import create_model, list_models
from deblurnet.train import train_step
from deblurnet.train_state import build_state


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Minimum wall time of ``repeat`` calls after one warm-up call, seconds."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--repeat", type=int, default=2, help="timed repetitions, best kept (default 2)")
    p.add_argument("--paper", action="store_true", help="also time the paper preset (slow)")
    p.add_argument("--no-train", action="store_true", help="skip the training-step timing")
    p.add_argument("--refine-width", type=int, default=48,
                   help="also time DeblurRNN in the shipped layout with and without a refinement net of "
                        "this width (deblurnet.models.Refiner; 0 skips; default 48)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    ref_conv = torch.nn.Conv2d(32, 32, 3, padding=1).eval()
    ref_x = torch.rand(1, 32, 720, 1280)
    with torch.inference_mode():
        ref = best_time(lambda: ref_conv(ref_x), args.repeat)
    print(f"reference (3x3 conv 32->32 at 1280x720): {ref:.3f} s, {torch.get_num_threads()} threads")

    presets = ["compact", "paper"] if args.paper else ["compact"]
    short, long = torch.rand(1, 3, 720, 1280), torch.rand(1, 3, 720, 1280)
    noise = torch.full((1, 1, 720, 1280), 0.02)  # the noise map input (deblurnet.noise_map)
    for name in list_models():
        for preset in presets:
            model = create_model(name, preset).eval()
            params = sum(t.numel() for t in model.parameters()) / 1e6
            with torch.inference_mode():
                t = best_time(lambda: model(short, long, noise), args.repeat)
            print(f"{name:14s} {preset:8s} {params:6.2f} M params  eval 1280x720: {t:6.3f} s "
                  f"({t / ref:6.1f} x reference)")
    if args.refine_width > 0:
        times = []
        for width in (0, args.refine_width):
            model = create_model("deblur-rnn", full_res_width=0, refine_width=width).eval()
            params = sum(t.numel() for t in model.parameters()) / 1e6
            with torch.inference_mode():
                times.append(best_time(lambda: model(short, long, noise), args.repeat))
            print(f"deblur-rnn     shipped layout, refine_width {width:3d}: {params:6.2f} M params  eval "
                  f"1280x720: {times[-1]:6.3f} s ({times[-1] / ref:6.1f} x reference)")
        print(f"refinement net: x{times[1] / times[0]:.2f} the time of the network without it")
    if args.no_train:
        return
    batch = (*(torch.rand(8, 3, 128, 128) for _ in range(3)), torch.full((8, 1, 128, 128), 0.02))
    for name in list_models():
        for adv in (0.0, 1.0):
            cfg = TrainConfig(model=name, adv=adv)
            state = build_state(cfg, torch.device("cpu"), DistInfo())
            t = best_time(lambda: train_step(state, batch), args.repeat)
            print(f"{name:14s} compact  train step 8x128x128, adv={adv:g}: {t:6.3f} s "
                  f"({8 / t:5.1f} crops/s, {t / ref:6.1f} x reference)")


if __name__ == "__main__":
    main()
