"""`SynthConfig` (which sources, which protocols in which mix) and the `Synthesizer` that draws samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import tomlconfig
from hardware_profiles import NoiseProfile

from deblurnet.errors import DeblurnetError
from deblurnet.synth.camera import CameraParams, load_all_profiles, load_noise_profile, sample_camera
from deblurnet.synth.common import ImageCache, Triplet, default_data_dir, list_images, select_range
from deblurnet.synth.gopro2 import Gopro2Params, sample_gopro2
from deblurnet.synth.stills import StillsParams, sample_stills

PROTOCOLS = ("gopro2", "camera", "stills")


@dataclass
class SynthConfig:
    """What to synthesize. Defaults: the training split (GOPRO frames 1..100, Kodak 1..20), 256 crops.

    gopro_dir: consecutive sharp frames (gopro2 and camera protocols); stills_dir: sharp stills;
    frames / images: 1-based inclusive ranges of the sorted files of gopro_dir / stills_dir allowed
    (None: all); stills_extra: more folders of sharp stills for the stills protocol, used whole (a
    relative path is taken from the data folder, $BURSTCAP_DATA or ../shared/data);
    size: square crop side in px (None: full images); weight_*: relative mix of the protocols.
    """

    gopro_dir: Path = field(default_factory=lambda: default_data_dir() / "gopro" / "GOPR0477_11_00")
    stills_dir: Path = field(default_factory=lambda: default_data_dir() / "kodak24")
    frames: tuple[int, int] | None = (1, 100)
    images: tuple[int, int] | None = (1, 20)
    stills_extra: tuple[Path, ...] = ()
    size: int | None = 256
    weight_gopro2: float = 1.0
    weight_camera: float = 1.0
    weight_stills: float = 1.0
    gopro2: Gopro2Params = field(default_factory=Gopro2Params)
    camera: CameraParams = field(default_factory=CameraParams)
    stills: StillsParams = field(default_factory=StillsParams)

    def weights(self) -> dict[str, float]:
        """Protocol name -> relative weight."""
        return {"gopro2": self.weight_gopro2, "camera": self.weight_camera, "stills": self.weight_stills}

    def validate(self) -> None:
        """Raise DeblurnetError on an impossible configuration."""
        w = self.weights()
        if any(v < 0 for v in w.values()) or sum(w.values()) <= 0:
            raise DeblurnetError(f"protocol weights must be >= 0 with a positive sum, got {w}")
        if self.size is not None and self.size < 8:
            raise DeblurnetError(f"crop size must be at least 8 px, got {self.size}")

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "SynthConfig",
                  prefix: str = "") -> "SynthConfig":
        """Build from a plain dict (e.g. a TOML table); nested tables fill the *Params dataclasses
        (:func:`tomlconfig.from_dict`). Errors are DeblurnetErrors naming ``source`` (the file) and
        the key, dotted after ``prefix`` (``synth.camera.time_ratio``)."""
        try:
            return tomlconfig.from_dict(cls, values, source=source, prefix=prefix)
        except tomlconfig.ConfigError as exc:
            raise DeblurnetError(str(exc)) from None

    @classmethod
    def from_toml(cls, path: str | Path) -> "SynthConfig":
        """From the ``[synth]`` table of a TOML file (its top level when it has none); errors name the
        file and the key (``synth.camera.time_ratio``)."""
        try:
            document = tomlconfig.read_toml(path)
        except tomlconfig.ConfigError as exc:
            raise DeblurnetError(str(exc)) from None
        if "synth" in document:
            return cls.from_dict(document["synth"], source=str(path), prefix="synth.")
        return cls.from_dict(document, source=str(path))


class Synthesizer:
    """Draws triplets of the configured protocol mix; source images are decoded once and cached."""

    def __init__(self, config: SynthConfig) -> None:
        config.validate()
        self.config = config
        weights = config.weights()
        self.protocols = [p for p in PROTOCOLS if weights[p] > 0]
        total = sum(weights[p] for p in self.protocols)
        self.probabilities = np.array([weights[p] / total for p in self.protocols])
        self.frames: ImageCache | None = None
        self.images: ImageCache | None = None
        if "gopro2" in self.protocols or "camera" in self.protocols:
            files = select_range(list_images(config.gopro_dir), config.frames, config.gopro_dir)
            self.frames = ImageCache(files)
        if "stills" in self.protocols:
            files = select_range(list_images(config.stills_dir), config.images, config.stills_dir)
            for folder in config.stills_extra:
                files += list_images(folder if folder.is_absolute() else default_data_dir() / folder)
            self.images = ImageCache(files)
        uses_camera = "camera" in self.protocols or "stills" in self.protocols
        self.profiles: list[NoiseProfile] = []
        if uses_camera:
            self.profiles = ([load_noise_profile(config.camera.profile)] if config.camera.profile
                             else load_all_profiles())

    def _profile(self, rng: np.random.Generator) -> NoiseProfile:
        """The noise profile of one sample: the configured one, else one of all, at random."""
        if len(self.profiles) == 1:
            return self.profiles[0]
        return self.profiles[int(rng.integers(len(self.profiles)))]

    def sample(self, rng: np.random.Generator, protocol: str | None = None) -> Triplet:
        """One triplet; the protocol is drawn from the mix unless given."""
        if protocol is None:
            protocol = self.protocols[int(rng.choice(len(self.protocols), p=self.probabilities))]
        if protocol not in self.protocols:
            raise DeblurnetError(f"protocol '{protocol}' is not enabled (enabled: {', '.join(self.protocols)})")
        cfg = self.config
        if protocol == "gopro2":
            return sample_gopro2(self.frames, cfg.gopro2, cfg.size, rng)
        profile = self._profile(rng)
        if protocol == "camera":
            triplet = sample_camera(self.frames, cfg.gopro2.blur_frames, cfg.camera, profile, cfg.size, rng)
        else:
            triplet = sample_stills(self.images, cfg.stills, cfg.camera, profile, cfg.size, rng)
        triplet.meta["profile"] = profile.name
        return triplet


SOURCE_TERMS: dict[str, str] = {
    "GOPR0477_11_00": "GOPRO dataset (Nah et al. 2017): research use",
    "kodak24": "Kodak PhotoCD test set: released by Kodak for unrestricted use",
    "cbsd432": "BSDS500 training images (Arbelaez et al.): non-commercial research and education",
    "imagenet": "ILSVRC2012 samples: ImageNet terms, non-commercial research; copyright stays with the "
                "photographers",
    "sun_hays80": "Sun, Cho, Wang and Hays (ICCP 2013) deblurring set: research",
}
"""Terms of the source folders the shipped runs use (../shared/data/README.md), by folder name."""


def describe_sources(config: SynthConfig) -> list[dict[str, Any]]:
    """What a synthesis config trains on, for weight cards: one entry per source folder used (name,
    files allowed, terms as in SOURCE_TERMS, or "unknown: check before redistributing")."""
    weights = config.weights()
    folders: list[tuple[Path, tuple[int, int] | None]] = []
    if weights["gopro2"] > 0 or weights["camera"] > 0:
        folders.append((config.gopro_dir, config.frames))
    if weights["stills"] > 0:
        folders.append((config.stills_dir, config.images))
        folders += [(f if f.is_absolute() else default_data_dir() / f, None) for f in config.stills_extra]
    return [{"folder": folder.name, "files": "all" if span is None else f"{span[0]}-{span[1]}",
             "terms": SOURCE_TERMS.get(folder.name, "unknown: check before redistributing")}
            for folder, span in folders]


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample `index` under `seed`: independent of order, process and worker."""
    return np.random.default_rng([int(seed), int(index)])
