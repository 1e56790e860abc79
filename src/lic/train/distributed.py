"""Training on several processes with PyTorch's DistributedDataParallel (``torchrun``).

``torchrun --nproc_per_node K -m lic train CONFIG`` starts K copies of the training loop. Each one
is a rank: gloo on CPU, NCCL on GPUs (one GPU per rank). The model starts identical everywhere
(same seed; DDP also broadcasts rank 0's weights), each rank draws its own crops and its own
quantization noise, and DDP averages the gradients, so every rank takes the same optimiser step.
Only rank 0 evaluates, logs and writes checkpoints; it also decides when a time budget is spent,
so that all ranks stop at the same step. Without ``torchrun`` there is one rank and none of this
costs anything.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class _Loss(nn.Module):
    """The model's ``training_loss`` as a ``forward``, so that DDP's gradient hooks see it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.training_loss(x)


class Ranks:
    """This process's place among the training processes (``world`` of them, this one ``rank``)."""

    def __init__(self, cuda: bool) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.backend = ("nccl" if cuda else "gloo") if self.world > 1 else None
        if self.backend and not dist.is_initialized():
            dist.init_process_group(self.backend)

    @property
    def main(self) -> bool:
        """Whether this process evaluates, logs and writes checkpoints."""
        return self.rank == 0

    def loss_function(self, model: nn.Module) -> Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]:
        """``x -> model.training_loss(x)``, with gradients averaged over the ranks when there are several."""
        if self.world == 1:
            return model.training_loss
        device_ids = [self.local_rank] if self.backend == "nccl" else None
        # No buffer broadcast: the models' buffers are coding tables, which rank 0 alone rebuilds
        # (with new shapes) when it evaluates; training never reads them.
        return DistributedDataParallel(_Loss(model), device_ids=device_ids, broadcast_buffers=False)

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (e.g. "the time budget is spent")."""
        if self.world == 1:
            return flag
        value = torch.tensor([int(flag)], device="cuda" if self.backend == "nccl" else "cpu")
        dist.broadcast(value, src=0)
        return bool(value.item())

    def weights_sha256(self, model: nn.Module) -> list[str]:
        """The sha256 of every rank's parameters (all ranks must call it): equal if training kept
        them in step."""
        digest = hashlib.sha256()
        for p in model.parameters():
            digest.update(p.detach().float().cpu().numpy().tobytes())
        if self.world == 1:
            return [digest.hexdigest()]
        digests: list[str] = [""] * self.world
        dist.all_gather_object(digests, digest.hexdigest())
        return digests

    def close(self) -> None:
        if self.backend and dist.is_initialized():
            dist.destroy_process_group()
