"""Torch datasets of triplets: `SynthDataset` (on-the-fly synthesis) and `TripletFolder` (files on disk).

Both yield dicts {"short", "long", "sharp"} of (3, H, W) float32 tensors in the network domain
(sRGB-encoded [0, 1], the short frame already multiplied by the exposure ratio) and "noise", the
(1, H, W) noise map of the short frame (:mod:`deblurnet.noise_map`).

Triplet folder layout: `short/`, `long/`, `sharp/` holding 8-bit sRGB PNGs with the same file names.
The short frames there are ratio-scaled by definition (no exposure metadata is needed or read).
Optional `noise/`: the noise maps as 16-bit grey PNGs (value / 65535 = std in [0, 1] units), written
by `deblurnet synth`; a triplet without one gets the map fusion would compute for an sRGB file
(:func:`deblurnet.noise_map.estimated_noise_map` of the short frame).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from isp.atomic import atomic_write_bytes
from torch.utils.data import Dataset

from deblurnet.errors import DeblurnetError
from deblurnet.noise_map import estimated_noise_map
from deblurnet.synth import SynthConfig, Synthesizer, Triplet, sample_rng
from deblurnet.synth.common import read_rgb8, u8_to_float, write_png

__all__ = ["KEYS", "SynthConfig", "SynthDataset", "TripletFolder", "list_triplets", "read_noise_map",
           "read_triplet", "to_tensors", "write_noise_map", "write_triplet"]

KEYS = ("short", "long", "sharp")
NOISE_DIR = "noise"


def to_tensors(short: np.ndarray, long: np.ndarray, sharp: np.ndarray, noise: np.ndarray
               ) -> dict[str, torch.Tensor]:
    """(H, W, 3) float32 images and the (H, W, 1) noise map -> {"short", "long", "sharp", "noise"}:
    (C, H, W) float32 tensors."""
    return {key: torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
            for key, img in zip((*KEYS, "noise"), (short, long, sharp, noise))}


class SynthDataset(Dataset):
    """`length` synthesized triplets; sample i is drawn from `sample_rng(seed, i)` (epoch 0).

    The same (config, seed, index) always gives the same sample, in any worker and any order; it equals
    sample i of `deblurnet synth` with the same seed and options. `set_epoch(e)` (e > 0) draws fresh
    samples per epoch, still deterministic.
    """

    def __init__(self, config: SynthConfig | None = None, length: int = 1000, seed: int = 0) -> None:
        if length < 1:
            raise DeblurnetError(f"SynthDataset length must be positive, got {length}")
        self.config = config if config is not None else SynthConfig()
        self.synth = Synthesizer(self.config)
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch `epoch`'s samples (epoch 0: the same as `deblurnet synth`)."""
        self.epoch = int(epoch)

    def triplet(self, index: int) -> Triplet:
        """Sample `index` as a numpy `Triplet` (with its ratio and synthesis parameters)."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = (sample_rng(self.seed, index) if self.epoch == 0
               else np.random.default_rng([self.seed, index, self.epoch]))
        return self.synth.sample(rng)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        t = self.triplet(index)
        return to_tensors(t.short, t.long, t.sharp, t.noise)


def list_triplets(root: Path) -> list[str]:
    """File names present in all of root/short, root/long, root/sharp (sorted).

    Raises DeblurnetError when the folder or a sub-folder is missing, when a short frame has no long or
    sharp partner, or when there is no triplet at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise DeblurnetError(f"{root}: no such folder")
    missing = [key for key in KEYS if not (root / key).is_dir()]
    if missing:
        absent = ", ".join(f"{key}/" for key in missing)
        raise DeblurnetError(f"{root}: not a triplet folder (missing sub-folder(s) {absent}; "
                             "expected short/, long/, sharp/)")
    names = sorted(p.name for p in (root / "short").iterdir()
                   if p.is_file() and p.suffix.lower() == ".png" and not p.name.startswith("."))
    for name in names:
        for key in ("long", "sharp"):
            if not (root / key / name).is_file():
                raise DeblurnetError(f"{root / 'short' / name}: no matching {key}/{name}")
    if not names:
        raise DeblurnetError(f"{root}: short/ holds no PNG images")
    return names


def read_triplet(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(short, long, sharp) of one triplet: (H, W, 3) float32 sRGB [0, 1]; sizes checked."""
    root = Path(root)
    imgs = tuple(u8_to_float(read_rgb8(root / key / name)) for key in KEYS)
    shapes = {img.shape for img in imgs}
    if len(shapes) != 1:
        raise DeblurnetError(f"{root}: triplet {name} has frames of different sizes "
                             f"({', '.join(f'{k} {i.shape[1]}x{i.shape[0]}' for k, i in zip(KEYS, imgs))})")
    return imgs


def read_noise_map(root: Path, name: str, short: np.ndarray) -> np.ndarray:
    """The (H, W, 1) float32 noise map of triplet ``name``: root/noise/name when present, else estimated
    from ``short`` (H, W, 3) as fusion does for an sRGB file."""
    path = Path(root) / NOISE_DIR / name
    if not path.is_file():
        return estimated_noise_map(short)
    grey = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
    if grey is None or grey.ndim != 2 or grey.dtype != np.uint16 or grey.shape != short.shape[:2]:
        raise DeblurnetError(f"{path}: not a 16-bit grey PNG of the short frame's size")
    return (grey.astype(np.float32) / np.float32(65535.0))[..., None]


def write_noise_map(path: Path, noise: np.ndarray) -> None:
    """Write an (H, W, 1) noise map as a 16-bit grey PNG, atomically."""
    grey = np.clip(np.rint(np.asarray(noise)[..., 0] * 65535.0), 0, 65535).astype(np.uint16)
    ok, buf = cv2.imencode(".png", grey)
    if not ok:  # pragma: no cover - OpenCV always encodes a 16-bit grey image
        raise DeblurnetError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())


def write_triplet(root: Path, name: str, triplet: Triplet) -> None:
    """Write one triplet as root/{short,long,sharp}/name (8-bit PNG) and root/noise/name (16-bit), each
    file atomic. `sharp` is written last, so a triplet whose sharp/ file exists is complete.
    """
    root = Path(root)
    for key in (*KEYS, NOISE_DIR):
        (root / key).mkdir(parents=True, exist_ok=True)
    write_noise_map(root / NOISE_DIR / name, triplet.noise)
    write_png(root / "short" / name, triplet.short)
    write_png(root / "long" / name, triplet.long)
    write_png(root / "sharp" / name, triplet.sharp)


class TripletFolder(Dataset):
    """Triplets read from a folder `root` with short/, long/, sharp/ (see the module docstring).

    crop: side of a random square crop (torch's RNG, so DataLoader seeding applies); None: full images.
    """

    def __init__(self, root: Path | str, crop: int | None = None) -> None:
        self.root = Path(root)
        self.names = list_triplets(self.root)
        self.crop = crop

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        name = self.names[index]
        short, long, sharp = read_triplet(self.root, name)
        noise = read_noise_map(self.root, name, short)
        if self.crop is not None:
            h, w = short.shape[:2]
            if self.crop > h or self.crop > w:
                raise DeblurnetError(f"{self.root / 'short' / name}: {w}x{h} is smaller than crop {self.crop}")
            y = int(torch.randint(0, h - self.crop + 1, ()).item())
            x = int(torch.randint(0, w - self.crop + 1, ()).item())
            short, long, sharp, noise = (img[y:y + self.crop, x:x + self.crop]
                                         for img in (short, long, sharp, noise))
        return to_tensors(short, long, sharp, noise)
