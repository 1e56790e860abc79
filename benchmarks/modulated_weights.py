"""The modulated model's loss weights, measured: before and after its last stage of training.

    git show c54b656:src/lic/weights/modulated.safetensors > runs/stage2/modulated.safetensors
    git show c54b656:src/lic/weights/modulated.json > runs/stage2/modulated.json
    .venv/bin/python benchmarks/modulated_weights.py --before runs/stage2 [--threads 2] [--json out.json]

Zheng & Liang's eq. (3) weights the rate-distortion loss of each λ by w_λ and leaves w open. The
shipped `modulated` checkpoint was trained first with w = sqrt(λ_min / λ) (stage 2, the checkpoint
in the folder `--before`), then continued with w = λ_min / λ (stage 3, the shipped one). For both,
on the offline evaluation set: the mean bpp (from the bytes) and RGB PSNR at each quality, the bpp
span, and the BD-rate against the single-rate `balle2017` models. Chapter 3 quotes the results.
"""
from __future__ import annotations

from pathlib import Path

from lic.checkpoints import weights_dir
from lic.compare import bd
from lic.data import evaluation_set
from lic.evaluate import evaluate, mean_curve
from lic.learned_codec import LearnedCodec
from lic.models import CODECS
from lic.models.balle2017 import QUALITIES

from _shared import arguments, report


def measured(folder: Path, single: list[dict], images: list) -> dict:
    """The curve of the modulated checkpoint in ``folder``, its bpp span, and its BD-rate against ``single``."""
    _, spec = CODECS["modulated"]
    codec = LearnedCodec(spec, folder=folder, name="modulated")
    curve = mean_curve(evaluate(codec, QUALITIES, images, progress=False))
    return {"weight_power": codec.model(QUALITIES[0]).weight_power,
            "curve": curve, "bpp_span": [curve[0]["bpp"], curve[-1]["bpp"]],
            "bd_rate_vs_balle2017": bd(single, curve, "psnr")}


def main() -> None:
    args = arguments(__doc__, {"--before": {"type": Path, "required": True,
                                            "help": "folder with the stage-2 modulated checkpoint"}})
    images = evaluation_set()
    single = mean_curve(evaluate("balle2017", QUALITIES, images, progress=False))
    results = {"balle2017": single, "before": measured(args.before, single, images),
               "shipped": measured(weights_dir(), single, images)}
    report(results, args.json)


if __name__ == "__main__":
    main()
