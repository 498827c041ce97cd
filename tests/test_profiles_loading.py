"""Shipped noise profiles: they load, look up by EXIF make/model, and synthesize the noise they state."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import hardware_profiles as hp
from hardware_profiles.convert import convert_all
from hardware_profiles.registry import SHIPPED_DIR, to_json

SHIPPED = hp.list_profiles()
EXPECTED = {"generic", "sony-ilce-7sm2", "nikon-d850", "canon-eos-5d-mark-iv", "canon-eos-70d",
            "canon-eos-700d", "nikon-z-9", "olympus-e-m10", "olympus-e-m5-mark-iii"}


def test_every_expected_profile_is_shipped() -> None:
    assert EXPECTED <= set(SHIPPED)


def _test_isos(profile: hp.NoiseProfile) -> tuple[float, float]:
    """A measured ISO (table entry, or the law's reference) and one between two measured ISOs."""
    if profile.measured:
        isos = profile.measured_isos
        i = len(isos) // 2
        return isos[i], float(np.sqrt(isos[i] * isos[i + 1]))
    lo, hi = profile.iso_range
    return lo, float(np.sqrt(lo * hi)) * 1.07


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_noise_has_the_variance_its_numbers_say(name: str) -> None:
    profile = hp.load_profile(name)
    assert profile.provenance.source and profile.provenance.conversion
    rng = np.random.default_rng(1)
    for iso in _test_isos(profile):
        a, b = profile.params(iso)
        assert a.shape == b.shape == (4,) and np.all(a > 0) and np.all(b > 0)
        for level in (0.02, 0.5):
            mosaic = np.full((384, 384), level, np.float32)
            noisy = hp.sample_noisy(mosaic, a, b, rng, cfa=profile.cfa).astype(np.float64)
            for pos in range(4):
                plane = noisy[pos // 2::2, pos % 2::2]
                expected = a[pos] * level + b[pos]
                assert plane.var() == pytest.approx(expected, rel=0.05), (name, iso, level, pos)
                assert plane.mean() == pytest.approx(level, abs=4 * np.sqrt(expected / plane.size))


def test_interpolated_iso_lies_between_its_neighbours() -> None:
    profile = hp.load_profile("nikon-z-9")
    lo, hi = profile.measured[3], profile.measured[4]
    a, b = profile.params(np.sqrt(lo.iso * hi.iso))
    assert lo.a[0] < a[0] < hi.a[0]
    assert np.allclose(profile.params(lo.iso)[0], lo.a)


def test_eld_conversion_matches_the_published_gain_law(shared_data: Path) -> None:
    """a = K / (white - black) at ISO 100 (Kmin) and 6400 (Kmax); read sigma follows ELD's law."""
    raw = np.load(shared_data / "noise/eld_camera_params/NikonD850_params.npy", allow_pickle=True).item()
    profile = hp.load_profile("nikon-d850")
    s = profile.white_level - profile.black_level
    assert profile.params(100)[0][0] == pytest.approx(raw["Kmin"] / s, rel=1e-5)
    assert profile.params(6400)[0][0] == pytest.approx(raw["Kmax"] / s, rel=1e-5)
    g = raw["Profile-1"]["g_scale"]
    k = raw["Kmin"] * 8
    sigma_dn = np.exp(g["slope"] * np.log(k) + g["bias"])
    assert np.sqrt(profile.params(800)[1][0]) * s == pytest.approx(sigma_dn, rel=1e-4)


def test_vkdt_conversion_matches_the_source_file(shared_data: Path) -> None:
    read_var, gain = map(float, (shared_data / "noise/vkdt_nprof/nprof/Olympus-E-M10-1600.nprof")
                         .read_text().split())
    profile = hp.load_profile("olympus-e-m10")
    s = profile.white_level - profile.black_level
    a, b = profile.params(1600)
    assert a[0] == pytest.approx(gain / s, rel=1e-5)
    assert b[0] == pytest.approx(read_var / s**2, rel=1e-5)


def test_converter_reproduces_the_committed_profiles(shared_data: Path, tmp_path: Path) -> None:
    for path in convert_all(shared_data, tmp_path):
        assert path.read_text() == (SHIPPED_DIR / path.name).read_text(), path.name


def test_generic_profile_follows_brooks() -> None:
    profile = hp.load_profile("generic")
    lo, hi = profile.iso_range
    a_lo, _ = profile.params(lo)
    a_hi, b_hi = profile.params(hi)
    assert a_lo[0] == pytest.approx(1e-4) and a_hi[0] == pytest.approx(0.012)
    assert np.log(b_hi[0]) == pytest.approx(2.18 * np.log(0.012) + 1.20)


@pytest.mark.parametrize("make, model, name", [
    ("NIKON CORPORATION", "NIKON D850", "nikon-d850"),
    ("SONY", "ILCE-7SM2", "sony-ilce-7sm2"),
    ("Canon", "Canon EOS 5D Mark IV", "canon-eos-5d-mark-iv"),
    ("Canon", "Canon EOS Rebel T5i", "canon-eos-700d"),
    ("OLYMPUS CORPORATION", "E-M5MarkIII", "olympus-e-m5-mark-iii"),
    ("OLYMPUS IMAGING CORP.", "E-M10", "olympus-e-m10"),
    ("NIKON CORPORATION", "NIKON Z 9", "nikon-z-9"),
])
def test_profile_for_exif_names(make: str, model: str, name: str) -> None:
    assert hp.profile_for(make, model).name == name


def test_unknown_camera_falls_back_to_generic_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hardware_profiles"):
        profile = hp.profile_for("Kodak", "DC50")
    assert profile.name == "generic"
    assert "Kodak" in caplog.text and "generic" in caplog.text


def test_user_profile_folder_overrides_and_bad_files_are_named(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BURSTCAP_PROFILE_PATH", str(tmp_path))
    data = json.loads(to_json(hp.load_profile("nikon-d850")))
    data["name"] = "my-cam"
    (tmp_path / "my-cam.json").write_text(json.dumps(data))
    assert "my-cam" in hp.list_profiles()
    assert hp.load_profile("my-cam").model == "D850"
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(hp.ProfileError, match="broken.json.*not valid JSON"):
        hp.load_profile("broken")
    del data["law"]
    (tmp_path / "nolaw.json").write_text(json.dumps(data))
    with pytest.raises(hp.ProfileError, match="nolaw.json.*'law'"):
        hp.load_profile("nolaw")
    with pytest.raises(hp.ProfileError, match="no noise profile named 'nope'"):
        hp.load_profile("nope")
    with pytest.raises(hp.ProfileError, match="ISO must be a positive"):
        hp.load_profile("nikon-d850").params(-5)


def test_sample_random_params_covers_profiles_and_their_iso_ranges() -> None:
    rng = np.random.default_rng(0)
    draws = [hp.sample_random_params(rng) for _ in range(200)]
    assert {d.profile.name for d in draws} == set(SHIPPED)
    for d in draws:
        lo, hi = d.profile.iso_range
        assert lo <= d.iso <= hi
        a, b = d.profile.params(d.iso)
        assert np.array_equal(a, d.a) and np.array_equal(b, d.b)
    profile, iso, a, b = hp.sample_random_params(np.random.default_rng(5), ["nikon-d850"])
    assert profile.name == "nikon-d850" and a.shape == (4,)
    again = hp.sample_random_params(np.random.default_rng(5), ["nikon-d850"])
    assert again.iso == iso


def test_sample_noisy_rgb_rows_and_input_untouched() -> None:
    rng = np.random.default_rng(3)
    rgb = np.full((256, 256, 3), 0.25, np.float32)
    before = rgb.copy()
    a = np.array([1e-3, 2e-3, 2e-3, 4e-3])
    noisy = hp.sample_noisy(rgb, a, 1e-5, rng, cfa="RGGB", poisson=False)
    assert np.array_equal(rgb, before) and noisy.dtype == np.float32 and noisy.shape == rgb.shape
    for c, a_c in enumerate((1e-3, 2e-3, 4e-3)):
        assert noisy[..., c].var() == pytest.approx(a_c * 0.25 + 1e-5, rel=0.05)
    rows = hp.sample_noisy(np.zeros((2000, 64), np.float32), 1e-3, 1e-6, rng, row_sigma=0.01)
    assert rows.mean(axis=1).var() == pytest.approx(1e-4, rel=0.1)
    with pytest.raises(hp.ProfileError, match="4 values"):
        hp.sample_noisy(np.zeros((8, 8)), [1e-3, 1e-3, 1e-3], 1e-5, rng)


def test_profile_for_file_reads_the_exif_of_a_raw(tmp_path: Path, shared_data: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from isp.dng import write_dng
    from isp.metadata import CaptureMetadata

    mosaic = np.random.default_rng(0).integers(400, 4000, (64, 64)).astype(np.uint16)
    path = write_dng(tmp_path / "d850.dng", mosaic, black_level=400, white_level=15520,
                     metadata=CaptureMetadata(make="NIKON CORPORATION", model="NIKON D850", iso=800))
    assert hp.profile_for_file(path).name == "nikon-d850"
    with caplog.at_level(logging.WARNING, logger="hardware_profiles"):
        assert hp.profile_for_file(shared_data / "raw/valid/RAW_KODAK_DC50.KDC").name == "generic"
    assert "using the generic profile" in caplog.text


def test_sample_random_params_scatter_follows_the_law_sigma() -> None:
    rng = np.random.default_rng(9)
    generic = hp.load_profile("generic")
    ratios = []
    for _ in range(400):
        d = hp.sample_random_params(rng, [generic], scatter=True)
        ratios.append(np.log(d.b[0] / generic.params(d.iso)[1][0]))
    assert np.std(ratios) == pytest.approx(0.26, rel=0.12)
    assert abs(np.mean(ratios)) < 0.05


@pytest.mark.parametrize("iso", [100.0, 800.0, 3000.0, 25600.0])  # measured, between, beyond the table
def test_scaled_profile_has_that_many_times_the_variance_at_every_iso(iso: float) -> None:
    from hardware_profiles import load_profile

    own = load_profile("nikon-d850")
    four = own.scaled(4.0)
    assert four.name == "nikon-d850-x4" and (four.make, four.model) == (own.make, own.model)
    for mine, theirs in zip(four.params(iso), own.params(iso)):
        np.testing.assert_allclose(mine, 4.0 * theirs, rtol=1e-9)


def test_scaled_profile_refuses_a_factor_that_is_not_positive() -> None:
    from hardware_profiles import ProfileError, load_profile

    with pytest.raises(ProfileError, match="positive"):
        load_profile("nikon-d850").scaled(0.0)
