"""The one training loop of the book.

A run is described by a config (:mod:`lic.train.config`) and sized by a budget: ``gpu_steps`` on a
GPU, ``cpu_steps`` on CPU, or an explicit number of steps or minutes. Everything is seeded, and a
run interrupted at a checkpoint resumes bit-exactly on CPU (:mod:`lic.train.state`). A run can
also start from another checkpoint's weights (``init``): the provenance then keeps the chain of
runs, so every checkpoint states its whole training cost.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .. import data
from ..data.mnist import MNIST_DATA, MnistDigits, mnist_evaluation_set
from ..checkpoints import (CheckpointError, checkpoint_paths, export_weights, git_commit, import_weights,
                           load_checkpoint, read_provenance, save_checkpoint, training_runs, weights_dir)
from ..models import MODELS, LearnedModel, has_coding_tables
from .config import TrainConfig, TrainSettings, default_device, load_config
from .distributed import Ranks
from .state import (FREE_KEYS, load_state, save_state, seed_all, set_rng_state, trajectory,
                    unflatten_optimizer)

CLIP_NORM = 1.0  # gradient clipping (global L2 norm of the parameters)

class Batches:
    """Endless stream of training batches that can be rebuilt at any position.

    The crops of ``data.training_loader`` depend only on ``(seed, epoch, index)``, so epoch ``e`` is
    a pass over the loader after ``set_epoch(e)``; to resume, the batches already consumed in the
    current epoch are skipped.
    """

    def __init__(self, config: TrainConfig, crop: int, batch_size: int, num_workers: int,
                 epoch: int = 0, consumed: int = 0, seed: int | None = None) -> None:
        seed = config.train.seed if seed is None else seed
        if config.train.data == MNIST_DATA:  # whole 28x28 digits instead of crops of photos
            self.loader = torch.utils.data.DataLoader(MnistDigits("train", seed), batch_size=batch_size,
                                                      drop_last=True, num_workers=num_workers)
        else:
            self.loader = data.training_loader(config.data_folder, crop=crop, batch_size=batch_size, seed=seed,
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

    def __iter__(self) -> Batches:
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
def evaluate_model(model: nn.Module, images: list[tuple[str, torch.Tensor]],
                   device: torch.device | str = "cpu") -> dict[str, Any]:
    """Mean PSNR and mean MSE (images in [0, 1]) over ``images`` with hard rounding (against a
    learned model's ``target``: RGB, or the luminance for a luminance codec), and for a
    model with coding tables the mean
    estimated bpp (−Σ log2 p of the rounded latents / pixels).

    A learned model gets its coding tables rebuilt first, so the rounding is the one a checkpoint
    saved now would code. Images are padded to a multiple of the model's stride.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    learned = has_coding_tables(model)
    if learned:
        model.update()
    bpps, psnrs, mses = [], [], []
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    for _, image in images:
        h, w = image.shape[-2:]
        x = data.pad_to_multiple(image, model.stride)[None].to(device, memory_format=memory_format)
        out = model(x)
        x_hat = data.crop_to(out["x_hat"].float(), h, w).clamp(0, 1).cpu()
        target = model.target(image[None])[0] if learned else image
        mse = torch.mean((x_hat[0] - target) ** 2).item()
        mses.append(mse)
        psnrs.append(10 * math.log10(1 / max(mse, 1e-12)))
        if learned:
            bits = sum(-torch.log2(p.float()).sum().item() for p in out["likelihoods"].values())
            bpps.append(bits / (h * w))
    model.train(was_training)
    result: dict[str, Any] = {"eval_psnr": float(np.mean(psnrs)), "eval_mse": float(np.mean(mses))}
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


class Clock:
    """Wall-clock and process CPU seconds of a run, counting those spent before a resume.

    CPU seconds are those of every thread of this process: on a busy machine a run that gets half
    a core shows half as many CPU seconds as wall seconds, so a budget in CPU minutes is fair to
    runs compared side by side.
    """

    def __init__(self, wall: float = 0.0, cpu: float = 0.0) -> None:
        self.wall0, self.cpu0 = wall, cpu
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def wall(self) -> float:
        return self.wall0 + time.perf_counter() - self.t0

    def cpu(self) -> float:
        return self.cpu0 + time.process_time() - self.c0


CLOCKS = ("wall", "cpu")


def train(config: TrainConfig | str | Path, *, steps: int | None = None, minutes: float | None = None,
          clock: str = "wall", device: str | torch.device | None = None, out_dir: str | Path | None = None,
          resume: bool = False, overwrite: bool = False, num_workers: int | None = None,
          init: str | Path | None = None, progress: bool = True) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train the model a config describes; return it (on the CPU, ``eval()`` mode) and its history.

    Device: ``device``, else CUDA when available (:func:`default_device`), with the settings
    :meth:`TrainSettings.on` picks for it (larger crops and batches on a GPU).

    Budget: ``steps`` or ``minutes`` in total (steps and time before a resume count; ``clock``
    ``"wall"`` counts wall-clock minutes, ``"cpu"`` this process's CPU minutes), by default
    ``gpu_steps`` on CUDA and ``cpu_steps`` elsewhere; the learning rate follows
    :func:`learning_rate` over it. The model trains in ``channels_last`` (on CUDA in bf16 autocast).
    Every ``eval_every`` steps and at the end: evaluation on the first ``eval_images`` images of
    :func:`lic.data.validation_set` (never the reported ``data/eval``), and a checkpoint
    ``<out_dir>/<name>`` (default out_dir: the shipped weights' folder,
    :func:`lic.checkpoints.weights_dir`). An existing checkpoint is only replaced with ``overwrite``
    or ``resume``. ``resume`` continues from ``<name>.state.safetensors`` bit-exactly on CPU.

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
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    t = config.train
    device = torch.device(device) if device else default_device()
    cuda = device.type == "cuda"
    ranks = Ranks(cuda)  # one rank, unless started by torchrun
    if ranks.world > 1 and resume:
        raise ValueError("a run on several processes cannot resume; start a new one with init")
    if cuda and ranks.world > 1:
        device = torch.device("cuda", ranks.local_rank)
    settings = t.on(device)
    if steps is None and minutes is None:
        steps = settings.steps
    crop, batch_size, base_lr = settings.crop, settings.batch_size, settings.lr
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1) if cuda else 0
    stem = Path(out_dir or weights_dir()) / config.name
    _, json_path, state_path = checkpoint_paths(stem)
    if json_path.exists() and not (resume or overwrite):
        raise ValueError(f"{json_path} exists; resume it, allow overwriting it, or write elsewhere (out_dir)")

    seed_all(t.seed)
    model = MODELS[config.model](**config.model_args)
    memory_format = torch.channels_last  # the fastest layout on CPU too (benchmarks/train_speed.py)
    model.to(device, memory_format=memory_format)
    earlier_runs: list[dict[str, Any]] = []
    init_record = None
    if init is not None and not resume:
        source = load_checkpoint(init)
        if not isinstance(model, LearnedModel):
            if type(source) is not type(model):
                raise CheckpointError(f"{init}: a {type(source).__name__} cannot initialise a {type(model).__name__}")
            import_weights(model, export_weights(source, torch.float32))
        else:
            try:
                model.warm_start_from(source)
            except ValueError as err:
                raise CheckpointError(f"{init}: {err}") from None
        source_provenance = read_provenance(init)
        earlier_runs = training_runs(source_provenance)
        init_record = {"checkpoint": checkpoint_paths(init)[0].stem, "sha256": source_provenance["sha256"]}
    if ranks.world > 1:
        torch.manual_seed(t.seed + ranks.rank)  # each rank its own quantization noise
    loss_function = ranks.loss_function(model)
    main_opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=base_lr)
    optimizers = {"main": main_opt}
    step, elapsed, elapsed_cpu, history, position = 0, 0.0, 0.0, [], {"epoch": 0, "consumed": 0}
    rng, saved_at = None, None
    if resume:
        tensors, meta = load_state(state_path)
        if trajectory(meta["config"]) != trajectory(config.to_dict()):
            raise CheckpointError(f"{state_path} was saved by a run with another config; "
                                  f"only {', '.join(sorted(FREE_KEYS))} may change on resume")
        import_weights(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        for name, optimizer in optimizers.items():
            unflatten_optimizer(f"optim.{name}", optimizer, tensors, meta["param_groups"][name])
        step, elapsed, history, position = meta["step"], meta["elapsed_s"], meta["history"], meta["position"]
        elapsed_cpu = meta.get("elapsed_cpu_s", 0.0)
        earlier_runs, init_record = meta.get("earlier_runs", []), meta.get("init")
        rng, saved_at = (tensors, meta["rng"]), step
    batches = Batches(config, crop, batch_size, num_workers, **position, seed=t.seed + 7919 * ranks.rank)
    if rng:
        set_rng_state(*rng)  # last: opening the data loader above drew a random number
    if not t.eval_images:
        eval_images = []
    elif t.data == MNIST_DATA:
        eval_images = mnist_evaluation_set(t.eval_images)
    else:
        eval_images = data.validation_set()[: t.eval_images]
    if cuda:
        torch.backends.cudnn.benchmark = True
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    main_params = [p for group in main_opt.param_groups for p in group["params"]]
    provenance_base = {"device": _device_name(device) + (f" × {ranks.world} processes" if ranks.world > 1 else ""),
                       "data": {"folder": t.data, "images": len(batches.loader.dataset.digits if t.data == MNIST_DATA
                                                                 else data.list_images(config.data_folder))},
                       "budget": {"steps": steps} if minutes is None else {"minutes": minutes, "clock": clock},
                       "crop": crop, "batch_size": batch_size, "lr": base_lr,
                       **({"init": init_record} if init_record else {})}
    threads = None if cuda else torch.get_num_threads() * ranks.world
    provenance_base["git"] = git_commit()  # the code that runs: taken once, before anyone commits meanwhile

    def runs() -> list[dict[str, Any]]:
        wall = timer.wall()
        return [*earlier_runs, {
            "name": config.name, "steps": step, "wall_time_s": round(wall, 1), "cpu_time_s": round(timer.cpu(), 1),
            "device": provenance_base["device"],
            "threads": threads, "cpu_hours": round(wall * threads / 3600, 3) if threads else None,
            "lr": base_lr, "schedule": t.schedule, "crop": crop, "batch_size": batch_size,
            "model_args": dict(config.model_args), "commit": provenance_base["git"]["commit"]}]

    def fraction_done() -> float:
        if minutes is None:
            return step / steps
        return (timer.wall() if clock == "wall" else timer.cpu()) / (60 * minutes)

    def checkpoint() -> None:
        """Evaluate and save (rank 0), after checking that every rank holds the same weights."""
        nonlocal saved_at
        digests = ranks.weights_sha256(model)  # a collective: every rank takes part
        saved_at = step
        if not ranks.main:
            return
        entry = history[-1]
        if eval_images and "eval_psnr" not in entry:
            entry.update(evaluate_model(model, eval_images, device))
        metrics = next((h for h in reversed(history) if "eval_psnr" in h), history[-1])
        distributed = {"distributed": {"processes": ranks.world, "backend": ranks.backend,
                                       "weights_sha256_per_rank": digests}} if ranks.world > 1 else {}
        save_checkpoint(model, stem, config.to_dict(), {
            "steps": step, "wall_time_s": round(timer.wall(), 1), **provenance_base, **distributed,
            "metrics": metrics, "history": history, "runs": runs()})
        save_state(state_path, model, optimizers, {
            "config": config.to_dict(), "step": step, "elapsed_s": timer.wall(), "elapsed_cpu_s": timer.cpu(),
            "history": history,
            "position": {"epoch": batches.epoch, "consumed": batches.consumed},
            "earlier_runs": earlier_runs, "init": init_record})

    def log() -> dict[str, float]:
        history.append({"step": step, "time_s": round(timer.wall(), 3), "cpu_s": round(timer.cpu(), 3),
                        "lr": main_opt.param_groups[0]["lr"], **{k: float(np.mean(v)) for k, v in sums.items()}})
        sums.clear()
        return history[-1]

    sums: dict[str, list[float]] = {}
    bar = tqdm(total=steps if minutes is None else None, initial=step, disable=not (progress and ranks.main), unit="step",
               desc=config.name if minutes is None else f"{config.name} ({minutes:g} min)")
    timer = Clock(elapsed, elapsed_cpu)
    model.train()
    while not ranks.agree((done := fraction_done()) >= 1):
        lr = learning_rate(t, base_lr, step, done)
        for group in main_opt.param_groups:
            group["lr"] = lr
        x = next(batches).to(device, non_blocking=True, memory_format=memory_format)
        main_opt.zero_grad(set_to_none=True)
        with autocast:
            loss, logs = loss_function(x)
        logs = {"loss": loss.item(), **logs}
        if not math.isfinite(logs["loss"]):
            raise FloatingPointError(f"the loss became {logs['loss']} at step {step + 1}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, CLIP_NORM)
        main_opt.step()
        step += 1
        for key, value in logs.items():
            sums.setdefault(key, []).append(value)
        bar.set_postfix({k: f"{logs[k]:.4g}" for k in ("loss", "bpp", "psnr") if k in logs}, refresh=False)
        bar.update()
        if step % t.eval_every == 0:
            log()
            checkpoint()
        elif step % t.log_every == 0:
            log()
    bar.close()
    if saved_at != step:  # the final evaluation and checkpoint, unless the last step just made them
        if not history or history[-1]["step"] != step:
            log()
        checkpoint()
    ranks.close()
    # The codecs run on the CPU, where decoding is bit-exact across machines: hand the model back there.
    return model.cpu().eval(), history
