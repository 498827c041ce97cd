"""DeblurRNN, DeblurMerger and their discriminator (Zhang, Zhen, Stevenson), as PyTorch modules.

All images are network-domain tensors: (B, 3, H, W) float32, sRGB-encoded, [0, 1] nominal (values
outside are allowed), the short frame already multiplied by the exposure ratio. Every generator also
takes ``noise``, (B, 1, H, W) float32: the per-pixel noise std of that short frame in the same units
(:mod:`deblurnet.noise_map`). Any H x W works: inputs are reflect-padded to a multiple of
``2 ** len(widths)`` and the output is cropped back.

Building blocks follow the paper (section III-A): convolution blocks with kernel 5 and stride 2,
spectral normalisation on every convolution's weight followed by batch normalisation and LeakyReLU (no
norm on the first block); a decoder of transposed-convolution blocks with skip connections from the
encoder and dropout; a ConvLSTM between encoder and decoder. Weights are initialised N(0, 0.02).

Decisions taken where the paper is silent (for quality on a small CPU training budget):

* **Noise-level map** (a deviation from the paper, after Brooks et al. 2019 and FFDNet): the map is
  one more input channel of every net that sees the short frame (DeblurRNN's denoising net: short +
  map; its deblurring net: denoised + long + map; DeblurMerger's short encoder: short + map; both
  full-resolution skips carry it too). The paper's networks must guess the noise level from the image,
  which fails across cameras and ISOs; with the map one set of weights serves all of them, and a
  camera's calibrated profile steers the result without retraining. The map is always the last channel.
* Fig. 2 (channel counts) is not in our text. ``paper`` preset: pix2pix-like widths 64-128-256-512.
  ``compact`` preset: 16-32-64-64 (about 1.4 M parameters for DeblurRNN), fast on a CPU.
* Each generator predicts a residual added to its main input (denoising net: short + residual;
  deblurring net: denoised + residual; DeblurMerger: short + residual), scaled by a learnable gain
  initialised to 0.1 so training starts near the identity.
* A final full-resolution skip: the input images are concatenated to the last decoder features before
  a 3x3 output convolution, because a stride-2-only U-Net loses the finest detail.
* A full-resolution refinement layer (3x3 conv, ``full_res_width`` = 16 channels, LeakyReLU) before
  the output convolution: 28.9 dB against 27.4 dB without it after 200 CPU training steps (GOPRO2
  validation), for ~0.1 s more per 1280x720 pair.
* **A refinement net** (``refine_width`` > 0; a decision beyond the paper, off in the presets): a
  plain residual CNN after DeblurRNN's deblurring net, at half resolution on the pixel-unshuffled
  [sharp, denoised, short, long, noise] (13 channels -> 52), ``REFINE_DEPTH`` 3x3 convolutions of
  ``refine_width`` channels with LeakyReLU, then a 3x3 convolution to 12 channels, pixel-shuffled back
  to a (B, 3, H, W) residual added to the sharp image. Its output convolution starts at zero, so a
  network that gains one computes exactly what it computed before (``checkpoint.load_widened`` adds it
  to trained weights), and it can be trained alone on the frozen rest
  (:meth:`DeblurRNN.freeze_base`). It was added to test whether capacity after the compact nets, with
  all the inputs in view, would tell fine texture from camera grain better; on the data tried it did
  not (docs/training.md, "A refinement net, tried and not shipped"). No BatchNorm (unhelpful at
  batches of 8, NAFNet, Chen et al. 2022) and no spectral norm (for the adversarial loss, which is
  off).
* Linear output (no tanh): the network domain is not clipped to [0, 1] during training.
* Dropout only on the innermost ``dropout_levels`` decoder blocks (pix2pix uses 0.5 on three); the
  ``compact`` preset uses p = 0.1 on one block, since a short training run under-fits rather than
  over-fits.
* The discriminator returns *logits*; D = sigmoid(logits) is applied inside the loss
  (``binary_cross_entropy_with_logits``), which is numerically safe and allowed under autocast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from deblurnet.errors import DeblurnetError

CHANNELS_LAST = torch.channels_last
"""Memory format of the weights and activations: oneDNN runs the 3-output-channel full-resolution
convolution ~10x faster and the whole compact DeblurRNN ~2x faster channels-last on a CPU (measured
with benchmarks/bench_models.py); it is also the fast layout for CUDA mixed precision."""

State = tuple[Tensor, Tensor]
"""ConvLSTM state (hidden, cell), each (B, C, H / 2**L, W / 2**L)."""

LEAK = 0.2
NOISE_CHANNELS = 1
"""Channels of the noise-level map input (:mod:`deblurnet.noise_map`)."""


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """Width and shape of one generator family (both nets of DeblurRNN share it).

    widths: channels of the encoder blocks, from full resolution down; len(widths) = number of stride-2
    levels. lstm_kernel: ConvLSTM kernel size. dropout: probability in the innermost ``dropout_levels``
    decoder blocks. residual_gain: initial value of the learnable residual gain.

    Called ``arch`` throughout (a generator keeps it as ``.arch``); ``config`` is always the plain dict
    stored in checkpoints and weight cards (``.config``: name, preset and these fields).
    """

    widths: tuple[int, ...] = (16, 32, 64, 64)
    kernel: int = 5
    lstm_kernel: int = 3
    dropout: float = 0.1
    dropout_levels: int = 1
    residual_gain: float = 0.1
    batch_norm: bool = True
    full_res_width: int = 16  # > 0: one more 3x3 conv + LeakyReLU at full resolution before the output
    refine_width: int = 0  # > 0: DeblurRNN's refinement net with this many channels (module docstring)
    disc_widths: tuple[int, ...] = (16, 32, 64, 64)

    def __post_init__(self) -> None:
        if not self.widths or any(w <= 0 for w in self.widths):
            raise DeblurnetError(f"widths must be positive channel counts, got {self.widths}")
        if self.kernel % 2 == 0 or self.lstm_kernel % 2 == 0:
            raise DeblurnetError("kernel sizes must be odd")
        if not 0.0 <= self.dropout < 1.0:
            raise DeblurnetError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.refine_width < 0:
            raise DeblurnetError(f"refine_width must be >= 0, got {self.refine_width}")


PRESETS: dict[str, NetConfig] = {
    "compact": NetConfig(),
    "paper": NetConfig(widths=(64, 128, 256, 512), dropout=0.5, dropout_levels=3,
                       disc_widths=(64, 128, 256, 512)),
}


def net_config(preset: str = "compact", **overrides: Any) -> NetConfig:
    """The preset's NetConfig with fields replaced by ``overrides`` (lists become tuples)."""
    if preset not in PRESETS:
        raise DeblurnetError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(NetConfig)}
    unknown = set(overrides) - fields
    if unknown:
        raise DeblurnetError(f"unknown model option(s) {sorted(unknown)}; known: {sorted(fields)}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return dataclasses.replace(PRESETS[preset], **clean)


# ----------------------------------------------------------------------------------------- functional


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad (B, C, H, W) on the bottom/right to multiples of ``multiple``: reflect, or replicate where
    the image is too small to reflect. The result is channels-last (see ``CHANNELS_LAST``)."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x.contiguous(memory_format=torch.channels_last)


def conv_lstm_step(gates: nn.Module, x: Tensor, state: State) -> State:
    """One ConvLSTM step. x: (B, Cin, h, w); state (hidden, cell) each (B, C, h, w); ``gates`` maps
    (B, Cin + C, h, w) to (B, 4C, h, w) (input, forget, candidate, output). Returns the new state."""
    hidden, cell = state
    i, f, g, o = torch.chunk(gates(torch.cat([x, hidden], dim=1)), 4, dim=1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    hidden = torch.sigmoid(o) * torch.tanh(cell)
    return hidden, cell


def init_weights(module: nn.Module) -> None:
    """N(1, 0.02) for norm scales, zero norm biases (pix2pix). Convolutions are initialised in
    ``_sn`` before spectral normalisation wraps them, so its power-iteration vectors match the weights."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# ------------------------------------------------------------------------------------------- blocks


def _sn(layer: nn.Module) -> nn.Module:
    """Weights N(0, 0.02) (the paper), zero bias, then spectral normalisation of the weight."""
    nn.init.normal_(layer.weight, 0.0, 0.02)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return spectral_norm(layer)


def _sn_conv(cin: int, cout: int, kernel: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return _sn(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=bias))


class ConvBlock(nn.Sequential):
    """Stride-2 convolution (kernel k, spectral norm) -> BatchNorm (unless ``norm=False``) -> LeakyReLU.
    (B, cin, H, W) -> (B, cout, H/2, W/2)."""

    def __init__(self, cin: int, cout: int, kernel: int = 5, norm: bool = True) -> None:
        layers: list[nn.Module] = [_sn_conv(cin, cout, kernel, 2, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.LeakyReLU(LEAK, inplace=True))
        super().__init__(*layers)


class UpBlock(nn.Sequential):
    """Stride-2 transposed convolution (kernel k, spectral norm) -> BatchNorm (unless ``norm=False``)
    -> dropout -> LeakyReLU. (B, cin, H, W) -> (B, cout, 2H, 2W)."""

    def __init__(self, cin: int, cout: int, kernel: int = 5, dropout: float = 0.0, norm: bool = True) -> None:
        conv = nn.ConvTranspose2d(cin, cout, kernel, 2, kernel // 2, output_padding=1, bias=not norm)
        layers: list[nn.Module] = [_sn(conv)] + ([nn.BatchNorm2d(cout)] if norm else [])
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.LeakyReLU(LEAK, inplace=True))
        super().__init__(*layers)


class ConvLSTMCell(nn.Module):
    """ConvLSTM (Shi et al. 2015) with spectrally normalised gates. x (B, cin, h, w) + state -> state
    (hidden, cell) each (B, hidden_channels, h, w)."""

    def __init__(self, cin: int, hidden_channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = _sn_conv(cin + hidden_channels, 4 * hidden_channels, kernel)

    def forward(self, x: Tensor, state: State | None = None) -> State:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])
            state = (zeros, zeros)
        return conv_lstm_step(self.gates, x, state)


class Encoder(nn.Module):
    """Stride-2 conv blocks. (B, cin, H, W) -> list of features [(B, widths[i], H/2^(i+1), W/2^(i+1))]."""

    def __init__(self, cin: int, widths: Sequence[int], kernel: int = 5, norm: bool = True) -> None:
        super().__init__()
        chans = [cin, *widths]
        self.blocks = nn.ModuleList(
            ConvBlock(chans[i], chans[i + 1], kernel, norm=norm and i > 0) for i in range(len(widths)))

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class Decoder(nn.Module):
    """Transposed-conv blocks with skips. Takes the bottleneck (B, widths[-1], H/2^L, W/2^L), the skip
    features of ``n_skips`` encoders (level by level) and the full-resolution input images
    (B, cimg, H, W); returns the residual (B, 3, H, W) before the gain."""

    def __init__(self, widths: Sequence[int], n_skips: int, cimg: int, arch: NetConfig) -> None:
        super().__init__()
        levels = len(widths)
        outs = [*reversed(widths[:-1]), widths[0]]  # level L-1 ... 0 output channels
        blocks = []
        cin = widths[-1]
        for j in range(levels):
            dropout = arch.dropout if j < arch.dropout_levels else 0.0
            blocks.append(UpBlock(cin, outs[j], arch.kernel, dropout, arch.batch_norm))
            if j < levels - 1:  # skip from the encoder level of the same size
                cin = outs[j] + n_skips * widths[levels - 2 - j]
        self.blocks = nn.ModuleList(blocks)
        cout = outs[-1] + cimg
        self.refine: nn.Module = nn.Identity()
        if arch.full_res_width > 0:
            self.refine = nn.Sequential(_sn_conv(cout, arch.full_res_width, 3), nn.LeakyReLU(LEAK, inplace=True))
            cout = arch.full_res_width
        self.out = _sn_conv(cout, 3, 3)

    def forward(self, bottleneck: Tensor, skips: Sequence[Sequence[Tensor]], image: Tensor) -> Tensor:
        x = bottleneck
        levels = len(self.blocks)
        for j, block in enumerate(self.blocks):
            x = block(x)
            if j < levels - 1:
                x = torch.cat([x, *(s[levels - 2 - j] for s in skips)], dim=1)
        return self.out(self.refine(torch.cat([x, image], dim=1)))


class RecurrentUNet(nn.Module):
    """One net of DeblurRNN: encoder -> ConvLSTM -> decoder with skips and a full-resolution skip.

    forward(x, state=None) -> (residual (B, 3, H, W), new ConvLSTM state). x: (B, cin, H, W) with H, W
    multiples of 2 ** len(widths). The residual already includes the learnable gain.
    """

    def __init__(self, cin: int, arch: NetConfig) -> None:
        super().__init__()
        self.encoder = Encoder(cin, arch.widths, arch.kernel, arch.batch_norm)
        self.lstm = ConvLSTMCell(arch.widths[-1], arch.widths[-1], arch.lstm_kernel)
        self.decoder = Decoder(arch.widths, 1, cin, arch)
        self.gain = nn.Parameter(torch.tensor(arch.residual_gain))

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        feats = self.encoder(x)
        state = self.lstm(feats[-1], state)
        return self.gain * self.decoder(state[0], [feats], x), state


REFINE_DEPTH = 4
"""3x3 convolutions of the refinement net before its output convolution."""
ADDED_MODULES = ("refiner.",)
"""Prefixes of parameters that weights trained without them may lack: modules whose output starts at
zero, so adding them keeps the function (:func:`deblurnet.checkpoint.load_widened`)."""


class Refiner(nn.Module):
    """Residual refinement net (module docstring): (B, cin, H, W), H and W even -> (B, 3, H, W), zero
    at initialisation. Runs at half resolution on the pixel-unshuffled input."""

    def __init__(self, cin: int, width: int, depth: int = REFINE_DEPTH) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 4 * cin
        for _ in range(depth):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.LeakyReLU(LEAK, inplace=True)]
            c = width
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(width, 12, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.out(self.body(F.pixel_unshuffle(x, 2))), 2)


class DeblurRNN(nn.Module):
    """Sequential fusion: denoising net on the short frame, then a deblurring net on [denoised, long];
    the ConvLSTM state of the denoising net seeds the deblurring net's ConvLSTM. Two sets of weights.

    forward(short, long, noise, return_denoised=True) -> (sharp, denoised) or sharp; all (B, 3, H, W),
    noise (B, 1, H, W). With ``arch.refine_width`` > 0 a refinement net (:class:`Refiner`) corrects the
    deblurring net's output.
    """

    def __init__(self, arch: NetConfig, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.arch = arch
        self.config: dict[str, Any] = config or {"name": "deblur-rnn", **_plain(arch)}
        self.multiple = 2 ** len(arch.widths)
        self.denoise_net = RecurrentUNet(3 + NOISE_CHANNELS, arch)
        self.deblur_net = RecurrentUNet(6 + NOISE_CHANNELS, arch)
        self.refiner = Refiner(12 + NOISE_CHANNELS, arch.refine_width) if arch.refine_width > 0 else None
        self.base_frozen = False
        init_weights(self)
        self.to(memory_format=CHANNELS_LAST)

    def freeze_base(self) -> None:
        """Train only the refinement net: the two nets keep their weights (no gradient) and stay in
        eval mode, so their BatchNorm statistics and dropout are those of inference, whatever
        ``train()`` is called with. DeblurnetError when there is no refinement net."""
        if self.refiner is None:
            raise DeblurnetError("freeze_base needs a refinement net (model option refine_width > 0)")
        self.base_frozen = True
        self.denoise_net.requires_grad_(False)
        self.deblur_net.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> DeblurRNN:
        super().train(mode)
        if self.base_frozen:
            self.denoise_net.eval()
            self.deblur_net.eval()
        return self

    def denoise(self, short: Tensor, noise: Tensor) -> tuple[Tensor, State]:
        """short (B, 3, H, W), noise (B, 1, H, W), H, W multiples of ``self.multiple`` ->
        (denoised (B, 3, H, W), state)."""
        residual, state = self.denoise_net(torch.cat([short, noise], dim=1))
        return short + residual, state

    def deblur(self, denoised: Tensor, long: Tensor, noise: Tensor, state: State | None) -> Tensor:
        """[denoised, long] (B, 3, H, W) each and noise (B, 1, H, W), padded like ``denoise`` ->
        sharp (B, 3, H, W)."""
        residual, _ = self.deblur_net(torch.cat([denoised, long, noise], dim=1), state)
        return denoised + residual

    def forward(self, short: Tensor, long: Tensor, noise: Tensor, return_denoised: bool = True,
                detach_denoised: bool = False) -> tuple[Tensor, Tensor] | Tensor:
        """``detach_denoised``: hand the denoised image and ConvLSTM state to the deblurring net
        without gradient (training with per-net losses, Table I of the paper)."""
        h, w = _check_inputs(short, long, noise)
        noise, short_p = pad_to_multiple(noise, self.multiple), pad_to_multiple(short, self.multiple)
        denoised, state = self.denoise(short_p, noise)
        if detach_denoised:
            hand_over, state = denoised.detach(), (state[0].detach(), state[1].detach())
        else:
            hand_over = denoised
        long_p = pad_to_multiple(long, self.multiple)
        sharp = self.deblur(hand_over, long_p, noise, state)
        if self.refiner is not None:
            sharp = sharp + self.refiner(torch.cat([sharp, hand_over, short_p, long_p, noise], dim=1))
        sharp, denoised = sharp[..., :h, :w].contiguous(), denoised[..., :h, :w].contiguous()
        return (sharp, denoised) if return_denoised else sharp


class DeblurMerger(nn.Module):
    """Parallel fusion: one encoder per frame, bottlenecks concatenated and merged (3x3 conv block),
    one decoder with skips from both encoders; output = short + residual.

    forward(short, long, noise) -> sharp; all (B, 3, H, W), noise (B, 1, H, W).
    """

    def __init__(self, arch: NetConfig, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        if arch.refine_width > 0:
            raise DeblurnetError("refine_width: only DeblurRNN has a refinement net")
        self.arch = arch
        self.config: dict[str, Any] = config or {"name": "deblur-merger", **_plain(arch)}
        self.multiple = 2 ** len(arch.widths)
        c = arch.widths[-1]
        self.short_encoder = Encoder(3 + NOISE_CHANNELS, arch.widths, arch.kernel, arch.batch_norm)
        self.long_encoder = Encoder(3, arch.widths, arch.kernel, arch.batch_norm)
        norm: list[nn.Module] = [nn.BatchNorm2d(c)] if arch.batch_norm else []
        self.merger = nn.Sequential(_sn_conv(2 * c, c, 3, bias=not arch.batch_norm), *norm,
                                    nn.LeakyReLU(LEAK, inplace=True))
        self.decoder = Decoder(arch.widths, 2, 6 + NOISE_CHANNELS, arch)
        self.gain = nn.Parameter(torch.tensor(arch.residual_gain))
        init_weights(self)
        self.to(memory_format=CHANNELS_LAST)

    def forward(self, short: Tensor, long: Tensor, noise: Tensor) -> Tensor:
        h, w = _check_inputs(short, long, noise)
        s, l = pad_to_multiple(short, self.multiple), pad_to_multiple(long, self.multiple)
        n = pad_to_multiple(noise, self.multiple)
        fs, fl = self.short_encoder(torch.cat([s, n], dim=1)), self.long_encoder(l)
        merged = self.merger(torch.cat([fs[-1], fl[-1]], dim=1))
        residual = self.decoder(merged, [fs, fl], torch.cat([s, l, n], dim=1))
        return (s + self.gain * residual)[..., :h, :w].contiguous()


class Discriminator(nn.Module):
    """Conditional discriminator: conv blocks on [image, long] down to a scalar per sample.

    forward(image, long) -> logits (B,); D(image | long) = sigmoid(logits) (applied in the loss).
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 64), kernel: int = 5) -> None:
        super().__init__()
        self.encoder = Encoder(6, widths, kernel)
        self.head = _sn(nn.Linear(widths[-1], 1))
        init_weights(self)
        self.to(memory_format=CHANNELS_LAST)

    def forward(self, image: Tensor, long: Tensor) -> Tensor:
        x = torch.cat([image, long], dim=1).contiguous(memory_format=CHANNELS_LAST)
        feats = self.encoder(x)[-1]
        return self.head(feats.mean(dim=(2, 3))).squeeze(1)


# ----------------------------------------------------------------------------------------- registry


def _plain(arch: NetConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(arch).items()}


def _check_inputs(short: Tensor, long: Tensor, noise: Tensor) -> tuple[int, int]:
    if short.ndim != 4 or short.shape[1] != 3 or short.shape != long.shape:
        raise DeblurnetError(f"expected short and long of one shape (B, 3, H, W), got "
                             f"{tuple(short.shape)} and {tuple(long.shape)}")
    b, _, h, w = short.shape
    if tuple(noise.shape) != (b, NOISE_CHANNELS, h, w):
        raise DeblurnetError(f"expected a noise map of shape {(b, NOISE_CHANNELS, h, w)}, got {tuple(noise.shape)}")
    return h, w


def deblur_rnn(preset: str = "compact", **overrides: Any) -> DeblurRNN:
    """DeblurRNN with the named preset's widths, fields overridden by keyword (see NetConfig)."""
    arch = net_config(preset, **overrides)
    return DeblurRNN(arch, {"name": "deblur-rnn", "preset": preset, **_plain(arch)})


def deblur_merger(preset: str = "compact", **overrides: Any) -> DeblurMerger:
    """DeblurMerger with the named preset's widths, fields overridden by keyword (see NetConfig)."""
    arch = net_config(preset, **overrides)
    return DeblurMerger(arch, {"name": "deblur-merger", "preset": preset, **_plain(arch)})


MODELS: dict[str, Callable[..., nn.Module]] = {
    "deblur-rnn": deblur_rnn,
    "deblur-merger": deblur_merger,
}


def list_models() -> list[str]:
    """Registered model names."""
    return sorted(MODELS)


def create_model(name: str, preset: str = "compact", **overrides: Any) -> nn.Module:
    """Build a registered generator by name (``deblur-rnn``, ``deblur-merger``)."""
    if name not in MODELS:
        raise DeblurnetError(f"unknown model {name!r}; choose from {list_models()}")
    return MODELS[name](preset, **overrides)


LEGACY_FIELDS: dict[str, Any] = {"batch_norm": True, "full_res_width": 0, "refine_width": 0}
"""NetConfig fields added after configs were first stored, with the values that rebuild the network
those older configs describe (a stored config without ``full_res_width`` had no refinement layer)."""


def model_from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild a generator from its plain-dict ``config`` (as stored in checkpoints and weight cards);
    fields the config lacks take their ``LEGACY_FIELDS`` values, then the preset's."""
    stored = {**LEGACY_FIELDS, **config}
    try:
        name, preset = stored.pop("name"), stored.pop("preset", "compact")
    except KeyError as exc:
        raise DeblurnetError(f"model config lacks {exc}") from None
    return create_model(name, preset, **stored)


def complete_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with every field present, as ``model_from_config`` reads it."""
    stored = {**LEGACY_FIELDS, **config}
    name, preset = stored.pop("name", None), stored.pop("preset", "compact")
    return {"name": name, "preset": preset, **_plain(net_config(preset, **stored))}


def create_discriminator(model: nn.Module) -> Discriminator:
    """The discriminator matching a generator's config (``disc_widths``, ``kernel``)."""
    arch: NetConfig = model.arch  # type: ignore[assignment]
    return Discriminator(arch.disc_widths, arch.kernel)
