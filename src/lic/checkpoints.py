"""Checkpoints: weights as safetensors, provenance as JSON, and where the shipped ones live.

Files of a checkpoint whose stem is ``NAME``::

    NAME.safetensors        weights to ship: parameters in fp16, buffers (CDF tables ...) exact
    NAME.json               provenance: model, config, runs, device, git commit, metrics, sha256
    NAME.state.safetensors  resume state of a training run (never shipped; see lic.train)

Nothing is ever pickled. :func:`load_checkpoint` verifies the weights' sha256 against the JSON
before it builds the model. The shipped checkpoints are package data in ``lic/weights`` (so a
non-editable install has them); the environment variable ``LIC_WEIGHTS`` points elsewhere.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from . import models

FP16_MAX = torch.finfo(torch.float16).max


def weights_dir() -> Path:
    """The folder of the shipped checkpoints: ``$LIC_WEIGHTS`` if set, else the package's ``weights/``."""
    env = os.environ.get("LIC_WEIGHTS")
    return Path(env).expanduser() if env else Path(__file__).resolve().parent / "weights"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted or used: missing file, sha256 mismatch, unknown model."""


def checkpoint_paths(stem: str | Path) -> tuple[Path, Path, Path]:
    """``stem`` -> (weights, provenance, resume state) paths; a ``.safetensors``/``.json`` suffix is dropped."""
    stem = re.sub(r"(\.state)?\.(safetensors|json)$", "", str(stem))
    return Path(stem + ".safetensors"), Path(stem + ".json"), Path(stem + ".state.safetensors")


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write via a temporary file and a rename, so an interrupted run never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def export_weights(model: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The state dict on CPU with floating *parameters* cast to ``dtype``; buffers keep their dtype.

    A parameter that would overflow fp16 stays fp32. In fp16 checkpoints, the weights (two or more
    dimensions) of the submodules a model lists in ``int8_modules`` are stored as int8 with one fp32
    scale per slice along their first dimension (``KEY`` and ``KEY.int8_scale``): Chapter 5's
    entropy-model networks (hyperprior, context, entropy parameters), which hold about half of the
    parameters; ``benchmarks/context_models.py`` measures what 8 bits cost.
    """
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    int8 = tuple(f"{name}." for name in getattr(model, "int8_modules", ())) if dtype == torch.float16 else ()
    out = {}
    for key, t in model.state_dict().items():
        t = t.detach().cpu()
        if key in params and t.ndim >= 2 and key.startswith(int8):
            scale = t.float().abs().amax(dim=tuple(range(1, t.ndim)), keepdim=True).clamp_min(1e-12) / 127
            out[key] = (t.float() / scale).round().clamp(-127, 127).to(torch.int8).contiguous()
            out[f"{key}.int8_scale"] = scale.contiguous()
            continue
        if key in params and t.is_floating_point() and (dtype != torch.float16 or t.abs().max() <= FP16_MAX):
            t = t.to(dtype)
        out[key] = t.contiguous().clone()
    return out


def import_weights(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load ``tensors`` into ``model`` (cast to the model's dtypes; int8 weights times their scales).

    Buffers whose shape or dtype was changed by ``update()`` (e.g. CDF tables) take the saved ones.
    """
    tensors = dict(tensors)
    for key in [k for k in tensors if k.endswith(".int8_scale")]:
        scale = tensors.pop(key)
        weight = key.removesuffix(".int8_scale")
        tensors[weight] = tensors[weight].float() * scale
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


def git_commit() -> dict[str, Any]:
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


def save_checkpoint(model: nn.Module, path_stem: str | Path, config: Mapping[str, Any],
                    extra_provenance: Mapping[str, Any] | None = None, *,
                    dtype: torch.dtype = torch.float16) -> Path:
    """Write ``<stem>.safetensors`` (floating parameters in ``dtype``) and ``<stem>.json``.

    ``config`` is the training config as a table (``model``, ``model_args``, ``train``,
    ``output``). A model with coding tables (:func:`~lic.models.has_coding_tables`) gets them built
    first; those in the file are built from the stored (rounded) weights. The
    JSON holds the model name and arguments, the whole config, torch version, git commit,
    creation date and the weights' sha256, plus ``extra_provenance`` (steps, runs, device,
    metrics ...; a ``git`` entry there replaces the commit found now). Returns the weights' path.
    """
    weights_path, json_path, _ = checkpoint_paths(path_stem)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = export_weights(model, dtype)
    if models.has_coding_tables(model):
        # The tables are built from the weights as stored (fp16, int8), not the training weights,
        # so that a model that rebuilds them from the file (``update()``) codes exactly alike. The
        # model in memory gets the same tables (``lic.train.train`` returns it).
        stored = copy.deepcopy(model).eval()
        import_weights(stored, tensors)
        stored.update()
        for name, table in stored.named_buffers():
            if name not in tensors:  # a non-persistent buffer: not part of the file
                continue
            module, _, attr = name.rpartition(".")
            model.get_submodule(module).register_buffer(attr, table.clone())
            tensors[name] = table.detach().cpu().contiguous().clone()
    payload = save_safetensors(tensors, metadata={"model": config["model"]})
    _write_atomic(weights_path, payload)
    provenance = {
        "model": config["model"],
        "model_args": dict(config.get("model_args", {})),
        "config": dict(config),
        "torch": torch.__version__,
        "git": git_commit(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "weights_dtype": str(dtype).removeprefix("torch."),
        **(extra_provenance or {}),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    _write_atomic(json_path, (json.dumps(provenance, indent=1) + "\n").encode())
    return weights_path


def read_provenance(path_stem: str | Path) -> dict[str, Any]:
    """The provenance JSON of a checkpoint (no verification: see :func:`load_checkpoint`)."""
    _, json_path, _ = checkpoint_paths(path_stem)
    try:
        return json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint provenance {json_path}") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{json_path} is not valid JSON: {err}") from None


def training_runs(provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """The chain of training runs behind a checkpoint, oldest first (see :func:`lic.train.train`, ``init``).

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


def distinct_runs(provenances: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training runs behind several checkpoints, each run once: checkpoints fine-tuned from a common
    ancestor share the ancestor's runs (a run is known by its name, steps and wall time)."""
    runs: dict[tuple, dict[str, Any]] = {}
    for provenance in provenances:
        for run in training_runs(provenance):
            runs.setdefault((run.get("name"), run.get("steps"), run.get("wall_time_s")), run)
    return list(runs.values())


def training_cost(provenance: dict[str, Any]) -> dict[str, float]:
    """Total steps, wall-clock hours and CPU-hours (wall time × threads) of a checkpoint's whole chain."""
    runs = training_runs(provenance)
    return {"runs": len(runs), "steps": sum(r.get("steps") or 0 for r in runs),
            "wall_hours": round(sum(r.get("wall_time_s") or 0 for r in runs) / 3600, 3),
            "cpu_hours": round(sum(r.get("cpu_hours") or 0 for r in runs), 3)}


def training_curve(stem: str, provenances: Mapping[str, dict[str, Any]]) -> list[tuple[float, float, float]]:
    """``(CPU minutes since random weights, eval PSNR, eval bpp)`` at each evaluation of the last run of
    checkpoint ``stem``'s chain. If the run before it is another checkpoint in ``provenances`` (a
    fine-tune's parent), the curve starts where that one's curve ended; a checkpoint that continued
    itself keeps only its last run's history."""
    def cpu_seconds(run: Mapping[str, Any]) -> float:
        return run.get("cpu_time_s") or (run.get("wall_time_s") or 0) * (run.get("threads") or 1)

    provenance = provenances[stem]
    runs = training_runs(provenance)
    offset, threads = sum(cpu_seconds(r) for r in runs[:-1]), runs[-1].get("threads") or 1
    points = [((offset + (h["cpu_s"] if "cpu_s" in h else h["time_s"] * threads)) / 60, h["eval_psnr"], h["eval_bpp"])
              for h in provenance.get("history", []) if "eval_psnr" in h]
    parent = runs[-2].get("name") if len(runs) > 1 else None
    if parent in provenances and parent != stem and points:
        points.insert(0, training_curve(parent, provenances)[-1])
    return points


def load_checkpoint(path_stem: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Build the model a checkpoint describes and load its verified weights (fp32, ``eval()`` mode).

    Raises :class:`CheckpointError` if a file is missing, the weights' sha256 differs from the one
    recorded in the JSON, or the model is unknown or does not fit the weights.
    """
    weights_path, json_path, _ = checkpoint_paths(path_stem)
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
    import_weights(model, load_safetensors(payload))
    return model.to(device).eval()
