"""Minnen et al. 2018 (Chapter 5): hyperprior + context, coded bit-exactly in decoding order."""
from __future__ import annotations

import pytest
import torch

from lic.codec import BitstreamError
from lic.models import MODELS
from lic.models.balle2017 import FactorizedPrior
from lic.models.minnen2018 import MaskedConv2d, MeanScaleHyperprior, anchors

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(context: str, cls: type = MeanScaleHyperprior, steps: int = 3, **options) -> MeanScaleHyperprior:
    torch.manual_seed(0)
    model = cls(N=16, M=24, context=context, **options)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):  # a few steps, so that the networks are not at their initial values
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


# ----------------------------------------------------------------------------- Wen et al. 2019
WEN_VARIANTS = {"original": {"separate_entropy": False, "multiscale": False, "residual": False, "weighted": False},
                "all": {}, "separate only": {"multiscale": False, "residual": False, "weighted": False},
                "weighted only": {"separate_entropy": False, "multiscale": False, "residual": False}}


@pytest.mark.parametrize("context", ["serial", "checkerboard"])
@pytest.mark.parametrize("variant", sorted(WEN_VARIANTS))
def test_every_wen_variant_round_trips_exactly(context: str, variant: str) -> None:
    from lic.models.wen2019 import Wen2019

    model = _model(context, Wen2019, steps=1, **WEN_VARIANTS[variant])
    x = torch.rand(1, 3, 192, 64)  # 12 latent rows: the decoding strips need their full margin
    data = model.compress(x)
    with torch.no_grad():
        expected = model(x)["x_hat"]
    decoded = model.decompress(data, (192, 64))
    assert torch.allclose(decoded, expected, atol=1e-5)
    torch.set_num_threads(2)
    two = model.decompress(data, (192, 64), workers=2)
    torch.set_num_threads(1)
    assert torch.equal(two, decoded)


def test_wen_table_1_widths_and_the_absolute_value_before_sigma() -> None:
    from lic.models.wen2019 import Wen2019

    model = Wen2019(N=16, M=128, context="serial", multiscale=False, residual=False, weighted=False)
    widths = [layer.out_channels for layer in model.ep_sigma if isinstance(layer, torch.nn.Conv2d)]
    assert widths == [384, 192, 128] and model.context_mu.first.out_channels == 128
    assert model.context_radius == 3  # three 3x3 layers: a 7x7 receptive field
    psi, phi = torch.randn(1, 256, 2, 2), torch.randn(1, 256, 2, 2)
    _, scales = model.entropy_parameters(psi, phi)
    _, flipped = model.entropy_parameters(-psi, torch.cat([phi[:, :128], -phi[:, 128:]], dim=1))
    assert torch.allclose(scales, flipped)  # σ sees only |ψ| and |φ_σ|


@pytest.mark.parametrize("variant", ["multiscale", "residual", "weighted", "all but separate"])
def test_wen_variants_start_from_the_originals_reconstructions(variant: str) -> None:
    """Warm-started from a trained Original, every addition starts neutral: same y, same x̂."""
    from lic.models.wen2019 import Wen2019

    original = _model("serial")
    options = {k: k == variant or variant == "all but separate" for k in ("multiscale", "residual", "weighted")}
    torch.manual_seed(4)
    model = Wen2019(N=16, M=24, separate_entropy=False, **options)
    model.warm_start_from(original)
    model.eval()
    model.update()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.analysis(x), original.analysis(x), atol=1e-5)
        assert torch.allclose(model(x)["x_hat"], original(x)["x_hat"], atol=1e-5)
    with pytest.raises(ValueError):
        model.warm_start_from(torch.nn.Linear(2, 2))


def test_wen_trains_in_channels_last() -> None:
    """The layout of CPU training (a stride-2 1×1 convolution crashed its backward pass there)."""
    from lic.models.wen2019 import Wen2019

    model = Wen2019(N=16, M=24).to(memory_format=torch.channels_last)
    for _ in range(2):
        loss, _ = model.training_loss(torch.rand(2, 3, 64, 64).to(memory_format=torch.channels_last))
        loss.backward()
    assert all(p.grad is not None for p in model.g_a.full[0].branches.parameters())


@pytest.mark.parametrize("separate", [False, True])
def test_the_serial_decoders_window_gives_the_training_context_everywhere(separate: bool) -> None:
    """Each position's context from its (2r + 1)² window equals the full-image context, borders too."""
    from lic.models.wen2019 import Wen2019

    torch.manual_seed(5)
    model = (Wen2019(N=8, M=12, multiscale=False, residual=False, weighted=False) if separate
             else MeanScaleHyperprior(N=8, M=12)).eval()
    y = torch.randn(1, 12, 8, 9)
    with torch.no_grad():
        full = model.context_features(y)
        r = model.context_radius
        padded = torch.nn.functional.pad(y, (r,) * 4)
        for h in range(8):
            for w in range(9):
                causal = padded.clone()
                causal[..., h + r, w + r:] = 0      # what the decoder has not decoded yet
                causal[..., h + r + 1:, :] = 0
                window = model.context_features(causal[..., h:h + 2 * r + 1, w:w + 2 * r + 1], window=True)
                assert torch.allclose(window[..., 0, 0], full[..., h, w], atol=1e-5), (h, w)


def test_an_ms_ssim_model_trains_on_1_minus_ms_ssim() -> None:
    torch.manual_seed(6)
    model = MeanScaleHyperprior(N=8, M=12, distortion="ms-ssim", lmbda=8.73)
    x = torch.rand(1, 3, 192, 192)
    loss, logs = model.training_loss(x)
    assert 0 < logs["ms_ssim"] < 1
    assert loss.item() == pytest.approx(logs["bpp"] + 8.73 * (1 - logs["ms_ssim"]), rel=1e-5)
    loss.backward()
    with pytest.raises(ValueError, match="distortion"):
        MeanScaleHyperprior(N=8, M=12, distortion="psnr")


def test_checkpoints_keep_the_entropy_networks_in_8_bits_and_the_tables_unpadded() -> None:
    from lic.checkpoints import export_weights, import_weights

    model = _model("serial")
    stored = export_weights(model, torch.float16)
    assert stored["h_s.0.weight"].dtype == stored["g_cm.weight"].dtype == torch.int8
    assert stored["g_a.0.weight"].dtype == torch.float16  # the transforms keep 16 bits
    assert export_weights(model, torch.float32)["h_s.0.weight"].dtype == torch.float32  # training state
    counts = stored["gaussian.pmf_counts"]
    assert counts.ndim == 1 and counts.numel() == int(stored["gaussian.pmf_sizes"].sum())
    loaded = MeanScaleHyperprior(N=16, M=24, context="serial")
    import_weights(loaded, stored)
    assert torch.equal(loaded.gaussian.pmf_counts, model.gaussian.pmf_counts)
    error = (loaded.h_s[0].weight - model.h_s[0].weight).abs()
    assert error.max() > 0 and (error <= stored["h_s.0.weight.int8_scale"] / 2 + 1e-6).all()
    x = torch.rand(1, 3, 64, 64)
    other = MeanScaleHyperprior(N=16, M=24, context="serial")
    import_weights(other, stored)  # the decoder's copy of the checkpoint
    data = loaded.eval().compress(x)
    with torch.no_grad():
        assert torch.allclose(other.eval().decompress(data, (64, 64)), loaded(x)["x_hat"], atol=1e-5)


@pytest.mark.parametrize("name", ["minnen2018", "wen2019"])
def test_shipped_codec_real_bits_match_the_estimate_and_decode_alike_on_1_and_2_threads(name: str) -> None:
    """The shipped checkpoints as registered codecs: within 1 % of the estimate on a whole evaluation
    image, the same pixels from 1 and 2 threads, and more bytes at a higher quality."""
    from lic.data import evaluation_set
    from lic.registry import get_codec

    codec = get_codec(name)
    assert tuple(codec.qualities) == (1, 3, 5, 7)
    image = evaluation_set(["kodim23"])[0][1]
    model = codec.model(3)
    x = image[None]  # 768 x 512, a multiple of 64
    with torch.inference_mode():  # the codec may have loaded the model in inference mode
        payload_bits = 8 * len(model.compress(x))
        assert abs(payload_bits / model.estimate_bits(x) - 1) < 0.01
    crop = image[:, 200:245, 300:370]  # odd sides
    sizes = []
    for quality in (1, 7):
        data = codec.compress(crop, quality)
        sizes.append(len(data))
        decoded = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            decoded.append(codec.decompress(data))
        torch.set_num_threads(1)
        assert decoded[0].shape == crop.shape and torch.equal(*decoded)
    assert sizes[0] < sizes[1]
