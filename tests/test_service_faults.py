"""The service under faults and hostile use (issue 14): a full disk, a camera that vanishes mid-job,
leftovers of a killed run, weak tokens, and the token leaking into responses or logs.

Real uvicorn on 127.0.0.1, libgphoto2's virtual camera, the real fusion step (untrained network),
real files; the full disk is a real tmpfs mounted by the test (skipped where mounting is not allowed).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from burstcap.camera.backend import CameraDisconnectedError, CameraFile
from burstcap.camera.gphoto import GPhoto2Backend
from burstcap.camera.scripted import CameraScript, ScriptedBackend
from burstcap.errors import BurstcapError
from burstcap.service import ServiceConfig, create_app
from burstcap.service.steps import shoot_pairs
from servers import first_page, script_server, serve_command
from test_service import running_service, tiny_fuse, virtual_camera  # noqa: F401 - fixture

pytestmark = pytest.mark.camera


# -- a full disk ---------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Path:
    """A real 3 MB tmpfs mounted for the test (root only; skipped with the reason elsewhere)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command (Debian package mount)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """A filler file taking every free byte of ``folder``'s filesystem."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    return filler


def test_full_disk_gives_507_fails_the_job_and_recovers(small_disk: Path,
                                                        virtual_camera: Path) -> None:
    """The output disk fills up between two shots (no reserve configured, so the shot starts): the
    job is failed, not stuck, with a message naming the folder, even though SQLite cannot record
    it either; the next shot gets 507; earlier results still download; once space is freed shooting
    works again, and the failed job's record reaches the database."""
    out = small_disk / "out"
    with running_service(out, min_free_bytes=0) as svc, svc.client() as client:
        first = svc.wait(client.post("/api/shoot", json={"ratio": 8}).json()["id"])
        assert first["state"] == "done", first["error"]
        filler = fill(small_disk)

        response = client.post("/api/shoot", json={"ratio": 8})
        assert response.status_code == 202, response.text
        failed = svc.wait(response.json()["id"])
        assert failed["state"] == "failed"
        assert re.fullmatch(rf"capture failed: {re.escape(str(out))}: no space left on the device "
                            r"writing short_\w+\.JPG \(0 bytes free; it needs about [\d.]+ KB\); "
                            "free some space and try again", failed["error"]), failed["error"]
        assert "Traceback" not in failed["error"] and "requested and" not in failed["error"]

        refused = client.post("/api/shoot", json={"ratio": 8})
        assert refused.status_code == 507, refused.text
        assert "no space left" in refused.json()["detail"] and str(out) in refused.json()["detail"]
        assert "free" in refused.json()["detail"] and "needs about" in refused.json()["detail"]

        states = [job["state"] for job in client.get("/api/jobs").json()["jobs"]]
        assert states == ["failed", "done"]  # nothing stuck capturing or processing
        kept = client.get(first["pairs"][0]["result_url"])
        on_disk = out / "jobs" / first["id"] / "fused_00.jpg"
        assert kept.status_code == 200 and kept.content == on_disk.read_bytes()

        filler.unlink()  # space is back
        response = client.post("/api/shoot", json={"ratio": 8})
        assert response.status_code == 202, response.text
        assert svc.wait(response.json()["id"])["state"] == "done"
    assert [p for p in out.rglob(".*") if p.name != ".thumbs"] == []  # no temp file left behind
    with sqlite3.connect(out / "jobs.sqlite") as db:
        record = db.execute("SELECT record FROM jobs WHERE id = ?", (failed["id"],)).fetchone()[0]
    assert '"state": "failed"' in record and "no space left" in record


# -- a camera that vanishes mid-job ------------------------------------------------------------------

def scene_png() -> bytes:
    """A small textured PNG frame (a gradient and a white square)."""
    y, x = np.mgrid[0:48, 0:64]
    scene = np.stack([x * 3, y * 4, 255 - x - y], axis=-1).clip(0, 255).astype(np.uint8)
    cv2.rectangle(scene, (20, 12), (44, 36), (255, 255, 255), -1)
    return cv2.imencode(".png", scene)[1].tobytes()


class VanishingCamera(ScriptedBackend):
    """A camera unplugged after 16 exposures (8 pairs), faked at the backend boundary: libgphoto2's
    virtual camera declares its card full after 26 captures per process, too few for 10 pairs."""

    def __init__(self) -> None:
        super().__init__(script=CameraScript(captures=[[(f"IMG_{i}.PNG", scene_png())]
                                                       for i in range(20)]))

    def capture(self, timeout_s: float = 30.0) -> list[CameraFile]:
        if self._captured == 16:
            raise CameraDisconnectedError(f"{self.script.model}: the camera was disconnected")
        return super().capture(timeout_s)


def test_pairs_shot_before_the_camera_vanished_are_kept_and_fused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with running_service(out, open_camera=VanishingCamera) as svc, svc.client() as client:
        job = svc.wait(client.post("/api/shoot", json={"ratio": 8, "count": 10}).json()["id"],
                       timeout_s=60)
        assert job["state"] == "failed"
        assert job["error"].startswith("capture failed after 8 of 10 pair(s)"), job["error"]
        assert "disconnected" in job["error"]
        assert len(job["pairs"]) == 8
        for pair in job["pairs"]:  # every kept pair was fused and downloads
            assert client.get(pair["result_url"]).status_code == 200
    # the job folder is also a folder of pairs for `burstcap process`
    listed = subprocess.run([sys.executable, "-m", "burstcap.cli", "process", "--recursive",
                             "--dry-run", str(out / "jobs" / job["id"])],
                            capture_output=True, text=True, check=True).stdout
    assert listed.count("pair  ") == 8, listed


#: A server whose capture shoots 2 real pairs (scripted camera, PNG frames), starts a third (a
#: half-built session folder) and hangs there, to be killed.
HANGING_SERVER = """
    import sys, tempfile, time
    from pathlib import Path
    from burstcap.camera.scripted import CameraScript, ScriptedBackend
    from burstcap.service import BackgroundServer, ServiceConfig, ShootParams, create_app
    from burstcap.service.steps import shoot_pairs

    import cv2, numpy as np

    y, x = np.mgrid[0:48, 0:64]
    scene = np.stack([x * 3, y * 4, 255 - x - y], axis=-1).clip(0, 255).astype(np.uint8)
    cv2.rectangle(scene, (20, 12), (44, 36), (255, 255, 255), -1)
    frame = cv2.imencode(".png", scene)[1].tobytes()
    script = CameraScript(captures=[[(f"IMG_{i}.PNG", frame)] for i in range(4)])

    def capture(camera, params, job_dir, progress):
        yield from shoot_pairs(camera, ShootParams(ratio=8, count=2), job_dir, progress)
        tempfile.mkdtemp(prefix=".20260101-120000.", suffix=".partial", dir=job_dir)
        progress(0.9, "exposing pair 3")
        time.sleep(60)

    app = create_app(ServiceConfig(out_dir=Path(sys.argv[1])), lambda: ScriptedBackend(script=script),
                     capture, lambda *args: None)
    with BackgroundServer(app) as server:
        print(server.url, flush=True)
        time.sleep(60)
"""


def test_pairs_shot_before_a_kill_9_are_kept_and_can_be_fused(tmp_path: Path) -> None:
    """SIGKILL during the third pair of a job: at the next start the job is failed, its two pairs
    are still recorded, the half-built session folder is gone; POST /retry fuses them, and the job
    folder pairs up for `burstcap process` too."""
    out = tmp_path / "out"
    with script_server(HANGING_SERVER, out) as (url, headers):
        job_id = httpx.post(f"{url}/api/shoot", json={"ratio": 8, "count": 3},
                            headers=headers).json()["id"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/api/jobs/{job_id}", headers=headers).json()["stage"] != "exposing pair 3":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert list((out / "jobs" / job_id).glob(".*.partial"))  # what the kill left
    with running_service(out) as svc, svc.client() as client:
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["state"] == "failed" and "server stopped" in job["error"]
        assert len(job["pairs"]) == 2 and job["pairs"][0]["result_url"] is None
        assert list((out / "jobs" / job_id).glob(".*")) == []
        # the phone can have them fused: POST /retry processes the recorded pairs
        response = client.post(f"/api/jobs/{job_id}/retry")
        assert response.status_code == 202, response.text
        assert client.post(f"/api/jobs/{job_id}/retry").status_code == 409  # queued already
        job = svc.wait(job_id)
        assert job["state"] == "failed" and job["error"].startswith("capture failed after 2 of 3")
        for pair in job["pairs"]:
            assert client.get(pair["result_url"]).status_code == 200
        again = client.post(f"/api/jobs/{job_id}/retry")
        assert again.status_code == 409 and "nothing to retry" in again.json()["detail"]
        assert client.post(f"/api/jobs/{'0' * 32}/retry").status_code == 404
    listed = subprocess.run([sys.executable, "-m", "burstcap.cli", "process", "--recursive",
                             "--dry-run", str(out / "jobs" / job_id)],
                            capture_output=True, text=True, check=True).stdout
    assert listed.count("pair  ") == 2, listed


def test_a_killed_runs_temp_files_are_removed_at_the_next_start(tmp_path: Path) -> None:
    out = tmp_path / "out"
    job_dir = out / "jobs" / "0123456789abcdef0123456789abcdef"
    partial = job_dir / ".20260101-120000.k3j_x9a2.partial"
    partial.mkdir(parents=True)
    (partial / "short_IMG_0001.JPG").write_bytes(b"half a frame")
    temp = job_dir / ".fused_00.abcd1234.tmp.jpg"
    temp.write_bytes(b"half an image")
    download = job_dir / ".short_IMG_0001.zz99zz99.part"
    download.write_bytes(b"half a download")
    kept = [job_dir / ".keep", job_dir / "fused_00.jpg"]
    for path in kept:
        path.write_bytes(b"mine")
    create_app(ServiceConfig(out_dir=out), GPhoto2Backend, shoot_pairs, tiny_fuse()).state.store.close()
    assert not partial.exists() and not temp.exists() and not download.exists()
    assert all(path.exists() for path in kept)


# -- the token ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("weak", ["a", "password123", "ab" * 30, "0123456789abcdef"])
def test_a_weak_token_file_is_refused(weak: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(weak + "\n")
    token_file.chmod(0o600)
    with pytest.raises(BurstcapError, match="too weak .* at least 128 needed"):
        create_app(ServiceConfig(out_dir=tmp_path / "out", token_file=token_file), GPhoto2Backend,
                   shoot_pairs, tiny_fuse())


def test_the_token_is_in_no_response_and_no_log_line(tmp_path: Path, virtual_camera: Path) -> None:
    """`burstcap serve --access-log`: shoot, fetch every endpoint (with the header, with ?token=,
    with wrong and malformed input, the token even in the path), stop; no response body or header
    and no log line holds the token (only the start-up line meant for the phone does)."""
    out = tmp_path / "out"
    proc = serve_command(out, "--access-log", "--no-qr")
    responses: list[httpx.Response] = []
    try:
        banner = [proc.stdout.readline() for _ in range(2)]
        token = (out / "service-token").read_text().strip()
        base = banner[1].split(": ", 1)[1].strip().split("/#")[0]
        header = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 20
        responses.append(first_page(base))
        job = httpx.post(base + "/api/shoot", json={"ratio": 8}, headers=header).json()
        responses.append(httpx.get(f"{base}/api/jobs/{job['id']}", headers=header))
        while responses[-1].json()["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline + 60
            time.sleep(0.1)
            responses.append(httpx.get(f"{base}/api/jobs/{job['id']}", headers=header))
        pair = responses[-1].json()["pairs"][0]
        result_url = f"/api/jobs/{job['id']}/result?pair=0"  # asked with ?token=: 401 before a look-up
        responses += [
            httpx.get(f"{base}{pair['thumbnail_urls']['short']}&token={token}"),
            httpx.get(f"{base}{result_url}&token={token}"),  # 401: header only
            httpx.get(f"{base}/api/jobs?token={token}"),
            httpx.get(f"{base}/api/jobs/{token}", headers=header),  # 422, token in the path
            httpx.get(f"{base}/api/jobs?limit={token}", headers=header),  # 422
            httpx.post(f"{base}/api/shoot", json={"ratio": token}, headers=header),  # 422
            httpx.get(base + "/api/camera", headers={"Authorization": f"Bearer {token}x"}),
            httpx.get(base + "/api/jobs", headers=header),
        ]
        with httpx.stream("GET", f"{base}/api/events?token={token}") as events:
            first = next(events.iter_lines())
            assert first.startswith("event: jobs")
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    statuses = [r.status_code for r in responses]
    assert {200, 401, 422} <= set(statuses), statuses
    for response in responses:
        assert token not in response.text and token not in str(response.headers), response.url
    assert banner[1].startswith("Open on the phone:") and token in banner[1]  # the one place
    log = stdout + stderr
    assert "GET /api/jobs/" in log and "token=<redacted>" in log  # the access log was on
    assert token not in log, [line for line in log.splitlines() if token in line]
