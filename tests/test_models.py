"""deblurnet.models: shapes, gradients, spectral norm, ConvLSTM hand-over, registry (every model)."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from deblurnet import DeblurnetError
from deblurnet.models import (ConvBlock, DeblurMerger, DeblurRNN, Discriminator, create_discriminator,
                              create_model, deblur_merger, deblur_rnn, list_models, model_from_config,
                              pad_to_multiple)

SMALL = {"widths": (8, 16, 16), "disc_widths": (8, 16), "dropout": 0.0}
"""Narrow nets keep these tests fast; the compact preset itself is built where it matters."""

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pair(b: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(short, long) (b, 3, h, w) and a noise map (b, 1, h, w)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, 3, h, w, generator=g), torch.rand(b, 3, h, w, generator=g),
            0.1 * torch.rand(b, 1, h, w, generator=g))


def sharp_of(out: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


def test_registry_names_and_errors() -> None:
    assert list_models() == ["deblur-merger", "deblur-rnn"]
    assert isinstance(create_model("deblur-rnn", **SMALL), DeblurRNN)
    assert isinstance(create_model("deblur-merger", **SMALL), DeblurMerger)
    with pytest.raises(DeblurnetError, match="unknown model"):
        create_model("deblur-gan")
    with pytest.raises(DeblurnetError, match="unknown preset"):
        create_model("deblur-rnn", "huge")
    with pytest.raises(DeblurnetError, match="unknown model option"):
        create_model("deblur-rnn", channels=3)


def test_entry_points_build_the_models() -> None:
    eps = {ep.name: ep for ep in entry_points(group="deblurnet.models")}
    if not eps:
        pytest.skip("burstcap is not installed as a distribution (no entry points)")
    assert eps["deblur-rnn"].load() is deblur_rnn
    assert eps["deblur-merger"].load() is deblur_merger


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("size", [(37, 45), (5, 7), (16, 32)])
def test_any_size_keeps_shape(name: str, size: tuple[int, int]) -> None:
    model = create_model(name, **SMALL).eval()
    short, long, noise = pair(2, *size)
    with torch.no_grad():
        out = model(short, long, noise)
    sharp = sharp_of(out)
    assert sharp.shape == (2, 3, *size) and sharp.dtype == torch.float32
    assert torch.isfinite(sharp).all()
    if name == "deblur-rnn":
        assert out[1].shape == (2, 3, *size)
        assert model(short, long, noise, return_denoised=False).shape == (2, 3, *size)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("device", DEVICES)
def test_autocast_forward(name: str, device: str) -> None:
    """Mixed precision (bfloat16 autocast) runs and stays finite; the output is float32 or bfloat16."""
    model = create_model(name, **SMALL).to(device).eval()
    short, long, noise = (t.to(device) for t in pair(1, 24, 40))
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16):
        sharp = sharp_of(model(short, long, noise))
    assert sharp.shape == (1, 3, 24, 40) and torch.isfinite(sharp.float()).all()


@pytest.mark.parametrize("name", list_models())
def test_gradients_reach_both_inputs(name: str) -> None:
    model = create_model(name, **SMALL).train()
    short, long, noise = pair(2, 20, 28)
    for t in (short, long, noise):
        t.requires_grad_(True)
    sharp_of(model(short, long, noise)).square().mean().backward()
    for t in (short, long, noise):
        assert t.grad is not None and t.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", list_models())
def test_spectral_norm_on_every_conv_and_norm_layout(name: str) -> None:
    model = create_model(name, **SMALL)
    disc = create_discriminator(model)
    layers = [m for net in (model, disc) for m in net.modules()
              if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert len(layers) > 10
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    blocks = [m for m in model.modules() if isinstance(m, ConvBlock)]
    firsts = [m for m in model.modules() if hasattr(m, "blocks") and isinstance(m.blocks[0], ConvBlock)]
    assert blocks and firsts
    for encoder in firsts:  # no norm on the first block, BatchNorm after the others
        assert not any(isinstance(x, nn.BatchNorm2d) for x in encoder.blocks[0])
        assert all(isinstance(b[1], nn.BatchNorm2d) for b in encoder.blocks[1:])


def test_weights_initialised_gaussian_002() -> None:
    model = create_model("deblur-rnn")  # the compact preset
    conv = model.deblur_net.encoder.blocks[2][0]
    w = conv.parametrizations.weight.original.detach()
    assert w.numel() > 10_000
    assert abs(float(w.mean())) < 0.002 and abs(float(w.std()) - 0.02) < 0.002


def test_convlstm_state_carries_short_frame_into_deblurring_net() -> None:
    """With the denoised image held fixed, changing only the short frame changes the deblurring net's
    output: the information can only arrive through the ConvLSTM hidden state."""
    model = create_model("deblur-rnn", **SMALL).eval()
    short_a, long, noise = pair(1, 32, 32, seed=1)
    short_b, _, _ = pair(1, 32, 32, seed=2)
    denoised = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        _, state_a = model.denoise(short_a, noise)
        _, state_b = model.denoise(short_b, noise)
        out_a = model.deblur(denoised, long, noise, state_a)
        out_a2 = model.deblur(denoised, long, noise, state_a)
        out_b = model.deblur(denoised, long, noise, state_b)
    assert torch.equal(out_a, out_a2)  # deterministic, so any difference below is the state's
    assert (out_a - out_b).abs().max() > 1e-6
    # and the gradient of the deblurring output w.r.t. the short frame flows only through the state
    short = short_a.clone().requires_grad_(True)
    _, state = model.denoise(short, noise)
    model.deblur(denoised, long, noise, state).sum().backward()
    assert short.grad is not None and short.grad.abs().sum() > 0


def test_two_sets_of_weights() -> None:
    model = create_model("deblur-rnn", **SMALL)
    dn = model.denoise_net.encoder.blocks[1][0].parametrizations.weight.original
    db = model.deblur_net.encoder.blocks[1][0].parametrizations.weight.original
    assert dn.shape == db.shape and dn.data_ptr() != db.data_ptr() and not torch.equal(dn, db)


def test_discriminator_scalar_per_sample_conditioned_on_long() -> None:
    disc = Discriminator((8, 16)).eval()
    image, long, _ = pair(3, 40, 24)
    with torch.no_grad():
        logits = disc(image, long)
        other = disc(image, torch.rand_like(long))
    assert logits.shape == (3,)
    assert not torch.allclose(logits, other)


def test_presets_and_config_rebuild() -> None:
    compact = create_model("deblur-merger")
    paper = create_model("deblur-merger", "paper")
    assert paper.config["widths"] == [64, 128, 256, 512] and compact.config["preset"] == "compact"
    n_compact = sum(p.numel() for p in compact.parameters())
    n_rnn = sum(p.numel() for p in create_model("deblur-rnn").parameters())
    assert 0.5e6 <= n_compact <= 1.5e6 and 0.5e6 <= n_rnn <= 1.5e6
    assert sum(p.numel() for p in paper.parameters()) > 10 * n_compact
    rebuilt = model_from_config(compact.config)
    assert rebuilt.config == compact.config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
           {k: v.shape for k, v in compact.state_dict().items()}


def test_pad_to_multiple_reflects_and_handles_tiny_images() -> None:
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    y = pad_to_multiple(x, 4)
    assert y.shape == (1, 1, 4, 4)
    assert torch.equal(y[..., :3, :], x) and torch.equal(y[..., 3, :], x[..., 1, :])  # reflect
    assert pad_to_multiple(torch.rand(1, 3, 2, 2), 16).shape == (1, 3, 16, 16)  # replicate fallback


def test_bad_input_shapes_raise() -> None:
    model = create_model("deblur-merger", **SMALL)
    with pytest.raises(DeblurnetError, match="short and long"):
        model(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9), torch.rand(1, 1, 8, 8))
    with pytest.raises(DeblurnetError, match="noise map"):
        model(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(DeblurnetError, match="widths"):
        create_model("deblur-rnn", widths=())


@pytest.mark.parametrize("name", list_models())
def test_batch_norm_can_be_switched_off(name: str) -> None:
    model = create_model(name, **SMALL, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.config["batch_norm"] is False
    short, long, noise = pair(1, 12, 20)
    with torch.no_grad():
        train_out = sharp_of(model.train()(short, long, noise))
        eval_out = sharp_of(model.eval()(short, long, noise))
    torch.testing.assert_close(train_out, eval_out)  # no batch statistics, no dropout: same output


@pytest.mark.parametrize("name", list_models())
def test_the_noise_map_steers_the_output(name: str) -> None:
    """The map is a real input: the same pair with another noise level gives another result."""
    model = create_model(name, **SMALL, residual_gain=1.0).eval()
    short, long, noise = pair(1, 32, 32)
    with torch.no_grad():
        a = sharp_of(model(short, long, noise))
        b = sharp_of(model(short, long, 4 * noise))
    assert (a - b).abs().max() > 1e-4


@pytest.mark.parametrize("name", list_models())
def test_weights_without_the_noise_input_widen_with_no_effect(name: str, tmp_path, monkeypatch) -> None:
    """load_widened: a network saved before the noise-map input (its input convolutions one channel
    narrower) initialises the new one exactly; the map then changes nothing until training moves it.
    load_weights falls back to the same widening, reading the file once."""
    import json

    from safetensors.torch import load_file, save_file

    import deblurnet.checkpoint as checkpoint
    from deblurnet.checkpoint import load_widened

    options = {**SMALL, "residual_gain": 1.0, "full_res_width": 0}  # the shipped weights' layout
    model = create_model(name, **options).eval()
    narrow = {}
    for key, value in model.state_dict().items():
        value = value.clone().contiguous()
        if key.endswith("weight.original") and ("blocks.0.0" in key or "decoder.out" in key):
            if "short_encoder" in key or "denoise_net" in key or "deblur_net" in key or "decoder" in key:
                value = value[:, :-1].contiguous()  # drop the map's input channel (the last one)
        narrow[key] = value
    for key, value in list(narrow.items()):  # spectral-norm right vectors follow the input width
        if key.endswith("._v"):
            weight = narrow[key.replace("0._v", "original")]
            narrow[key] = value[: weight[0].numel()].contiguous()
    save_file(narrow, str(tmp_path / "old.safetensors"))
    fresh = create_model(name, **options).eval()
    assert load_widened(fresh, tmp_path / "old.safetensors")
    short, long, noise = pair(1, 32, 32)
    with torch.no_grad():
        a = sharp_of(fresh(short, long, noise))
        b = sharp_of(fresh(short, long, torch.zeros_like(noise)))
    torch.testing.assert_close(a, b)

    (tmp_path / "old.json").write_text(json.dumps({"model": model.config}))
    reads = []
    monkeypatch.setattr(checkpoint, "load_file", lambda path: reads.append(path) or load_file(path))
    loaded = checkpoint.load_weights(tmp_path / "old.safetensors")
    assert len(reads) == 1
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_a_refinement_net_added_to_trained_weights_keeps_their_function(tmp_path) -> None:
    """load_widened adds DeblurRNN's refinement net (absent from the file) at its zero output: the
    network computes exactly what the weights computed; once its output moves, the result does too."""
    from safetensors.torch import save_file

    from deblurnet.checkpoint import load_widened

    torch.manual_seed(0)
    base = create_model("deblur-rnn", **SMALL).eval()
    save_file({k: v.contiguous() for k, v in base.state_dict().items()}, str(tmp_path / "base.safetensors"))
    refined = create_model("deblur-rnn", **SMALL, refine_width=8).eval()
    added = load_widened(refined, tmp_path / "base.safetensors")
    assert added and all(name.startswith("refiner.") for name in added)
    short, long, noise = pair(2, 37, 45)
    with torch.no_grad():
        before = base(short, long, noise)
        after = refined(short, long, noise)
        torch.testing.assert_close(after[0], before[0], atol=0, rtol=0)
        torch.testing.assert_close(after[1], before[1], atol=0, rtol=0)
        refined.refiner.out.bias.fill_(0.01)  # pixel-shuffled: every output pixel moves by 0.01
        moved = refined(short, long, noise)[0]
    torch.testing.assert_close(moved - before[0], torch.full_like(moved, 0.01), atol=1e-6, rtol=0)
    with pytest.raises(DeblurnetError, match="refine_width"):
        create_model("deblur-merger", **SMALL, refine_width=8)
    with pytest.raises(DeblurnetError, match="refine_width"):
        create_model("deblur-rnn", **SMALL).freeze_base()


def test_refinement_net_takes_sharp_denoised_short_long_and_map() -> None:
    """The refinement net's input is [deblurring net's output, denoised, short, long, map] at full
    resolution, in that order (module docstring); its zero-initialised output leaves the sharp image."""
    torch.manual_seed(0)
    model = create_model("deblur-rnn", **SMALL, refine_width=8).eval()
    short, long, noise = pair(1, 32, 32)
    seen = []
    hook = model.refiner.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    with torch.no_grad():
        sharp, denoised = model(short, long, noise)
    hook.remove()
    (x,) = seen
    assert x.shape == (1, 13, 32, 32)
    for got, want in ((x[:, 0:3], sharp), (x[:, 3:6], denoised), (x[:, 6:9], short), (x[:, 9:12], long),
                      (x[:, 12:], noise)):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
