"""`burstcap calibrate`: measure a camera's noise profile (photon transfer), tethered or from files.

Three ways in:

* ``--from DIR``: fit a folder of calibration RAWs (layout in :mod:`hardware_profiles.calibration`).
* tethered (no ``--from``): drive the camera through the :class:`CameraBackend` interface, telling the
  user what to do at each step (cap on for dark frames, uniform target for flat frames), download
  the series into ``--to DIR`` (a rerun skips frames already there), then fit as above.
* ``--single RAW``: estimate a and b from one RAW with smooth areas (Foi et al. 2008); printed only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from isp.formats import is_raw

from burstcap.camera.backend import CameraBackend, Widget
from burstcap.camera.registry import DEFAULT_BACKEND, backend_names, create_backend
from burstcap.camera.settings import nearest_choice, parse_iso, parse_shutter
from burstcap.errors import BurstcapError
from burstcap.shoot import ISO_WIDGETS, SHUTTER_WIDGETS, RetryPolicy, prepare_camera, retry_busy

if TYPE_CHECKING:  # numpy, rawpy and matplotlib load in run(), keeping --help fast
    from hardware_profiles.calibration import CalibrationResult

EPILOG = """\
examples:
  burstcap calibrate --isos 100,400,1600,6400 --to cal-5d4
      tethered: 4 dark frames (lens capped) and 2 flat frames at 6 exposure times per ISO,
      then fit; set the camera to M with a shutter speed that makes the uniform target bright
      but not clipped at the camera's current ISO before you start
  burstcap calibrate --from cal-5d4 --name my-5d4
      fit a folder you shot yourself: DIR/iso0400/dark_*.dng + flat_*.dng, one folder per ISO
  burstcap calibrate --single IMG_0001.CR2
      rough a, b from one picture with smooth areas (sky, walls)

Use the profile: BURSTCAP_PROFILE_PATH=cal-5d4 deblurnet train --profile my-5d4
"""


@dataclass(frozen=True)
class TetherPlan:
    """What the tethered calibration shoots.

    isos: ISOs to calibrate (None: the camera's current ISO). darks: dark frames per ISO.
    flats: flat frames per exposure time. levels: exposure times per ISO, one stop apart, the
    brightest being ``brightest_s`` (None: the current shutter speed) scaled for the ISO.
    """

    isos: tuple[float, ...] | None = None
    darks: int = 4
    flats: int = 2
    levels: int = 6
    brightest_s: float | None = None


Say = Callable[[str], None]
Prompt = Callable[[str], None]

CAP_ON = ("Put the lens cap on (and cover the viewfinder eyepiece): the next frames must be black. "
          "Press Enter when ready.")
TARGET = ("Remove the lens cap and point the camera at a uniform, evenly lit target (a white wall or "
          "a diffuser on the lens, out of focus), filling the frame; keep the light constant. "
          "Press Enter when ready.")


def _widget(widgets: dict[str, Widget], names: tuple[str, ...]) -> Widget | None:
    return next((widgets[n] for n in names if n in widgets and not widgets[n].readonly), None)


def _shoot_one(backend: CameraBackend, dest_stem: Path, policy: RetryPolicy) -> Path:
    """Capture one frame and download its RAW to ``dest_stem`` + the RAW's extension."""
    files = retry_busy(lambda: backend.capture(60.0), policy, "capture a calibration frame")
    raws = [f for f in files if is_raw(f.name)]
    if not raws:
        names = ", ".join(f.name for f in files) or "nothing"
        raise BurstcapError(f"the camera saved no RAW file ({names}); set its image quality to RAW")
    dest = dest_stem.parent / (dest_stem.name + Path(raws[0].name).suffix.lower())
    return retry_busy(lambda: backend.download(raws[0], dest), policy, f"download {raws[0].name}")


def _existing(stem: Path) -> Path | None:
    return next((p for p in sorted(stem.parent.glob(stem.name + ".*"))
                 if is_raw(p)), None)


def _iso_text(iso: float | None) -> str:
    return f"{iso:g}" if iso else "current"


def capture_series(backend: CameraBackend, out_dir: Path, plan: TetherPlan, say: Say,
                   prompt: Prompt, policy: RetryPolicy = RetryPolicy()) -> int:
    """Shoot darks then flats per ISO into ``out_dir`` on an *open* backend; return frames shot.

    Frames already in ``out_dir`` (same planned name) are kept, so an interrupted run resumes.
    """
    model = backend.info().model
    widgets = backend.widgets()
    shutter = _widget(widgets, SHUTTER_WIDGETS)
    if shutter is None:
        raise BurstcapError(f"{model} has no writable shutter-speed setting; set it to manual (M)")
    choices = shutter.choices or (shutter.value,)
    brightest = plan.brightest_s or parse_shutter(shutter.value)
    if brightest is None:
        raise BurstcapError(f"{model}: the current shutter speed {shutter.value!r} is not a time; "
                            "set one or pass --brightest")
    iso_widget = _widget(widgets, ISO_WIDGETS)
    current_iso = parse_iso(iso_widget.value) if iso_widget else None
    if iso_widget is None or current_iso is None:
        if plan.isos:
            raise BurstcapError(f"{model} has no settable ISO (or it is on Auto): set a fixed ISO on "
                                "the camera and run without --isos, once per ISO")
        iso_values: list[tuple[str | None, float | None]] = [(None, current_iso)]
    else:
        iso_values = [nearest_choice(iso_widget.choices or (iso_widget.value,), iso, parse_iso)
                      for iso in (plan.isos or (current_iso,))]
    prepare_camera(backend, widgets, policy)
    out_dir.mkdir(parents=True, exist_ok=True)

    def set_value(name: str, value: str) -> str:
        return retry_busy(lambda: backend.set_widget(name, value), policy, f"set {name}={value}")

    def folder(iso_value: float | None) -> Path:
        return out_dir / (f"iso{iso_value:05.0f}" if iso_value else "iso-current")

    def ladder(iso_value: float | None) -> list[tuple[str, float]]:
        scale = (current_iso / iso_value) if (current_iso and iso_value) else 1.0
        picked: dict[str, float] = {}
        for k in range(plan.levels):
            text, seconds = nearest_choice(choices, brightest * scale / 2**k, parse_shutter)
            picked.setdefault(text, seconds)
        return sorted(picked.items(), key=lambda kv: kv[1])

    shot = 0

    def series(kind: str, count: int, exposures: Callable[[float | None], list[tuple[str, float]]]) -> None:
        nonlocal shot
        for iso_text, iso_value in iso_values:
            if iso_widget is not None and iso_text is not None:
                back = set_value(iso_widget.name, iso_text)
                iso_value = parse_iso(back) or iso_value
            steps = exposures(iso_value)
            if kind == "flat" and len(steps) < plan.levels:
                say(f"ISO {_iso_text(iso_value)}: the camera offers only {len(steps)} distinct "
                    f"exposure times for the {plan.levels} planned levels (needs at least 3)")
            for text, seconds in steps:
                back_s = parse_shutter(set_value(shutter.name, text)) or seconds
                for i in range(count):
                    stem = folder(iso_value) / (f"dark_{i:02d}" if kind == "dark"
                                                else f"flat_{back_s:.6f}s_{i:02d}")
                    if _existing(stem):
                        continue
                    stem.parent.mkdir(parents=True, exist_ok=True)
                    say(f"{kind} frame {i + 1}/{count} at ISO {_iso_text(iso_value)}, {text} s")
                    _shoot_one(backend, stem, policy)
                    shot += 1

    prompt(CAP_ON)
    series("dark", plan.darks, lambda iso: ladder(iso)[:1])
    prompt(TARGET)
    series("flat", plan.flats, ladder)
    say(f"captured {shot} frame(s) into {out_dir}")
    return shot


def _print_result(result: CalibrationResult) -> None:
    p = result.profile
    print(f"{p.make} {p.model}: variance = a * x + b per CFA channel {p.cfa} (normalised raw units)")
    for m in p.measured:
        a = " ".join(f"{v:.3e}" for v in m.a)
        b = " ".join(f"{v:.3e}" for v in m.b)
        print(f"  ISO {m.iso:>6g}  a = [{a}]  b = [{b}]  residual {m.fit_residual:.1%}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="measure a camera's noise profile (photon transfer)",
        description="Measure the sensor noise of a camera per ISO and CFA channel (variance = a * x + "
                    "b in normalised raw units) by the photon-transfer method: temporal variance from "
                    "pairs of frames (so fixed pattern drops out) against the mean signal, clipped "
                    "frames excluded. Tethered by default (the camera is driven and you are told "
                    "what to do), or from a folder of RAWs (--from), or a rough single-frame estimate "
                    "(--single). Writes the profile (JSON) and a plot of the fit (PNG).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--from", dest="from_dir", type=Path, metavar="DIR",
                     help="fit the calibration RAWs in DIR instead of shooting them")
    src.add_argument("--single", type=Path, metavar="RAW",
                     help="only estimate a and b from this one RAW (Foi et al. 2008) and print them")
    p.add_argument("--to", type=Path, default=Path("calibration"), metavar="DIR",
                   help="tethered: folder for the captured frames (default: ./calibration); "
                        "rerunning with the same folder resumes")
    p.add_argument("--isos", type=_iso_list, default=None, metavar="LIST",
                   help="tethered: ISOs to calibrate, comma-separated, e.g. 100,400,1600 "
                        "(default: the camera's current ISO)")
    p.add_argument("--darks", type=_positive_int, default=4, metavar="N",
                   help="tethered: dark frames per ISO (default: 4, at least 2)")
    p.add_argument("--flats", type=_positive_int, default=2, metavar="N",
                   help="tethered: flat frames per exposure time (default: 2, at least 2)")
    p.add_argument("--levels", type=_positive_int, default=6, metavar="N",
                   help="tethered: exposure times per ISO, one stop apart (default: 6, at least 3)")
    p.add_argument("--brightest", type=_seconds, default=None, metavar="SECONDS",
                   help="tethered: exposure of the brightest flat at the camera's current ISO, e.g. "
                        "1/30 (default: the current shutter speed); scaled for the other ISOs")
    p.add_argument("--yes", action="store_true",
                   help="tethered: do not wait for Enter at each step (the instructions are still "
                        "printed)")
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=backend_names() or None,
                   help=f"camera backend (default: {DEFAULT_BACKEND})")
    p.add_argument("--camera", default=None, metavar="MODEL",
                   help="tethered: camera model to use when several are attached")
    p.add_argument("--port", default=None, metavar="PORT",
                   help="tethered: camera port, e.g. usb:001,004")
    p.add_argument("--name", default=None,
                   help="profile name (default: from the camera's make and model)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="profile file to write (default: DIR/NAME.json)")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG",
                   help="plot of mean vs variance with the fits (default: the profile path with .png)")
    p.set_defaults(func=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _iso_list(text: str) -> tuple[float, ...]:
    values = tuple(parse_iso(t) for t in text.split(",") if t.strip())
    if not values or any(v is None for v in values):
        raise argparse.ArgumentTypeError(f"not a list of ISOs: {text!r} (use e.g. 100,400,1600)")
    return values  # type: ignore[return-value]


def _seconds(text: str) -> float:
    value = parse_shutter(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not an exposure time: {text!r} (use e.g. 1/30 or 0.5)")
    return value


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, backend: CameraBackend | None = None,
        prompt: Prompt | None = None) -> int:
    """Run the command; ``backend`` and ``prompt`` replace the real camera and stdin (tests)."""
    import numpy as np

    from hardware_profiles.calibration import calibrate_folder, plot_fit
    from hardware_profiles.registry import save_profile
    from hardware_profiles.single_frame import estimate_file

    if args.single is not None:
        est = estimate_file(args.single)
        print(f"{args.single}: single-frame estimate, variance = a * x + b (normalised raw units)")
        print(f"  a = [{' '.join(f'{v:.3e}' for v in est.a)}]")
        print(f"  b = [{' '.join(f'{v:.3e}' for v in est.b)}]")
        print(f"  from {int(np.sum(est.blocks))} smooth blocks; fixed-pattern noise is included")
        return 0
    if args.from_dir is not None:
        folder = args.from_dir
    else:
        if args.darks < 2 or args.flats < 2 or args.levels < 3:
            raise BurstcapError("tethered calibration needs --darks >= 2, --flats >= 2, --levels >= 3")
        folder = args.to
        plan = TetherPlan(isos=args.isos, darks=args.darks, flats=args.flats, levels=args.levels,
                          brightest_s=args.brightest)
        ask = prompt or (_say if args.yes else (lambda message: input(message + " ")))
        cam = backend or create_backend(args.backend, camera=args.camera, port=args.port)
        try:
            with cam:
                capture_series(cam, folder, plan, _say, ask)
        except EOFError:
            raise BurstcapError("no answer on stdin; pass --yes to run without waiting for Enter") from None
    result = calibrate_folder(folder, name=args.name, progress=sys.stderr.isatty())
    out = args.out or folder / f"{result.profile.name}.json"
    save_profile(result.profile, out)
    plot = args.plot or out.with_suffix(".png")
    plot_fit(result, plot)
    _print_result(result)
    print(f"wrote {out} and {plot}")
    print(f"use it: BURSTCAP_PROFILE_PATH={out.parent} ... --profile {result.profile.name}")
    return 0
