"""Convert published noise measurements into burstcap profiles (``hardware_profiles/profiles/``).

    python -m hardware_profiles.convert --data ../shared/data --out hardware_profiles/profiles

Sources and conversions (all to normalised linear raw units, variance = a * x + b):

* ELD (Wei et al., "A Physics-based Noise Formation Model for Extreme Low-light Raw Denoising",
  CVPR 2020; github.com/Vandermode/ELD ``camera_params/release``): per camera the system-gain range
  [Kmin, Kmax] (DN per electron at the camera's 14-bit raw scale) and log-linear laws
  ``ln sigma = slope * ln K + bias (+ N(0, sigma))`` for the Gaussian read-noise scale (``g_scale``)
  and the row-noise scale (``R_scale``), in DN. With S = white - black (DN):
  ``a = K / S``, ``b = g_scale**2 / S**2``, ``row_sigma = R_scale / S``; the laws are re-expressed in
  ``ln a``: ``ln b = 2*slope*ln a + 2*(bias + (slope - 1)*ln S)``.
  Assumptions: (1) K is proportional to ISO (ELD, Sec. 3: the overall system gain grows with the
  analogue amplification) and Kmin, Kmax are the gains at ISO 100 and 6400: Kmax / Kmin = 64.0 for all
  five cameras, and the full-well capacities this implies at ISO 100 (S / Kmin: A7S2 ~169 ke-,
  D850 ~36 ke-, 5D Mark IV ~73 ke-, 70D ~33 ke-, 700D ~30 ke-) are of the order of the full-well
  capacities published for these sensors (e.g. sensorgen.info), which a different ISO anchor
  would not be; (2) 14-bit raw with black / white levels as
  LibRaw reports for these bodies (listed per camera below). ELD's per-ISO black-level offsets
  (``color_bias``) and Tukey-lambda read-noise shapes (``G_shape``) are not converted: our model is
  Gaussian read noise (ELD's "g" model).
* vkdt (hanatos/vkdt-camconst ``data/nprof``; fitted by vkdt's ``nprof`` module): one line ``A B``
  per (camera, ISO) with variance = A + B * x in black-subtracted raw DN at the camera's native bit
  depth (vkdt's letters are swapped against ours). ``a = B / S``, ``b = A / S**2``. vkdt estimates
  the variance spatially from a single frame (cross of five same-colour pixels), so scene texture
  and fixed pattern are included; its values are one number for all CFA channels.
* Generic fallback: Brooks et al., "Unprocessing Images for Learned Raw Denoising", CVPR 2019:
  a log-uniform in [1e-4, 0.012], ln b = 2.18 ln a + 1.20 (+ N(0, 0.26)). We map a to ISO with
  a = 1e-4 * ISO / 100, so ISO 100..12000 spans their range.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardware_profiles.errors import ProfileError
from hardware_profiles.profile import IsoMeasurement, NoiseLaw, NoiseProfile, Provenance, fit_law
from hardware_profiles.registry import SHIPPED_DIR, save_profile

ELD_SOURCE = ("Wei, Fu, Yang, Huang: A Physics-based Noise Formation Model for Extreme Low-light Raw "
              "Denoising, CVPR 2020 (ELD), calibrated camera_params/release")
ELD_URL = "https://github.com/Vandermode/ELD/tree/master/camera_params/release"
VKDT_SOURCE = "vkdt camera noise profiles (hanatos/vkdt-camconst data/nprof), fitted by vkdt's nprof module"
VKDT_URL = "https://github.com/hanatos/vkdt-camconst/tree/master/data/nprof"
BROOKS_SOURCE = ("Brooks, Mildenhall, Xue, Chen, Sharlet, Barron: Unprocessing Images for Learned Raw "
                 "Denoising, CVPR 2019, Sec. 3.2 (random noise levels)")
BROOKS_URL = "https://arxiv.org/abs/1811.11127"


@dataclass(frozen=True)
class CameraSpec:
    """What the source data lacks: identity, CFA and the raw levels the conversion assumes."""

    name: str
    make: str
    model: str
    aliases: tuple[str, ...]
    cfa: str
    black: float
    white: float
    bits: int
    levels_note: str


ELD_CAMERAS: dict[str, CameraSpec] = {
    "SonyA7S2": CameraSpec("sony-ilce-7sm2", "Sony", "ILCE-7SM2", ("A7S II", "Alpha 7S II", "A7S2"),
                           "RGGB", 512, 16383, 14, "14-bit uncompressed ARW, black 512, white 16383"),
    "NikonD850": CameraSpec("nikon-d850", "Nikon", "D850", (), "RGGB", 400, 15520, 14,
                            "14-bit NEF, black 400, white 15520"),
    "CanonEOS5D4": CameraSpec("canon-eos-5d-mark-iv", "Canon", "EOS 5D Mark IV", ("5D Mark IV", "5D4"),
                              "RGGB", 512, 16383, 14, "14-bit CR2, black 512, white 16383"),
    "CanonEOS70D": CameraSpec("canon-eos-70d", "Canon", "EOS 70D", ("70D",), "RGGB", 2048, 15303, 14,
                              "14-bit CR2, black 2048, white 15303 (0x3bc7)"),
    "CanonEOS700D": CameraSpec("canon-eos-700d", "Canon", "EOS 700D",
                               ("EOS Rebel T5i", "EOS Kiss X7i", "700D"), "RGGB", 2048, 15303, 14,
                               "14-bit CR2, black 2048, white 15303 (assumed as for the 70D)"),
}

VKDT_CAMERAS: dict[str, CameraSpec] = {
    "Nikon-Z_9": CameraSpec("nikon-z-9", "Nikon", "Z 9", ("Z9",), "RGGB", 1008, 15520, 14,
                            "14-bit NEF, black 1008, white 15520"),
    "Olympus-E-M10": CameraSpec("olympus-e-m10", "Olympus", "E-M10", ("OM-D E-M10",), "RGGB",
                                256, 4095, 12, "12-bit ORF, black 256, white 4095"),
    "Olympus-E-M5_Mark_III": CameraSpec("olympus-e-m5-mark-iii", "Olympus", "E-M5 Mark III",
                                        ("E-M5MarkIII", "OM-D E-M5 Mark III"), "RGGB", 256, 4095, 12,
                                        "12-bit ORF, black 256, white 4095"),
}

ELD_ISO_MIN, ELD_ISO_MAX = 100.0, 6400.0
V4 = tuple[float, float, float, float]


def _v4(x: float) -> V4:
    return (float(x),) * 4  # type: ignore[return-value]


def convert_eld(path: Path, spec: CameraSpec) -> NoiseProfile:
    """One ELD ``*_params.npy`` -> profile with laws only (ELD publishes laws, not per-ISO tables)."""
    try:
        d = np.load(path, allow_pickle=True).item()
        k_min, k_max = float(d["Kmin"]), float(d["Kmax"])
        g = d["Profile-1"]["g_scale"]
        r = d["Profile-1"]["R_scale"]
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ProfileError(f"{path}: not an ELD camera-parameter file ({exc})") from None
    s = spec.white - spec.black
    ln_s = math.log(s)
    g_slope, g_bias, g_sigma = float(g["slope"]), float(g["bias"]), float(g["sigma"])
    law = NoiseLaw(
        iso_ref=ELD_ISO_MIN, a_ref=_v4(k_min / s), a_exponent=_v4(1.0),
        b_slope=_v4(2 * g_slope), b_bias=_v4(2 * (g_bias + (g_slope - 1) * ln_s)),
        b_sigma=_v4(2 * g_sigma),
        row_slope=float(r["slope"]), row_bias=float(r["bias"]) + (float(r["slope"]) - 1) * ln_s,
    )
    conversion = (
        f"ELD K in [{k_min:.4g}, {k_max:.4g}] DN/e- taken as ISO {ELD_ISO_MIN:g}..{ELD_ISO_MAX:g} "
        f"(K proportional to ISO; Kmax/Kmin = {k_max / k_min:.2f}); raw levels assumed: "
        f"{spec.levels_note}, S = white - black = {s:g} DN; a = K/S; "
        f"b = g_scale^2/S^2 with ln g_scale = {g_slope:.4f} ln K + {g_bias:.4f} (+N(0, {g_sigma:.3f})); "
        f"row_sigma = R_scale/S with ln R_scale = {float(r['slope']):.4f} ln K + {float(r['bias']):.4f}; "
        f"ELD color_bias and Tukey-lambda G_shape not converted"
    )
    return NoiseProfile(
        name=spec.name, make=spec.make, model=spec.model, aliases=spec.aliases, cfa=spec.cfa,
        black_level=spec.black, white_level=spec.white, bit_depth=spec.bits,
        iso_range=(ELD_ISO_MIN, ELD_ISO_MAX), law=law, measured=(),
        provenance=Provenance(source=ELD_SOURCE, url=ELD_URL, date="2020",
                              fit_residual=round(g_sigma, 4), conversion=conversion),
        notes="Laws only: params(iso) follows the ELD fit; b_sigma is ELD's log-sigma scatter x2.",
    )


_NPROF = re.compile(r"^(?P<camera>.+)-(?P<iso>\d+)\.nprof$")


def convert_vkdt(folder: Path, key: str, spec: CameraSpec) -> NoiseProfile:
    """All ``KEY-ISO.nprof`` files of one camera -> profile with a per-ISO table and fitted laws."""
    s = spec.white - spec.black
    measured = []
    for path in folder.glob(f"{key}-*.nprof"):
        m = _NPROF.match(path.name)
        if not m or m["camera"] != key:
            continue
        try:
            read_var, gain = (float(v) for v in path.read_text().split()[:2])
        except ValueError:
            raise ProfileError(f"{path}: expected one line 'A B' of two numbers") from None
        if read_var <= 0 or gain <= 0:
            raise ProfileError(f"{path}: A and B must be positive, got {read_var} {gain}")
        measured.append(IsoMeasurement(iso=float(m["iso"]), a=_v4(gain / s), b=_v4(read_var / s**2)))
    if not measured:
        raise ProfileError(f"{folder}: no {key}-ISO.nprof files")
    measured.sort(key=lambda m: m.iso)
    law = fit_law(measured, iso_ref=100.0)
    resid = float(np.mean(law.b_sigma))
    conversion = (
        f"vkdt nprof 'A B' = read variance [DN^2], gain [DN] with variance = A + B*x in "
        f"black-subtracted raw DN; raw levels assumed: {spec.levels_note}, S = {s:g} DN; "
        f"a = B/S, b = A/S^2; same value for all CFA channels (vkdt measures one); laws fitted by "
        f"least squares in log space over the {len(measured)} ISOs (fit_residual = RMS of ln b residual)"
    )
    return NoiseProfile(
        name=spec.name, make=spec.make, model=spec.model, aliases=spec.aliases, cfa=spec.cfa,
        black_level=spec.black, white_level=spec.white, bit_depth=spec.bits,
        iso_range=(measured[0].iso, measured[-1].iso), law=law, measured=tuple(measured),
        provenance=Provenance(source=VKDT_SOURCE, url=VKDT_URL, frames=len(measured),
                              fit_residual=round(resid, 4), conversion=conversion),
        notes="Single-frame spatial estimates: texture and fixed pattern inflate b at low ISO.",
    )


def generic_profile() -> NoiseProfile:
    """The fallback for unknown cameras, from Brooks et al. 2019 (see module docstring)."""
    law = NoiseLaw(iso_ref=100.0, a_ref=_v4(1e-4), a_exponent=_v4(1.0), b_slope=_v4(2.18),
                   b_bias=_v4(1.20), b_sigma=_v4(0.26))
    return NoiseProfile(
        name="generic", make="Generic", model="Unknown camera", cfa="RGGB", black_level=0.0,
        white_level=1.0, bit_depth=0, iso_range=(100.0, 12000.0), law=law, measured=(),
        provenance=Provenance(source=BROOKS_SOURCE, url=BROOKS_URL, date="2019",
                              conversion="a = 1e-4 * ISO/100 (ISO 100..12000 spans Brooks' "
                                         "log-uniform a in [1e-4, 0.012]); ln b = 2.18 ln a + 1.20"),
        notes="Fallback for cameras without a profile; levels are placeholders (already normalised).",
    )


def convert_all(data: Path, out: Path) -> list[Path]:
    """Write every profile the shared data supports (plus the generic one) into ``out``."""
    written = [save_profile(generic_profile(), out / "generic.json")]
    eld_dir = data / "noise" / "eld_camera_params"
    for key, spec in ELD_CAMERAS.items():
        written.append(save_profile(convert_eld(eld_dir / f"{key}_params.npy", spec),
                                    out / f"{spec.name}.json"))
    nprof_dir = data / "noise" / "vkdt_nprof" / "nprof"
    for key, spec in VKDT_CAMERAS.items():
        written.append(save_profile(convert_vkdt(nprof_dir, key, spec), out / f"{spec.name}.json"))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hardware_profiles.convert",
        description="Convert the published noise calibrations (ELD, vkdt) in the shared data folder "
                    "into burstcap noise profiles, and write the generic (Brooks et al.) fallback.",
        epilog="example: python -m hardware_profiles.convert --data ../shared/data")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="shared data folder holding noise/eld_camera_params and "
                             "noise/vkdt_nprof (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR,
                        help=f"folder to write the profiles into (default: {SHIPPED_DIR})")
    args = parser.parse_args(argv)
    try:
        for path in convert_all(args.data, args.out):
            print(path)
    except ProfileError as exc:
        print(f"convert: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
