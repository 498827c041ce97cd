"""deblurnet training: steps lower the loss, DDP (2 gloo processes) equals one process, checkpoints
round-trip and resume, the CLI and its TOML config."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from deblurnet import DeblurnetError
from deblurnet.checkpoint import load_checkpoint, load_weights, read_card, save_weights
from deblurnet.cli import main
from deblurnet.config import TrainConfig, load_toml, override
from deblurnet.distributed import DistInfo, unwrap
from deblurnet.models import create_model, list_models
from deblurnet.train import learning_rate, train_step
from deblurnet.train_data import crop_augment
from deblurnet.train_state import build_state

SMALL = {"widths": [8, 16, 16], "disc_widths": [8, 16], "dropout": 0.0}


def fixed_batch(b: int = 4, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(short, long, sharp, noise): a smooth sharp image, a noisy copy (sigma 0.1), a horizontally
    blurred copy, and the short frame's noise map (0.1 everywhere)."""
    g = torch.Generator().manual_seed(seed)
    sharp = torch.nn.functional.avg_pool2d(torch.rand(b, 3, size + 4, size + 4, generator=g), 5, 1)
    short = (sharp + 0.1 * torch.randn(sharp.shape, generator=g)).clamp(0, 1)
    long = torch.nn.functional.avg_pool2d(sharp, (1, 5), 1, (0, 2))
    return short, long, sharp, torch.full((b, 1, size, size), 0.1)


def write_triplets(root: Path, n: int = 3, size: tuple[int, int] = (40, 48)) -> Path:
    """A triplet folder (short/ long/ sharp/ 8-bit PNGs) generated from code."""
    rng = np.random.default_rng(0)
    for key in ("short", "long", "sharp"):
        (root / key).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sharp = cv2.GaussianBlur(rng.random((*size, 3)).astype(np.float32), (0, 0), 1.5)
        images = {"sharp": sharp, "long": cv2.blur(sharp, (7, 1)),
                  "short": np.clip(sharp + rng.normal(0, 0.05, sharp.shape), 0, 1)}
        for key, img in images.items():
            cv2.imwrite(str(root / key / f"{i:03d}.png"), (img[..., ::-1] * 255).round().astype(np.uint8))
    return root


@pytest.mark.parametrize(("name", "adv"), [("deblur-rnn", 1.0), ("deblur-merger", 0.0)])
def test_twenty_steps_on_a_fixed_batch_lower_the_loss(name: str, adv: float) -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(model=name, adv=adv, model_options=SMALL, lr=1e-3)
    state = build_state(cfg, torch.device("cpu"), DistInfo())
    batch = fixed_batch()
    logs = [train_step(state, batch) for _ in range(20)]
    assert state.step == 20
    assert (state.disc is None) == (adv == 0) and ("loss_d" in logs[0]) == (adv > 0)
    first, last = logs[0]["loss_g"], np.mean([r["loss_g"] for r in logs[-3:]])
    assert last < 0.6 * first, (first, last)
    assert np.mean([r["grad"] for r in logs[-3:]]) < logs[0]["grad"]
    if name == "deblur-rnn":
        assert np.mean([r["denoise"] for r in logs[-3:]]) < logs[0]["denoise"]


def test_crop_augment_moves_the_four_tensors_together() -> None:
    img = torch.rand(3, 20, 30)
    g = torch.Generator().manual_seed(3)
    a, b, c, n = crop_augment((img, img.clone(), img.clone(), img[:1].clone()), 16, g)
    assert a.shape == (3, 16, 16) and torch.equal(a, b) and torch.equal(a, c)
    assert n.shape == (1, 16, 16) and torch.equal(n, a[:1])
    with pytest.raises(DeblurnetError, match="smaller than the crop"):
        crop_augment((img, img, img, img[:1]), 24, g)


# ---------------------------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        state = _ddp_state(DistInfo(rank, 2, 0))
        batch = fixed_batch(4)
        half = slice(2 * rank, 2 * rank + 2)
        for _ in range(2):
            train_step(state, tuple(t[half] for t in batch))
        if rank == 0:
            torch.save(unwrap(state.model).state_dict(), out)
    finally:
        dist.destroy_process_group()


def _ddp_state(info: DistInfo):
    """Generator + discriminator in eval-mode norm (see the test's docstring), same seed everywhere."""
    torch.manual_seed(0)
    state = build_state(TrainConfig(model="deblur-rnn", adv=1.0, model_options=SMALL, lr=1e-3),
                        torch.device("cpu"), info)
    unwrap(state.model).eval()
    unwrap(state.disc).eval()
    return state


@pytest.mark.timeout(120)
def test_ddp_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    """Two DDP processes (gloo, loopback) on halves of a batch end with the same weights as one process
    on the whole batch, after two full iterations (D and G steps).

    BatchNorm is put in eval mode (running statistics) for this comparison: torch's SyncBatchNorm runs
    only on GPUs, and per-process batch statistics of half batches legitimately differ from whole-batch
    ones. Dropout is 0. With that, the loss is a per-pixel mean, so averaging the two processes'
    gradients equals the whole-batch gradient and DDP must match exactly up to float rounding.
    """
    out = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(_free_port(), str(out)), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)

    state = _ddp_state(DistInfo())
    batch = fixed_batch(4)
    for _ in range(2):
        train_step(state, batch)
    single = state.model.state_dict()
    initial = _ddp_state(DistInfo()).model.state_dict()
    assert ddp.keys() == single.keys()
    for key, value in single.items():
        torch.testing.assert_close(ddp[key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert sum(not torch.equal(v, initial[k]) for k, v in single.items()) > 10  # weights did move


# ---------------------------------------------------------------------------------------- checkpoint


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_weights_round_trip(tmp_path: Path, name: str, dtype: torch.dtype) -> None:
    model = create_model(name, **SMALL).eval()
    path = save_weights(model, tmp_path / "w" / f"{name}.safetensors", {"steps": 7}, dtype=dtype)
    card = read_card(path)
    assert card["steps"] == 7 and card["model"]["name"] == name and card["dtype"] == str(dtype)[6:]
    loaded = load_weights(path)
    assert not loaded.training and type(loaded) is type(model)
    short, long, noise = torch.rand(1, 3, 21, 19), torch.rand(1, 3, 21, 19), torch.rand(1, 1, 21, 19)
    with torch.no_grad():
        a, b = model(short, long, noise), loaded(short, long, noise)
    a, b = (x[0] if isinstance(x, tuple) else x for x in (a, b))
    if dtype == torch.float32:
        assert torch.equal(a, b)
    else:
        torch.testing.assert_close(a, b, atol=2e-2, rtol=0)
    assert not any(p.name.startswith(".") for p in path.parent.iterdir())  # no temp files left


def test_same_step_checkpoint_survives_an_interrupted_replacement(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Saving step 5 again moves the old folder aside; an interruption (KeyboardInterrupt raised by a
    wrapped os.replace when the new folder moves in) leaves the old checkpoint loadable, and a
    completed save replaces it without leftovers."""
    import deblurnet.checkpoint as checkpoint

    model = create_model("deblur-rnn", **SMALL)
    first = checkpoint.save_checkpoint(tmp_path, 5, model, None, {}, {"note": "first"})
    real_replace = os.replace

    def interrupted(src, dst) -> None:
        if Path(src).name.startswith(".tmp-"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(tmp_path, 5, model, None, {}, {"note": "second"})
    monkeypatch.setattr(checkpoint.os, "replace", real_replace)
    assert load_checkpoint(tmp_path).train_config == {"note": "first"}
    assert checkpoint.save_checkpoint(tmp_path, 5, model, None, {}, {"note": "third"}) == first
    assert load_checkpoint(tmp_path).train_config == {"note": "third"}
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # nothing left aside


def test_load_weights_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(DeblurnetError, match="x.json"):
        load_weights(bad)
    (tmp_path / "x.json").write_text(json.dumps({"model": {"name": "deblur-rnn", "preset": "compact"}}))
    with pytest.raises(DeblurnetError, match="x.safetensors"):
        load_weights(bad)


@pytest.mark.timeout(120)
def test_cli_train_checkpoint_resume_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_triplets(tmp_path / "triplets")
    run = tmp_path / "run"
    toml = tmp_path / "train.toml"
    toml.write_text('model = "deblur-merger"\nsteps = 99\nbatch_size = 2\ncrop = 32\n'
                    'model_options = { widths = [8, 16, 16], disc_widths = [8, 16] }\n')
    common = ["train", "--config", str(toml), "--data", str(data), "--out", str(run),
              "--ckpt-every", "2", "--val-every", "2"]
    assert main([*common, "--steps", "3", "--val", str(data)]) == 0
    out = capsys.readouterr().out
    assert "on cpu" in out
    ckpt = load_checkpoint(run)
    assert ckpt.step == 3 and ckpt.model_config["name"] == "deblur-merger"
    assert ckpt.train_config["steps"] == 3 and ckpt.discriminator is not None

    export = tmp_path / "ship" / "m.safetensors"
    assert main([*common, "--steps", "5", "--export", str(export)]) == 0  # resumes automatically
    assert "resumed" in capsys.readouterr().out
    records = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss_g" in r]
    assert steps == [1, 2, 3, 4, 5]
    assert [r["step"] for r in records if "val_psnr" in r] == [2, 3]
    assert all(np.isfinite(r["val_psnr"]) for r in records if "val_psnr" in r)
    assert {r["val_set"] for r in records if "val_psnr" in r} == {data.name}
    assert load_checkpoint(run).step == 5
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000004", "step-0000005"]
    card = read_card(export)
    assert card["steps"] == 5 and card["validation"]["step"] == 3 and card["data"] == str(data)
    assert card["validation"]["val_set"] == data.name
    assert card["bn_recalibrated_batches"] == 10
    assert load_weights(export).config["widths"] == [8, 16, 16]

    # resuming restores the weights and optimiser exactly: a fresh state loaded from step 5 equals it
    from deblurnet.train_state import restore_state
    cfg = load_toml(toml)
    state = build_state(cfg, torch.device("cpu"), DistInfo())
    restore_state(state, run)
    assert state.step == 5
    saved = load_checkpoint(run).generator
    assert all(torch.equal(v, saved[k]) for k, v in state.model.state_dict().items())
    assert state.opt_g.state_dict()["state"]  # Adam moments came back


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("stepz = 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml" in err and "stepz" in err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "nowhere" in capsys.readouterr().err
    run = tmp_path / "r2"
    (run / "checkpoints" / "step-0000001").mkdir(parents=True)
    assert main(["train", "--resume", str(run / "checkpoints" / "step-0000001"), "--data",
                 str(write_triplets(tmp_path / "t")), "--out", str(run), "--crop", "32",
                 "--batch-size", "2"]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_config_precedence_and_types(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('steps = 10\nlr = 1\nadv = 0\n[synth]\nweight_stills = 0.0\n')
    cfg = load_toml(toml)
    assert cfg.steps == 10 and cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.adv == 0.0
    assert cfg.synth == {"weight_stills": 0.0} and cfg.loss_weights().adv == 0
    assert override(cfg, {"steps": 20}).steps == 20
    with pytest.raises(DeblurnetError, match="c.toml.*steps"):
        toml.write_text('steps = "ten"\n')
        load_toml(toml)


def test_help_text_lists_options_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data", "--val", "--resume", "--adv", "--config", "--export", "torchrun", "examples"):
        assert option in text


def test_plot_log_writes_a_png(tmp_path: Path) -> None:
    from deblurnet.plots import main as plots_main
    from deblurnet.plots import plot_log

    log = tmp_path / "train.jsonl"
    lines = [{"step": s, "loss_g": 10.0 / s} for s in range(1, 31)]
    lines += [{"step": 10, "val_psnr": 25.0, "val_psnr_long": 24.0, "val_psnr_short": 20.0},
              {"step": 30, "val_psnr": 28.0, "val_psnr_long": 24.0, "val_psnr_short": 20.0}]
    log.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    png = plot_log(log, tmp_path / "out" / "plot.png")
    img = cv2.imread(str(png))
    assert img is not None and img.shape[1] > img.shape[0] > 200
    assert img.std() > 10  # something was drawn
    (tmp_path / "empty.jsonl").write_text("\n")
    assert plots_main([str(tmp_path / "empty.jsonl")]) == 2


def test_split_validation_separates_sets_named_or_not() -> None:
    from deblurnet.plots import split_validation

    gopro = {"val_psnr_long": 25.18, "val_psnr_short": 23.3}
    stills = {"val_psnr_long": 21.34, "val_psnr_short": 25.09}
    old_log = [{"step": 1, "val_psnr": 30.0, **gopro}, {"step": 2, "val_psnr": 31.0, **gopro},
               {"step": 3, "val_psnr": 28.0, **stills}]
    groups = split_validation(old_log)
    assert list(groups) == ["set A", "set B"]
    assert [r["step"] for r in groups["set A"]] == [1, 2] and [r["step"] for r in groups["set B"]] == [3]
    assert list(split_validation(old_log, ["gopro2"])) == ["gopro2", "set B"]
    named = [{**r, "val_set": "trainval-gopro2"} for r in old_log[:2]] + [{**old_log[2], "val_set": "x"}]
    assert {k: len(v) for k, v in split_validation(named).items()} == {"trainval-gopro2": 2, "x": 1}
    resumed = [old_log[0], {**old_log[1], "val_set": "trainval-gopro2"}]  # an old log, then newer code
    assert {k: len(v) for k, v in split_validation(resumed).items()} == {"trainval-gopro2": 2}


def test_cosine_learning_rate() -> None:
    from deblurnet.train import learning_rate

    cfg = TrainConfig(lr=1e-3, steps=101)
    assert learning_rate(cfg, 0) == learning_rate(cfg, 100) == 1e-3
    cos = override(cfg, {"cosine": True})
    assert learning_rate(cos, 0) == pytest.approx(1e-3)
    assert learning_rate(cos, 50) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5))
    assert learning_rate(cos, 100) == pytest.approx(1e-5)


def test_train_one_epoch_stops_at_max_steps() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    from deblurnet.train import train_one_epoch

    torch.manual_seed(0)
    state = build_state(TrainConfig(model="deblur-merger", adv=0.0, model_options=SMALL),
                        torch.device("cpu"), DistInfo())
    loader = DataLoader(TensorDataset(*fixed_batch(8, 16)), batch_size=2)
    logs = train_one_epoch(state, loader)
    assert [r["step"] for r in logs] == [1, 2, 3, 4] and state.step == 4
    assert [r["step"] for r in train_one_epoch(state, loader, max_steps=6)] == [5, 6]


@pytest.mark.parametrize("per_net", [True, False])
def test_per_net_losses_keep_the_deblurring_loss_out_of_the_denoising_net(per_net: bool) -> None:
    """Table I: with lambda_c1 = 0 the denoising net gets no gradient at all unless training is joint."""
    torch.manual_seed(0)
    cfg = TrainConfig(adv=0.0, content_denoise=0.0, per_net_losses=per_net, model_options=SMALL)
    state = build_state(cfg, torch.device("cpu"), DistInfo())
    before = {k: v.clone() for k, v in state.model.denoise_net.state_dict().items() if "original" in k}
    train_step(state, fixed_batch(2, 16))
    after = state.model.denoise_net.state_dict()
    moved = any(not torch.equal(v, after[k]) for k, v in before.items())
    assert moved is (not per_net)


def test_configs_stored_before_newer_fields_rebuild_the_old_network(tmp_path: Path) -> None:
    """A weights card or checkpoint written before ``batch_norm`` / ``full_res_width`` existed describes a
    network without the full-resolution refinement layer; loading and resuming must rebuild exactly it."""
    from deblurnet.models import complete_config, model_from_config

    old = create_model("deblur-rnn", full_res_width=0)
    stored = {k: v for k, v in old.config.items() if k not in ("batch_norm", "full_res_width")}
    assert complete_config(stored) == old.config
    rebuilt = model_from_config(stored)
    rebuilt.load_state_dict(old.state_dict())  # same parameter set
    path = save_weights(old, tmp_path / "old.safetensors")
    card = json.loads(path.with_suffix(".json").read_text())
    card["model"] = stored
    path.with_suffix(".json").write_text(json.dumps(card))
    assert load_weights(path).config["full_res_width"] == 0


def test_batch_norm_recalibration_makes_eval_mode_match_batch_statistics() -> None:
    """After recalibrating on one batch (repeated), eval mode reproduces the output computed with that
    batch's own statistics; the weights do not change."""
    from deblurnet.validation import recalibrate_batch_norm

    torch.manual_seed(0)
    model = create_model("deblur-rnn", **SMALL)
    short, long, sharp, noise = fixed_batch(4, 32)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    with torch.no_grad():
        model.eval()
        before = model(short, long, noise)[0]
        for m in model.modules():  # reference: batch statistics, running stats left alone
            if isinstance(m, torch.nn.BatchNorm2d):
                m.train()
                m.momentum = 0.0
        reference = model(short, long, noise)[0]
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1
    assert recalibrate_batch_norm(model, [(short, long, sharp, noise)] * 3, torch.device("cpu")) == 3
    model.eval()
    with torch.no_grad():
        after = model(short, long, noise)[0]
    assert (before - reference).abs().max() > 1e-3  # the untrained running stats were off
    torch.testing.assert_close(after, reference, atol=2e-3, rtol=0)  # unbiased vs biased variance
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert recalibrate_batch_norm(create_model("deblur-rnn", **SMALL, batch_norm=False), [], torch.device("cpu")) == 0


def test_stop_at_keeps_the_schedule_of_steps(tmp_path: Path) -> None:
    """--stop-at ends a run early (with a checkpoint) while the cosine schedule still spans --steps,
    so a run stopped and resumed follows the same learning rates as one straight run."""
    data = write_triplets(tmp_path / "triplets")
    run = tmp_path / "run"
    common = ["train", "--model", "deblur-merger", "--data", str(data), "--out", str(run),
              "--batch-size", "2", "--crop", "32", "--adv", "0", "--cosine", "--steps", "6",
              "--ckpt-every", "100"]
    assert main([*common, "--stop-at", "2"]) == 0
    assert load_checkpoint(run).step == 2
    assert main(common) == 0
    records = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in records if "loss_g" in r]
    cfg = TrainConfig(steps=6, cosine=True)
    assert lrs == pytest.approx([learning_rate(cfg, s) for s in range(6)])
    assert main([*common, "--stop-at", "7"]) == 2  # beyond --steps: a one-line error


def test_export_command_writes_weights_with_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_triplets(tmp_path / "triplets")
    run = tmp_path / "run"
    assert main(["train", "--model", "deblur-merger", "--data", str(data), "--out", str(run),
                 "--batch-size", "2", "--crop", "32", "--adv", "0", "--steps", "2"]) == 0
    out = tmp_path / "ship" / "m.safetensors"
    assert main(["export", str(run), str(out), "--recalibrate", "3"]) == 0
    card = read_card(out)
    assert card["steps"] == 2 and card["bn_recalibrated_batches"] == 3
    assert load_weights(out).config["name"] == "deblur-merger"
    capsys.readouterr()
    assert main(["export", str(tmp_path / "nothing"), str(out)]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_update_ema_moves_parameters_by_one_minus_decay_and_copies_buffers() -> None:
    from deblurnet.train_state import update_ema

    torch.manual_seed(0)
    model = create_model("deblur-merger", "compact", **SMALL)
    ema = create_model("deblur-merger", "compact", **SMALL)
    ema.load_state_dict(model.state_dict())
    before = [p.detach().clone() for p in ema.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
        for b in model.buffers():
            if b.is_floating_point():
                b.add_(1.0)
    update_ema(ema, model, 0.9)
    for old, new, averaged in zip(before, model.parameters(), ema.parameters()):
        torch.testing.assert_close(averaged, 0.9 * old + 0.1 * new.detach())
    assert all(torch.equal(a, b) for a, b in zip(ema.buffers(), model.buffers()))


def test_train_step_updates_the_weight_average_with_a_warm_up() -> None:
    """Each step moves the average toward the new weights by 1 - d, d = min(decay, (1 + step) /
    (10 + step)): 0.1 at step 0 (the starting weights fade fast), the configured 0.5 from step 20."""
    torch.manual_seed(0)
    cfg = TrainConfig(model="deblur-merger", adv=0.0, model_options=SMALL, lr=1e-2, ema_decay=0.5)
    state = build_state(cfg, torch.device("cpu"), DistInfo())
    assert state.ema is not None and state.shipped is state.ema
    for step, d in ((0, 0.1), (20, 0.5)):
        state.step = step
        before = [p.detach().clone() for p in state.ema.parameters()]
        train_step(state, fixed_batch())
        for old, new, averaged in zip(before, state.model.parameters(), state.ema.parameters()):
            torch.testing.assert_close(averaged, d * old + (1 - d) * new.detach())
    assert build_state(TrainConfig(model="deblur-merger", adv=0.0, model_options=SMALL),
                       torch.device("cpu"), DistInfo()).ema is None


@pytest.mark.timeout(120)
def test_weight_average_is_checkpointed_resumed_and_exported(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = write_triplets(tmp_path / "triplets")
    run = tmp_path / "run"
    common = ["train", "--model", "deblur-merger", "--data", str(data), "--out", str(run),
              "--batch-size", "2", "--crop", "32", "--adv", "0", "--lr", "1e-2", "--ema-decay", "0.5",
              "--bn-recalibrate", "0"]
    assert main([*common, "--steps", "3"]) == 0
    c = load_checkpoint(run)
    assert c.ema is not None and c.ema.keys() == c.generator.keys()
    params = {k for k in c.generator if "running" not in k and "num_batches" not in k and "_u" not in k
              and "_v" not in k}
    moved = [k for k in params if c.generator[k].is_floating_point() and not torch.equal(c.generator[k], c.ema[k])]
    assert moved, "the average's parameters equal the last step's"

    from deblurnet.train_state import restore_state
    cfg = TrainConfig(model="deblur-merger", ema_decay=0.5, adv=0.0)
    state = build_state(cfg, torch.device("cpu"), DistInfo())
    restore_state(state, run)
    assert state.ema is not None
    assert all(torch.equal(v, c.ema[k]) for k, v in state.ema.state_dict().items())

    out = tmp_path / "ship" / "m.safetensors"
    assert main(["export", str(run), str(out), "--recalibrate", "0"]) == 0
    assert read_card(out)["weights"] == "moving average, decay 0.5"
    shipped = load_weights(out).state_dict()
    for k in moved:  # float16 on disk: closer to the average than to the last step
        assert (shipped[k] - c.ema[k]).abs().max() < (shipped[k] - c.generator[k]).abs().max()

    assert main([*common, "--steps", "4", "--ema-decay", "1.0"]) == 2  # refused: not in [0, 1)
    capsys.readouterr()
    assert main([*common[:-4], "--bn-recalibrate", "0", "--steps", "4"]) == 0  # resumed without it
    assert "holds a weight average, but ema_decay is 0" in capsys.readouterr().out


def test_freeze_base_trains_only_the_refinement_net() -> None:
    """freeze_base: a training step moves the refinement net's weights only; the two nets keep their
    weights and BatchNorm statistics, stay in eval mode through train(), and the BatchNorm re-estimate
    leaves them alone."""
    from deblurnet.validation import recalibrate_batch_norm

    torch.manual_seed(0)
    options = {**SMALL, "refine_width": 8}
    cfg = TrainConfig(adv=0.0, model_options=options, lr=1e-2, freeze_base=True)
    state = build_state(cfg, torch.device("cpu"), DistInfo())
    model = state.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    assert not model.denoise_net.training and not model.deblur_net.training and model.refiner.training
    for _ in range(3):
        train_step(state, fixed_batch())
    assert recalibrate_batch_norm(model, [fixed_batch()], torch.device("cpu")) == 0
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("refiner.") for k in moved), sorted(moved)
    assert {k for k in before if k.startswith("refiner.")} <= moved
    with pytest.raises(DeblurnetError, match="refine_width"):
        build_state(TrainConfig(freeze_base=True, model_options=SMALL), torch.device("cpu"), DistInfo())
    with pytest.raises(DeblurnetError, match="DeblurRNN"):
        build_state(TrainConfig(model="deblur-merger", freeze_base=True, model_options=SMALL),
                    torch.device("cpu"), DistInfo())


def test_a_refinement_run_from_shipped_weights_exports_them_untouched(tmp_path: Path) -> None:
    """deblurnet train with init + refine_width + freeze_base, then export: the exported nets are the
    init's tensors (BatchNorm statistics included: nothing is re-estimated), the refinement net moved."""
    from safetensors.torch import load_file, save_file

    data = write_triplets(tmp_path / "triplets")
    torch.manual_seed(0)
    base = create_model("deblur-rnn", **SMALL)
    init = tmp_path / "base.safetensors"
    save_file({k: v.contiguous() for k, v in base.state_dict().items()}, str(init))
    toml = tmp_path / "refine.toml"
    toml.write_text('steps = 3\nbatch_size = 2\ncrop = 32\nadv = 0.0\nlr = 1e-2\nfreeze_base = true\n'
                    f'init = "{init}"\n'
                    'model_options = { widths = [8, 16, 16], disc_widths = [8, 16], dropout = 0.0, '
                    'refine_width = 8 }\n')
    export = tmp_path / "refined.safetensors"
    run = tmp_path / "run"
    assert main(["train", "--config", str(toml), "--data", str(data), "--out", str(run)]) == 0
    # resumed without its config (no freeze_base given): the run keeps training the refinement net alone
    assert main(["train", "--model", "deblur-rnn", "--data", str(data), "--out", str(run), "--steps", "5",
                 "--batch-size", "2", "--crop", "32", "--adv", "0", "--export", str(export)]) == 0
    assert load_checkpoint(run).step == 5
    shipped, card = load_file(str(export)), read_card(export)
    assert card["bn_recalibrated_batches"] == 0 and card["model"]["refine_width"] == 8
    for name, value in base.state_dict().items():
        torch.testing.assert_close(shipped[name].float(), value.half().float(), atol=0, rtol=0, msg=name)
    assert shipped["refiner.out.weight"].abs().max() > 0
    assert load_weights(export).config["refine_width"] == 8


def test_weights_and_network_must_agree_on_the_refinement_net(tmp_path: Path) -> None:
    """Shipped weights lacking the refinement net their card names, or holding one the network lacks,
    are refused with the file named; only a new run's init may add the net."""
    from deblurnet.checkpoint import load_widened

    plain, refined = create_model("deblur-rnn", **SMALL), create_model("deblur-rnn", **SMALL, refine_width=8)
    save_weights(plain, tmp_path / "plain.safetensors", {}, torch.float32)
    save_weights(refined, tmp_path / "refined.safetensors", {}, torch.float32)
    card = json.loads((tmp_path / "plain.json").read_text())
    card["model"] = refined.config
    (tmp_path / "plain.json").write_text(json.dumps(card))  # a card that claims a refinement net
    with pytest.raises(DeblurnetError, match="plain.safetensors"):
        load_weights(tmp_path / "plain.safetensors")
    with pytest.raises(DeblurnetError, match="refine_width"):
        load_widened(create_model("deblur-rnn", **SMALL), tmp_path / "refined.safetensors")
    assert load_widened(create_model("deblur-rnn", **SMALL, refine_width=8), tmp_path / "plain.safetensors")
