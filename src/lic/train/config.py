"""Training configs: a TOML file per shipped checkpoint, validated with errors that name the key.

A config has ``model`` (a registered model name), ``[model_args]``, ``[train]`` (see
:class:`TrainSettings`) and ``[output] name`` (the checkpoint's file stem).
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from .. import models

@dataclass(frozen=True)
class TrainSettings:
    """The ``[train]`` table of a config; every key is optional."""

    data: str = "data/train"  # folder of photos, relative to the repository root or absolute; "mnist": MNIST digits
    crop: int = 256  # side of the random square training crops
    batch_size: int = 8
    lr: float = 1e-4  # Adam learning rate of the model
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
    eval_images: int = 2  # how many images of data.validation_set() to evaluate on
    log_every: int = 100  # steps between entries of the training history

    def on(self, device: str | torch.device) -> DeviceSettings:
        """What a run on ``device`` uses: the GPU values on CUDA, the ``cpu_*`` ones elsewhere."""
        if torch.device(device).type == "cuda":
            return DeviceSettings(self.gpu_steps, self.crop, self.batch_size, self.lr)
        return DeviceSettings(self.cpu_steps, self.cpu_crop or self.crop,
                              self.cpu_batch_size or self.batch_size, self.cpu_lr or self.lr)


@dataclass(frozen=True)
class DeviceSettings:
    """The budget and batch shape of one run, chosen by :meth:`TrainSettings.on` for its device."""

    steps: int  # the default budget
    crop: int
    batch_size: int
    lr: float


def default_device() -> torch.device:
    """CUDA when a GPU is visible (Colab's GPU runtime, a workstation), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


_TYPES = {"int": int, "float": (int, float), "str": str}
SCHEDULES = ("step", "cosine")
_POSITIVE = {"crop", "batch_size", "lr", "gpu_steps", "cpu_steps", "eval_every", "log_every"}


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


def _apply_override(table: dict[str, Any], override: str, source: str) -> None:
    key, sep, text = override.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or section not in ("model_args", "train", "output") or not name:
        raise ValueError(f"{source}: override {override!r} must read TABLE.KEY=VALUE with TABLE one of "
                         f"model_args, train, output (e.g. train.seed=101)")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    table.setdefault(section, {})[name] = value


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read and validate a TOML config, with ``TABLE.KEY=VALUE`` overrides applied first.

    An override such as ``train.seed=101``, ``train.data=".cache/training-pool"`` or
    ``output.name=wen2019-q5-seed101`` replaces one key (VALUE is read as TOML, else as a string),
    so a seed or data experiment needs no copy of the config. Relative paths are resolved against
    the repository root: the nearest folder above the config that holds a ``pyproject.toml``
    (else the config's own folder).
    """
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    for override in overrides:
        _apply_override(table, override, str(path))
    root = next((p for p in path.resolve().parents if (p / "pyproject.toml").is_file()), path.resolve().parent)
    return TrainConfig.from_dict(table, root=root, source=str(path))
