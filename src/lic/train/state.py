"""A training run's resume state: weights in fp32, optimiser moments and every RNG, so that a run
interrupted at a checkpoint continues bit-exactly on CPU (``NAME.state.safetensors``)."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as save_safetensors
from torch import nn

from ..checkpoints import CheckpointError, _write_atomic, export_weights

def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every RNG state, split into tensors (for safetensors) and scalars (for JSON)."""
    version, python_keys, gauss = random.getstate()
    kind, numpy_keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {"rng.torch": torch.get_rng_state(),
               "rng.python": torch.tensor(python_keys, dtype=torch.int64),
               "rng.numpy": torch.from_numpy(numpy_keys.astype(np.int64))}
    if torch.cuda.is_initialized():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return tensors, {"python": [version, gauss], "numpy": [kind, int(pos), int(has_gauss), float(cached)]}


def set_rng_state(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    version, gauss = scalars["python"]
    random.setstate((version, tuple(tensors["rng.python"].tolist()), gauss))
    kind, pos, has_gauss, cached = scalars["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """Optimiser state -> tensors keyed ``prefix.<param index>.<name>`` + its param groups (JSON)."""
    state = optimizer.state_dict()
    tensors = {f"{prefix}.{index}.{key}": value for index, values in state["state"].items()
               for key, value in values.items()}
    return tensors, state["param_groups"]


def unflatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         groups: list[dict[str, Any]]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()} for g in groups]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_state(path: Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                scalars: dict[str, Any]) -> None:
    """The resume state: fp32 weights, optimiser moments and RNG states as tensors, the rest as JSON metadata."""
    tensors = {f"model.{k}": v for k, v in export_weights(model, torch.float32).items()}
    groups = {}
    for name, optimizer in optimizers.items():
        flat, groups[name] = flatten_optimizer(f"optim.{name}", optimizer)
        tensors.update({k: v.detach().cpu().contiguous().clone() for k, v in flat.items()})
    rng_tensors, rng_scalars = rng_state()
    tensors.update(rng_tensors)
    meta = {**scalars, "param_groups": groups, "rng": rng_scalars}
    _write_atomic(path, save_safetensors(tensors, metadata={"state": json.dumps(meta)}))


def load_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: no {path}")
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()["state"])


FREE_KEYS = {"gpu_steps", "cpu_steps", "eval_every", "eval_images", "log_every"}  # may change on resume


def trajectory(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a config that a resumed run must share with the run it continues."""
    return {**config, "train": {k: v for k, v in config["train"].items() if k not in FREE_KEYS}}
