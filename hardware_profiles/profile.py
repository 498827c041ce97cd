"""The typed noise profile of one camera model and how it answers ``params(iso)``.

Units: every ``a`` (shot-noise gain) and ``b`` (read-noise variance) is in *normalised linear raw
units*: the mosaic is black-subtracted and divided by (white - black), so for a pixel of mean ``x``
in [0, 1] the temporal variance is ``a * x + b``. Arrays of 4 are per CFA position of the 2x2 tile
in raster order (index 0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right), so for
``cfa="RGGB"`` they are R, G1, G2, B.

``params(iso)`` returns the measured values at a measured ISO, interpolates log-log between the two
nearest measured ISOs inside the measured range, and uses the fitted laws (anchored at the nearest
measured ISO) outside it or when the profile has no per-ISO table:

    ln a = ln a_ref + a_exponent * ln(iso / iso_ref)    (a proportional to ISO gain when exponent = 1)
    ln b = b_slope * ln a + b_bias                        (log-linear read noise in the gain, as ELD)
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hardware_profiles.errors import ProfileError

FORMAT_VERSION = 1
VALID_CFA_LETTERS = frozenset("RGB")


def _vec4(value: Any, what: str, source: str) -> tuple[float, float, float, float]:
    """A scalar or 4 numbers -> 4 floats; raise ProfileError naming ``source`` otherwise."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 4)
    if arr.size != 4 or not np.all(np.isfinite(arr)):
        raise ProfileError(f"{source}: {what} must be 1 or 4 finite numbers, got {value!r}")
    return tuple(float(v) for v in arr)  # type: ignore[return-value]


@dataclass(frozen=True)
class IsoMeasurement:
    """Measured noise at one ISO: ``a``, ``b`` (4,) normalised; optional row / fixed-pattern sigmas.

    ``row_sigma``: standard deviation of a per-row offset (normalised units), None when not measured.
    ``fpn_sigma``: standard deviation of the per-pixel fixed pattern (normalised), None when not measured.
    ``fit_residual``: RMS relative residual of the variance fit at this ISO (None when unknown).
    """

    iso: float
    a: tuple[float, float, float, float]
    b: tuple[float, float, float, float]
    row_sigma: float | None = None
    fpn_sigma: float | None = None
    frames: int | None = None
    fit_residual: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"iso": self.iso, "a": list(self.a), "b": list(self.b)}
        for key in ("row_sigma", "fpn_sigma", "frames", "fit_residual"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str) -> "IsoMeasurement":
        try:
            iso = float(d["iso"])
            a = _vec4(d["a"], "a", source)
            b = _vec4(d["b"], "b", source)
        except KeyError as exc:
            raise ProfileError(f"{source}: a measured ISO entry lacks {exc.args[0]!r}") from None
        if iso <= 0 or min(a) <= 0 or min(b) <= 0:
            raise ProfileError(f"{source}: ISO {iso:g}: iso, a and b must all be positive")
        return cls(iso=iso, a=a, b=b, row_sigma=d.get("row_sigma"), fpn_sigma=d.get("fpn_sigma"),
                   frames=d.get("frames"), fit_residual=d.get("fit_residual"))


@dataclass(frozen=True)
class NoiseLaw:
    """Fitted laws for ISOs not measured, per CFA position (4,) (see module docstring).

    ``b_sigma``: standard deviation of the residual of ln b (how much bodies / frames scatter).
    ``row_slope``/``row_bias``: optional ln(row_sigma) = row_slope * ln a + row_bias.
    """

    iso_ref: float
    a_ref: tuple[float, float, float, float]
    a_exponent: tuple[float, float, float, float]
    b_slope: tuple[float, float, float, float]
    b_bias: tuple[float, float, float, float]
    b_sigma: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    row_slope: float | None = None
    row_bias: float | None = None

    def a_at(self, iso: float) -> np.ndarray:
        """Shot-noise gain (4,) at ``iso``."""
        return np.asarray(self.a_ref) * (iso / self.iso_ref) ** np.asarray(self.a_exponent)

    def b_of_a(self, a: np.ndarray) -> np.ndarray:
        """Read-noise variance (4,) for gains ``a`` (4,)."""
        return np.exp(np.asarray(self.b_slope) * np.log(a) + np.asarray(self.b_bias))

    def row_sigma_of_a(self, a: np.ndarray) -> float | None:
        """Row-noise sigma (normalised) for gains ``a`` (4,), None when the law has none."""
        if self.row_slope is None or self.row_bias is None:
            return None
        return float(np.exp(self.row_slope * np.log(float(np.mean(a))) + self.row_bias))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "iso_ref": self.iso_ref, "a_ref": list(self.a_ref), "a_exponent": list(self.a_exponent),
            "b_slope": list(self.b_slope), "b_bias": list(self.b_bias), "b_sigma": list(self.b_sigma),
        }
        if self.row_slope is not None:
            out["row_slope"] = self.row_slope
            out["row_bias"] = self.row_bias
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str) -> "NoiseLaw":
        try:
            law = cls(
                iso_ref=float(d["iso_ref"]),
                a_ref=_vec4(d["a_ref"], "law.a_ref", source),
                a_exponent=_vec4(d["a_exponent"], "law.a_exponent", source),
                b_slope=_vec4(d["b_slope"], "law.b_slope", source),
                b_bias=_vec4(d["b_bias"], "law.b_bias", source),
                b_sigma=_vec4(d.get("b_sigma", 0.0), "law.b_sigma", source),
                row_slope=d.get("row_slope"), row_bias=d.get("row_bias"),
            )
        except KeyError as exc:
            raise ProfileError(f"{source}: the 'law' table lacks {exc.args[0]!r}") from None
        if law.iso_ref <= 0 or min(law.a_ref) <= 0:
            raise ProfileError(f"{source}: law.iso_ref and law.a_ref must be positive")
        return law


@dataclass(frozen=True)
class Provenance:
    """Where the numbers come from: source (citation), URL, date, frames used, fit residual, and
    how they were converted into this format (units, assumptions)."""

    source: str
    url: str = ""
    date: str = ""
    frames: int | None = None
    fit_residual: float | None = None
    conversion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass(frozen=True)
class NoiseProfile:
    """Noise profile of one camera model (see the module docstring for units and the laws).

    ``black_level``/``white_level``: raw ADU at ``bit_depth`` bits (what the profile's normalisation
    assumed). ``iso_range``: (low, high) ISOs the profile is meant for (training draws from it).
    ``measured``: per-ISO table sorted by ISO (may be empty when only laws were published).
    """

    name: str
    make: str
    model: str
    cfa: str
    black_level: float
    white_level: float
    bit_depth: int
    iso_range: tuple[float, float]
    law: NoiseLaw
    provenance: Provenance
    measured: tuple[IsoMeasurement, ...] = ()
    aliases: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        src = f"profile {self.name!r}"
        if len(self.cfa) != 4 or not set(self.cfa) <= VALID_CFA_LETTERS:
            raise ProfileError(f"{src}: cfa must be 4 letters of R, G, B like 'RGGB', got {self.cfa!r}")
        if not self.white_level > self.black_level >= 0:
            raise ProfileError(f"{src}: need white_level > black_level >= 0, got "
                               f"{self.white_level} / {self.black_level}")
        lo, hi = self.iso_range
        if not 0 < lo <= hi:
            raise ProfileError(f"{src}: iso_range must be 0 < low <= high, got {self.iso_range}")
        isos = [m.iso for m in self.measured]
        if isos != sorted(isos) or len(set(isos)) != len(isos):
            raise ProfileError(f"{src}: measured ISOs must be sorted and unique, got {isos}")

    @property
    def measured_isos(self) -> tuple[float, ...]:
        return tuple(m.iso for m in self.measured)

    def params(self, iso: float) -> tuple[np.ndarray, np.ndarray]:
        """(a (4,), b (4,)) float64 normalised units at ``iso`` (measured, interpolated or by law)."""
        if not (np.isfinite(iso) and iso > 0):
            raise ProfileError(f"profile {self.name!r}: ISO must be a positive number, got {iso!r}")
        iso = float(iso)
        if not self.measured:
            a = self.law.a_at(iso)
            return a, self.law.b_of_a(a)
        isos = np.array(self.measured_isos)
        if isos[0] <= iso <= isos[-1]:
            hi = int(np.searchsorted(isos, iso, side="left"))
            if isos[hi] == iso:
                m = self.measured[hi]
                return np.array(m.a), np.array(m.b)
            lo_m, hi_m = self.measured[hi - 1], self.measured[hi]
            t = np.log(iso / lo_m.iso) / np.log(hi_m.iso / lo_m.iso)
            a = np.exp((1 - t) * np.log(lo_m.a) + t * np.log(hi_m.a))
            b = np.exp((1 - t) * np.log(lo_m.b) + t * np.log(hi_m.b))
            return a, b
        edge = self.measured[0] if iso < isos[0] else self.measured[-1]
        a_edge = np.array(edge.a)
        a = a_edge * (iso / edge.iso) ** np.asarray(self.law.a_exponent)
        b = np.array(edge.b) * np.exp(np.asarray(self.law.b_slope) * (np.log(a) - np.log(a_edge)))
        return a, b

    def row_sigma(self, iso: float) -> float:
        """Row-noise sigma (normalised) at ``iso``; 0.0 when the profile never measured any."""
        for m in self.measured:
            if m.iso == iso and m.row_sigma is not None:
                return float(m.row_sigma)
        sigma = self.law.row_sigma_of_a(self.params(iso)[0])
        if sigma is not None:
            return sigma
        known = [(m.iso, m.row_sigma) for m in self.measured if m.row_sigma is not None]
        if not known:
            return 0.0
        return float(min(known, key=lambda k: abs(np.log(k[0] / iso)))[1])

    def channel_params(self, iso: float) -> tuple[np.ndarray, np.ndarray]:
        """(a (3,), b (3,)) for R, G, B at ``iso``: the CFA positions averaged per colour."""
        a, b = self.params(iso)
        return cfa_to_rgb(a, self.cfa), cfa_to_rgb(b, self.cfa)

    def scaled(self, factor: float) -> "NoiseProfile":
        """This profile with ``factor`` times its noise variance at every ISO (a and b of every
        measurement and of the law), named ``<name>-x<factor>``: what a camera that many times
        noisier would measure. Row noise measured per ISO is kept; where the profile derives it from
        its law (a function of a), it follows the scaled a."""
        if not (math.isfinite(factor) and factor > 0):
            raise ProfileError(f"profile {self.name!r}: the variance factor must be positive, got {factor!r}")
        d = self.to_dict()
        d["name"] = f"{self.name}-x{factor:g}"
        for entry in d["measured"]:
            entry["a"] = [v * factor for v in entry["a"]]
            entry["b"] = [v * factor for v in entry["b"]]
        law = d["law"]
        law["a_ref"] = [v * factor for v in law["a_ref"]]
        # ln b = slope * ln a + bias: a and b both times f moves the bias by (1 - slope) * ln f
        law["b_bias"] = [bias + (1 - slope) * math.log(factor) for bias, slope in zip(law["b_bias"], law["b_slope"])]
        return NoiseProfile.from_dict(d, f"{self.name} x{factor:g}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT_VERSION, "name": self.name, "make": self.make, "model": self.model,
            "aliases": list(self.aliases), "cfa": self.cfa, "black_level": self.black_level,
            "white_level": self.white_level, "bit_depth": self.bit_depth,
            "iso_range": list(self.iso_range), "provenance": self.provenance.to_dict(),
            "law": self.law.to_dict(), "measured": [m.to_dict() for m in self.measured],
        }
        if self.notes:
            out["notes"] = self.notes
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str) -> "NoiseProfile":
        """Build from the JSON structure written by ``to_dict``; ``source`` names the file in errors."""
        if not isinstance(d, dict):
            raise ProfileError(f"{source}: expected a JSON object at the top level")
        if d.get("format") != FORMAT_VERSION:
            raise ProfileError(f"{source}: unsupported profile format {d.get('format')!r} "
                               f"(this version reads format {FORMAT_VERSION})")
        try:
            prov = d["provenance"]
            profile = cls(
                name=str(d["name"]), make=str(d["make"]), model=str(d["model"]), cfa=str(d["cfa"]),
                black_level=float(d["black_level"]), white_level=float(d["white_level"]),
                bit_depth=int(d["bit_depth"]),
                iso_range=(float(d["iso_range"][0]), float(d["iso_range"][1])),
                law=NoiseLaw.from_dict(d["law"], source),
                provenance=Provenance(
                    source=str(prov["source"]), url=prov.get("url", ""), date=prov.get("date", ""),
                    frames=prov.get("frames"), fit_residual=prov.get("fit_residual"),
                    conversion=prov.get("conversion", "")),
                measured=tuple(IsoMeasurement.from_dict(m, source) for m in d.get("measured", [])),
                aliases=tuple(d.get("aliases", ())), notes=d.get("notes", ""),
                extra=d.get("extra", {}),
            )
        except KeyError as exc:
            raise ProfileError(f"{source}: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError, IndexError) as exc:
            raise ProfileError(f"{source}: malformed field ({exc})") from None
        return profile


def cfa_to_rgb(values: np.ndarray, cfa: str) -> np.ndarray:
    """Per-CFA-position values (4,) -> per-colour means (3,) in R, G, B order."""
    values = np.asarray(values, dtype=np.float64)
    return np.array([values[[i for i, c in enumerate(cfa) if c == colour]].mean()
                     for colour in "RGB"])


def fit_law(measured: list[IsoMeasurement] | tuple[IsoMeasurement, ...],
            iso_ref: float | None = None) -> NoiseLaw:
    """Fit the laws of :class:`NoiseLaw` by least squares in log space, per CFA position.

    With one ISO only: ``a_exponent`` = 1 (a proportional to ISO) and ``b_slope`` = 2 (read noise
    constant in electrons, so b grows with the square of the gain).
    """
    if not measured:
        raise ProfileError("cannot fit noise laws without at least one measured ISO")
    isos = np.array([m.iso for m in measured])
    ln_a = np.log(np.array([m.a for m in measured]))  # (N, 4)
    ln_b = np.log(np.array([m.b for m in measured]))
    ref = float(iso_ref if iso_ref is not None else isos[0])
    if len(measured) == 1:
        exponent = np.ones(4)
        a_ref = np.exp(ln_a[0]) * (ref / isos[0])
        b_slope = np.full(4, 2.0)
        b_bias = ln_b[0] - 2.0 * ln_a[0]
        b_sigma = np.zeros(4)
    else:
        x = np.log(isos / ref)
        exponent, a_ref, b_slope, b_bias, b_sigma = (np.zeros(4) for _ in range(5))
        for c in range(4):
            exponent[c], ln_a_ref = np.polyfit(x, ln_a[:, c], 1)
            a_ref[c] = np.exp(ln_a_ref)
            b_slope[c], b_bias[c] = np.polyfit(ln_a[:, c], ln_b[:, c], 1)
            resid = ln_b[:, c] - (b_slope[c] * ln_a[:, c] + b_bias[c])
            b_sigma[c] = float(np.sqrt(np.mean(resid ** 2)))
    rows = [(m.a, m.row_sigma) for m in measured if m.row_sigma]
    row_slope = row_bias = None
    if len(rows) >= 2:
        ra = np.log([float(np.mean(r[0])) for r in rows])
        rs = np.log([r[1] for r in rows])
        row_slope, row_bias = (float(v) for v in np.polyfit(ra, rs, 1))
    as4 = lambda v: tuple(float(x) for x in v)  # noqa: E731
    return NoiseLaw(iso_ref=ref, a_ref=as4(a_ref), a_exponent=as4(exponent), b_slope=as4(b_slope),
                    b_bias=as4(b_bias), b_sigma=as4(b_sigma), row_slope=row_slope, row_bias=row_bias)
