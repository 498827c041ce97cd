"""Bounded load on loopback: 50 clients polling job status for 10 s while bursts of 10 simultaneous
shoot requests arrive. Exactly one capture runs per burst (the others get 409), no request fails,
no job or file is lost; the p95 status latency is printed (recorded in docs/service.md).

Server: the real service on uvicorn on a thread of this process (so client and server share the
GIL and the CPU: the latency is pessimistic), libgphoto2's virtual camera, the fast fusion step of
test_service.py. The virtual camera's exposures take no time, so :class:`SlowCapture` adds one second
per capture at the camera boundary (the one fake here), long enough for a burst to hit a busy camera.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from burstcap.camera.backend import CameraBackend
from burstcap.service import ShootParams
from burstcap.service.runner import CapturedPair, ProgressFn
from burstcap.service.steps import shoot_pairs
from test_service import Service, running_service, virtual_camera  # noqa: F401 - fixture

pytestmark = [pytest.mark.slow, pytest.mark.camera, pytest.mark.timeout(120)]

CLIENTS = 50
POLL_S = 10.0
POLL_INTERVAL_S = 0.5  # each client asks twice a second: 100 requests/s offered in all
BURST = 10
P95_LIMIT_MS = 600.0


class SlowCapture:
    """Fake camera timing: each capture takes ``seconds`` longer, then shoots for real."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def __call__(self, camera: CameraBackend, params: ShootParams, job_dir: Path,
                 progress: ProgressFn) -> list[CapturedPair]:
        self.calls += 1
        progress(0.0, "exposing")
        time.sleep(self.seconds)
        return shoot_pairs(camera, params, job_dir, progress)


def client_for(svc: Service) -> httpx.AsyncClient:
    """A client of its own (own connection). ``verify=False``: plain HTTP on loopback, and it
    skips loading the CA bundle, which costs ~100 ms per client and would skew the timings."""
    return httpx.AsyncClient(base_url=svc.url, timeout=10, verify=False,
                             headers={"Authorization": f"Bearer {svc.token}"})


async def poll(svc: Service, until: float, latencies: list[float], failures: list[str]) -> None:
    """One client: GET the job list every POLL_INTERVAL_S (or as soon as the last answer came, when
    slower) until ``until``."""
    async with client_for(svc) as client:
        await asyncio.sleep(random.uniform(0, POLL_INTERVAL_S))  # spread the clients out
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                response = await client.get("/api/jobs?limit=20")
                ok = response.status_code == 200 and "jobs" in response.json()
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            latencies.append(time.perf_counter() - start)
            if not ok:
                failures.append(f"{response.status_code} {response.text[:100]}")
            await asyncio.sleep(max(0.0, POLL_INTERVAL_S - (time.perf_counter() - start)))


async def burst(svc: Service) -> list[httpx.Response]:
    """BURST shoot requests sent together, each from its own client."""
    clients = [client_for(svc) for _ in range(BURST)]
    try:
        return await asyncio.gather(*(c.post("/api/shoot", json={"ratio": 8}) for c in clients))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def scenario(svc: Service) -> tuple[list[float], list[str], list[list[httpx.Response]]]:
    latencies: list[float] = []
    failures: list[str] = []
    until = time.monotonic() + POLL_S
    pollers = [asyncio.create_task(poll(svc, until, latencies, failures)) for _ in range(CLIENTS)]
    await asyncio.sleep(1.0)
    bursts = [await burst(svc)]
    first = next(r.json()["id"] for r in bursts[0] if r.status_code == 202)
    async with client_for(svc) as client:
        while (await client.get(f"/api/jobs/{first}")).json()["state"] == "capturing":
            await asyncio.sleep(0.05)
    bursts.append(await burst(svc))  # the first job may still be processing: this one queues
    await asyncio.gather(*pollers)
    return latencies, failures, bursts


def test_fifty_pollers_and_shoot_bursts(tmp_path: Path, virtual_camera: Path) -> None:  # noqa: F811
    capture = SlowCapture(seconds=1.0)
    with running_service(tmp_path / "out", capture=capture) as svc:
        latencies, failures, bursts = asyncio.run(scenario(svc))
        accepted = []
        for responses in bursts:
            codes = sorted(r.status_code for r in responses)
            assert codes == [202] + [409] * (BURST - 1), codes
            assert all("busy" in r.json()["detail"] for r in responses if r.status_code == 409)
            accepted += [r.json()["id"] for r in responses if r.status_code == 202]
        jobs = [svc.wait(job_id) for job_id in accepted]
        with svc.client() as client:
            listed = client.get("/api/jobs").json()["jobs"]
            assert sorted(j["id"] for j in listed) == sorted(accepted)  # nothing lost, no extra
            for job in jobs:
                assert job["state"] == "done", job["error"]
                for pair in job["pairs"]:
                    for url in [pair["result_url"], *pair["thumbnail_urls"].values()]:
                        assert client.get(url).status_code == 200, url
        assert capture.calls == 2
        on_disk = sorted((svc.out_dir / "jobs").iterdir())
        assert [p.name for p in on_disk] == sorted(accepted)
        for folder in on_disk:  # two frames + sidecar, the result, its report and three previews per job
            sessions = [p for p in folder.iterdir() if (p / "session.json").is_file()]
            assert len(sessions) == 1
            assert len(list(sessions[0].glob("short_*"))) == len(list(sessions[0].glob("long_*"))) == 1
            assert len(list(folder.glob("fused_*.jpg"))) == len(list(folder.glob("fused_*.jpg.json"))) == 1
            assert sorted(p.name for p in (folder / ".thumbs").iterdir()) == [
                "00_long.jpg", "00_result.jpg", "00_short.jpg"]

    assert not failures, failures[:5]
    ms = np.array(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(f"\nload: {CLIENTS} clients polling GET /api/jobs every {POLL_INTERVAL_S} s for {POLL_S:.0f} s "
          f"+ 2 bursts of {BURST} POST /api/shoot: {len(ms)} requests ({len(ms) / POLL_S:.0f}/s served, "
          f"{CLIENTS / POLL_INTERVAL_S:.0f}/s offered), latency p50 {p50:.1f} ms, "
          f"p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {ms.max():.1f} ms, mean "
          f"{statistics.fmean(ms):.1f} ms")
    assert len(ms) > CLIENTS  # every client got answers
    # Latency bounds: generous for a loaded 2-core machine (measured there, with two training
    # processes running: p95 190 ms, 93 requests/s served), tight enough to catch a blocking call on
    # the event loop (a 1 s capture or a fusion there stalls every poller behind it).
    assert p95 < P95_LIMIT_MS, f"p95 latency {p95:.0f} ms (limit {P95_LIMIT_MS} ms)"
    assert len(ms) / POLL_S > 0.6 * CLIENTS / POLL_INTERVAL_S, "the service answered too few polls"
