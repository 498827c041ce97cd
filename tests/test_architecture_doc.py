"""docs/architecture.md names only things that exist: every backticked dotted name of ours
(``isp.io.write_image``, ``burstcap.fuse.fuse_frames(...)``) imports and resolves, every entry-point
group it names is declared in pyproject.toml, and every repository path it names is there."""

from __future__ import annotations

import dataclasses
import importlib
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
PACKAGES = ("tomlconfig", "isp", "hardware_profiles", "deblurnet", "burstcap")
#: Folders whose paths the doc may name (``burstcap/service/app.py``, ``configs/``, ``tests/...``).
PATH_ROOTS = (*PACKAGES, "configs", "tests", "docs")

_PATH = re.compile(rf"(?<![\w./<-])(?:{'|'.join(PATH_ROOTS)})/[\w./<>*-]*")
_NAME = re.compile(rf"(?<![\w./<-])(?:{'|'.join(PACKAGES)})(?!\w)(?:\.[A-Za-z_]\w*)*")


def _entry_point_groups() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return set(project.get("entry-points", {}))


def references(text: str) -> tuple[set[str], set[str]]:
    """(dotted names, paths): every dotted name of ours inside backticks (``module.func(args)``
    gives ``module.func``) and every repository path anywhere in ``text``."""
    paths = {match.rstrip(".") for match in _PATH.findall(text)}
    names = set()
    for span in re.findall(r"`([^`]+)`", text):
        span = _PATH.sub(" ", span)  # deblurnet/weights/... is a path, not the name deblurnet
        names.update(match.rstrip(".") for match in _NAME.findall(span))
    return names, paths


def _has(obj: object, attr: str) -> tuple[bool, object]:
    if hasattr(obj, attr):
        return True, getattr(obj, attr)
    fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
    annotated = set(getattr(obj, "__annotations__", {})) if isinstance(obj, type) else set()
    return attr in fields | annotated, None  # a field without a default: exists, nothing to descend into


def resolve(name: str, groups: set[str]) -> str | None:
    """None when ``name`` exists (a module, an attribute of one, a dataclass field, or an entry-point
    group), else why not."""
    if name in groups:
        return None
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: object = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not module_name.startswith(exc.name):
                return f"importing {module_name} fails: {exc}"  # a real import error, not a wrong name
            continue
        for i, attr in enumerate(parts[split:], start=split):
            found, obj = _has(obj, attr)
            if not found:
                return f"{'.'.join(parts[:i])} has no {attr!r}"
            if obj is None:
                break
        return None
    return f"no module {parts[0]!r}"


def _path_exists(path: str) -> bool:
    if "<" in path or "*" in path:  # a pattern: deblurnet/weights/<name>.safetensors
        return any(REPO.glob(re.sub(r"<[^>]*>", "*", path)))
    return (REPO / path).exists()


def stale_references(text: str) -> list[str]:
    names, paths = references(text)
    groups = _entry_point_groups()
    wrong = [f"`{name}`: {why}" for name in sorted(names) if (why := resolve(name, groups))]
    wrong += [f"{path}: no such file or folder" for path in sorted(paths) if not _path_exists(path)]
    return wrong


def test_every_name_and_path_in_the_architecture_doc_exists() -> None:
    names, paths = references(DOC.read_text(encoding="utf-8"))
    assert len(names) > 50 and len(paths) > 3  # the extraction still finds the doc's references
    wrong = stale_references(DOC.read_text(encoding="utf-8"))
    assert not wrong, "docs/architecture.md names what does not exist:\n" + "\n".join(wrong)


def test_a_wrong_name_or_path_is_caught() -> None:
    text = ("`burstcap.fuse.fuse_frames(short, long)` and `deblurnet.models` (entry points) and "
            "`burstcap.backends` and `isp.raw.RawImage.mosaic`, in `burstcap/service/app.py`\n")
    assert stale_references(text) == []
    wrong = stale_references(text + "`burstcap.fuse.fuse_frame(short)`, `isp.nosuch.read`, "
                             "`isp.raw.RawImage.pixels`, `burstcap.service.ap`, burstcap/service/apps.py, "
                             "`deblurnet/weights/<name>.onnx`\n")
    assert [line.split(":")[0] for line in wrong] == [
        "`burstcap.fuse.fuse_frame`", "`burstcap.service.ap`", "`isp.nosuch.read`",
        "`isp.raw.RawImage.pixels`", "burstcap/service/apps.py", "deblurnet/weights/<name>.onnx"]
