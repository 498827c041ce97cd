"""The phone page in a real browser: Debian's Chromium driven by Playwright at a phone viewport.

The service behind it is the real one on 127.0.0.1 with libgphoto2's virtual camera. The camera
serves a real photo (Kodak kodim23 at 384x256) when ../shared/data is there, else the generated frame
of test_service.py; processing is the real fusion step with the shipped deblur-rnn weights. The test takes a
screenshot; with BURSTCAP_SCREENSHOT=PATH it also writes it there (`make screenshot` remakes
docs/phone-screenshot.png), so a test run never edits the checkout. Skips when /usr/bin/chromium is
absent (apt-get install chromium).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from burstcap.fuse import FuseOptions
from burstcap.service import ProcessFn
from burstcap.service.steps import fuse_step
from isp.atomic import atomic_path
from conftest import shared_data_dir
from test_service import Service, running_service, virtual_camera  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.camera, pytest.mark.timeout(120),
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason=f"{CHROMIUM} is absent (apt-get install chromium)")]


def use_real_photo(camera_folder: Path) -> None:
    """Let the virtual camera serve a real photo instead of the generated frame, when available."""
    photo = shared_data_dir() / "kodak24" / "kodim23.png"
    if photo.is_file():
        image = cv2.resize(cv2.imread(str(photo)), (384, 256), interpolation=cv2.INTER_AREA)
        assert cv2.imwrite(str(camera_folder / "IMG_0001.JPG"), image)


def best_fuse() -> ProcessFn:
    """The shipped deblur-rnn weights (the test skips when the package lacks them, rather than
    showing an untrained network's picture)."""
    from deblurnet.inference import shipped_weights

    if not shipped_weights("deblur-rnn").is_file():
        pytest.skip(f"the shipped weights {shipped_weights('deblur-rnn')} are absent")
    return fuse_step(FuseOptions(model="deblur-rnn", device="cpu"), out_format="jpg")


@pytest.fixture
def phone(tmp_path: Path, virtual_camera: Path) -> Iterator[tuple[object, Service]]:  # noqa: F811
    """A phone-sized Chromium page and a running service."""
    from playwright.sync_api import sync_playwright

    use_real_photo(virtual_camera)
    with running_service(tmp_path / "out", process=best_fuse()) as svc, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                          has_touch=True)
            yield context.new_page(), svc
        finally:
            browser.close()


def test_phone_page_shoots_and_shows_the_fused_result(phone, tmp_path: Path) -> None:
    page, svc = phone
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{svc.url}/#token={svc.token}")
    page.wait_for_function("document.getElementById('camera').textContent.includes('D750')")
    assert svc.token not in page.url  # moved to sessionStorage, out of the address bar
    # fits the phone: no horizontal scrolling, big shutter
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("#shutter").bounding_box()
    assert box["width"] >= 96 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

    page.locator("label:has-text('×4')").tap()
    page.locator("#shutter").tap()
    page.wait_for_function(
        "[...document.querySelectorAll('#gallery img.result')]"
        ".some(img => img.complete && img.naturalWidth > 0)", timeout=60_000)
    page.wait_for_function("document.getElementById('status-text').textContent.startsWith('Done')")
    assert "×4" in page.locator("#status-text").text_content()
    assert page.locator("#gallery li").count() == 1
    assert page.evaluate("[...document.querySelectorAll('#gallery img')]"
                         ".every(img => img.naturalWidth > 0)")  # result + short + long previews
    figures = page.locator("#gallery .figures").text_content()  # the shot's report, key figures
    assert "ratio" in figures and "guard" in figures and "deblur-rnn on cpu" in figures
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not errors

    # the full-size image opens in a new tab as a blob: URL fetched with the header (no token in
    # the tab's address, hence none in the browser history)
    with page.context.expect_page() as opened:
        page.locator("#gallery a").first.tap()
    full = opened.value
    full.wait_for_url(lambda url: url.startswith("blob:"), wait_until="commit")
    assert svc.token not in full.url
    full.wait_for_function("document.images.length === 1 && document.images[0].naturalWidth > 0")
    full.close()

    page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path / "phone.png"
    page.screenshot(path=str(shot))
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[1] == 2 * PHONE["width"] and image.std() > 10  # x device scale
    if target := os.environ.get("BURSTCAP_SCREENSHOT"):
        with atomic_path(target) as tmp:
            shutil.copyfile(shot, tmp)


def test_page_without_token_explains_how_to_get_one(phone) -> None:
    page, svc = phone
    page.goto(svc.url + "/")
    assert page.locator("#token-missing").is_visible()
    assert page.locator("#shutter").is_disabled()


def test_api_docs_render_without_internet(tmp_path: Path, virtual_camera: Path) -> None:  # noqa: F811
    """/docs (Swagger UI) renders the API in Chromium with every request that leaves 127.0.0.1
    blocked, as on a phone whose network has no internet."""
    from playwright.sync_api import sync_playwright

    with running_service(tmp_path / "out") as svc, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            remote: list[str] = []

            def only_local(route) -> None:
                if route.request.url.startswith(svc.url):
                    route.continue_()
                else:
                    remote.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.goto(f"{svc.url}/docs")  # Swagger UI lists the operations
            page.wait_for_selector('.opblock-summary-path[data-path="/api/shoot"]', timeout=30_000)
            assert remote == []
        finally:
            browser.close()
