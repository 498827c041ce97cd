"""The reference process of the whole-command benchmarks: start Python, import torch, build a plain
2.9 M-parameter U-Net and run it once over a 1280x704 image (7 channels in: short, long, noise map).

This is the least a fusion command must do (start, import torch, build a network, run it), so
``burstcap fuse`` is measured as a multiple of it, in the same run on the same machine
(benchmarks/bench_command.py). Prints one JSON line: parameters, threads, seconds of the forward pass.

    python benchmarks/reference_unet.py [--threads N] [--size 1280x704] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

WIDTHS = (16, 32, 64, 128)
"""Channels per level; 2.9 M parameters with a 384-channel bottleneck."""
BOTTLENECK = 384


def block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 convolutions with ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """A plain U-Net: 4 levels of two 3x3 convolutions, max-pool down, transposed convolution up,
    skip connections by concatenation. (B, 7, H, W) -> (B, 3, H, W), H and W multiples of 16."""

    def __init__(self, cin: int = 7, cout: int = 3) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        c = cin
        for width in WIDTHS:
            self.down.append(block(c, width))
            c = width
        self.middle = block(c, BOTTLENECK)
        self.ups = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        c = BOTTLENECK
        for width in reversed(WIDTHS):
            self.ups.append(nn.ConvTranspose2d(c, width, 2, stride=2))
            self.up_blocks.append(block(2 * width, width))
            c = width
        self.out = nn.Conv2d(c, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.middle(x)
        for up, merge, skip in zip(self.ups, self.up_blocks, reversed(skips)):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.out(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--size", default="1280x704")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    model = UNet().eval().to(args.device)
    x = torch.rand(1, 7, height, width, device=args.device)
    start = time.perf_counter()
    with torch.inference_mode():
        model(x)
    if args.device == "cuda":
        torch.cuda.synchronize()
    print(json.dumps({"parameters": sum(p.numel() for p in model.parameters()),
                      "threads": torch.get_num_threads(), "forward_s": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
