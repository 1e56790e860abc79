"""``torchrun --nproc_per_node 2 -m lic train``: two CPU processes (gloo) train one model, each on
its own crops, and hold identical weights afterwards; only rank 0 writes the checkpoint."""
import json
import os
import subprocess
import sys

import torch

from lic import data

CONFIG = """model = "balle2017"
[model_args]
N = 8
M = 12
[train]
data = "photos"
crop = 32
batch_size = 2
lr = 1e-3
eval_every = 2
eval_images = 1
log_every = 1
[output]
name = "ddp"
"""


def test_two_processes_train_in_step(tmp_path):
    (tmp_path / "pyproject.toml").touch()
    (tmp_path / "photos").mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(4):
        data.save_image(torch.rand(3, 48, 48, generator=g), tmp_path / "photos" / f"{i}.png")
    (tmp_path / "ddp.toml").write_text(CONFIG)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29531", "-m", "lic", "train", str(tmp_path / "ddp.toml"), "--steps", "3", "--device", "cpu",
                          "--out", str(tmp_path / "out"), "--quiet"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    provenance = json.loads((tmp_path / "out" / "ddp.json").read_text())
    digests = provenance["distributed"]["weights_sha256_per_rank"]
    assert provenance["distributed"]["processes"] == 2 and provenance["distributed"]["backend"] == "gloo"
    assert len(digests) == 2 and digests[0] == digests[1]
    assert provenance["steps"] == 3 and provenance["device"].endswith("× 2 processes")
    assert provenance["runs"][-1]["threads"] == 2
    assert len([h for h in provenance["history"] if "eval_psnr" in h]) == 2  # steps 2 and 3, by rank 0 only
