"""Pairing rules a user can state, for files without usable capture metadata (PNG/JPEG exports,
frames from another program). Used by :func:`burstcap.process.find_pairs` before EXIF pairing:

* **names**: ``beach_short.png`` + ``beach_long.png`` (the word ``short`` / ``long`` as a separate
  part of the file name, the rest equal, case ignored);
* **folders**: ``DIR/short/NAME.*`` + ``DIR/long/NAME.*`` (files of the same stem in sibling folders
  named ``short`` and ``long``);
* **sequence** (``burstcap process --sequence``): consecutive files in name order, two by two; the
  darker of the two (mean brightness) is the short frame.

A JPEG beside a RAW file of the same stem is the RAW's companion and is not used. Rules return plain
tuples ``(short, long, reason)`` and ``(path, why skipped)``; :mod:`burstcap.process` wraps them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from isp.io import read_linear

Found = tuple[Path, Path, str]
Skipped = tuple[Path, str]

#: The word "short" or "long" as a separate part of a file stem (between start/end, "_", "-", " ", ".").
_TOKEN = re.compile(r"(?i)(?<![a-z0-9])(short|long)(?![a-z0-9])")
FOLDER_NAMES = ("short", "long")


def drop_companions(files: Iterable[Path], raw_extensions: Iterable[str]) -> tuple[list[Path], list[Skipped]]:
    """``files`` without the JPEG/PNG/TIFF companions of RAW files of the same stem, and the skips."""
    raws = {p.stem.lower(): p for p in files if p.suffix.lower() in set(raw_extensions)}
    kept: list[Path] = []
    skips: list[Skipped] = []
    for path in files:
        raw = raws.get(path.stem.lower())
        if raw is not None and raw != path:
            skips.append((path, f"companion of RAW {raw.name} (the RAW is used)"))
        else:
            kept.append(path)
    return kept, skips


def _role_and_key(path: Path) -> tuple[str, str] | None:
    """("short" or "long", the stem with that word blanked out, lower case), or None when the stem
    does not hold exactly one such word."""
    found = list(_TOKEN.finditer(path.stem))
    if len(found) != 1:
        return None
    word = found[0]
    return word.group(1).lower(), (path.stem[: word.start()] + "\0" + path.stem[word.end():]).lower()


def name_pairs(files: list[Path]) -> tuple[list[Found], list[Path]]:
    """Pairs by file name (``*short*`` + ``*long*``, the rest of the names equal) among ``files`` of
    one folder, and the files left for the other rules."""
    groups: dict[str, dict[str, list[Path]]] = {}
    for path in files:
        role_key = _role_and_key(path)
        if role_key is not None:
            role, key = role_key
            groups.setdefault(key, {"short": [], "long": []})[role].append(path)
    pairs: list[Found] = []
    used: set[Path] = set()
    for group in groups.values():
        if len(group["short"]) == 1 and len(group["long"]) == 1:
            short, long = group["short"][0], group["long"][0]
            pairs.append((short, long, f"file names: {short.name} / {long.name}"))
            used.update((short, long))
    return pairs, [p for p in files if p not in used]


def is_rule_folder(folder: Path) -> bool:
    """True for ``short``/``long`` folders that have their sibling: the parent pairs their files."""
    name = folder.name.lower()
    if name not in FOLDER_NAMES:
        return False
    other = FOLDER_NAMES[1 - FOLDER_NAMES.index(name)]
    return any(p.is_dir() and p.name.lower() == other for p in folder.parent.iterdir())


def folder_pairs(folder: Path, extensions: Iterable[str]) -> tuple[list[Found], list[Skipped]]:
    """Pairs ``folder/short/NAME.*`` + ``folder/long/NAME.*`` (same stem, any image extension);
    nothing when ``folder`` has no sub-folders named ``short`` and ``long``."""
    subs = {p.name.lower(): p for p in folder.iterdir() if p.is_dir() and p.name.lower() in FOLDER_NAMES}
    if len(subs) != 2:
        return [], []
    wanted = {e.lower() for e in extensions}

    def images(sub: Path) -> dict[str, Path]:
        return {p.stem.lower(): p for p in sorted(sub.iterdir())
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in wanted}
    shorts, longs = images(subs["short"]), images(subs["long"])
    pairs = [(shorts[k], longs[k], f"folders {subs['short'].name}/ and {subs['long'].name}/")
             for k in sorted(shorts.keys() & longs.keys())]
    skips = [(shorts[k], f"no file named {shorts[k].stem}.* in {subs['long'].name}/")
             for k in sorted(shorts.keys() - longs.keys())]
    skips += [(longs[k], f"no file named {longs[k].stem}.* in {subs['short'].name}/")
              for k in sorted(longs.keys() - shorts.keys())]
    return pairs, skips


def mean_brightness(path: Path) -> float:
    """Mean scene-linear brightness of an image or RAW file (read at half size)."""
    return float(read_linear(path, half_size=True).rgb.mean())


def sequence_pairs(files: list[Path],
                   brightness: Callable[[Path], float] = mean_brightness) -> tuple[list[Found], list[Skipped]]:
    """Consecutive ``files`` (in name order) two by two; the darker one of each pair is the short
    frame. An odd last file is skipped."""
    ordered = sorted(files, key=lambda p: p.name)
    pairs: list[Found] = []
    for a, b in zip(ordered[0::2], ordered[1::2]):
        short, long = (a, b) if brightness(a) <= brightness(b) else (b, a)
        pairs.append((short, long, f"sequence: {a.name}, {b.name} (the darker is the short frame)"))
    skips: list[Skipped] = []
    if len(ordered) % 2:
        skips.append((ordered[-1], "no next file to pair with (--sequence pairs files two by two)"))
    return pairs, skips
