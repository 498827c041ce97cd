"""Speed of hardware_profiles noise synthesis and calibration fitting, beside plain numpy references.

* ``sample_noisy`` (Poisson shot + Gaussian read noise) on an RGB crop, against the bare cost of one
  ``rng.standard_normal`` draw of the same size (the least any noise synthesis must pay).
  Target: <= 6 x the reference (training draws noise for every crop, twice per pair).
* ``pair_stats`` (photon-transfer statistics of one frame pair) on a full-size mosaic, against
  ``np.var`` of the difference image. Target: <= 10 x the reference.

    python benchmarks/bench_profiles.py [--size 256] [--mosaic 4000x6000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from hardware_profiles import load_profile, sample_noisy
from hardware_profiles.photon_transfer import pair_stats


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of ``repeat`` runs, seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="RGB crop side, pixels (default 256)")
    parser.add_argument("--mosaic", default="2000x3000", help="mosaic HxW for pair_stats (default 2000x3000)")
    parser.add_argument("--repeat", type=int, default=20, help="runs per measurement, best kept (default 20)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    profile = load_profile("sony-ilce-7sm2")
    a, b = profile.params(1600)
    crop = rng.uniform(0, 1, (args.size, args.size, 3)).astype(np.float32)
    t_noise = best_time(lambda: sample_noisy(crop, a, b, rng, cfa=profile.cfa), args.repeat)
    t_ref = best_time(lambda: rng.standard_normal(crop.shape), args.repeat)
    print(f"sample_noisy {args.size}x{args.size}x3: {t_noise * 1e3:.2f} ms; "
          f"standard_normal reference {t_ref * 1e3:.2f} ms; ratio {t_noise / t_ref:.1f} (target <= 6)")

    h, w = (int(v) for v in args.mosaic.lower().split("x"))
    f1 = rng.normal(0.3, 0.01, (h, w)).astype(np.float32)
    f2 = rng.normal(0.3, 0.01, (h, w)).astype(np.float32)
    t_pair = best_time(lambda: pair_stats(f1, f2), args.repeat)
    t_var = best_time(lambda: np.var(f1 - f2), args.repeat)
    print(f"pair_stats {h}x{w}: {t_pair * 1e3:.1f} ms; np.var(diff) reference {t_var * 1e3:.1f} ms; "
          f"ratio {t_pair / t_var:.1f} (target <= 10)")


if __name__ == "__main__":
    main()
