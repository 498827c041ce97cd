"""How the noise of real camera JPEGs compares with the synthesis' noise: level, colour and spatial scale.

For each source, the noise is (noisy short frame - clean truth), network domain; per pair, its
statistics (:mod:`deblurnet.noise_statistics`): the std of its high-pass part, the chroma / luma
variance ratio, and the share of the luma noise's power in four radial frequency bands.
Printed as medians over the pairs. Sources: triplet folders given with --set (e.g. data-cache/test-polyu,
built by `make results`), and the training synthesis of a training config's [synth] table (--config;
`stills` protocol crops, split into in-camera JPEG rendering and RAW-like rendering; their truth is not
rendered through the camera's sharpening and noise reduction, so these rows also hold what those do to
the scene). The findings are in docs/training.md ("Where the losses on real noise come from").

The synthesis rows mix two things: the noise, and what the short frame's in-camera rendering does to
the scene (the synthetic truth is the scene itself). ``--rendered-noise`` separates the noise: for
each of ``--count`` crops of the config's training stills, the short frame's mosaic is rendered through
one in-camera look with and without its sensor noise (``deblurnet.synth.camera.in_camera_noise``, the
synthesis' own functions and draws, including the config's ``camera.grain``), and the difference is
measured.

``--grain SET`` then asks whether the grain's scale decides how the shipped DeblurRNN fares against
non-local means: on the set's clean truths (and long frames), each pair's real noise is replaced by
white Gaussian noise, then by coarse grain (white noise blurred by 1.2 px), both at the real noise's
std; the network (noise map estimated, as for sRGB files) and non-local means are scored on each.

    python benchmarks/noise_spectrum.py --set data-cache/test-polyu --set data-cache/test-raw \\
        --config configs/deblur-rnn-mild-noise.toml [--count 60] [--crop 128] [--rendered-noise] \\
        [--grain data-cache/test-polyu]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from deblurnet.config import load_toml
from deblurnet.data import list_triplets, read_triplet
from deblurnet.noise_statistics import BANDS, NoiseStatistics, noise_statistics
from deblurnet.synth.config import SynthConfig, Synthesizer


def report(name: str, rows: list[NoiseStatistics]) -> None:
    """One table row: medians over the pairs."""
    level = np.median([r.high_pass_std for r in rows])
    colour = np.median([r.chroma_over_luma for r in rows])
    bands = " | ".join(f"{share:.0%}" for share in np.median([r.band_shares for r in rows], axis=0))
    print(f"| {name} ({len(rows)}) | {level:.4f} | {colour:.2f} | {bands} |")


def rendered_noise(synth: SynthConfig, count: int, crop: int, seed: int) -> list[NoiseStatistics]:
    """The ``--rendered-noise`` measurement (module docstring) on ``count`` crops of the stills:
    :func:`deblurnet.synth.camera.in_camera_noise`, the profile drawn per crop."""
    from deblurnet.synth.camera import in_camera_noise, load_all_profiles
    from deblurnet.synth.common import u8_to_linear

    images = Synthesizer(synth).images
    assert images is not None, "the config's mix has no stills"
    profiles, rng = load_all_profiles(), np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        image = images.get(int(rng.integers(len(images))))
        y, x = (int(rng.integers(0, n - crop + 1)) for n in image.shape[:2])
        scene = u8_to_linear(image[y:y + crop, x:x + crop])
        profile = profiles[int(rng.integers(len(profiles)))]
        rows.append(noise_statistics(in_camera_noise(scene, synth.camera, profile, rng)))
    return rows


def grain_test(root: Path, seed: int) -> None:
    """The ``--grain`` experiment (module docstring): prints PSNR of the network and of non-local means,
    and the pairs where the network is below the better of non-local means and the long frame."""
    from deblurnet.baselines import denoise_nlm
    from deblurnet.evaluate import psnr_ssim
    from deblurnet.inference import fuse, load_model
    from deblurnet.noise_map import estimated_noise_map

    model, rng = load_model(), np.random.default_rng(seed)
    results: dict[str, list[tuple[float, float, bool, float]]] = {"real": [], "white": [], "coarse": []}
    for name in list_triplets(root):
        short, long, sharp = read_triplet(root, name)
        real, long_psnr = short - sharp, psnr_ssim(long, sharp)[0]
        white = rng.normal(0.0, 1.0, sharp.shape).astype(np.float32)
        coarse = cv2.GaussianBlur(white, (0, 0), 1.2)
        for kind, noise in (("real", real), ("white", white), ("coarse", coarse)):
            noisy = short if kind == "real" else np.clip(sharp + noise * (real.std() / noise.std()), 0, 1)
            net = psnr_ssim(fuse(model, noisy, long, estimated_noise_map(noisy), progress=False), sharp)[0]
            nlm = psnr_ssim(denoise_nlm(noisy), sharp)[0]
            worse = net < max(nlm, long_psnr)
            results[kind].append((net, nlm, worse, noise_statistics(noisy - sharp).band_shares[-1]))
    print(f"\n{root}: the shipped DeblurRNN against non-local means, noise at each pair's real std")
    print("| noise | share above 1/4 cycle/px | DeblurRNN | non-local means | difference | pairs worse |")
    print("|---|---|---|---|---|---|")
    for kind, rows in results.items():
        a = np.array(rows, dtype=np.float64)
        net, nlm = a[:, 0].mean(), a[:, 1].mean()
        print(f"| {kind} | {np.median(a[:, 3]):.0%} | {net:.2f} | {nlm:.2f} | {net - nlm:+.2f} "
              f"| {int(a[:, 2].sum())} of {len(a)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", action="append", default=[], type=Path, help="a triplet folder (repeatable)")
    p.add_argument("--config", action="append", default=[], type=Path,
                   help="a training config whose [synth] table is sampled (repeatable)")
    p.add_argument("--count", type=int, default=60, help="synthetic crops per rendering (default 60)")
    p.add_argument("--crop", type=int, default=128, help="synthetic crop side, px (default 128)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--rendered-noise", action="store_true",
                   help="also measure each config's rendered noise alone (module docstring)")
    p.add_argument("--grain", type=Path, help="a triplet folder for the grain experiment (module docstring)")
    args = p.parse_args()
    bands = (f"{lo:.3g} - {hi:.3g} cycle/px" if hi < np.inf else f"above {lo:.3g}" for lo, hi in BANDS)
    print("| noise (pairs) | high-pass std | chroma / luma variance | " + " | ".join(bands) + " |")
    print("|---" * (3 + len(BANDS)) + "|")
    for root in args.set:
        rows = []
        for name in list_triplets(root):
            short, _, sharp = read_triplet(root, name)
            rows.append(noise_statistics(short - sharp))
        report(str(root), rows)
    for config in args.config:
        synth = SynthConfig.from_dict(load_toml(config).synth, source=str(config), prefix="synth.")
        synth.size = args.crop
        synthesizer, rng = Synthesizer(synth), np.random.default_rng(args.seed)
        rows_by: dict[str, list[NoiseStatistics]] = {"processed": [], "raw-like": []}
        for _ in range(20 * args.count):  # a rendering the config rarely draws may end with fewer
            if min(len(rows) for rows in rows_by.values()) >= args.count:
                break
            triplet = synthesizer.sample(rng, protocol="stills")
            kind = "processed" if triplet.meta.get("rendering") == "processed" else "raw-like"
            if len(rows_by[kind]) < args.count:
                rows_by[kind].append(noise_statistics(triplet.short - triplet.sharp))
        for kind, rows in rows_by.items():
            if rows:
                report(f"{config.stem}, {kind}", rows)
        if args.rendered_noise:
            report(f"{config.stem}, in-camera rendered noise alone",
                   rendered_noise(synth, args.count, 2 * args.crop, args.seed))
    if args.grain is not None:
        grain_test(args.grain, args.seed)


if __name__ == "__main__":
    main()
