"""What the ghost guard (burstcap.ghost) does to a pair with a moving subject, and docs/ghost-guard.jpg.

Two synthetic pairs at ratio 8 (the scene and subject are images bundled with scikit-image, built by
tests/test_ghost.py's helpers): **walked in**, a subject (a disc of the cat picture) stands in the long
frame only; **moved**, the subject is in both frames, 110 px apart (the long frame's copy is where it
stood later). PSNR (dB, network domain: sRGB [0, 1]) in the subject's region(s) and over the whole
picture, for the shipped DeblurRNN with and without the guard, a stand-in network that copies its
long input (the worst case: it pastes whatever the long frame shows), and the denoised short frame
(OpenCV non-local means, the `short-denoised` baseline). Colour matching is off, so the figures
compare the pixels the guard chooses.

    python benchmarks/ghost_guard.py                              # the table
    python benchmarks/ghost_guard.py --picture docs/ghost-guard.jpg   # the walked-in pair, subject enlarged
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_ghost import RATIO, TrustsLong, noisy_short, object_pair, psnr_in, scene, shaken  # noqa: E402

from burstcap.compare import comparison, write_jpeg  # noqa: E402
from burstcap.fuse import fuse_arrays, to_network  # noqa: E402
from deblurnet.baselines import denoise_nlm  # noqa: E402
from deblurnet.inference import load_model  # noqa: E402
from isp.color import srgb_decode  # noqa: E402


def moved_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(truth, short, long, mask): the subject where the short frame saw it, and 110 px to the right
    in the long frame; mask covers both places."""
    sharp = scene()
    h, w = sharp.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    cat = srgb_decode(cv2.resize(data.chelsea().astype(np.float32) / 255.0, (w, h)))
    here = (yy - 80) ** 2 + (xx - 140) ** 2 < 40 ** 2
    later = (yy - 90) ** 2 + (xx - 250) ** 2 < 40 ** 2
    truth = np.where(here[..., None], np.roll(cat, (0, -100), axis=(0, 1)), sharp)
    long_scene = np.where(later[..., None], np.roll(cat, (10, 10), axis=(0, 1)), sharp)
    return truth, noisy_short(truth, rng), shaken(long_scene), here | later


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", type=Path, default=None, help="write the comparison JPEG here")
    args = parser.parse_args()
    networks = {"DeblurRNN (shipped)": load_model("deblur-rnn", device="cpu", threads=1),
                "copies the long frame": TrustsLong().eval()}
    print("| pair | method | PSNR in the subject | whole picture | taken from the short frame |")
    print("|---|---|---|---|---|")
    panels = []
    for name, (truth, short, long, mask) in (("walked in", object_pair(np.random.default_rng(3))),
                                             ("moved", moved_pair(np.random.default_rng(3)))):
        region = np.repeat(mask[..., None], 3, axis=2)
        everywhere = np.ones_like(region)
        results = {}
        for label, model in networks.items():
            for guard in (False, True):
                fused = fuse_arrays(short, long, RATIO, model, align=False, colour_match=False,
                                    ghost_guard=guard)
                results[(label, guard)] = fused
        gain = results[(next(iter(networks)), True)].gain
        target = to_network(truth, gain)
        denoised = denoise_nlm(to_network(short, gain * RATIO))
        rows = [(f"{label}, guard {'on' if guard else 'off'}", to_network(f.rgb, gain),
                 f"{f.short_share:.1%}" if guard else "") for (label, guard), f in results.items()]
        rows.append(("short frame, non-local means", denoised, ""))
        for label, image, share in rows:
            print(f"| {name} | {label} | {psnr_in(image, target, region):.2f} | "
                  f"{psnr_in(image, target, everywhere):.2f} | {share} |")
        if name == "walked in":
            rnn = "DeblurRNN (shipped)"
            panels = [("short x8", to_network(short, gain * RATIO)), ("long", to_network(long, gain)),
                      ("DeblurRNN, no guard", to_network(results[(rnn, False)].rgb, gain)),
                      ("DeblurRNN, guard", to_network(results[(rnn, True)].rgb, gain)),
                      ("confidence", np.repeat(results[(rnn, True)].confidence[..., None], 3, axis=2))]
    if args.picture is not None:  # the subject's corner of the picture, twice enlarged
        zoom = [(label, cv2.resize(image[:176, 140:340], None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST))
                for label, image in panels]
        write_jpeg(args.picture, comparison(zoom))
        print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()
