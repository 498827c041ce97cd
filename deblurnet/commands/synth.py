"""`deblurnet synth`: write a reproducible triplet folder (short/, long/, sharp/, meta.json)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isp.atomic import atomic_write_text

from deblurnet.errors import DeblurnetError

if TYPE_CHECKING:  # deblurnet.synth / deblurnet.data load OpenCV and torch: imported in the functions
    from deblurnet.synth import SynthConfig

#: deblurnet.synth.PROTOCOLS, repeated so that --help imports nothing heavy (a test checks they agree).
PROTOCOLS = ("gopro2", "camera", "stills")

EPILOG = """examples:
  deblurnet synth --protocol gopro2 --source ../shared/data/gopro/GOPR0477_11_00 \\
      --frames 101-120 --count 50 --size 256 --seed 1 --out data/val-gopro2
  deblurnet synth --protocol stills --source ../shared/data/kodak24 --images 21-24 \\
      --profile nikon-d850 --count 40 --out data/val-stills

Sample i is drawn from seed S and index i only: the same command always writes the same files, and
deblurnet.data.SynthDataset with the same options and seed yields the same samples in memory.
Re-running resumes: samples already complete (their sharp/ file exists) are skipped."""


def _range(text: str) -> tuple[int, int]:
    """'A-B' -> (A, B), 1-based inclusive."""
    try:
        first, last = (int(v) for v in text.split("-", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST like 1-100, got '{text}'") from None
    if not 1 <= first <= last:
        raise argparse.ArgumentTypeError(f"expected 1 <= FIRST <= LAST, got '{text}'")
    return first, last


def _size(text: str) -> int | None:
    if text == "full":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'full', got '{text}'") from None
    if value < 8:
        raise argparse.ArgumentTypeError(f"crop size must be at least 8, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="synthesize noisy/blurry/sharp triplets into a folder",
        description="Synthesize noisy (short, ratio-scaled) / blurry (long) / sharp triplets from sharp "
                    "source images and write them as 8-bit sRGB PNGs in short/, long/, sharp/ plus "
                    "meta.json (protocol, seed, options and per-sample ratio and noise parameters).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", choices=PROTOCOLS, required=True,
                   help="gopro2: the paper's synthesis on consecutive video frames; camera: the same frames "
                        "through a sensor noise model and a raw pipeline; stills: camera shake (and moving "
                        "objects) rendered on sharp stills, then the camera pipeline")
    p.add_argument("--source", type=Path, required=True,
                   help="folder of sharp source images (consecutive frames for gopro2/camera)")
    p.add_argument("--out", type=Path, required=True, help="output triplet folder (created if needed)")
    p.add_argument("--count", type=int, default=100, help="number of triplets (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--frames", type=_range, default=None, metavar="FIRST-LAST",
                   help="gopro2/camera: frames allowed, 1-based in name order (default: all; training "
                        "uses 1-100 of GOPR0477_11_00, validation 101-120)")
    p.add_argument("--images", type=_range, default=None, metavar="FIRST-LAST",
                   help="stills: images allowed, 1-based in name order (default: all; training uses "
                        "Kodak 1-20, validation 21-24)")
    p.add_argument("--profile", default=None, metavar="NAME",
                   help="camera/stills: one hardware_profiles noise profile (default: one of all known "
                        "profiles per sample, the measured cameras and the generic law)")
    p.add_argument("--size", type=_size, default=256, metavar="PX|full",
                   help="square crop side in pixels, or 'full' for whole images (default: 256)")
    p.add_argument("--config", type=Path, default=None, metavar="TOML",
                   help="TOML file of SynthConfig options (tables [gopro2], [camera], [stills] for the "
                        "protocol parameters); command-line options override it")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> SynthConfig:
    """SynthConfig of one protocol from the parsed options (and the optional TOML file)."""
    from deblurnet.synth import SynthConfig

    config = SynthConfig.from_toml(args.config) if args.config is not None else SynthConfig()
    config.weight_gopro2, config.weight_camera, config.weight_stills = (
        float(args.protocol == p) for p in PROTOCOLS)
    if args.protocol == "stills":
        config.stills_dir, config.images = args.source, args.images
    else:
        config.gopro_dir, config.frames = args.source, args.frames
    config.size = args.size
    if args.profile is not None:
        config.camera.profile = args.profile
    return config


def _jsonable(config: SynthConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def same_options(old: Any, new: Any, default: Any) -> bool:
    """Whether a set's stored header ``old`` was made with the options of ``new`` (JSON values).

    An option missing from ``old`` matches when ``new`` holds its ``default``: it was added to the
    synthesis after the set was made, and at its default it changes nothing (every optional step
    draws nothing and does nothing when off), so the set stays valid and can be extended."""
    if not isinstance(new, dict):
        return old == new
    if not isinstance(old, dict) or not set(old) <= set(new):
        return False
    defaults = default if isinstance(default, dict) else {}
    return all(same_options(old[key], value, defaults.get(key)) if key in old
               else key in defaults and value == defaults[key] for key, value in new.items())


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=float))


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from deblurnet.data import KEYS, write_triplet
    from deblurnet.synth import SynthConfig, Synthesizer, sample_rng

    if args.count < 1:
        raise DeblurnetError(f"--count must be positive, got {args.count}")
    if args.seed < 0:
        raise DeblurnetError(f"--seed must be >= 0, got {args.seed}")
    config = build_config(args)
    synth = Synthesizer(config)
    out: Path = args.out
    meta_path = out / "meta.json"
    header = {"protocol": args.protocol, "seed": args.seed, "config": _jsonable(config)}
    samples: dict[str, Any] = {}
    if meta_path.is_file():
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DeblurnetError(f"{meta_path}: unreadable ({exc})") from exc
        if not same_options({k: old.get(k) for k in header}, header, {"config": _jsonable(SynthConfig())}):
            raise DeblurnetError(f"{out}: holds a dataset made with other options (see {meta_path}); "
                                 "choose another --out")
        samples = old.get("samples", {})
    out.mkdir(parents=True, exist_ok=True)

    made = 0
    for i in tqdm(range(args.count), desc="synth", unit="triplet"):
        name = f"{i:06d}.png"
        if name in samples and all((out / key / name).is_file() for key in KEYS):
            continue
        triplet = synth.sample(sample_rng(args.seed, i))
        write_triplet(out, name, triplet)
        samples[name] = {"ratio": triplet.ratio, **triplet.meta}
        made += 1
        if made % 20 == 0:
            _write_json(meta_path, {**header, "samples": samples})
    _write_json(meta_path, {**header, "count": len(samples), "samples": dict(sorted(samples.items()))})
    print(f"{out}: {made} triplet(s) written, {args.count - made} already there")
    return 0
