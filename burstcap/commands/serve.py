"""`burstcap serve`: the HTTP service and phone page (see docs/service.md)."""

from __future__ import annotations

import argparse
import io
import ipaddress
import socket
import sys
from dataclasses import replace
from pathlib import Path

from burstcap.commands.options import add_model_arguments, fuse_options_from_args
from burstcap.service.config import ServiceConfig, load_config

EPILOG = """\
examples:
  burstcap serve                                   # http://127.0.0.1:8000, files in ./burstcap-output
  burstcap serve --host 0.0.0.0 --out ~/shots      # reachable from a phone on the same network

With --host 0.0.0.0 the URL and QR code carry this machine's LAN address; on loopback (the default)
a phone cannot open them, and serve says so in one line.

The first start writes a random access token to OUT/service-token (mode 0600) and prints a URL
carrying it (plus a QR code): open that URL on the phone. Every /api call needs
'Authorization: Bearer TOKEN'; the event stream and image URLs also accept '?token=TOKEN'.
API documentation: http://HOST:PORT/docs.
Settings can also come from a TOML file (--config) with a [serve] table, e.g.
  [serve]
  host = "0.0.0.0"
  out_dir = "/srv/shots"
Options given on the command line override the file.
"""


def register(sub: argparse._SubParsersAction) -> None:
    d = ServiceConfig()
    p = sub.add_parser(
        "serve", help="run the HTTP service and phone page (shoot and fuse from a browser)",
        description="Serve a JSON API (/api, docs at /docs) and a phone page (/) that shoot "
                    "short/long pairs on the tethered camera and fuse them in the background. "
                    "One capture runs at a time; job records persist in OUT/jobs.sqlite.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=None,
                   help=f"address to listen on (default {d.host}: this machine only; 0.0.0.0 for "
                        "every interface, with a warning)")
    p.add_argument("--port", type=int, default=None, help=f"TCP port (default {d.port}; 0: any free)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"folder for jobs, images, database and token (default ./{d.out_dir})")
    p.add_argument("--token-file", type=Path, default=None, metavar="FILE",
                   help="where the access token is kept (default OUT/service-token)")
    p.add_argument("--config", type=Path, default=None, metavar="TOML",
                   help="read settings from the [serve] table of this TOML file")
    p.add_argument("--backend", default="gphoto2",
                   help="camera backend name from the 'burstcap.backends' entry points (default "
                        "gphoto2: USB cameras through libgphoto2)")
    p.add_argument("--camera", default=None, metavar="MODEL",
                   help="camera model to use when several are attached (default: the first)")
    p.add_argument("--camera-port", default=None, metavar="PORT",
                   help="camera port, e.g. usb:001,005 (default: autodetect)")
    add_model_arguments(p)
    p.add_argument("--format", default="jpg", choices=("jpg", "png", "tif", "dng"),
                   help="format of fused images (default jpg, which phones display; dng: a linear DNG "
                        "for a raw developer, previewed on the page)")
    p.add_argument("--access-log", action="store_true", default=None,
                   help="log every request (off by default: image URLs carry the token)")
    p.add_argument("--no-qr", action="store_true", help="do not print the QR code")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> ServiceConfig:
    """ServiceConfig: defaults, then the TOML file, then command-line options."""
    config = load_config(args.config) if args.config else ServiceConfig()
    given = {"host": args.host, "port": args.port, "out_dir": args.out, "token_file": args.token_file,
             "access_log": args.access_log}
    return replace(config, **{k: v for k, v in given.items() if v is not None})


def phone_url(config: ServiceConfig, port: int, token: str) -> str:
    """The URL to open on the phone; the token is in the fragment, which browsers never send."""
    host = config.host
    if host in ("0.0.0.0", "::", ""):
        host = _lan_address()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/#token={token}"


def reachability_note(config: ServiceConfig, url: str) -> str | None:
    """One line when a phone cannot open ``url`` (the service listens on loopback only, or no LAN
    address was found), saying how to fix it; None when the URL carries a LAN address."""
    if config.loopback_only:
        return (f"burstcap: note: listening on {config.host} (this machine only): a phone cannot open "
                "this URL; start with --host 0.0.0.0 to serve the local network")
    host = url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
    try:
        usable = not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: the machine found no LAN address of its own
        usable = False
    if not usable:
        return (f"burstcap: note: no LAN address found (using {host}): a phone may not reach it; "
                "connect this machine to the phone's network, or give its address with --host")
    return None


def exposure_warning(config: ServiceConfig, port: int) -> str | None:
    """The warning printed when the service listens beyond this machine (None on loopback)."""
    if config.loopback_only:
        return None
    return (f"burstcap: warning: listening on {config.host}:{port}, beyond this machine: anyone on "
            "the network who gets the token can use the camera (there is no TLS)")


def _lan_address() -> str:
    """This machine's address on its default route (no packet is sent), else its hostname."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return socket.gethostname()


def qr_text(data: str) -> str:
    """A QR code of ``data`` drawn with block characters, for the terminal."""
    import qrcode

    qr = qrcode.QRCode(border=1)
    qr.add_data(data)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def run(args: argparse.Namespace) -> int:
    from burstcap.service.server import bind_socket

    config = config_from_args(args)
    sock = bind_socket(config.host, config.port)  # a taken port fails before the slow imports
    try:
        return _serve(args, config, sock)
    finally:
        sock.close()


def _serve(args: argparse.Namespace, config: ServiceConfig, sock: socket.socket) -> int:
    import uvicorn

    from burstcap.camera.registry import create_backend, load_backend
    from burstcap.service.app import create_app
    from burstcap.service.auth import load_or_create_token
    from burstcap.service.steps import fuse_step, shoot_pairs
    from deblurnet.inference import describe_device, resolve_device

    load_backend(args.backend)  # unknown backend: fail now, not at the first shot
    options = fuse_options_from_args(args)  # --config here is the [serve] table, not [fuse]
    app = create_app(config,
                     open_camera=lambda: create_backend(args.backend, camera=args.camera,
                                                        port=args.camera_port),
                     capture=shoot_pairs, process=fuse_step(options, args.format))
    port = sock.getsockname()[1]
    token = load_or_create_token(config.token_path)
    url = phone_url(config, port, token)
    warning = exposure_warning(config, port)
    if warning:
        print(warning, file=sys.stderr)
    print(f"burstcap: serving {config.out_dir.resolve()} on http://{config.host}:{port} "
          f"(API docs at /docs, token in {config.token_path})")
    print(f"Open on the phone: {url}")
    note = reachability_note(config, url)
    if note:
        print(note, file=sys.stderr)
    if not args.no_qr:
        print(qr_text(url))
    print(f"fusion: {options.model} on {describe_device(resolve_device(options.device))}")
    sys.stdout.flush()
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=config.access_log,
                                           timeout_graceful_shutdown=3))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    print("burstcap: server stopped")
    return 0
