"""The training loop and checkpoints, with a tiny model on a few 32x32 photos (the whole file takes seconds)."""
import functools
import hashlib
import json
import math
import re
import time

import numpy as np
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn

from lic import data, models
from lic.entropy import FactorizedDensity
from lic.models import LearnedModel
from lic.__main__ import main
from lic.checkpoints import (CheckpointError, distinct_runs, load_checkpoint, read_provenance, save_checkpoint,
                             training_cost, training_runs)
from lic.train import (DeviceSettings, TrainConfig, TrainSettings, default_device, learning_rate, load_config,
                       train)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

EXACT = 0.1 + 1e-7  # not representable in fp16: a buffer holding it must come back unchanged


class Tiny(LearnedModel):
    """A 4x-downsampling learned codec with a factorized prior, and one buffer that fp16 cannot hold."""

    stride = 4

    def __init__(self, channels: int = 4, lmbda: float = 0.01) -> None:
        super().__init__()
        self.lmbda, self.lambdas = lmbda, (lmbda,)
        self.encoder = nn.Conv2d(3, channels, 4, stride=4)
        self.decoder = nn.ConvTranspose2d(channels, 3, 4, stride=4)
        self.entropy = FactorizedDensity(channels)
        self.register_buffer("scale_table", torch.full((3,), EXACT))

    def analysis(self, x: torch.Tensor, rate: int = 0) -> torch.Tensor:
        return self.encoder(x)

    def synthesis(self, y_hat: torch.Tensor, rate: int = 0) -> torch.Tensor:
        return self.decoder(y_hat)


@pytest.fixture
def config_path(tmp_path, monkeypatch):
    """A repository-like folder: pyproject.toml, 6 smooth 32x32 photos, a config; Tiny registered."""
    monkeypatch.setitem(models.MODELS, "tiny", Tiny)
    monkeypatch.setenv("LIC_WEIGHTS", str(tmp_path / "checkpoints"))  # the default output folder
    monkeypatch.setattr(data, "evaluation_set", lambda: [("eval", _photo(99, 20, 28))])
    # 6 crops an epoch, 3 batches: the runs below cross epochs and resume in mid-epoch
    monkeypatch.setattr(data, "training_loader", functools.partial(data.training_loader, length=6))
    (tmp_path / "pyproject.toml").touch()
    (tmp_path / "photos").mkdir()
    for i in range(6):
        data.save_image(_photo(i, 32, 32), tmp_path / "photos" / f"{i}.png")
    path = tmp_path / "configs" / "tiny.toml"
    path.parent.mkdir()
    path.write_text(_toml())
    return path


def _photo(seed: int, h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    colour = torch.rand(3, 1, 1, generator=g)
    return (colour * yy + (1 - colour) * xx + 0.05 * torch.rand(3, h, w, generator=g)).clamp(0, 1)


def _toml(**train) -> str:
    settings = {"data": '"photos"', "crop": 16, "batch_size": 2, "lr": 1e-2, "cpu_steps": 4, "eval_every": 1000,
                "log_every": 1, **train}
    lines = "\n".join(f"{k} = {v}" for k, v in settings.items())
    return f'model = "tiny"\n[model_args]\nchannels = 4\n[train]\n{lines}\n[output]\nname = "tiny-q1"\n'


def test_loss_decreases_and_checkpoints_are_written(config_path, tmp_path):
    config = load_config(config_path)
    assert config.data_folder == tmp_path / "photos"
    model, history = train(config, steps=20, progress=False)
    assert [h["step"] for h in history] == list(range(1, 21))
    assert np.mean([h["loss"] for h in history[-5:]]) < 0.7 * np.mean([h["loss"] for h in history[:5]])
    assert history[15]["lr"] == pytest.approx(1e-2) and history[16]["lr"] == pytest.approx(1e-3)  # lr_drop_at 0.8
    assert {"bpp", "psnr", "eval_bpp", "eval_psnr"} <= history[-1].keys()
    assert not model.training
    provenance = json.loads((tmp_path / "checkpoints" / "tiny-q1.json").read_text())
    assert provenance["steps"] == 20 and provenance["model"] == "tiny" and provenance["model_args"] == {"channels": 4}
    assert provenance["config"] == config.to_dict()
    assert provenance["data"] == {"folder": "photos", "images": 6}
    assert provenance["device"].startswith("cpu (") and provenance["torch"] == torch.__version__
    assert provenance["metrics"]["eval_psnr"] == history[-1]["eval_psnr"]
    assert set(provenance["git"]) == {"commit", "dirty"} and provenance["wall_time_s"] > 0
    weights = (tmp_path / "checkpoints" / "tiny-q1.safetensors").read_bytes()
    assert provenance["sha256"] == hashlib.sha256(weights).hexdigest()
    with pytest.raises(ValueError, match="exists"):
        train(config, steps=1, progress=False)


def test_checkpoint_round_trip_keeps_buffers_exact(config_path, tmp_path):
    config = load_config(config_path)
    model = Tiny()
    with torch.no_grad():
        model.decoder.weight.add_(0.123456789)
    save_checkpoint(model, tmp_path / "m", config.to_dict(), {"steps": 0})
    with safe_open(tmp_path / "m.safetensors", framework="pt") as f:
        dtypes = {k: f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes["decoder.weight"] == torch.float16
    assert dtypes["entropy.pmf_counts"] == torch.int32 and dtypes["scale_table"] == torch.float32
    loaded = load_checkpoint(tmp_path / "m")
    assert isinstance(loaded, Tiny) and not loaded.training
    for name, p in model.named_parameters():
        assert torch.equal(dict(loaded.named_parameters())[name], p.detach().half().float()), name
    assert torch.equal(loaded.entropy.pmf_counts, model.entropy.pmf_counts) and len(loaded.entropy.pmf_counts) == 4
    assert torch.equal(loaded.scale_table, torch.full((3,), EXACT))
    assert torch.equal(load_checkpoint(tmp_path / "m.safetensors").entropy.table_medians, model.entropy.table_medians)


def test_tampered_missing_or_unknown_checkpoints_are_refused(config_path, tmp_path):
    save_checkpoint(Tiny(), tmp_path / "m", load_config(config_path).to_dict())
    weights, provenance = tmp_path / "m.safetensors", tmp_path / "m.json"
    payload = bytearray(weights.read_bytes())
    payload[-1] ^= 1
    weights.write_bytes(payload)
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / "m")
    weights.unlink()
    with pytest.raises(CheckpointError, match="no checkpoint weights"):
        load_checkpoint(tmp_path / "m")
    save_checkpoint(Tiny(), tmp_path / "m", load_config(config_path).to_dict())
    provenance.write_text(provenance.read_text().replace('"model": "tiny"', '"model": "nope"'))
    with pytest.raises(CheckpointError, match="unknown model 'nope'"):
        load_checkpoint(tmp_path / "m")
    with pytest.raises(CheckpointError, match="no checkpoint provenance"):
        load_checkpoint(tmp_path / "other")


def test_resume_is_bit_exact(config_path, tmp_path):
    config = load_config(config_path)
    straight, history = train(config, steps=5, out_dir=tmp_path / "a", progress=False)
    train(config, steps=2, out_dir=tmp_path / "b", progress=False)
    resumed, resumed_history = train(config, steps=5, out_dir=tmp_path / "b", resume=True, progress=False)
    state, resumed_state = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(state[k], resumed_state[k]) for k in state)
    assert [h["loss"] for h in history] == [h["loss"] for h in resumed_history]
    assert json.loads((tmp_path / "b" / "tiny-q1.json").read_text())["steps"] == 5
    changed = TrainConfig.from_dict({**config.to_dict(), "train": {**config.to_dict()["train"], "lr": 0.5}},
                                    root=config.root)
    with pytest.raises(CheckpointError, match="another config"):
        train(changed, steps=6, out_dir=tmp_path / "b", resume=True, progress=False)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(config, out_dir=tmp_path / "c", resume=True, progress=False)


@pytest.mark.parametrize("text, message", [
    (_toml(bach_size=2), "unknown key 'bach_size' in \\[train\\] \\(did you mean 'batch_size'\\?\\)"),
    (_toml().replace('"tiny"\n', '"tinny"\n', 1), "unknown model 'tinny' \\(did you mean 'tiny'\\?\\)"),
    (_toml().replace("channels", "width"), "do not fit tiny"),
    (_toml(crop='"big"'), "crop must be of type int"),
    (_toml(lr=0), "lr must be positive"),
    (_toml(lr_drop_at=1.5), "lr_drop_at must be in"),
    (_toml(schedule='"linear"'), "schedule must be one of step, cosine"),
    (_toml(warmup_steps=-1), "warmup_steps must be >= 0"),
    (_toml().replace('name = "tiny-q1"', 'name = "a/b"'), "\\[output\\] name"),
    (_toml() + "epochs = 3\n", "unknown key 'epochs' in \\[output\\]"),
    ("mode = 'tiny'\n", "unknown key 'mode' in the top level \\(did you mean 'model'\\?\\)"),
    ("model = [\n", "not valid TOML"),
])
def test_config_errors_name_the_problem(config_path, text, message):
    config_path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(config_path)


def test_overrides_replace_one_key_each_and_are_validated_like_the_file(config_path, tmp_path):
    config = load_config(config_path, ["train.seed=101", "output.name=tiny-s101", "train.data=.cache/pool"])
    assert (config.train.seed, config.name, config.data_folder.name) == (101, "tiny-s101", "pool")
    assert main(["train", str(config_path), "--steps", "2", "--set", "train.seed=7", "--set", "output.name=tiny-s7",
                 "--out", str(tmp_path), "-q"]) == 0
    assert json.loads((tmp_path / "tiny-s7.json").read_text())["config"]["train"]["seed"] == 7
    with pytest.raises(ValueError, match="seed must be >= 0"):
        load_config(config_path, ["train.seed=-1"])
    with pytest.raises(ValueError, match="TABLE.KEY=VALUE"):
        load_config(config_path, ["seed=1"])


def test_a_visible_gpu_is_used_with_the_configs_gpu_settings(monkeypatch):
    """Colab's GPU runtime: training picks CUDA and the larger crops, batches and budget meant for it."""
    settings = load_config(CONFIGS / "wen2019-q5.toml").train
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")
    assert settings.on(default_device()) == DeviceSettings(settings.cpu_steps, settings.cpu_crop,
                                                           settings.cpu_batch_size, settings.cpu_lr)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")
    gpu = settings.on(default_device())
    assert gpu == DeviceSettings(settings.gpu_steps, settings.crop, settings.batch_size, settings.lr)
    assert gpu.steps > settings.cpu_steps and gpu.crop > settings.cpu_crop
    assert settings.on("cuda:1") == gpu
    # cpu_* values of 0 mean "as on the GPU"
    assert TrainSettings(crop=64, batch_size=4, lr=1e-3).on("cpu") == DeviceSettings(200, 64, 4, 1e-3)


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_minutes_budget_stops_in_time(config_path, tmp_path, clock):
    _, history = train(load_config(config_path), minutes=0.01, clock=clock, out_dir=tmp_path, progress=False)
    provenance = json.loads((tmp_path / "tiny-q1.json").read_text())
    assert provenance["budget"] == {"minutes": 0.01, "clock": clock} and provenance["steps"] == history[-1]["step"] >= 1
    spent = history[-1]["time_s" if clock == "wall" else "cpu_s"]
    assert 0.6 <= spent < 10
    run = provenance["runs"][-1]
    assert 0 < run["cpu_time_s"] and run["wall_time_s"] > 0


def test_a_cpu_budget_does_not_count_time_spent_waiting():
    from lic.train.loop import Clock

    clock = Clock(wall=10.0, cpu=4.0)
    time.sleep(0.3)
    assert clock.wall() >= 10.3 and clock.cpu() < 4.2


def test_command_line(config_path, tmp_path, capsys):
    assert main(["train", str(config_path), "--steps", "3", "--out", str(tmp_path / "out"), "-q"]) == 0
    assert "tiny-q1.safetensors: 3 steps" in capsys.readouterr().out
    assert len(load_checkpoint(tmp_path / "out" / "tiny-q1").entropy.pmf_counts) == 4  # a table per channel
    assert main(["train", str(config_path), "--steps", "3", "--out", str(tmp_path / "out"), "-q"]) == 1
    assert "exists" in capsys.readouterr().err


def test_a_copy_without_git_names_its_commit_in_the_environment(config_path, tmp_path, monkeypatch):
    monkeypatch.setenv("LIC_GIT_COMMIT", "0123abc")
    save_checkpoint(Tiny(), tmp_path / "m", load_config(config_path).to_dict())
    assert json.loads((tmp_path / "m.json").read_text())["git"] == {"commit": "0123abc", "dirty": None}


def test_train_release_runs_configs_side_by_side_and_reports_failures(tmp_path, capsys, monkeypatch):
    """scripts/train_release.py: one process per config, sharing the cores; a summary table; exit 1 if a run failed."""
    import importlib.util
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    spec = importlib.util.spec_from_file_location("train_release", ROOT / "scripts" / "train_release.py")
    release = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(release)
    broken = tmp_path / "broken.toml"
    broken.write_text('model = "nope"\n[output]\nname = "broken"\n')
    not_toml = tmp_path / "not_toml.toml"
    not_toml.write_text("model = \n")
    status = release.main([str(CONFIGS / "conv-ae-q1.toml"), str(broken), str(not_toml), "--steps", "1",
                           "--out", str(tmp_path / "out"), "--device", "cpu"])
    captured = capsys.readouterr()
    assert status == 1
    provenance = json.loads((tmp_path / "out" / "conv-ae-q1.json").read_text())
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert provenance["steps"] == 1 and provenance["device"] == f"cpu ({threads} thread{'s' * (threads > 1)})"
    table = dict(line.split(maxsplit=1) for line in captured.out.splitlines()[-4:])
    assert table["conv-ae-q1"].startswith("1 ") and table["broken"] == table["not_toml"] == "(no checkpoint)"
    assert "broken.toml FAILED" in captured.err and "unknown model 'nope'" in captured.err
    assert "not_toml.toml FAILED" in captured.err and "not valid TOML" in captured.err


def test_cosine_schedule_warms_up_then_decays_to_its_floor():
    t = TrainSettings(schedule="cosine", warmup_steps=10, min_lr_fraction=0.1)
    lrs = [learning_rate(t, 1.0, step, step / 100) for step in range(101)]
    assert lrs[0] == pytest.approx(0.01)
    assert lrs[5] == pytest.approx((0.01 + 0.99 * 0.5) * (0.1 + 0.9 * 0.5 * (1 + math.cos(0.05 * math.pi))))
    assert max(lrs) == lrs[10] and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[50] == pytest.approx(0.55) and lrs[100] == pytest.approx(0.1)
    step = TrainSettings(lr_drop_at=0.5)
    assert [learning_rate(step, 1.0, 0, d) for d in (0.0, 0.49, 0.5)] == [1.0, 1.0, pytest.approx(0.1)]


def test_init_warm_starts_and_the_provenance_keeps_the_chain(config_path, tmp_path):
    config = load_config(config_path)
    base, _ = train(config, steps=3, out_dir=tmp_path / "base", progress=False)
    finetune = TrainConfig.from_dict({**config.to_dict(), "model_args": {"channels": 4, "lmbda": 0.05},
                                      "output": {"name": "tiny-q2"}}, root=config.root)
    tuned, history = train(finetune, steps=2, out_dir=tmp_path / "ft", init=tmp_path / "base" / "tiny-q1",
                           progress=False)
    provenance = read_provenance(tmp_path / "ft" / "tiny-q2")
    assert provenance["init"] == {"checkpoint": "tiny-q1", "sha256": read_provenance(tmp_path / "base" / "tiny-q1")["sha256"]}
    runs = training_runs(provenance)
    assert [(r["name"], r["steps"]) for r in runs] == [("tiny-q1", 3), ("tiny-q2", 2)]
    assert runs[1]["model_args"] == {"channels": 4, "lmbda": 0.05} and runs[1]["threads"] == torch.get_num_threads()
    cost = training_cost(provenance)
    assert cost["runs"] == 2 and cost["steps"] == 5
    assert cost["cpu_hours"] == pytest.approx(sum(r["cpu_hours"] for r in runs))
    # the base run both checkpoints share counts once
    assert distinct_runs([read_provenance(tmp_path / "base" / "tiny-q1"), provenance]) == runs
    # the first step of the fine-tune starts from the base weights, not from a fresh model
    fresh, _ = train(finetune, steps=2, out_dir=tmp_path / "fresh", progress=False)
    assert not torch.equal(fresh.encoder.weight, tuned.encoder.weight)
    # a resumed fine-tune keeps its chain
    train(finetune, steps=3, out_dir=tmp_path / "ft", resume=True, progress=False)
    assert [r["steps"] for r in training_runs(read_provenance(tmp_path / "ft" / "tiny-q2"))] == [3, 3]


def test_checkpoints_without_a_chain_report_one_run(tmp_path):
    legacy = {"steps": 1500, "wall_time_s": 3600.0, "device": "cpu (2 threads)", "lr": 0.001,
              "git": {"commit": "abc"}, "config": {"output": {"name": "old"}}}
    assert training_runs(legacy) == [{"name": "old", "steps": 1500, "wall_time_s": 3600.0, "device": "cpu (2 threads)",
                                      "threads": 2, "cpu_hours": 2.0, "lr": 0.001, "commit": "abc"}]
    assert training_cost(legacy) == {"runs": 1, "steps": 1500, "wall_hours": 1.0, "cpu_hours": 2.0}


def test_init_refuses_another_model(config_path, tmp_path, monkeypatch):
    class Other(Tiny):
        pass

    monkeypatch.setitem(models.MODELS, "other", Other)
    config = load_config(config_path)
    other = TrainConfig.from_dict({**config.to_dict(), "model": "other"}, root=config.root)
    train(other, steps=1, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="cannot initialise"):
        train(config, steps=1, out_dir=tmp_path / "x", init=tmp_path / "tiny-q1", progress=False)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_config_loads_builds_its_model_and_names_its_checkpoint_after_itself(path):
    config = load_config(path)
    assert config.name == path.stem
    model = models.MODELS[config.model](**config.model_args)
    assert sum(p.numel() for p in model.parameters()) > 0


SHIPPED_WITH_CONFIG = sorted(p.stem for p in (ROOT / "src" / "lic" / "weights").glob("*.json")
                             if (CONFIGS / f"{p.stem}.toml").exists())


@pytest.mark.parametrize("stem", SHIPPED_WITH_CONFIG)
def test_a_shipped_checkpoint_was_trained_with_its_configs_model_and_lambda(stem):
    """λ is typed in a config, in the λ grid and in the provenance: they must agree."""
    config = load_config(CONFIGS / f"{stem}.toml")
    provenance = read_provenance(ROOT / "src" / "lic" / "weights" / stem)
    assert provenance["model"] == config.model
    assert provenance["model_args"] == config.model_args
    if (quality := re.fullmatch(r"(balle2017|minnen2018|wen2019)-q(\d)", stem)) is not None:
        from lic.models.base import LAMBDAS
        assert config.model_args["lmbda"] == LAMBDAS[int(quality.group(2)) - 1]


def test_a_fine_tunes_training_curve_starts_where_its_parent_ended():
    from lic.checkpoints import training_curve

    base_run = {"name": "base", "steps": 20, "cpu_time_s": 120.0, "threads": 1}
    tune_run = {"name": "tune", "steps": 10, "cpu_time_s": 60.0, "threads": 1}
    provenances = {
        "base": {"runs": [base_run], "history": [{"step": 10, "cpu_s": 60.0, "eval_psnr": 25.0, "eval_bpp": 0.5},
                                                 {"step": 20, "cpu_s": 120.0, "eval_psnr": 26.0, "eval_bpp": 0.45}]},
        "tune": {"runs": [base_run, tune_run], "history": [{"step": 10, "cpu_s": 60.0, "eval_psnr": 27.0, "eval_bpp": 0.6}]},
        # a checkpoint that continued itself names itself as its parent: no endless recursion
        "again": {"runs": [{**base_run, "name": "again"}, {**tune_run, "name": "again"}],
                  "history": [{"step": 5, "time_s": 30.0, "eval_psnr": 28.0, "eval_bpp": 0.7}]},
    }
    assert training_curve("base", provenances) == [(1.0, 25.0, 0.5), (2.0, 26.0, 0.45)]
    assert training_curve("tune", provenances) == [(2.0, 26.0, 0.45), (3.0, 27.0, 0.6)]
    assert training_curve("again", provenances) == [(2.5, 28.0, 0.7)]


@pytest.mark.parametrize("name, args", [("balle2017", {"N": 8, "M": 12}),
                                        ("minnen2018", {"N": 8, "M": 12, "lmbda": 0.013})])
def test_saved_coding_tables_are_those_of_the_stored_weights(name, args, tmp_path):
    """A model that rebuilds its tables from the file (``update()``) codes exactly like the file's
    tables: they are built from the fp16 / int8 weights that are stored, not the training ones."""
    torch.manual_seed(0)
    model = models.MODELS[name](**args)
    with torch.no_grad():  # move the weights off their round initial values, as training does
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_checkpoint(model, tmp_path / "tiny", {"model": name, "model_args": args})
    loaded = load_checkpoint(tmp_path / "tiny")
    stored = {k: v.clone() for k, v in loaded.named_buffers()}
    loaded.update()
    rebuilt = dict(loaded.named_buffers())
    assert stored.keys() == rebuilt.keys()
    for key, table in stored.items():
        assert torch.equal(rebuilt[key], table), key
