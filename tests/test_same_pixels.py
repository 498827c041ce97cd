"""One pair through every door gives the same pixels (issue 12).

The pair comes off libgphoto2's virtual camera (:class:`standins.ExposingVirtualCamera`: the real
gphoto2 backend and PTP path, serving for each capture the frame of its exposure). ``burstcap shoot``
takes it into a session folder (short_*, long_*, session.json with the read-back exposure times) and
fuses it; that session's two files and its sidecar ratio are "the pair" for the other doors:

- ``burstcap fuse SHORT LONG --ratio R``: R the sidecar's read-back ratio;
- ``burstcap process`` on the session folder (pairs it by its sidecar);
- the ``Pipeline`` API and ``POST /api/shoot`` shoot again on the virtual camera, whose files must be
  byte for byte the shoot's (asserted first: the comparison needs it).

The network is ``standin-mix`` (tests/standins.py: 0.6 short + 0.4 long + 4 noise map), so a
different ratio, alignment, colour match or noise map in any door changes the pixels. Every output
is a 16-bit TIFF, compared with ``np.array_equal``.

A change to the shared path (:func:`burstcap.fuse.fuse_frames`) changes all five outputs alike, so
the comparison alone cannot see it; ``standin-mix`` records what each door gave the network, and the
test checks every door's noise map against :func:`deblurnet.noise_map.estimated_noise_map` of the
short input it got (the frames are JPEGs: no noise profile, the map is estimated). A noise map
scaled inside fuse_frames then fails in all five doors at once (tests/mutation_check.py
``noise-map-doubled``), while the known answers of tests/test_pixels.py ignore the noise map.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from burstcap.cli import main as burstcap_main
from standins import RECORD_ENV, known_pair, plugin_site, prepare_virtual_camera

MODEL = "standin-mix"
DOORS = ("shoot", "fuse", "process", "pipeline", "service")


@pytest.fixture
def standins(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = plugin_site(tmp_path_factory.mktemp("plugins"))
    monkeypatch.syspath_prepend(str(site))
    threads = torch.get_num_threads()
    yield site
    torch.set_num_threads(threads)


def pixels(data: bytes) -> np.ndarray:
    """A 16-bit TIFF's pixels (decoded as stored: uint16 BGR)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.dtype == np.uint16 and image.ndim == 3, "not a 16-bit RGB TIFF"
    return image


def recorded(folder: Path) -> dict[str, np.ndarray]:
    """What ``standin-mix`` was given in one door (one call: the image is small enough for one tile)."""
    calls = sorted(folder.glob("*.npz"))
    assert len(calls) == 1, f"{folder.name}: the network ran {len(calls)} times"
    with np.load(calls[0]) as data:
        return {k: data[k] for k in data.files}


def session_files(session: Path) -> dict[str, bytes]:
    return {p.name.split("_")[0]: p.read_bytes() for p in session.iterdir()
            if p.name.startswith(("short_", "long_"))}


@pytest.mark.camera
@pytest.mark.timeout(90)
def test_one_pair_through_every_door_gives_the_same_pixels(standins: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    gphoto2 = pytest.importorskip("gphoto2")

    from burstcap.fuse import FuseOptions
    from burstcap.pipeline import Pipeline, PipelineConfig
    from burstcap.process import ProcessOptions, sidecar_ratio
    from burstcap.service.steps import fuse_step, shoot_pairs
    from burstcap.shoot import ShootRequest, read_sidecar
    from deblurnet.noise_map import estimated_noise_map
    from standins import ExposingVirtualCamera
    from test_service import running_service

    for key, value in prepare_virtual_camera(tmp_path, known_pair()).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IOLIBS", str(Path(gphoto2.__file__).parent / "libgphoto2" / "vusb"))
    records = tmp_path / "records"
    options = FuseOptions(model=MODEL, device="cpu", threads=1)
    fused: dict[str, bytes] = {}

    def door(name: str) -> None:
        monkeypatch.setenv(RECORD_ENV, str(records / name))

    # burstcap shoot on the virtual camera (the camera's current shutter as the long exposure, as
    # the service does): its session is the pair
    door("shoot")
    assert burstcap_main(["shoot", "--backend", "vcam-exposing", "--ratio", "8", "--model", MODEL,
                          "--device", "cpu", "--out", str(tmp_path / "shots")]) == 0
    (session,) = (tmp_path / "shots").iterdir()
    fused["shoot"] = (session / "fused.tif").read_bytes()
    pair = session_files(session)
    short, long = (next(session.glob(f"{which}_*")) for which in ("short", "long"))
    ratio = sidecar_ratio(read_sidecar(session))
    assert ratio is not None and ratio > 4  # the virtual camera's nearest shutters to 1/8

    # burstcap fuse on the session's two files with the sidecar's read-back ratio: how a user
    # reproduces a shot by hand (repr: the float itself, not a rounded one)
    door("fuse")
    assert burstcap_main(["fuse", str(short), str(long), "--ratio", repr(ratio), "-o",
                          str(tmp_path / "fuse.tif"), "--model", MODEL, "--device", "cpu",
                          "--threads", "1"]) == 0
    fused["fuse"] = (tmp_path / "fuse.tif").read_bytes()

    # burstcap process on the session folder: paired, and its ratio taken, by the sidecar
    door("process")
    assert burstcap_main(["process", str(session), "--out", str(tmp_path / "processed"), "--model", MODEL,
                          "--device", "cpu", "--quiet"]) == 0
    (out,) = (tmp_path / "processed").rglob("*_fused.tif")
    fused["process"] = out.read_bytes()

    # the Pipeline API on the same virtual camera
    door("pipeline")
    config = PipelineConfig(out_root=tmp_path / "pipeline", process=ProcessOptions(
        fuse=options, contact_sheet=False))
    (result,) = Pipeline(config, backend=ExposingVirtualCamera()).run(ShootRequest(ratio=1 / 8))
    assert session_files(result.session.folder) == pair, "the virtual camera gave the Pipeline other files"
    assert sidecar_ratio(read_sidecar(result.session.folder)) == ratio
    fused["pipeline"] = result.fused.read_bytes()

    # the HTTP service: POST /api/shoot on the same virtual camera, the real fusion step (as TIFF),
    # the result fetched over HTTP
    door("service")
    with running_service(tmp_path / "service", capture=shoot_pairs, process=fuse_step(options, "tif"),
                         open_camera=ExposingVirtualCamera) as svc, svc.client() as client:
        job = client.post("/api/shoot", json={"ratio": 8, "count": 1}).raise_for_status().json()
        done = svc.wait(job["id"], timeout_s=60)
        assert done["state"] == "done", done["error"]
        (shot,) = done["pairs"]
        fused["service"] = client.get(shot["result_url"]).raise_for_status().content
    (service_session,) = [p.parent for p in (svc.out_dir / "jobs" / job["id"]).rglob("session.json")]
    assert session_files(service_session) == pair, "the virtual camera gave the service other files"
    assert sidecar_ratio(read_sidecar(service_session)) == ratio
    reports = {name: json.loads(p.read_text()) for name, p in (
        ("shoot", session / "fused.tif.json"), ("fuse", tmp_path / "fuse.tif.json"),
        ("process", Path(f"{out}.json")), ("pipeline", Path(f"{result.fused}.json")),
        ("service", next(service_session.parent.rglob("fused_*.tif.json"))))}
    for name, report in reports.items():  # the report rounds the ratio to 4 decimals
        assert report["ratio"] == pytest.approx(ratio, abs=1e-4), name

    # the same pixels, door by door
    images = {name: pixels(data) for name, data in fused.items()}
    differ = {name: int(np.count_nonzero(images[name] != images["shoot"]))
              for name in DOORS if not np.array_equal(images[name], images["shoot"])}
    assert not differ, f"pixels differing from burstcap shoot's: {differ}"

    # what each door gave the network: the same inputs, and the noise map of its short input
    seen = {name: recorded(records / name) for name in DOORS}
    for name in DOORS:
        assert all(np.array_equal(seen[name][k], seen["shoot"][k]) for k in seen["shoot"]), name
    wrong = {}
    for name, given in seen.items():
        short_in = given["short"][0].transpose(1, 2, 0)
        expected = estimated_noise_map(short_in)[..., 0]
        if not np.allclose(given["noise"][0, 0], expected, rtol=1e-6, atol=0):
            wrong[name] = float(given["noise"].mean() / expected.mean())
    assert not wrong, f"noise map / estimated_noise_map(short input), per door: {wrong}"
