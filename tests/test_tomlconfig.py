"""tomlconfig: the one TOML-to-dataclass loader of every configuration (training, synthesis, fusion,
service), its errors naming the file and the key, and the CLIs printing them as one line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

import tomlconfig
from burstcap.errors import BurstcapError
from deblurnet.errors import DeblurnetError


def _train(path: Path) -> Any:
    from deblurnet.config import load_toml

    return load_toml(path)


def _synth(path: Path) -> Any:
    from deblurnet.synth.config import SynthConfig

    return SynthConfig.from_toml(path)


def _fuse(path: Path) -> Any:
    from burstcap.fuse import load_options

    return load_options(path)


def _serve(path: Path) -> Any:
    from burstcap.service.config import load_config

    return load_config(path)


#: name -> (loader, its package's error, a file with an unknown key (key), a file with a wrong type
#: (key), a good file, what the good file must give)
CASES: dict[str, tuple[Callable[[Path], Any], type[Exception], tuple[str, str], tuple[str, str], str,
                       Callable[[Any], bool]]] = {
    "train": (_train, DeblurnetError, ("stepz = 3\n", "stepz"), ('steps = "ten"\n', "steps"),
              'steps = 10\nlr = 1\nmodel_options = { widths = [8, 16] }\n[synth]\nsize = 64\n',
              lambda c: (c.steps, c.lr, type(c.lr), c.model_options, c.synth)
              == (10, 1.0, float, {"widths": [8, 16]}, {"size": 64})),
    "synth": (_synth, DeblurnetError, ("[synth]\nsizes = 3\n", "synth.sizes"), ("size = 1.5\n", "size"),
              'size = 64\nframes = [2, 9]\nstills_extra = ["a/b"]\n[camera]\ntime_ratio = [0.1, 1]\n',
              lambda c: (c.size, c.frames, c.stills_extra, c.camera.time_ratio)
              == (64, (2, 9), (Path("a/b"),), (0.1, 1.0))),
    "fuse": (_fuse, BurstcapError, ("[fuse]\ntiles = 3\n", "tiles"), ("[fuse]\ntile = 'big'\n", "tile"),
             '[fuse]\nratio = "1/4"\ntile = 256\nweights = "w.safetensors"\nalign = false\n',
             lambda o: (o.ratio, o.tile, o.weights, o.align) == (4.0, 256, Path("w.safetensors"), False)),
    "serve": (_serve, BurstcapError, ("[serve]\nbogus = 1\n", "bogus"), ("[serve]\nport = '80'\n", "port"),
              '[serve]\nhost = "0.0.0.0"\nport = 9000\nout_dir = "shots"\nevent_interval_s = 1\n',
              lambda c: (c.host, c.port, c.out_dir, c.event_interval_s)
              == ("0.0.0.0", 9000, Path("shots"), 1.0)),
}


@pytest.mark.parametrize("name", CASES)
def test_unknown_key_names_file_key_and_known_ones(name: str, tmp_path: Path) -> None:
    load, error, (text, key), _, _, _ = CASES[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: unknown ") and key in message and "(known: " in message, message
    assert "\n" not in message


@pytest.mark.parametrize("name", CASES)
def test_wrong_type_names_file_and_key(name: str, tmp_path: Path) -> None:
    load, error, _, (text, key), _, _ = CASES[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and f"{key} must be " in message and ", not " in message, message


@pytest.mark.parametrize("name", CASES)
def test_good_file_loads_the_right_values(name: str, tmp_path: Path) -> None:
    load, _, _, _, text, check = CASES[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    assert check(load(path))


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("problem", ["missing", "invalid", "not utf-8"])
def test_unreadable_file_is_named(name: str, problem: str, tmp_path: Path) -> None:
    load, error = CASES[name][:2]
    path = tmp_path / f"{name}.toml"
    if problem == "invalid":
        path.write_text("steps = = 3\n")
    elif problem == "not utf-8":
        path.write_bytes(b"model = '\xff'\n")
    with pytest.raises(error) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: "), str(info.value)


def test_nested_keys_are_dotted_in_a_training_file(tmp_path: Path) -> None:
    from deblurnet.config import load_toml

    path = tmp_path / "train.toml"
    path.write_text('steps = 3\n[synth.camera]\ntime_ratio = [0.1, "x"]\n')
    with pytest.raises(DeblurnetError) as info:
        load_toml(path)
    assert str(info.value) == (f"{path}: synth.camera.time_ratio must be tuple[float, float], "
                               "not [0.1, 'x']")
    path.write_text("[synth.camera]\nbogus = 1\n")
    with pytest.raises(DeblurnetError, match=r"train\.toml: unknown option synth\.camera\.bogus \(known: "):
        load_toml(path)
    path.write_text('[synth]\ncamera = "generic"\n')
    with pytest.raises(DeblurnetError, match=r"train\.toml: synth\.camera must be a table, not 'generic'"):
        load_toml(path)


def test_shipped_training_configs_load() -> None:
    from deblurnet.config import load_toml
    from deblurnet.synth.config import SynthConfig

    configs = [p for p in sorted((Path(__file__).parents[1] / "configs").glob("deblur-*.toml"))]
    assert configs
    for path in configs:
        cfg = load_toml(path)
        SynthConfig.from_dict(cfg.synth)


# ------------------------------------------------------------------------- the loader itself


@dataclasses.dataclass(frozen=True)
class Inner:
    span: tuple[float, float] = (0.0, 1.0)
    count: int = 1


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = "x"
    size: int | None = None
    level: float = 0.5
    on: bool = False
    folder: Path = Path("out")
    extra: tuple[Path, ...] = ()
    sizes: list[int] = dataclasses.field(default_factory=list)
    mode: Literal["fast", "slow"] = "fast"
    table: dict[str, Any] = dataclasses.field(default_factory=dict)
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_from_dict_converts_as_the_hints_say() -> None:
    got = tomlconfig.from_dict(Outer, {"size": 3, "level": 1, "folder": "a/b", "extra": ["c", "d"],
                                       "sizes": [1, 2], "mode": "slow", "table": {"k": [1]},
                                       "inner": {"span": [1, 2]}, "on": True}, source="s")
    assert got == Outer(size=3, level=1.0, on=True, folder=Path("a/b"), extra=(Path("c"), Path("d")),
                        sizes=[1, 2], mode="slow", table={"k": [1]}, inner=Inner(span=(1.0, 2.0)))
    assert isinstance(got.level, float) and isinstance(got.inner.span[0], float)
    assert tomlconfig.from_dict(Outer, {"mode": "slow"}, source="s").inner == Inner()


def test_base_is_the_start_and_nested_tables_merge_onto_it() -> None:
    base = Outer(name="kept", inner=Inner(count=7))
    got = tomlconfig.from_dict(Outer, {"inner": {"span": [0, 2]}}, source="s", base=base)
    assert got == Outer(name="kept", inner=Inner(span=(0.0, 2.0), count=7))
    assert tomlconfig.from_dict(Outer, {}, source="s", base=base) == base


@pytest.mark.parametrize("values, message", [
    ({"size": True}, "f.toml: size must be an integer, not True"),
    ({"level": "1"}, "f.toml: level must be a number, not '1'"),
    ({"on": 1}, "f.toml: on must be true or false, not 1"),
    ({"name": 3}, "f.toml: name must be a string, not 3"),
    ({"folder": 3}, "f.toml: folder must be a string, not 3"),
    ({"extra": "c"}, "f.toml: extra must be tuple[Path, ...], not 'c'"),
    ({"sizes": [1, "2"]}, "f.toml: sizes must be list[int], not [1, '2']"),
    ({"mode": "medium"}, "f.toml: mode must be one of 'fast', 'slow', not 'medium'"),
    ({"table": 3}, "f.toml: table must be a table, not 3"),
    ({"inner": {"span": [1]}}, "f.toml: inner.span must be tuple[float, float], not [1]"),
    ({"inner": {"counts": 1}}, "f.toml: unknown option inner.counts (known: span, count)"),
    ({"bogus": 1}, "f.toml: unknown option bogus (known: name, size, level, on, folder, extra, sizes, "
                   "mode, table, inner)"),
    ({"size": 1, "size_": 2, "si-ze": 3}, "f.toml: unknown option size_"),
])
def test_errors_name_the_source_and_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(tomlconfig.ConfigError) as info:
        tomlconfig.from_dict(Outer, values, source="f.toml")
    assert str(info.value).startswith(message), str(info.value)
    assert isinstance(info.value, ValueError) and info.value.source == "f.toml"


def test_dashes_stand_for_underscores_once() -> None:
    @dataclasses.dataclass
    class C:
        out_dir: str = ""

    assert tomlconfig.from_dict(C, {"out-dir": "a"}, source="s").out_dir == "a"
    with pytest.raises(tomlconfig.ConfigError, match="out_dir is given twice"):
        tomlconfig.from_dict(C, {"out-dir": "a", "out_dir": "b"}, source="s")


def test_load_toml_reads_a_table_and_names_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('name = "top"\n[part]\nname = "in"\nsize = 4\n')
    assert tomlconfig.load_toml(path, Outer, table="part") == Outer(name="in", size=4)
    assert tomlconfig.load_toml(path, Outer, table="absent") == Outer()
    path.write_text("[part]\nsize = 'big'\n")
    with pytest.raises(tomlconfig.ConfigError) as info:
        tomlconfig.load_toml(path, Outer, table="part", noun="setting")
    assert str(info.value) == f"{path}: [part] size must be an integer, not 'big'"
    assert info.value.key == "[part] size"
    path.write_text("part = 3\n")
    with pytest.raises(tomlconfig.ConfigError, match="part must be a table"):
        tomlconfig.load_toml(path, Outer, table="part")
    with pytest.raises(tomlconfig.ConfigError, match="cannot read the configuration"):
        tomlconfig.load_toml(tmp_path / "nowhere.toml", Outer)


def test_tomlconfig_imports_nothing_of_ours() -> None:
    code = ("import sys, tomlconfig; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'isp', 'hardware_profiles', 'deblurnet', 'burstcap', 'numpy', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------- command lines


def _one_line(err: str, *parts: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in err, err


@pytest.mark.parametrize("command", ["fuse", "process", "shoot"])
def test_burstcap_bad_config_is_one_line_naming_file_and_key(command: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    from burstcap.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text("[fuse]\nensemble = 2.5\n")
    argv = {"fuse": ["fuse", "s.png", "l.png", "-o", str(tmp_path / "o.png")],
            "process": ["process", str(tmp_path)],
            "shoot": ["shoot", "--ratio", "1/8"]}[command]
    assert main([*argv, "--config", str(bad)]) == 2
    _one_line(capsys.readouterr().err, "burstcap: error: ", f"{bad}: ensemble must be an integer, not 2.5")
    bad.write_text("[fuse]\nensembles = 2\n")
    assert main([*argv, "--config", str(bad)]) == 2
    _one_line(capsys.readouterr().err, f"{bad}: unknown fuse option ensembles")


def test_deblurnet_bad_config_is_one_line_naming_file_and_key(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    from deblurnet.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text("steps = 3\n[synth.gopro2]\nblur_frames = [5, 13.5]\n")
    assert main(["train", "--config", str(bad)]) == 2
    _one_line(capsys.readouterr().err, "deblurnet: error: ", f"{bad}: synth.gopro2.blur_frames must be")


def test_serve_bad_config_is_one_line_naming_file_and_key(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    from burstcap.cli import main

    bad = tmp_path / "serve.toml"
    bad.write_text("[serve]\nhistory = 'many'\n")
    assert main(["serve", "--config", str(bad), "--out", str(tmp_path / "out"), "--no-qr"]) == 2
    _one_line(capsys.readouterr().err, f"{bad}: [serve] history must be an integer, not 'many'")


@pytest.mark.parametrize("argv, expected", [
    (["fuse", "s.png", "l.png", "-o", "o.png", "--device", "cpu", "--ratio", "1/4", "--tile", "0"],
     {"model": "deblur-merger", "device": "cpu", "ratio": 4.0, "tile": 0, "ensemble": 2}),
    (["process", "dir", "--device", "cpu", "--no-ghost-guard"],
     {"model": "deblur-merger", "device": "cpu", "ghost_guard": False, "ensemble": 2, "ratio": None}),
    (["shoot", "--ratio", "1/4", "--model", "deblur-rnn"],
     {"model": "deblur-rnn", "device": "auto", "ensemble": 2, "ratio": None}),
])
def test_one_way_from_command_line_to_fuse_options(argv: list[str], expected: dict[str, Any],
                                                   tmp_path: Path) -> None:
    """Defaults, then the [fuse] table of --config, then the command line, for every fusing command
    (shoot's --ratio is the capture's, not a fusion option)."""
    from burstcap.cli import build_parser
    from burstcap.commands.options import fuse_options_from_args

    config = tmp_path / "fuse.toml"
    config.write_text('[fuse]\nmodel = "deblur-merger"\nensemble = 2\n')
    args = build_parser().parse_args([*argv, "--config", str(config)])
    options = fuse_options_from_args(args, config=args.config,
                                     ratio=args.ratio if argv[0] == "fuse" else None)
    assert {k: getattr(options, k) for k in expected} == expected


def test_serve_builds_fuse_options_the_same_way() -> None:
    from burstcap.cli import build_parser
    from burstcap.commands.options import fuse_options_from_args
    from burstcap.fuse import FuseOptions

    args = build_parser().parse_args(["serve", "--device", "cpu"])
    assert fuse_options_from_args(args) == FuseOptions(device="cpu")
    assert fuse_options_from_args(build_parser().parse_args(["serve"])) == FuseOptions()


def test_user_errors_are_listed_once() -> None:
    import burstcap.cli
    import burstcap.errors
    import burstcap.service.runner

    assert burstcap.cli.USER_ERRORS is burstcap.errors.USER_ERRORS is burstcap.service.runner.USER_ERRORS
