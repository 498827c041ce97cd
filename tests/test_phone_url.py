"""`burstcap serve` URL and QR code: the LAN address with --host 0.0.0.0, and one line saying when a
phone cannot open the URL (loopback only, or no LAN address found) and how to fix it."""

from __future__ import annotations

import pytest

from burstcap.commands import serve
from burstcap.service.config import ServiceConfig


def test_loopback_says_a_phone_cannot_open_it() -> None:
    config = ServiceConfig(host="127.0.0.1")
    url = serve.phone_url(config, 8000, "tok")
    assert url == "http://127.0.0.1:8000/#token=tok"
    note = serve.reachability_note(config, url)
    assert note is not None and "phone cannot open" in note and "--host 0.0.0.0" in note
    assert "\n" not in note


def test_all_interfaces_use_the_lan_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "_lan_address", lambda: "192.168.1.20")
    config = ServiceConfig(host="0.0.0.0")
    url = serve.phone_url(config, 8000, "tok")
    assert url == "http://192.168.1.20:8000/#token=tok"  # what the QR code encodes
    assert serve.reachability_note(config, url) is None


def test_no_lan_address_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "_lan_address", lambda: "buildbox")
    config = ServiceConfig(host="0.0.0.0")
    note = serve.reachability_note(config, serve.phone_url(config, 8000, "tok"))
    assert note is not None and "no LAN address" in note and "buildbox" in note
