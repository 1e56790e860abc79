"""The one training loop of the book, and checkpoints as safetensors + JSON provenance.

A run is described by a TOML file under ``configs/`` (see :class:`TrainConfig`) and sized by a
budget: ``gpu_steps`` on a GPU, ``cpu_steps`` on CPU, or an explicit number of steps or minutes.
Everything is seeded, and a run interrupted at a checkpoint resumes bit-exactly on CPU.

Files written for a config whose ``[output] name`` is ``NAME``::

    NAME.safetensors        weights to ship: parameters in fp16, buffers (CDF tables ...) exact
    NAME.json               provenance: config, steps, time, device, git commit, metrics, sha256
    NAME.state.safetensors  resume state (fp32 weights, optimiser moments, RNG); never shipped

Nothing is ever pickled: tensors go to safetensors, everything else to JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import inspect
import json
import math
import os
import random
import re
import subprocess
import time
import tomllib
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn
from tqdm import tqdm

from . import data, models

CLIP_NORM = 1.0  # gradient clipping (global L2 norm of the main parameters)
EVAL_PAD = 64  # evaluation images are padded to a multiple of this (the models' total stride)
FP16_MAX = torch.finfo(torch.float16).max


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted or used: missing file, sha256 mismatch, unknown model."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainSettings:
    """The ``[train]`` table of a config; every key is optional."""

    data: str = "data/train"  # folder of photos, relative to the repository root or absolute
    crop: int = 256  # side of the random square training crops
    batch_size: int = 8
    lr: float = 1e-4  # Adam learning rate of the model
    aux_lr: float = 1e-3  # Adam learning rate of the entropy models' quantiles (aux loss)
    seed: int = 0
    gpu_steps: int = 200_000  # default budget on a GPU
    cpu_steps: int = 200  # default budget on CPU (CI, readers without a GPU)
    cpu_crop: int = 0  # crop side on CPU (0: same as crop)
    cpu_batch_size: int = 0  # batch size on CPU (0: same as batch_size)
    cpu_lr: float = 0.0  # learning rate on CPU, where budgets are short (0: same as lr)
    lr_drop_at: float = 0.8  # schedule "step": fraction of the budget after which lr /= 10 (1.0: never)
    schedule: str = "step"  # "step" (lr /= 10 at lr_drop_at) or "cosine" (warm-up, then cosine decay)
    warmup_steps: int = 0  # linear warm-up from lr/100 over this many steps (both schedules)
    min_lr_fraction: float = 0.01  # schedule "cosine": the last step's lr as a fraction of lr
    eval_every: int = 1000  # steps between evaluations (each one also saves a checkpoint)
    eval_images: int = 2  # how many images of data.evaluation_set() to evaluate on
    log_every: int = 100  # steps between entries of the training history


_TYPES = {"int": int, "float": (int, float), "str": str}
SCHEDULES = ("step", "cosine")
_POSITIVE = {"crop", "batch_size", "lr", "aux_lr", "gpu_steps", "cpu_steps", "eval_every", "log_every"}


@dataclass(frozen=True)
class TrainConfig:
    """A whole training config: ``model``, ``[model_args]``, ``[train]`` and ``[output] name``."""

    model: str
    name: str  # [output] name: the checkpoint files' stem
    model_args: dict[str, Any] = field(default_factory=dict)
    train: TrainSettings = field(default_factory=TrainSettings)
    root: Path = Path(".")  # where relative paths in the config are resolved (not part of the file)

    @property
    def data_folder(self) -> Path:
        """The training photo folder, resolved against :attr:`root`."""
        return self.root / self.train.data

    def to_dict(self) -> dict[str, Any]:
        """The config as its TOML file would read it (``from_dict(to_dict())`` round-trips)."""
        return {"model": self.model, "model_args": dict(self.model_args),
                "train": dataclasses.asdict(self.train), "output": {"name": self.name}}

    @classmethod
    def from_dict(cls, table: dict[str, Any], root: str | Path = ".", source: str = "config") -> TrainConfig:
        """Validate a parsed config; errors are ``ValueError`` naming ``source`` and the bad key."""
        _check_keys(table, {"model", "model_args", "train", "output"}, source, "the top level")
        model = table.get("model")
        if not isinstance(model, str):
            raise ValueError(f"{source}: 'model' must be given as a string, e.g. model = \"balle2017\"")
        registry = models.MODELS
        if model not in registry:
            raise ValueError(f"{source}: unknown model {model!r}{_suggest(model, registry)}; "
                             f"known models: {', '.join(sorted(registry)) or '(none)'}")
        model_args = _table(table, "model_args", source)
        try:
            inspect.signature(registry[model]).bind(**model_args)
        except TypeError as err:
            raise ValueError(f"{source}: [model_args] do not fit {model}: {err}") from None
        train_table = _table(table, "train", source)
        fields = {f.name: f for f in dataclasses.fields(TrainSettings)}
        _check_keys(train_table, set(fields), source, "[train]")
        for key, value in train_table.items():
            expected = _TYPES[fields[key].type]
            if isinstance(value, bool) or not isinstance(value, expected):
                raise ValueError(f"{source}: [train] {key} must be of type {fields[key].type}, got {value!r}")
            if key in _POSITIVE and value <= 0 or key in ("seed", "eval_images", "cpu_crop", "cpu_batch_size", "cpu_lr", "warmup_steps") and value < 0:
                raise ValueError(f"{source}: [train] {key} must be {'positive' if key in _POSITIVE else '>= 0'}, "
                                 f"got {value!r}")
        if train_table.get("schedule", TrainSettings.schedule) not in SCHEDULES:
            raise ValueError(f"{source}: [train] schedule must be one of {', '.join(SCHEDULES)}, "
                             f"got {train_table['schedule']!r}")
        if not 0 <= train_table.get("min_lr_fraction", TrainSettings.min_lr_fraction) <= 1:
            raise ValueError(f"{source}: [train] min_lr_fraction must be in [0, 1], got {train_table['min_lr_fraction']!r}")
        if not 0 < train_table.get("lr_drop_at", TrainSettings.lr_drop_at) <= 1:
            raise ValueError(f"{source}: [train] lr_drop_at must be in (0, 1], got {train_table['lr_drop_at']!r}")
        output = _table(table, "output", source)
        _check_keys(output, {"name"}, source, "[output]")
        name = output.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError(f"{source}: [output] name must be a file stem of letters, digits, '.', '_' "
                             f"and '-', got {name!r}")
        settings = TrainSettings(**{k: float(v) if fields[k].type == "float" else v for k, v in train_table.items()})
        return cls(model=model, name=name, model_args=model_args, train=settings, root=Path(root))


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(table: dict[str, Any], allowed: set[str], source: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(f"{source}: unknown key {key!r} in {where}{_suggest(key, allowed)}; "
                             f"allowed: {', '.join(sorted(allowed))}")


def _table(table: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{source}: {key!r} must be a table ([{key}]), got {value!r}")
    return value


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a TOML config.

    Relative paths in it are resolved against the repository root: the nearest folder above the
    config that holds a ``pyproject.toml`` (else the config's own folder).
    """
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    root = next((p for p in path.resolve().parents if (p / "pyproject.toml").is_file()), path.resolve().parent)
    return TrainConfig.from_dict(table, root=root, source=str(path))


# --------------------------------------------------------------------------- checkpoints


def _paths(stem: str | Path) -> tuple[Path, Path, Path]:
    """``stem`` -> (weights, provenance, resume state) paths; a ``.safetensors``/``.json`` suffix is dropped."""
    stem = re.sub(r"(\.state)?\.(safetensors|json)$", "", str(stem))
    return Path(stem + ".safetensors"), Path(stem + ".json"), Path(stem + ".state.safetensors")


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write via a temporary file and a rename, so an interrupted run never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def _weights(model: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The state dict on CPU with floating *parameters* cast to ``dtype``; buffers keep their dtype.

    A parameter that would overflow fp16 stays fp32.
    """
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    out = {}
    for key, t in model.state_dict().items():
        t = t.detach().cpu()
        if key in params and t.is_floating_point() and (dtype != torch.float16 or t.abs().max() <= FP16_MAX):
            t = t.to(dtype)
        out[key] = t.contiguous().clone()
    return out


def _load_weights(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load ``tensors`` into ``model`` (cast to the model's dtypes).

    Buffers whose shape or dtype was changed by ``update()`` (e.g. CDF tables) take the saved ones.
    """
    buffers = dict(model.named_buffers())
    for key, t in tensors.items():
        own = buffers.get(key)
        if own is not None and (own.shape != t.shape or own.dtype != t.dtype):
            module, _, name = key.rpartition(".")
            model.get_submodule(module).register_buffer(name, torch.empty_like(t, device=own.device))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as err:
        raise CheckpointError(f"the weights do not fit the model: {err}") from None


def _git() -> dict[str, Any]:
    """The commit of the code that runs and whether the tree was dirty.

    A copy of the code without ``.git`` (a container, a remote GPU machine) can name its commit in
    the environment variable ``LIC_GIT_COMMIT``; otherwise it records ``"unknown"``.
    """
    if commit := os.environ.get("LIC_GIT_COMMIT"):
        return {"commit": commit, "dirty": None}
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def save_checkpoint(model: nn.Module, path_stem: str | Path, config: TrainConfig,
                    extra_provenance: dict[str, Any] | None = None, *,
                    dtype: torch.dtype = torch.float16) -> Path:
    """Write ``<stem>.safetensors`` (floating parameters in ``dtype``) and ``<stem>.json``.

    Calls ``model.update()`` first when the model has one (integer CDF tables for coding). The JSON
    holds the model name and arguments, the whole config, torch version, git commit, creation date
    and the weights' sha256, plus ``extra_provenance`` (steps, wall time, device, metrics ...).
    Returns the weights' path.
    """
    weights_path, json_path, _ = _paths(path_stem)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "update"):
        was_training = model.training
        with torch.no_grad():
            model.eval().update()
        model.train(was_training)
    payload = save_safetensors(_weights(model, dtype), metadata={"model": config.model})
    _write_atomic(weights_path, payload)
    provenance = {
        "model": config.model,
        "model_args": config.model_args,
        "config": config.to_dict(),
        "torch": torch.__version__,
        "git": _git(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "weights_dtype": str(dtype).removeprefix("torch."),
        **(extra_provenance or {}),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    _write_atomic(json_path, (json.dumps(provenance, indent=1) + "\n").encode())
    return weights_path


def read_provenance(path_stem: str | Path) -> dict[str, Any]:
    """The provenance JSON of a checkpoint (no verification: see :func:`load_checkpoint`)."""
    _, json_path, _ = _paths(path_stem)
    try:
        return json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint provenance {json_path}") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{json_path} is not valid JSON: {err}") from None


def training_runs(provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """The chain of training runs behind a checkpoint, oldest first (see :func:`train`'s ``init``).

    Checkpoints written before chains were recorded hold one run, rebuilt from their fields.
    """
    if "runs" in provenance:
        return list(provenance["runs"])
    device = str(provenance.get("device", "unknown"))
    threads = int(m.group(1)) if (m := re.search(r"\((\d+) threads?\)", device)) else None
    wall = float(provenance.get("wall_time_s", 0.0))
    return [{"name": provenance.get("config", {}).get("output", {}).get("name"),
             "steps": provenance.get("steps"), "wall_time_s": wall, "device": device, "threads": threads,
             "cpu_hours": round(wall * threads / 3600, 3) if threads else None,
             "lr": provenance.get("lr"), "commit": provenance.get("git", {}).get("commit")}]


def training_cost(provenance: dict[str, Any]) -> dict[str, float]:
    """Total steps, wall-clock hours and CPU-hours (wall time × threads) of a checkpoint's whole chain."""
    runs = training_runs(provenance)
    return {"runs": len(runs), "steps": sum(r.get("steps") or 0 for r in runs),
            "wall_hours": round(sum(r.get("wall_time_s") or 0 for r in runs) / 3600, 3),
            "cpu_hours": round(sum(r.get("cpu_hours") or 0 for r in runs), 3)}


def load_checkpoint(path_stem: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Build the model a checkpoint describes and load its verified weights (fp32, ``eval()`` mode).

    Raises :class:`CheckpointError` if a file is missing, the weights' sha256 differs from the one
    recorded in the JSON, or the model is unknown or does not fit the weights.
    """
    weights_path, json_path, _ = _paths(path_stem)
    provenance = read_provenance(path_stem)
    try:
        payload = weights_path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint weights {weights_path}") from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != provenance.get("sha256"):
        raise CheckpointError(f"{weights_path}: sha256 {digest} does not match {provenance.get('sha256')} "
                              f"recorded in {json_path}; the file was changed or belongs to another checkpoint")
    name = provenance.get("model")
    if name not in models.MODELS:
        raise CheckpointError(f"{json_path}: unknown model {name!r}; known: {', '.join(sorted(models.MODELS))}")
    model = models.MODELS[name](**provenance.get("model_args", {}))
    _load_weights(model, load_safetensors(payload))
    return model.to(device).eval()


# --------------------------------------------------------------------------- randomness


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every RNG state, split into tensors (for safetensors) and scalars (for JSON)."""
    version, python_keys, gauss = random.getstate()
    kind, numpy_keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {"rng.torch": torch.get_rng_state(),
               "rng.python": torch.tensor(python_keys, dtype=torch.int64),
               "rng.numpy": torch.from_numpy(numpy_keys.astype(np.int64))}
    if torch.cuda.is_initialized():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return tensors, {"python": [version, gauss], "numpy": [kind, int(pos), int(has_gauss), float(cached)]}


def _set_rng_state(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    version, gauss = scalars["python"]
    random.setstate((version, tuple(tensors["rng.python"].tolist()), gauss))
    kind, pos, has_gauss, cached = scalars["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


# --------------------------------------------------------------------------- data


class _Batches:
    """Endless stream of training batches that can be rebuilt at any position.

    The crops of ``data.training_loader`` depend only on ``(seed, epoch, index)``, so epoch ``e`` is
    a pass over the loader after ``set_epoch(e)``; to resume, the batches already consumed in the
    current epoch are skipped.
    """

    def __init__(self, config: TrainConfig, crop: int, batch_size: int, num_workers: int,
                 epoch: int = 0, consumed: int = 0) -> None:
        t = config.train
        self.loader = data.training_loader(config.data_folder, crop=crop, batch_size=batch_size, seed=t.seed,
                                           num_workers=num_workers)
        if len(self.loader) == 0:
            raise ValueError(f"batch_size {batch_size} is larger than an epoch of training crops")
        self.epoch, self.consumed = epoch, 0
        self._batches = self._open()
        for _ in range(consumed):
            next(self)

    def _open(self) -> Iterator[torch.Tensor]:
        self.loader.dataset.set_epoch(self.epoch)
        return iter(self.loader)

    def __iter__(self) -> _Batches:
        return self

    def __next__(self) -> torch.Tensor:
        batch = next(self._batches, None)
        if batch is None:
            self.epoch, self.consumed = self.epoch + 1, 0
            self._batches = self._open()
            batch = next(self._batches)
        self.consumed += 1
        return batch


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def _evaluate(model: nn.Module, images: list[tuple[str, torch.Tensor]], device: torch.device) -> dict[str, Any]:
    """Mean estimated bpp (−Σ log2 likelihoods / pixels) and PSNR over ``images``, with hard rounding.

    Models without ``likelihoods`` (plain autoencoders) get PSNR only. Models with coding tables
    get them rebuilt first, so the rounding is the one a checkpoint saved now would code.
    """
    was_training = model.training
    model.eval()
    if hasattr(model, "update"):
        model.update()
    bpps, psnrs = [], []
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    for _, image in images:
        h, w = image.shape[-2:]
        x = data.pad_to_multiple(image, EVAL_PAD)[None].to(device, memory_format=memory_format)
        out = model(x)
        x_hat = data.crop_to(out["x_hat"].float(), h, w).clamp(0, 1).cpu()
        mse = torch.mean((x_hat[0] - image) ** 2).item()
        psnrs.append(10 * math.log10(1 / max(mse, 1e-12)))
        if "likelihoods" in out:
            bits = sum(-torch.log2(p.float()).sum().item() for p in out["likelihoods"].values())
            bpps.append(bits / (h * w))
    model.train(was_training)
    result: dict[str, Any] = {"eval_psnr": float(np.mean(psnrs))}
    if bpps:
        result["eval_bpp"] = float(np.mean(bpps))
    return result


# --------------------------------------------------------------------------- training


def learning_rate(settings: TrainSettings, base_lr: float, step: int, done: float) -> float:
    """The learning rate of step ``step`` (0-based), at fraction ``done`` of the budget.

    A linear warm-up from ``base_lr / 100`` over ``warmup_steps``, then either ``"step"``: ``base_lr``
    until ``lr_drop_at``, a tenth after; or ``"cosine"``: ``base_lr · (f + (1 - f)(1 + cos πd)/2)``
    with ``f = min_lr_fraction`` and ``d`` the fraction done.
    """
    warm = min(1.0, 0.01 + 0.99 * step / settings.warmup_steps) if settings.warmup_steps else 1.0
    if settings.schedule == "cosine":
        f = settings.min_lr_fraction
        decay = f + (1 - f) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
    else:
        decay = 0.1 if done >= settings.lr_drop_at else 1.0
    return base_lr * warm * decay


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"{device.type} ({threads} thread{'s' if threads != 1 else ''})"


def _optimizers(model: nn.Module, config: TrainConfig, lr: float) -> tuple[torch.optim.Adam, torch.optim.Adam | None]:
    """Adam on the model; a second Adam on the ``*quantiles`` parameters if the model has ``aux_loss``."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    has_aux = hasattr(model, "aux_loss")
    aux = [p for n, p in named if has_aux and n.endswith("quantiles")]
    main = [p for n, p in named if not (has_aux and n.endswith("quantiles"))]
    return (torch.optim.Adam(main, lr=lr),
            torch.optim.Adam(aux, lr=config.train.aux_lr) if aux else None)


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """Optimiser state -> tensors keyed ``prefix.<param index>.<name>`` + its param groups (JSON)."""
    state = optimizer.state_dict()
    tensors = {f"{prefix}.{index}.{key}": value for index, values in state["state"].items()
               for key, value in values.items()}
    return tensors, state["param_groups"]


def _unflatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         groups: list[dict[str, Any]]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()} for g in groups]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _save_state(path: Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                scalars: dict[str, Any]) -> None:
    """The resume state: fp32 weights, optimiser moments and RNG states as tensors, the rest as JSON metadata."""
    tensors = {f"model.{k}": v for k, v in _weights(model, torch.float32).items()}
    groups = {}
    for name, optimizer in optimizers.items():
        flat, groups[name] = _flatten_optimizer(f"optim.{name}", optimizer)
        tensors.update({k: v.detach().cpu().contiguous().clone() for k, v in flat.items()})
    rng_tensors, rng_scalars = _rng_state()
    tensors.update(rng_tensors)
    meta = {**scalars, "param_groups": groups, "rng": rng_scalars}
    _write_atomic(path, save_safetensors(tensors, metadata={"state": json.dumps(meta)}))


def _load_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: no {path}")
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()["state"])


_FREE_KEYS = {"gpu_steps", "cpu_steps", "eval_every", "eval_images", "log_every"}  # may change on resume


def _trajectory(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a config that a resumed run must share with the run it continues."""
    return {**config, "train": {k: v for k, v in config["train"].items() if k not in _FREE_KEYS}}


def train(config: TrainConfig | str | Path, *, steps: int | None = None, minutes: float | None = None,
          device: str | torch.device | None = None, out_dir: str | Path | None = None, resume: bool = False,
          overwrite: bool = False, num_workers: int | None = None, init: str | Path | None = None,
          progress: bool = True) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train the model a config describes; return it (``eval()`` mode) and the training history.

    Budget: ``steps`` or ``minutes`` in total (steps and time before a resume count), by default
    ``gpu_steps`` on CUDA and ``cpu_steps`` elsewhere; the learning rate drops tenfold after the
    fraction ``lr_drop_at`` of it. On CUDA the model runs in bf16 autocast with ``channels_last``.
    Every ``eval_every`` steps and at the end: evaluation on the first ``eval_images`` images of
    :func:`lic.data.evaluation_set`, and a checkpoint ``<out_dir>/<name>`` (default out_dir: the
    repository's ``checkpoints/``). An existing checkpoint is only replaced with ``overwrite`` or
    ``resume``. ``resume`` continues from ``<name>.state.safetensors`` bit-exactly on CPU.

    ``history`` has one entry every ``log_every`` steps and at each evaluation: ``step``,
    ``time_s``, ``lr``, the means of the model's logged values since the previous entry, and
    ``eval_bpp``/``eval_psnr`` where evaluated.
    """
    if not isinstance(config, TrainConfig):
        config = load_config(config)
    if steps is not None and minutes is not None:
        raise ValueError("give a budget in steps or in minutes, not both")
    if (steps is not None and steps < 1) or (minutes is not None and minutes <= 0):
        raise ValueError(f"the budget must be positive, got steps={steps}, minutes={minutes}")
    t = config.train
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    if steps is None and minutes is None:
        steps = t.gpu_steps if cuda else t.cpu_steps
    crop = t.crop if cuda else (t.cpu_crop or t.crop)
    batch_size = t.batch_size if cuda else (t.cpu_batch_size or t.batch_size)
    base_lr = t.lr if cuda else (t.cpu_lr or t.lr)
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1) if cuda else 0
    stem = Path(out_dir or config.root / "checkpoints") / config.name
    _, json_path, state_path = _paths(stem)
    if json_path.exists() and not (resume or overwrite):
        raise ValueError(f"{json_path} exists; resume it, allow overwriting it, or write elsewhere (out_dir)")

    _seed_all(t.seed)
    model = models.MODELS[config.model](**config.model_args)
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    earlier_runs: list[dict[str, Any]] = []
    init_record = None
    if init is not None and not resume:
        source = load_checkpoint(init)
        if type(source) is not type(model):
            raise CheckpointError(f"{init}: a {type(source).__name__} cannot initialise a {type(model).__name__}")
        _load_weights(model, _weights(source, torch.float32))
        source_provenance = read_provenance(init)
        earlier_runs = training_runs(source_provenance)
        init_record = {"checkpoint": _paths(init)[0].stem, "sha256": source_provenance["sha256"]}
    main_opt, aux_opt = _optimizers(model, config, base_lr)
    optimizers = {"main": main_opt, **({"aux": aux_opt} if aux_opt else {})}
    step, elapsed, history, position = 0, 0.0, [], {"epoch": 0, "consumed": 0}
    rng, saved_at = None, None
    if resume:
        tensors, meta = _load_state(state_path)
        if _trajectory(meta["config"]) != _trajectory(config.to_dict()):
            raise CheckpointError(f"{state_path} was saved by a run with another config; "
                                  f"only {', '.join(sorted(_FREE_KEYS))} may change on resume")
        _load_weights(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        for name, optimizer in optimizers.items():
            _unflatten_optimizer(f"optim.{name}", optimizer, tensors, meta["param_groups"][name])
        step, elapsed, history, position = meta["step"], meta["elapsed_s"], meta["history"], meta["position"]
        earlier_runs, init_record = meta.get("earlier_runs", []), meta.get("init")
        rng, saved_at = (tensors, meta["rng"]), step
    batches = _Batches(config, crop, batch_size, num_workers, **position)
    if rng:
        _set_rng_state(*rng)  # last: opening the data loader above drew a random number
    eval_images = data.evaluation_set()[: t.eval_images] if t.eval_images else []
    if cuda:
        torch.backends.cudnn.benchmark = True
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    main_params = [p for group in main_opt.param_groups for p in group["params"]]
    provenance_base = {"device": _device_name(device),
                       "data": {"folder": t.data, "images": len(data.list_images(config.data_folder))},
                       "budget": {"steps": steps} if minutes is None else {"minutes": minutes},
                       "crop": crop, "batch_size": batch_size, "lr": base_lr,
                       **({"init": init_record} if init_record else {})}
    threads = None if cuda else torch.get_num_threads()
    provenance_base["git"] = _git()  # the code that runs: taken once, before anyone commits meanwhile

    def runs(wall: float) -> list[dict[str, Any]]:
        return [*earlier_runs, {
            "name": config.name, "steps": step, "wall_time_s": round(wall, 1), "device": provenance_base["device"],
            "threads": threads, "cpu_hours": round(wall * threads / 3600, 3) if threads else None,
            "lr": base_lr, "schedule": t.schedule, "crop": crop, "batch_size": batch_size,
            "model_args": dict(config.model_args), "commit": provenance_base["git"]["commit"]}]

    def fraction_done() -> float:
        return step / steps if minutes is None else (elapsed + time.perf_counter() - started) / (60 * minutes)

    def checkpoint() -> None:
        nonlocal saved_at
        metrics = next((h for h in reversed(history) if "eval_psnr" in h), history[-1])
        wall = elapsed + time.perf_counter() - started
        save_checkpoint(model, stem, config, {
            "steps": step, "wall_time_s": round(wall, 1), **provenance_base, "metrics": metrics,
            "history": history, "runs": runs(wall)})
        _save_state(state_path, model, optimizers, {
            "config": config.to_dict(), "step": step, "elapsed_s": wall, "history": history,
            "position": {"epoch": batches.epoch, "consumed": batches.consumed},
            "earlier_runs": earlier_runs, "init": init_record})
        saved_at = step

    def evaluate(entry: dict[str, float]) -> None:
        if eval_images:
            entry.update(_evaluate(model, eval_images, device))

    def log() -> dict[str, float]:
        history.append({"step": step, "time_s": round(elapsed + time.perf_counter() - started, 3),
                        "lr": main_opt.param_groups[0]["lr"], **{k: float(np.mean(v)) for k, v in sums.items()}})
        sums.clear()
        return history[-1]

    sums: dict[str, list[float]] = {}
    bar = tqdm(total=steps if minutes is None else None, initial=step, disable=not progress, unit="step",
               desc=config.name if minutes is None else f"{config.name} ({minutes:g} min)")
    started = time.perf_counter()
    model.train()
    while (done := fraction_done()) < 1:
        lr = learning_rate(t, base_lr, step, done)
        for group in main_opt.param_groups:
            group["lr"] = lr
        x = next(batches).to(device, non_blocking=True, memory_format=memory_format)
        main_opt.zero_grad(set_to_none=True)
        with autocast:
            loss, logs = model.training_loss(x)
        logs = {"loss": loss.item(), **logs}
        if not math.isfinite(logs["loss"]):
            raise FloatingPointError(f"the loss became {logs['loss']} at step {step + 1}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, CLIP_NORM)
        main_opt.step()
        if aux_opt:
            aux_opt.zero_grad(set_to_none=True)
            aux_loss = model.aux_loss()
            aux_loss.backward()
            aux_opt.step()
            logs["aux"] = aux_loss.item()
        step += 1
        for key, value in logs.items():
            sums.setdefault(key, []).append(value)
        bar.set_postfix({k: f"{logs[k]:.4g}" for k in ("loss", "bpp", "psnr") if k in logs}, refresh=False)
        bar.update()
        if step % t.eval_every == 0:
            evaluate(log())
            checkpoint()
        elif step % t.log_every == 0:
            log()
    bar.close()
    if saved_at != step:  # the final evaluation and checkpoint, unless the last step just made them
        evaluate(log() if not history or history[-1]["step"] != step else history[-1])
        checkpoint()
    return model.eval(), history


# --------------------------------------------------------------------------- command line


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m lic train``."""
    parser.add_argument("config", help="TOML config, e.g. configs/balle2017-q3.toml")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="total steps (default: gpu_steps on CUDA, else cpu_steps)")
    budget.add_argument("--minutes", type=float, help="total wall-clock minutes instead of steps")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--out", help="folder for the checkpoint files (default: the repository's checkpoints/)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/<name>.state.safetensors")
    parser.add_argument("--init", help="warm-start from this checkpoint's weights (same model, any λ)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint of that name")
    parser.add_argument("--workers", type=int, help="data-loading processes (default: 0 on CPU, 4 on CUDA)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_train(args: argparse.Namespace) -> None:
    """Run ``python -m lic train`` and print where the checkpoint went and its final metrics."""
    config = load_config(args.config)
    _, history = train(config, steps=args.steps, minutes=args.minutes, device=args.device, out_dir=args.out,
                       resume=args.resume, overwrite=args.overwrite, num_workers=args.workers,
                       init=args.init, progress=not args.quiet)
    stem = Path(args.out or config.root / "checkpoints") / config.name
    final = history[-1]
    metrics = ", ".join(f"{k} {final[k]:.4f}" for k in ("eval_bpp", "eval_psnr") if k in final)
    print(f"{stem}.safetensors: {final['step']} steps in {final['time_s']:.0f} s" + (f"; {metrics}" if metrics else ""))
