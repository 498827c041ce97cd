"""Find, load and save noise profiles (JSON files, one per camera model).

Shipped profiles live in ``hardware_profiles/profiles/NAME.json``. Extra folders can be added with
the ``BURSTCAP_PROFILE_PATH`` environment variable (``os.pathsep``-separated); their profiles take
precedence over shipped ones of the same name, so a user's calibration overrides ours.
"""

from __future__ import annotations

import json
import logging
import os
import re
from functools import lru_cache
from pathlib import Path

from isp.atomic import atomic_write_text

from hardware_profiles.errors import ProfileError
from hardware_profiles.profile import NoiseProfile

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "profiles"
GENERIC_NAME = "generic"
ENV_PATH = "BURSTCAP_PROFILE_PATH"

#: Words that EXIF makes add around the brand name ("NIKON CORPORATION", "OLYMPUS IMAGING CORP.").
_MAKE_NOISE = {"corporation", "corp", "imaging", "co", "ltd", "inc", "company", "digital",
               "camera", "cameras", "optical", "electric", "industrial"}


def profile_dirs() -> list[Path]:
    """Folders searched for profiles, highest precedence first."""
    extra = [Path(p) for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p]
    return [*extra, SHIPPED_DIR]


def _files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in reversed(profile_dirs()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                found[path.stem] = path
    return found


def list_profiles() -> list[str]:
    """Names of every profile found (shipped + $BURSTCAP_PROFILE_PATH), sorted."""
    return sorted(_files())


@lru_cache(maxsize=64)
def _load_file(path: Path, mtime_ns: int) -> NoiseProfile:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return NoiseProfile.from_dict(data, str(path))


def load_profile(name: str | os.PathLike[str]) -> NoiseProfile:
    """Load a profile by name (``"nikon-d850"``) or by path to a ``.json`` file."""
    text = os.fspath(name)
    path = Path(text)
    if not (text.endswith(".json") or os.sep in text):
        files = _files()
        if text not in files:
            raise ProfileError(f"no noise profile named {text!r}; known: {', '.join(sorted(files))}")
        path = files[text]
    if not path.is_file():
        raise ProfileError(f"{path}: no such profile file")
    return _load_file(path.resolve(), path.stat().st_mtime_ns)


def _rounded(value: object) -> object:
    """Floats to 7 significant digits (recursively): readable files, far below any noise scatter."""
    if isinstance(value, float):
        return float(f"{value:.7g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def to_json(profile: NoiseProfile) -> str:
    """The profile as indented JSON text, numeric lists kept on one line."""
    text = json.dumps(_rounded(profile.to_dict()), indent=1, ensure_ascii=False)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]",
                  text) + "\n"


def save_profile(profile: NoiseProfile, path: str | os.PathLike[str]) -> Path:
    """Write ``profile`` as indented JSON to ``path`` atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = to_json(profile)
    return atomic_write_text(path, text)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def camera_key(make: str | None, model: str | None) -> str:
    """Normalised 'make model' key: lower case, punctuation and corporate words dropped, the brand
    not repeated ("NIKON CORPORATION" + "NIKON D850" -> "nikon d850")."""
    make_words = [w for w in _words(make or "") if w not in _MAKE_NOISE]
    model_words = _words(model or "")
    while model_words and make_words and model_words[0] == make_words[0]:
        model_words = model_words[1:]
    return " ".join(make_words + model_words)


def _compact(key: str) -> str:
    return key.replace(" ", "")


def profile_for(make: str | None, model: str | None) -> NoiseProfile:
    """The profile for an EXIF make/model; the generic profile (with a warning) when none matches.

    Matching ignores case, punctuation and spacing ("E-M5MarkIII" matches "E-M5 Mark III") and the
    profile's ``aliases``.
    """
    wanted = _compact(camera_key(make, model))
    if wanted:
        for name in list_profiles():
            if name == GENERIC_NAME:
                continue
            profile = load_profile(name)
            keys = {camera_key(profile.make, profile.model)}
            keys |= {camera_key(profile.make, alias) for alias in profile.aliases}
            if wanted in {_compact(k) for k in keys}:
                return profile
    log.warning("no noise profile for camera %r %r: using the generic profile (%s); run "
                "'burstcap calibrate' to measure this camera", make, model, GENERIC_NAME)
    return load_profile(GENERIC_NAME)


def profile_for_file(path: str | os.PathLike[str]) -> NoiseProfile:
    """The profile for the camera that made the RAW file ``path`` (EXIF make/model via isp)."""
    from isp.raw import read_raw  # isp is the one package hardware_profiles may use

    meta = read_raw(path).metadata
    return profile_for(meta.make, meta.model)
