"""The HTTP service against a real uvicorn on 127.0.0.1, with libgphoto2's virtual camera behind it.

Camera: the real :class:`GPhoto2Backend` on libgphoto2's virtual camera (``VCAMERADIR`` + the ``vusb``
io-lib, switched for the duration of each test), serving a 128x96 JPEG generated here; both frames of
a pair are that JPEG (the virtual camera duplicates it). Processing: the real fusion step
(:func:`burstcap.service.steps.fuse_step` -> :func:`burstcap.fuse.fuse_pair`) with an *untrained*
compact DeblurMerger instead of the shipped weights, so a pair fuses in ~0.2 s. The virtual camera
has no timing (a capture returns at once), so tests that need a capture in progress hold it at the
camera boundary with :class:`GatedCapture` (the one fake here).

Other test modules (test_browser.py, test_load.py) import the fixtures below.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import torch

from burstcap.camera.backend import CameraBackend
from burstcap.camera.gphoto import GPhoto2Backend
from burstcap.camera.scripted import CameraScript, ScriptedBackend
from burstcap.errors import BurstcapError, CameraError
from burstcap.fuse import FuseOptions
from burstcap.service import BackgroundServer, ServiceConfig, ShootParams, create_app
from burstcap.service.runner import CapturedPair, CaptureFn, ProcessFn, ProgressFn
from burstcap.service.steps import fuse_step, shoot_pairs
from servers import first_page, script_server, serve_command

pytestmark = [pytest.mark.camera, pytest.mark.timeout(90)]

FRAME_W, FRAME_H = 128, 96


# -- fixtures shared with test_browser.py and test_load.py ------------------------------------------

@pytest.fixture
def virtual_camera(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point libgphoto2 at its virtual camera serving one generated JPEG; returns the folder."""
    import gphoto2

    folder = tmp_path / "vcamera" / "DCIM" / "100TEST"
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:FRAME_H, 0:FRAME_W]
    image = np.stack([x * 2, y * 2, 255 - x - y], axis=-1).clip(0, 255).astype(np.uint8)
    cv2.rectangle(image, (40, 30), (88, 66), (255, 255, 255), -1)
    assert cv2.imwrite(str(folder / "IMG_0001.JPG"), image)
    monkeypatch.setenv("VCAMERADIR", str(tmp_path / "vcamera"))
    monkeypatch.setenv("IOLIBS", str(Path(gphoto2.__file__).parent / "libgphoto2" / "vusb"))
    return folder


@lru_cache(maxsize=1)
def tiny_fuse() -> ProcessFn:
    """The real fusion step with an untrained, seeded compact DeblurMerger (fast on CPU)."""
    from deblurnet.models import create_model

    torch.manual_seed(0)
    model = create_model("deblur-merger", preset="compact").eval()
    return fuse_step(FuseOptions(device="cpu"), out_format="jpg", model=model)


class GatedCapture:
    """Fake at the camera-timing boundary: holds each capture until ``release`` is set (the virtual
    camera's exposures take no time), then shoots for real through ``shoot_pairs``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls = 0

    def __call__(self, camera: CameraBackend, params: ShootParams, job_dir: Path,
                 progress: ProgressFn) -> list[CapturedPair]:
        self.calls += 1
        self.started.set()
        progress(0.0, "exposing")
        if not self.release.wait(timeout=60):
            raise CameraError("test gate never opened")
        return shoot_pairs(camera, params, job_dir, progress)


@dataclass
class Service:
    """A running service: base URL, token, output folder; ``client()`` sends the token."""

    url: str
    token: str
    out_dir: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10,
                            headers={"Authorization": f"Bearer {self.token}"})

    def wait(self, job_id: str, timeout_s: float = 30.0) -> dict:
        """Poll the job until it is done or failed; return its JSON."""
        deadline = time.monotonic() + timeout_s
        with self.client() as client:
            while time.monotonic() < deadline:
                job = client.get(f"/api/jobs/{job_id}").raise_for_status().json()
                if job["state"] in ("done", "failed"):
                    return job
                time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish in {timeout_s} s: {job}")


@contextmanager
def running_service(out_dir: Path, capture: CaptureFn = shoot_pairs,
                    process: ProcessFn | None = None,
                    open_camera: Callable[[], CameraBackend] = GPhoto2Backend,
                    **settings: object) -> Iterator[Service]:
    """create_app + uvicorn on 127.0.0.1 (a free port) on a thread, stopped at exit.
    ``settings``: other fields of ServiceConfig."""
    app = create_app(ServiceConfig(out_dir=out_dir, **settings), open_camera=open_camera,  # type: ignore[arg-type]
                     capture=capture, process=process or tiny_fuse())
    token = (out_dir / "service-token").read_text().strip()
    with BackgroundServer(app) as server:
        yield Service(server.url, token, out_dir)


@pytest.fixture
def service(tmp_path: Path, virtual_camera: Path) -> Iterator[Service]:
    with running_service(tmp_path / "out") as svc:
        yield svc


# -- the happy path ----------------------------------------------------------------------------------

def test_shoot_poll_fetch_result(service: Service) -> None:
    with service.client() as client:
        response = client.post("/api/shoot", json={"ratio": 8, "count": 2})
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["state"] == "capturing" and job["ratio"] == 8 and job["count"] == 2

        done = service.wait(job["id"])
        assert done["state"] == "done", done["error"]
        assert done["progress"] == 1.0 and done["error"] is None
        assert {"capture_s", "queue_s", "process_s", "total_s"} <= set(done["timings"])
        assert len(done["pairs"]) == 2
        for pair in done["pairs"]:
            result = client.get(pair["result_url"])
            assert result.status_code == 200 and result.headers["content-type"] == "image/jpeg"
            fused = cv2.imdecode(np.frombuffer(result.content, np.uint8), cv2.IMREAD_COLOR)
            assert fused.shape == (FRAME_H, FRAME_W, 3)
            assert set(pair["thumbnail_urls"]) == {"short", "long", "result"}
            for url in pair["thumbnail_urls"].values():  # <img src> style: token in the query
                thumb = httpx.get(f"{service.url}{url}&token={service.token}")
                assert thumb.status_code == 200
                assert cv2.imdecode(np.frombuffer(thumb.content, np.uint8), 1).shape[1] == FRAME_W

        listed = client.get("/api/jobs").json()["jobs"]
        assert [j["id"] for j in listed] == [job["id"]]
        camera = client.get("/api/camera").json()
        assert camera["connected"] and camera["model"] == "Nikon DSC D750"
        assert camera["battery"] == "50%" and camera["settings"]["shutterspeed"].endswith("s")
        assert camera["busy"] is False

    # the images sit beside the database, in the shoot_pair session folders, with their sidecars
    sidecars = list((service.out_dir / "jobs" / job["id"]).glob("*/session.json"))
    assert len(sidecars) == 2 and (service.out_dir / "jobs.sqlite").is_file()
    assert json.loads(sidecars[0].read_text())["camera"]["model"] == "Nikon DSC D750"


def job_states(stream: httpx.Response, job_id: str) -> Iterator[str]:
    """The state of ``job_id`` in each ``event: jobs`` of a server-sent event stream."""
    for line in stream.iter_lines():
        if line.startswith("data: "):
            jobs = {j["id"]: j for j in json.loads(line[6:])["jobs"]}
            if job_id in jobs:
                yield jobs[job_id]["state"]


def test_event_stream_reports_progress_to_done(service: Service) -> None:
    events = f"{service.url}/api/events?token={service.token}"
    with service.client() as client:
        with httpx.stream("GET", events, timeout=30) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            job_id = client.post("/api/shoot", json={"ratio": 4}).json()["id"]
            states = []
            for state in job_states(stream, job_id):
                states.append(state)
                if state in ("done", "failed"):
                    break
        assert states[-1] == "done" and states.count("done") == 1


def test_client_leaving_mid_job_loses_nothing(tmp_path: Path, virtual_camera: Path) -> None:
    gate = GatedCapture()
    with running_service(tmp_path / "out", capture=gate) as svc, svc.client() as client:
        events = f"{svc.url}/api/events?token={svc.token}"
        try:
            with httpx.stream("GET", events, timeout=30) as stream:
                job_id = client.post("/api/shoot", json={"ratio": 8}).json()["id"]
                assert next(job_states(stream, job_id)) == "capturing"
            # the stream is closed (the phone went to sleep); the job goes on
        finally:
            gate.release.set()
        done = svc.wait(job_id)
        assert done["state"] == "done", done["error"]
        with httpx.stream("GET", events, timeout=30) as stream:  # a new stream replays it
            assert next(job_states(stream, job_id)) == "done"


def test_capture_failure_is_recorded_and_camera_absence_reported(tmp_path: Path) -> None:
    absent = lambda: ScriptedBackend(script=CameraScript(present=False))  # noqa: E731
    with running_service(tmp_path / "out", open_camera=absent) as svc, svc.client() as client:
        camera = client.get("/api/camera").json()
        assert camera["connected"] is False and "no camera" in camera["error"]
        job = svc.wait(client.post("/api/shoot", json={}).json()["id"])
        assert job["state"] == "failed" and job["error"].startswith("capture failed: no camera")
        # the camera is free again: the next shot is accepted
        assert client.post("/api/shoot", json={"ratio": 2}).status_code == 202


def test_thumbnail_os_error_does_not_leave_the_job_stuck(tmp_path: Path,
                                                         virtual_camera: Path) -> None:
    """A real OSError while thumbnailing (a file sits where the thumbs folder goes): the job still
    finishes, only without previews."""

    def capture_then_block_thumbs(camera: CameraBackend, params: ShootParams, job_dir: Path,
                                  progress: ProgressFn) -> list[CapturedPair]:
        pairs = list(shoot_pairs(camera, params, job_dir, progress))
        (job_dir / ".thumbs").write_text("not a folder")  # mkdir of .thumbs/ raises FileExistsError
        return pairs

    with running_service(tmp_path / "out", capture=capture_then_block_thumbs) as svc, \
            svc.client() as client:
        job = svc.wait(client.post("/api/shoot", json={"ratio": 8}).json()["id"], timeout_s=15)
        assert job["state"] == "done", job
        assert client.get(job["pairs"][0]["result_url"]).status_code == 200
        assert client.get(f"/api/jobs/{job['id']}/thumbnail/short").status_code == 404


def test_shutdown_waits_for_the_running_processing(tmp_path: Path, virtual_camera: Path) -> None:
    """The server stops while a pair is being fused (held at the processing boundary): the store
    stays open until the fusion ends, so its result is recorded."""
    started, release = threading.Event(), threading.Event()

    def gated_fuse(pair: CapturedPair, ratio: float, out_path: Path, progress: ProgressFn) -> Path:
        started.set()
        assert release.wait(30)
        return tiny_fuse()(pair, ratio, out_path, progress)

    out = tmp_path / "out"
    with running_service(out, process=gated_fuse) as svc, svc.client() as client:
        job_id = client.post("/api/shoot", json={"ratio": 8}).json()["id"]
        assert started.wait(15)
        threading.Timer(0.5, release.set).start()  # fusion ends after the stop has begun
    with running_service(out) as svc, svc.client() as client:
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["state"] == "done", job
        assert client.get(job["pairs"][0]["result_url"]).status_code == 200


# -- security ---------------------------------------------------------------------------------------

def test_every_api_call_needs_the_token(service: Service) -> None:
    mode = stat.S_IMODE((service.out_dir / "service-token").stat().st_mode)
    assert mode == 0o600 and len(service.token) >= 40
    with service.client() as client:
        job = service.wait(client.post("/api/shoot", json={"ratio": 8}).json()["id"])
    result = job["pairs"][0]["result_url"]
    calls = [("POST", "/api/shoot"), ("GET", "/api/jobs"), ("GET", f"/api/jobs/{job['id']}"),
             ("GET", result), ("GET", job["pairs"][0]["thumbnail_urls"]["short"]),
             ("GET", "/api/camera"), ("GET", "/api/events")]
    with httpx.Client(base_url=service.url, timeout=10) as anonymous:
        for method, url in calls:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": service.token}):
                response = anonymous.request(method, url, headers=headers, json={"ratio": 8})
                assert response.status_code == 401, (method, url, headers)
                assert "token" in response.json()["detail"]
        # ?token= is accepted for thumbnails and the event stream only (not the full-size result)
        assert anonymous.get(f"/api/jobs?token={service.token}").status_code == 401
        assert anonymous.get(f"{result}&token={service.token}").status_code == 401  # header only
        assert anonymous.get(f"{result}&token=wrong").status_code == 401
        # the page itself and the API docs are public (they hold no secret)
        assert anonymous.get("/").status_code == 200
        assert anonymous.get("/docs").status_code == 200
        assert "bearer" in anonymous.get("/openapi.json").text.lower()


def test_api_docs_load_only_local_files(service: Service) -> None:
    """/docs (Swagger UI) references no CDN: every script, style and icon URL is served by the
    service itself, so the page works on a network without internet. /redoc (whose script fetches a
    CDN logo) is not served."""
    with httpx.Client(base_url=service.url, timeout=10) as anonymous:
        assert anonymous.get("/redoc").status_code == 404
        for page, script in (("/docs", "SwaggerUIBundle"),):
            html = anonymous.get(page).raise_for_status().text
            urls = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html)
            scripts = re.findall(r'<script[^>]*src=["\']([^"\']+)["\']', html)
            assert scripts, f"{page} has no script"
            assert "http" not in html.replace(service.url, ""), f"{page} names a remote URL"
            for url in urls:
                assert url.startswith("/") and not url.startswith("//"), (page, url)
                assert anonymous.get(url).status_code == 200, (page, url)
            js = anonymous.get(scripts[0])
            assert "javascript" in js.headers["content-type"] and script in js.text[:100_000]
        assert anonymous.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_token_survives_restart_and_is_refused_when_world_readable(tmp_path: Path) -> None:
    from burstcap.service.auth import load_or_create_token

    path = tmp_path / "out" / "service-token"
    first = load_or_create_token(path)
    assert load_or_create_token(path) == first and path.read_text() == first + "\n"
    os.chmod(path, 0o644)
    with pytest.raises(BurstcapError, match="service-token.*other users.*chmod 600"):
        create_app(ServiceConfig(out_dir=path.parent), GPhoto2Backend, shoot_pairs, tiny_fuse())


def test_one_service_per_output_folder(tmp_path: Path) -> None:
    with running_service(tmp_path / "out", open_camera=ScriptedBackend):
        with pytest.raises(BurstcapError, match="in use by another burstcap service"):
            create_app(ServiceConfig(out_dir=tmp_path / "out"), ScriptedBackend, shoot_pairs,
                       tiny_fuse())
    # released when the server stops
    with running_service(tmp_path / "out", open_camera=ScriptedBackend):
        pass


def test_traversal_attempts_are_refused(service: Service, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    with service.client() as client:
        job = service.wait(client.post("/api/shoot", json={"ratio": 8}).json()["id"])
        jid = job["id"]
        attempts = [
            "/api/jobs/..%2F..%2F..%2Fetc%2Fpasswd/result",
            "/api/jobs/%2e%2e%2f%2e%2e%2fjobs.sqlite/result",
            f"/api/jobs/{jid}%2F..%2F..%2Fservice-token/result",
            f"/api/jobs/{jid}/thumbnail/..%2F..%2F..%2Fservice-token",
            f"/api/jobs/{jid}/thumbnail/%2Fetc%2Fpasswd",
            f"/api/jobs/{jid}/result?pair=-1",
            f"/api/jobs/{jid}/result?pair=..%2F..%2Fservice-token",
            f"/api/jobs/{jid}/result?pair=1",
            "/static/..%2F..%2Fservice%2Fauth.py",
            "/static/%2e%2e/%2e%2e/pyproject.toml",
            "/api/jobs/" + "0" * 32 + "/result",
        ]
        for url in attempts:
            response = client.get(url)
            assert response.status_code in (404, 422), (url, response.status_code)
            assert "TOP-SECRET" not in response.text and service.token not in response.text
        # a raw, un-normalised path straight to the socket
        raw = httpx.Request("GET", f"{service.url}/static/../../../etc/passwd")
        raw.url = raw.url.copy_with(raw_path=b"/static/../../../etc/passwd")
        assert client.send(raw).status_code == 404

        # a result file replaced by a symlink leading out of the output folder
        result = service.out_dir / "jobs" / jid / "fused_00.jpg"
        result.unlink()
        result.symlink_to(secret)
        response = client.get(job["pairs"][0]["result_url"])
        assert response.status_code == 404 and "TOP-SECRET" not in response.text

        # a tampered record pointing outside the output folder is refused too
        with sqlite3.connect(service.out_dir / "jobs.sqlite") as db:
            record = json.loads(db.execute("SELECT record FROM jobs WHERE id=?", (jid,)).fetchone()[0])
            record["pairs"][0]["thumbnails"]["short"] = str(secret)
            record["pairs"][0]["thumbnails"]["long"] = "../../secret.txt"
            db.execute("UPDATE jobs SET record=? WHERE id=?", (json.dumps(record), jid))
        for kind in ("short", "long"):
            response = client.get(f"/api/jobs/{jid}/thumbnail/{kind}")
            assert response.status_code == 404 and "TOP-SECRET" not in response.text


def test_bad_requests_get_clear_422_and_413(service: Service) -> None:
    cases = [({"ratio": 1}, "ratio"), ({"ratio": "1/1"}, "ratio"), ({"ratio": "fast"}, "ratio"), ({"count": 0}, "count"),
             ({"count": 11}, "count"), ({"count": 1.5}, "count"), ({"shutter": "1/8"}, "shutter"),
             ({"long_exposure_s": -1}, "long_exposure_s")]
    with service.client() as client:
        for body, field in cases:
            response = client.post("/api/shoot", json=body)
            assert response.status_code == 422, body
            assert field in response.json()["detail"] and response.json()["errors"]
        response = client.post("/api/shoot", content=b"{not json",
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        response = client.post("/api/shoot", json={"ratio": 8, "pad": "x" * 50_000})
        assert response.status_code == 413 and "larger than" in response.json()["detail"]

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
            yield b'{"ratio": 8, "pad": "'
            yield from (b"x" * 1000 for _ in range(50))
            yield b'"}'

        response = client.post("/api/shoot", content=chunked(),
                                headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and "larger than" in response.json()["detail"]
        assert client.get("/api/jobs?limit=0").status_code == 422
        assert client.get("/api/jobs").json()["jobs"] == []  # nothing was started


# -- one capture at a time ---------------------------------------------------------------------------

def test_second_shoot_while_capturing_gets_409(tmp_path: Path, virtual_camera: Path) -> None:
    gate = GatedCapture()
    with running_service(tmp_path / "out", capture=gate) as svc, svc.client() as client:
        try:
            first = client.post("/api/shoot", json={"ratio": 8})
            assert first.status_code == 202
            assert gate.started.wait(10)
            second = client.post("/api/shoot", json={"ratio": 4})
            assert second.status_code == 409
            assert first.json()["id"] in second.json()["detail"]
            assert "busy" in second.json()["detail"]
            camera = client.get("/api/camera").json()  # the camera is not touched mid-capture
            assert camera["busy"] is True
        finally:
            gate.release.set()
        assert svc.wait(first.json()["id"])["state"] == "done"
        third = client.post("/api/shoot", json={"ratio": 2})
        assert third.status_code == 202
        assert svc.wait(third.json()["id"])["state"] == "done"
        assert gate.calls == 2
        assert len(client.get("/api/jobs").json()["jobs"]) == 2


# -- persistence --------------------------------------------------------------------------------------

def test_restart_keeps_the_job_history(tmp_path: Path, virtual_camera: Path) -> None:
    out = tmp_path / "out"
    with running_service(out) as svc, svc.client() as client:
        job = svc.wait(client.post("/api/shoot", json={"ratio": 8}).json()["id"])
        before = client.get(job["pairs"][0]["result_url"]).content
    with running_service(out) as svc, svc.client() as client:
        jobs = client.get("/api/jobs").json()["jobs"]
        assert [j["id"] for j in jobs] == [job["id"]] and jobs[0]["state"] == "done"
        assert client.get(job["pairs"][0]["result_url"]).content == before


CRASHING_SERVER = """
    import sys, time
    from pathlib import Path
    from burstcap.camera.scripted import ScriptedBackend
    from burstcap.service import BackgroundServer, ServiceConfig, create_app

    def capture(camera, params, job_dir, progress):
        progress(0.5, "exposing")
        time.sleep(60)
        return []

    app = create_app(ServiceConfig(out_dir=Path(sys.argv[1])), ScriptedBackend, capture,
                     lambda *args: None)
    with BackgroundServer(app) as server:
        print(server.url, flush=True)
        time.sleep(60)
"""


def test_job_running_when_the_server_died_is_marked_failed(tmp_path: Path) -> None:
    """The server process is killed (SIGKILL) mid-capture; the next start marks the job failed."""
    out = tmp_path / "out"
    with script_server(CRASHING_SERVER, out) as (url, headers):
        job_id = httpx.post(f"{url}/api/shoot", json={}, headers=headers).json()["id"]
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/api/jobs/{job_id}", headers=headers).json()["stage"] != "exposing":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with running_service(out) as svc, svc.client() as client:
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["state"] == "failed" and "server stopped" in job["error"]
        assert "capturing" in job["error"] and job["finished"] is not None


# -- the command -------------------------------------------------------------------------------------

def test_serve_command_prints_token_url_and_qr_and_serves(tmp_path: Path,
                                                          virtual_camera: Path) -> None:
    out = tmp_path / "out"
    proc = serve_command(out)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("burstcap: serving") and "http://127.0.0.1:" in lines[0]
        url = lines[1].split(": ", 1)[1].strip()
        token = (out / "service-token").read_text().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith(f"/#token={token}")
        assert "█" in proc.stdout.readline() + proc.stdout.readline()  # the QR code
        base = url.split("/#")[0]
        page = first_page(base)
        assert page.status_code == 200 and "shutter" in page.text
        camera = httpx.get(base + "/api/camera", headers={"Authorization": f"Bearer {token}"})
        assert camera.json()["model"] == "Nikon DSC D750"
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a graceful stop
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "warning" not in err.lower()


def test_serve_command_refuses_a_taken_port_in_one_line(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    from burstcap.cli import main

    with BackgroundServer(create_app(ServiceConfig(out_dir=tmp_path / "a"), GPhoto2Backend,
                                     shoot_pairs, tiny_fuse())) as taken:
        code = main(["serve", "--port", str(taken.port), "--out", str(tmp_path / "b"), "--no-qr"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"burstcap: error: cannot listen on 127.0.0.1:{taken.port}: ")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("case", ["port 70000", "toml port string", "out under a file",
                                  "token under a file"])
def test_serve_command_bad_input_is_one_line(case: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    from burstcap.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    toml = tmp_path / "serve.toml"
    args = {"port 70000": ["--port", "70000"],
            "toml port string": ["--config", str(toml)],
            "out under a file": ["--out", str(blocker / "out")],
            "token under a file": ["--token-file", str(blocker / "token")]}[case]
    toml.write_text('[serve]\nport = "8000"\n')
    expected = {"port 70000": "cannot listen on 127.0.0.1:70000: the port must be 0..65535",
                "toml port string": "serve.toml: [serve] port must be an integer, not '8000'",
                "out under a file": "a-file/out: cannot create the output folder",
                "token under a file": "a-file/token: cannot read or create the token file"}[case]
    port = [] if case == "port 70000" else ["--port", "0"]
    code = main(["serve", *port, "--out", str(tmp_path / "out"), "--no-qr", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("burstcap: error: ") and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_warns_beyond_loopback_and_reads_toml(tmp_path: Path) -> None:
    from burstcap.commands.serve import exposure_warning, phone_url
    from burstcap.service.config import load_config

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert exposure_warning(ServiceConfig(host=host), 8000) is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "camera.local"):
        assert "warning: listening on" in exposure_warning(ServiceConfig(host=host), 8000)
    assert phone_url(ServiceConfig(), 8000, "abc") == "http://127.0.0.1:8000/#token=abc"
    toml = tmp_path / "serve.toml"
    toml.write_text('[serve]\nhost = "0.0.0.0"\nport = 9000\nout_dir = "shots"\n')
    assert load_config(toml) == ServiceConfig(host="0.0.0.0", port=9000, out_dir=Path("shots"))
    toml.write_text('[serve]\nbogus = 1\n')
    with pytest.raises(BurstcapError, match="serve.toml: unknown setting \\[serve\\] bogus"):
        load_config(toml)
    for line, message in [("history = true", "history must be an integer, not True"),
                          ("thumbnail_px = 1.5", "thumbnail_px must be an integer, not 1.5"),
                          ("host = 1", "host must be a string, not 1"),
                          ("out_dir = []", "out_dir must be a string, not []"),
                          ("access_log = 1", "access_log must be true or false, not 1"),
                          ("port = 70000", "port must be 0..65535, not 70000")]:
        toml.write_text(f"[serve]\n{line}\n")
        with pytest.raises(BurstcapError) as info:
            load_config(toml)
        assert str(info.value) == f"{toml}: [serve] {message}"
    toml.write_text("[serve]\nevent_interval_s = 1\n")
    assert load_config(toml).event_interval_s == 1.0


def test_one_ratio_convention_api_and_cli(tmp_path: Path, virtual_camera: Path) -> None:
    """{"ratio": 8}, {"ratio": "1/8"}, {"ratio": "8"} and {"ratio": 0.125} shoot the same pair on the
    virtual camera (the same request reaches the camera, the sidecars agree), and `burstcap shoot
    --ratio 8` means what `--ratio 1/8` means."""
    from burstcap.commands.shoot import parse_ratio

    asked: list[float] = []

    def recording(camera, params, job_dir, progress):
        asked.append(params.ratio)
        yield from shoot_pairs(camera, params, job_dir, progress)

    with running_service(tmp_path / "out", capture=recording) as svc, svc.client() as client:
        sidecars = []
        for ratio in (8, "1/8", "8", 0.125):
            job = svc.wait(client.post("/api/shoot", json={"ratio": ratio}).raise_for_status().json()["id"])
            assert job["state"] == "done" and job["ratio"] == 8.0, (ratio, job)
            (side,) = (svc.out_dir / "jobs" / job["id"]).rglob("session.json")
            sidecars.append(json.loads(side.read_text())["request"])
    assert asked == [8.0] * 4
    assert all(s == sidecars[0] for s in sidecars)
    assert parse_ratio("8") == parse_ratio("1/8") == parse_ratio("0.125") == 0.125
