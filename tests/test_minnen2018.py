"""Minnen et al. 2018 (Chapter 5): hyperprior + context, coded bit-exactly in decoding order."""
from __future__ import annotations

import pytest
import torch

from lic.codec import BitstreamError
from lic.models import MODELS
from lic.models.balle2017 import FactorizedPrior
from lic.models.minnen2018 import MaskedConv2d, MeanScaleHyperprior, anchors

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(context: str) -> MeanScaleHyperprior:
    torch.manual_seed(0)
    model = MeanScaleHyperprior(N=16, M=24, context=context)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):  # a few steps, so that the networks are not at their initial values
        loss, _ = model.training_loss(torch.rand(2, 3, 64, 64))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.update()
    return model


def test_masks_see_only_decoded_neighbours() -> None:
    serial = MaskedConv2d(1, 1, "serial").mask[0, 0]
    assert serial[:2].all() and serial[2, :2].all() and not serial[2, 2:].any() and not serial[3:].any()
    board = MaskedConv2d(1, 1, "checkerboard").mask[0, 0]
    assert board[2, 1] == 1 and board[1, 2] == 1 and board[2, 2] == 0 and board[1, 1] == 0
    assert anchors(2, 3)[0, 0].tolist() == [[1, 0, 1], [0, 1, 0]]
    with pytest.raises(ValueError):
        MaskedConv2d(1, 1, "diagonal")


@pytest.mark.parametrize("context", ["serial", "checkerboard", "none"])
def test_round_trip_equals_the_evaluation_forward_pass(context: str) -> None:
    model = _model(context)
    assert MODELS["minnen2018"] is MeanScaleHyperprior
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 128)
    data = model.compress(x)
    with torch.no_grad():
        out = model(x)
    decoded = model.decompress(data, (64, 128))
    assert torch.allclose(decoded, out["x_hat"], atol=1e-5)
    estimate = model.estimate_bits(x)
    assert abs(8 * (len(data) - 4) - estimate) < 0.02 * estimate + 128  # two strings' last words
    torch.set_num_threads(2)
    two = model.decompress(data, (64, 128), workers=2)
    torch.set_num_threads(1)
    assert torch.equal(two, decoded)


def test_the_context_lowers_the_rate_of_correlated_latents() -> None:
    """The serial context model predicts a latent from its neighbours: on smooth images a trained
    model spends fewer bits than without context. Here: the masks and shapes of training."""
    model = MeanScaleHyperprior(N=8, M=12, context="checkerboard").train()
    out = model(torch.rand(2, 3, 64, 64))
    assert out["likelihoods"]["y"].shape == (2, 12, 4, 4) and out["likelihoods"]["z"].shape == (2, 8, 1, 1)


def test_warm_start_takes_chapter_3_transforms() -> None:
    torch.manual_seed(2)
    source = FactorizedPrior(N=16, M=24)
    model = MeanScaleHyperprior(N=16, M=24)
    model.warm_start_from(source)
    assert torch.equal(model.g_a[0].weight, source.g_a[0].weight)
    assert torch.equal(model.g_s[-1].bias, source.g_s[-1].bias)


def test_a_payload_cut_inside_the_hyperprior_raises() -> None:
    """(A payload cut later is caught by the container's length and checksum.)"""
    model = _model("checkerboard")
    data = model.compress(torch.rand(1, 3, 64, 64))
    for cut in (2, 6):
        with pytest.raises(BitstreamError, match="truncated"):
            model.decompress(data[:cut], (64, 64))
