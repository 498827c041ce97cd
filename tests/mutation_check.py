"""Mutation check: break each behaviour on purpose, one at a time, and show which test catches it.

    .venv/bin/python tests/mutation_check.py            # every breakage (about 10 minutes on 2 cores)
    .venv/bin/python tests/mutation_check.py --list     # the breakages and the tests each one runs
    .venv/bin/python tests/mutation_check.py --only ensemble-dropped --only gap-zero

The working tree is never modified: the repository (tracked and untracked, not ignored files) is
copied to a temporary folder; each breakage replaces one exact piece of source text there, runs its
tests there with ``python -m pytest`` (``PYTHONPATH`` pointing at the copy, so the copy's packages are
imported, also by the subprocesses the tests start), and puts the file back before the next one. A
baseline run of the same tests on the unbroken copy comes first: a breakage counts as caught only
by a test that passed there. A breakage whose source text is no longer found (the code moved on) is
reported as such, never as caught. Exit status: 0 when every applied breakage was caught.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Breakage:
    name: str
    what: str  # the behaviour broken, in words
    path: str  # file, relative to the repository
    old: str  # exact source text (must occur once)
    new: str
    tests: tuple[str, ...]  # pytest arguments: files or node ids, optionally "-k EXPR" as one item


BREAKAGES: tuple[Breakage, ...] = (
    # ---- isp.chunks: the blocks of rows the large-image conversions run in
    Breakage("rows-last-block-dropped", "map_rows leaves out the last, partial block of rows",
             "isp/chunks.py",
             "    starts = range(0, length, rows)\n",
             "    starts = range(0, length - rows + 1, rows)\n",
             ("tests/test_chunks.py",)),
    Breakage("rows-pool-kept-in-child", "a forked child reuses the parent's thread pool (it has none of its threads)",
             "isp/chunks.py",
             "    os.register_at_fork(after_in_child=_forget_pool_in_child)\n",
             "    pass  # mutation: the child keeps the parent's pool\n",
             ("tests/test_chunks.py::test_a_forked_child_gets_its_own_pool",)),
    Breakage("rows-nested-on-pool", "a block's own map_rows call (the sRGB curve of a wide row block) waits on the pool",
             "isp/chunks.py",
             'getattr(_inside, "active", False)',
             "False",
             ("tests/test_chunks.py::test_wide_images_nest_without_waiting_on_the_pool",)),
    # ---- the table
    Breakage("no-warp", "fuse_arrays estimates the alignment but never warps the long frame",
             "burstcap/fuse.py",
             "        long_n = warp_image(long_n, alignment, fill=short_n)\n",
             "        pass  # mutation: the warp is never applied\n",
             ("tests/test_pixels.py",)),
    Breakage("fuse-one-ratio-1", "fuse_one (process, shoot, Pipeline) uses ratio 1",
             "burstcap/process.py",
             "sidecar_ratio=pair.ratio, steps=",
             "sidecar_ratio=1.0, steps=",
             ("tests/test_pixels.py", "-k process or pipeline or shoot")),
    Breakage("ensemble-dropped", "--ensemble dropped on the way to the network (fuse_arrays)",
             "burstcap/fuse.py",
             "progress=progress,\n                 ensemble=ensemble)",
             "progress=progress,\n                 ensemble=1)",
             ("tests/test_pixels.py::test_ensemble_changes_the_output",)),
    Breakage("denoise-weight-0", "the denoising loss of DeblurRNN weighted by 0",
             "deblurnet/train.py",
             "g_loss = g_loss + w.content_denoise * dn",
             "g_loss = g_loss + 0.0 * dn",
             ("tests/test_train_weights.py", "tests/test_train.py")),
    Breakage("gap-zero", "the measured gap between exposures set to 0",
             "burstcap/shoot.py",
             "    gap = long.t_start - short.t_end\n",
             "    gap = 0.0\n",
             ("tests/test_camera_timing.py", "tests/test_shoot_scripted.py")),
    Breakage("profile-noise-1e-3", "the noise drawn from a measured camera profile scaled by 1e-3",
             "deblurnet/synth/camera.py",
             "a, b = (np.asarray(v, dtype=np.float32).reshape(4) for v in profile.params(iso))",
             "a, b = (np.asarray(v, dtype=np.float32).reshape(4) * 1e-3 for v in profile.params(iso))",
             ("tests/test_synth.py",)),
    Breakage("token-always-passes", "the service's token check always passes",
             "burstcap/service/auth.py",
             "if not given or not secrets.compare_digest(given.strip().encode(), self._token.encode()):",
             "if False:",
             ("tests/test_service.py", "-k token")),
    # ---- more of the same kind
    Breakage("ensemble-cli-dropped", "burstcap fuse --ensemble not passed into FuseOptions",
             "burstcap/commands/options.py",
             '"ensemble", "colour_match", "profile")',
             '"colour_match", "profile")',
             ("tests/test_pixels.py::test_ensemble_changes_the_output",)),
    Breakage("fuse-pair-ratio-1", "the one fuse path (every door) uses ratio 1",
             "burstcap/fuse.py",
             '    check_ratio(ratio, f"the {source}")\n',
             '    ratio = check_ratio(1.0, f"the {source}")\n',
             ("tests/test_pixels.py", "-k fuse_command or service")),
    Breakage("warp-inverted", "the long frame is warped the wrong way (forward instead of inverse map)",
             "burstcap/align.py",
             "    h, w = moving.shape[:2]\n    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP\n",
             "    h, w = moving.shape[:2]\n    flags = cv2.INTER_LINEAR\n",
             ("tests/test_pixels.py", "-k long or service")),
    Breakage("warp-band-strip-dropped", "the warp blends the fill on three of the four border strips",
             "burstcap/align.py",
             "            (slice(band, h - band), slice(0, band)), (slice(band, h - band), slice(w - band, w))]\n",
             "            (slice(band, h - band), slice(0, band))]\n",
             ("tests/test_align.py",)),
    Breakage("gain-not-undone", "the exposure normalisation gain is not undone after the network",
             "burstcap/fuse.py",
             "    map_rows(lambda rows: rows / np.float32(gain) * colour, rgb, rgb)\n",
             "    map_rows(lambda rows: rows * colour, rgb, rgb)  # mutation: gain kept\n",
             ("tests/test_pixels.py", "-k short")),
    Breakage("content-weight-ignored", "the output's L1 weight (lambda_c2) ignored (always 50)",
             "deblurnet/losses.py",
             'total = (weights.content * parts["content"]',
             'total = (50.0 * parts["content"]',
             ("tests/test_train_weights.py",)),
    Breakage("same-shard-everywhere", "every torchrun rank reads rank 0's shard",
             "deblurnet/train.py",
             "DistributedSampler(dataset, info.world_size, info.rank, shuffle=True, seed=cfg.seed)",
             "DistributedSampler(dataset, info.world_size, 0, shuffle=True, seed=cfg.seed)",
             ("tests/test_torchrun_train.py::test_two_ranks_same_weights_disjoint_shards_one_writer",)),
    Breakage("every-rank-writes", "every torchrun rank writes checkpoints",
             "deblurnet/train.py",
             "            if info.is_main and save:\n",
             "            if save:\n",
             ("tests/test_torchrun_train.py::test_two_ranks_same_weights_disjoint_shards_one_writer",)),
    Breakage("sidecar-ratio-ignored", "process estimates the ratio from the images despite the sidecar",
             "burstcap/process.py",
             "sidecar_ratio=pair.ratio, steps=",
             "sidecar_ratio=None, steps=",
             ("tests/test_pixels.py", "-k process or pipeline")),
    Breakage("no-colour-match-before", "the short frame's colour cast is not removed before the network",
             "burstcap/fuse.py",
             "    short_n, short_colour = match_colour(short_n, long_n)\n",
             "    short_colour = np.ones(3, np.float32)\n",
             ("tests/test_fuse.py",)),
    Breakage("profile-ignored-at-fuse", "fusion ignores the camera's noise profile (the map is always estimated)",
             "burstcap/fuse.py",
             "        noise = law_noise_map(short_n, *network_law(noise_law[0], noise_law[1], gain * ratio * short_colour))\n",
             "        noise = estimated_noise_map(short_n)\n",
             ("tests/test_noise_map.py",)),
    Breakage("noise-map-doubled", "the one fuse path gives the network twice the estimated noise map "
             "(every door alike; the known answers ignore the noise map)",
             "burstcap/fuse.py",
             "        noise = estimated_noise_map(short_n)\n",
             "        noise = estimated_noise_map(short_n) * 2  # mutation\n",
             ("tests/test_same_pixels.py", "tests/test_pixels.py")),
    Breakage("ghost-tilts-colour", "the colour gains are a plain ratio of sums (a ghost tilts the balance)",
             "deblurnet/colour.py",
             "    inliers = np.all(np.abs(log_ratio - centre) < OUTLIER_LOG, axis=1)\n",
             "    inliers = np.ones(len(log_ratio), bool)\n",
             ("tests/test_ghost.py",)),
    Breakage("ghost-guard-option-dropped", "the one fuse path does not pass --no-ghost-guard on",
             "burstcap/fuse.py",
             '                "colour_match": self.colour_match, "ghost_guard": self.ghost_guard}\n',
             '                "colour_match": self.colour_match}\n',
             ("tests/test_ghost.py",)),
    Breakage("ensemble-mean-wrong", "the self-ensemble sums its runs instead of averaging them",
             "deblurnet/inference.py",
             "        return total / ensemble\n",
             "        return total\n",
             ("tests/test_pixels.py::test_ensemble_changes_the_output",)),
    Breakage("no-ddp", "torchrun ranks train without averaging their gradients (no DDP wrapper)",
             "deblurnet/train_state.py",
             "        model = DistributedDataParallel(model, device_ids=ids)\n",
             "        model = model\n",
             ("tests/test_torchrun_train.py::test_two_ranks_same_weights_disjoint_shards_one_writer",)),
    Breakage("ema-not-updated", "training never updates the weight average (it stays at the start)",
             "deblurnet/train.py",
             "        update_ema(state.ema, unwrap(state.model), ema_decay_at(state.ema_decay, state.step))\n",
             "        pass\n",
             ("tests/test_train.py::test_train_step_updates_the_weight_average_with_a_warm_up",)),
    Breakage("ema-exports-last-step", "export ships the last step's weights though the run kept an average",
             "deblurnet/export.py",
             "    model.load_state_dict(c.ema if c.ema is not None else c.generator)\n",
             "    model.load_state_dict(c.generator)\n",
             ("tests/test_train.py::test_weight_average_is_checkpointed_resumed_and_exported",)),
    Breakage("fingerprint-misses-a-setting", "the fuse row's fingerprint leaves out the guard: a row made "
             "without it would be reused", "burstcap/evaluation.py",
             '    "device", "threads",  # where it runs\n',
             '    "device", "threads", "ghost_guard",  # where it runs\n',
             ("tests/test_fuse_evaluation.py",)),
    Breakage("raw-set-short-noise-at-base-iso", "the RAW set's short frame gets the long frame's (base ISO) noise",
             "burstcap/raw_testset.py",
             "noisy(window[inner] / under, iso_short, rng)", "noisy(window[inner] / under, BASE_ISO, rng)",
             ("tests/test_raw_testset.py::test_pairs_carry_the_camera_its_exposures_and_its_noise",)),
    Breakage("raw-row-ignores-profile", "the RAW set's 'noise estimated' row runs with the camera's own profile",
             "burstcap/evaluation.py",
             'f"{ROW} (RAW, noise estimated){suffix}": dataclasses.replace(options, profile=GENERIC_NAME),',
             'f"{ROW} (RAW, noise estimated){suffix}": options,',
             ("tests/test_raw_testset.py::test_each_raw_row_uses_its_noise_profile",)),
    Breakage("noise-law-ignores-colour-matrix", "a RAW frame's noise law leaves out its colour matrix's variance gain",
             "burstcap/fuse.py", "    gain = matrix_variance_gain(image.cam_to_srgb)\n", "    gain = np.ones(3, np.float32)\n",
             ("tests/test_noise_map.py::test_raw_noise_law_carries_the_colour_matrix_variance_gain",)),
    Breakage("srgb-brightened", "sRGB files are normalised like RAW ones (a dark JPEG brightened before the network)",
             "burstcap/fuse.py",
             "noise_law=noise.law, display_referred=short.display_referred and long.display_referred)\n",
             "noise_law=noise.law, display_referred=False)\n",
             ("tests/test_fuse.py::test_srgb_files_keep_their_brightness",)),
    Breakage("normalisation-clips-highlights", "the normalisation gain has no cap: a small bright object clips",
             "burstcap/fuse.py",
             "    return target_level / level if top <= 1e-6 else min(target_level / level, 1.0 / top)\n",
             "    return target_level / level\n",
             ("tests/test_fuse.py::test_normalisation_does_not_clip_a_small_bright_object_the_camera_kept",)),
    Breakage("blocking-job-list", "the job list handler blocks the event loop (async def + 50 ms sleep)",
             "burstcap/service/app.py",
             '    def list_jobs(limit: int = Query(config.history, ge=1, le=1000)) -> Response:\n'
             '        """The newest jobs, newest first."""\n',
             '    async def list_jobs(limit: int = Query(config.history, ge=1, le=1000)) -> Response:\n'
             '        """The newest jobs, newest first."""\n'
             '        __import__("time").sleep(0.05)\n',
             ("tests/test_load.py",)),
    Breakage("shoot-blocks-loop", "the shoot handler waits on the event loop while the capture runs",
             "burstcap/service/app.py",
             '    def shoot(body: ShootBody) -> JobView:\n',
             '    async def shoot(body: ShootBody) -> JobView:\n'
             '        try:\n'
             '            job = runner.submit(ShootParams(**body.model_dump()))\n'
             '            while job.state.value == "capturing":  # waits for the capture, on the loop\n'
             '                __import__("time").sleep(0.02)\n'
             '            return JobView.of(job)\n'
             '        except CaptureBusyError:\n'
             '            pass\n',
             ("tests/test_load.py",)),
    Breakage("refiner-ignores-short", "the refinement net is given a zero short frame",
             "deblurnet/models.py",
             "torch.cat([sharp, hand_over, short_p, long_p, noise], dim=1)",
             "torch.cat([sharp, hand_over, torch.zeros_like(short_p), long_p, noise], dim=1)",
             ("tests/test_models.py", "-k refine")),
    Breakage("frozen-base-trains-batch-norm", "train() puts a frozen base back into training mode",
             "deblurnet/models.py",
             "        if self.base_frozen:\n            self.denoise_net.eval()",
             "        if False:\n            self.denoise_net.eval()",
             ("tests/test_train.py", "-k freeze")),
    Breakage("export-recalibrates-frozen-base", "export re-estimates the frozen nets' BatchNorm statistics",
             "deblurnet/export.py",
             "    if tcfg.freeze_base:  # its",
             "    if False:  # its",
             ("tests/test_train.py", "-k refinement_run")),
    Breakage("resume-forgets-freeze", "a resumed refinement run trains the whole network again",
             "deblurnet/train.py",
             "    if checkpoint is not None:  # a resumed run trains",
             "    if False:  # a resumed run trains",
             ("tests/test_train.py", "-k refinement_run")),
    Breakage("spectrum-wrong-radius", "the noise spectrum's bands use the L1 distance in frequency",
             "deblurnet/noise_statistics.py",
             "    radius = np.sqrt(fx ** 2 + fy ** 2)\n",
             "    radius = np.abs(fx) + np.abs(fy)\n",
             ("tests/test_noise_statistics.py",)),
    Breakage("fine-nr-ignored", "the in-camera rendering never applies the finest-scale noise reduction",
             "deblurnet/synth/camera.py",
             "        y = shrink_finest_scale(y, look.fine_nr)\n",
             "        pass  # mutation\n",
             ("tests/test_synth.py", "-k fine")),
    Breakage("grain-not-coarsened", "the in-camera rendering leaves the noise's grain as it is",
             "deblurnet/synth/camera.py",
             "        rgb = clean + coarsen_grain(rgb - clean, look.grain)\n",
             "        rgb = clean + (rgb - clean)\n",
             ("tests/test_synth.py", "-k grain")),
    Breakage("demosaic-error-not-linear", "the truth's demosaic error is taken on its sRGB values, not in linear light",
             "benchmarks/short_frame_bias.py",
             "demosaic_bilinear(mosaic_rggb(srgb_decode(truth)))",
             "demosaic_bilinear(mosaic_rggb(truth))",
             ("tests/test_short_frame_bias.py",)),
    Breakage("burst-startup-ignored", "the GPU burst plans its steps without the run's start-up time",
             "benchmarks/device_train.sh",
             "startup = max(0.0, probe_ms / 1000 - probe_steps * batch / rate)",
             "startup = 0.0",
             ("tests/test_device_train.py",)),
    Breakage("sharp-long-ignored", "stills synthesis ignores the share of near-sharp long frames",
             "deblurnet/synth/stills.py",
             "blur = float(rng.uniform(*(params.sharp_long_blur_px if still else params.blur_px)))",
             "blur = float(rng.uniform(*params.blur_px))",
             ("tests/test_synth.py",)),
    Breakage("sharp-long-always-drawn", "the near-sharp share draws a random number even when off",
             "deblurnet/synth/stills.py",
             "still = params.sharp_long_prob > 0 and rng.random() < params.sharp_long_prob",
             "still = rng.random() < params.sharp_long_prob",
             ("tests/test_synth.py",)),
    Breakage("sharp-long-every-frame", "every long frame is near-sharp whenever the share is above 0",
             "deblurnet/synth/stills.py",
             "still = params.sharp_long_prob > 0 and rng.random() < params.sharp_long_prob",
             "still = params.sharp_long_prob > 0",
             ("tests/test_synth.py",)),
)


def copy_repo(dest: Path) -> None:
    """Tracked and untracked (not ignored) files of the working tree, as they are now."""
    listed = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def pytest_args(tests: tuple[str, ...]) -> list[str]:
    args: list[str] = []
    for item in tests:
        if item.startswith("-k "):
            args += ["-k", item[3:]]
        else:
            args.append(item)
    return args


def run_tests(root: Path, tests: tuple[str, ...], timeout_s: float) -> tuple[set[str], set[str], str]:
    """(passed, failed) test ids and the output tail of ``python -m pytest`` in ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *pytest_args(tests)]
    try:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s)
        out = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        out = f"{exc.stdout or ''}\nTIMEOUT after {timeout_s:.0f} s"
        return set(), {"(timeout)"}, out
    passed = set(re.findall(r"^PASSED (\S+)", out, re.MULTILINE))
    failed = set(re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.MULTILINE))
    return passed, failed, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run this breakage")
    parser.add_argument("--list", action="store_true", help="list the breakages and exit")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per pytest run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args(argv)
    chosen = [b for b in BREAKAGES if not args.only or b.name in args.only]
    unknown = set(args.only) - {b.name for b in BREAKAGES}
    if unknown:
        parser.error(f"unknown breakage(s) {sorted(unknown)}; see --list")
    if args.list:
        for b in chosen:
            print(f"{b.name:24} {b.what}\n{'':24} {b.path}; tests: {' '.join(b.tests)}")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="burstcap-mutation-"))
    root = tmp / "repo"
    try:
        copy_repo(root)
        baseline_tests = tuple(dict.fromkeys(t for b in chosen for t in b.tests if not t.startswith("-k ")))
        start = time.monotonic()
        passed_before, failed_before, out = run_tests(root, baseline_tests, args.timeout)
        print(f"baseline: {len(passed_before)} passed, {len(failed_before)} failed "
              f"({time.monotonic() - start:.0f} s)", flush=True)
        if failed_before:
            print(f"  failing before any breakage (not counted as catching): {sorted(failed_before)}")
        rows: list[tuple[str, str, str]] = []
        for b in chosen:
            target = root / b.path
            original = target.read_text()
            if original.count(b.old) != 1:
                rows.append((b.name, b.what, f"NOT APPLIED: source text found {original.count(b.old)} times"))
                print(f"{b.name}: not applied (source changed)", flush=True)
                continue
            target.write_text(original.replace(b.old, b.new))
            start = time.monotonic()
            try:
                _, failed, out = run_tests(root, b.tests, args.timeout)
            finally:
                target.write_text(original)
            caught = sorted(t for t in failed if t not in failed_before)
            verdict = ", ".join(caught) if caught else "NOTHING"
            rows.append((b.name, b.what, verdict))
            print(f"{b.name}: {verdict} ({time.monotonic() - start:.0f} s)", flush=True)
            if not caught:
                print("  " + "\n  ".join(out.strip().splitlines()[-5:]))
        print("\n| breakage | what | caught by |\n|---|---|---|")
        for name, what, verdict in rows:
            print(f"| {name} | {what} | {verdict} |")
        missed = [r for r in rows if r[2] == "NOTHING"]
        return 1 if missed else 0
    finally:
        if args.keep:
            print(f"copy kept in {root}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
