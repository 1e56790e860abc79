"""Chapter 2: the paper's autoencoder (exact layer table) and its codec variant (real bytes)."""
import math

import numpy as np
import pytest
import torch

from lic import jpeg
from lic.registry import get_codec
from lic.data import crop_to, evaluation_set
from lic.metrics import bpp, psnr
from lic.checkpoints import load_checkpoint, save_checkpoint, weights_dir
from lic.learned_codec import LearnedCodec
from lic.models import MODELS
from lic.models.conv_ae import QUALITIES as CONV_AE_QUALITIES
from lic.models.conv_ae import ConvAECodec, PakaKhatterAE, rgb_to_ycbcr, ycbcr_to_rgb
from lic.models.registry import CodecSpec
from lic.train import TrainConfig

#: The paper's Figure 4: parameters of conv2d_1 .. conv2d_6 (Keras counts, weights + biases).
PAPER_LAYERS = [896, 18496, 73856, 147584, 73792, 1731]


pytestmark = pytest.mark.usefixtures("one_thread")


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth colour image with a little texture, [1, 3, h, w] in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    colour = torch.rand(3, 1, 1, generator=g)
    return (colour * yy + (1 - colour) * xx + 0.1 * torch.rand(3, h, w, generator=g)).clamp(0, 1)[None]


# ----------------------------------------------------------------------------- the paper's model
def test_paper_parameter_count() -> None:
    model = PakaKhatterAE()
    assert sum(p.numel() for p in model.parameters()) == 316_355
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [sum(p.numel() for p in c.parameters()) for c in convs] == PAPER_LAYERS
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 32, (3, 3)), (32, 64, (3, 3)), (64, 128, (3, 3)), (128, 128, (3, 3)), (128, 64, (3, 3)), (64, 3, (3, 3))]
    assert MODELS["conv-ae-paper"] is PakaKhatterAE and MODELS["conv-ae"] is ConvAECodec


def test_paper_shapes_follow_the_table() -> None:
    """The paper's 512x768 input: 256x384 after the first pool, a 128 x 128 x 192 bottleneck."""
    model = PakaKhatterAE().eval()
    x = torch.rand(1, 3, 512, 768)
    with torch.no_grad():
        assert model.encoder[:3](x).shape == (1, 32, 256, 384)
        out = model(x)
    assert out["latent"].shape == (1, 128, 128, 192)
    assert out["latent"].numel() == 8 * 512 * 768 > x.numel()  # more numbers than the input
    assert out["x_hat"].shape == out["ycc_hat"].shape == x.shape
    assert out["ycc_hat"].min() >= 0 and out["ycc_hat"].max() <= 1  # sigmoid output


def test_paper_training_loss_is_the_ycbcr_mse() -> None:
    torch.manual_seed(0)
    model = PakaKhatterAE()
    x = _image(32, 48)
    loss, logs = model.training_loss(x)
    out = model(x)
    assert math.isfinite(loss.item()) and loss.item() == pytest.approx(torch.mean((out["ycc_hat"] - out["ycc"]) ** 2).item())
    assert set(logs) == {"mse", "psnr"} and math.isfinite(logs["psnr"])
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_colour_conversion_is_jfif_and_invertible() -> None:
    x = _image(8, 12, seed=3)
    ycc = rgb_to_ycbcr(x)
    ref = jpeg.rgb_to_ycbcr(x[0].permute(1, 2, 0).double().numpy() * 255) / 255
    np.testing.assert_allclose(ycc[0].permute(1, 2, 0).numpy(), ref, atol=1e-6)
    assert ycc.min() >= 0 and ycc.max() <= 1
    torch.testing.assert_close(ycbcr_to_rgb(ycc), x, atol=2e-5, rtol=0)


# ----------------------------------------------------------------------------- the codec variant
@pytest.fixture(scope="module")
def tiny() -> ConvAECodec:
    """A small, freshly initialised codec model with its coding tables (no training)."""
    torch.manual_seed(0)
    model = ConvAECodec(bottleneck=4, lmbda=0.01, widths=(8, 8, 8))
    with torch.no_grad():  # latents of a few quantization steps, so that coding has work to do
        model.g_a[-1].weight.mul_(20)
    model.update()
    return model.eval()


def test_codec_shapes_and_loss() -> None:
    torch.manual_seed(1)
    model = ConvAECodec(bottleneck=8, lmbda=0.01).train()
    x = _image(32, 48)
    out = model(x)
    assert out["y"].shape == (1, 8, 8, 12) and out["x_hat"].shape == x.shape
    assert not torch.equal(out["y_hat"], torch.round(out["y_hat"]))  # noise in training
    loss, logs = model.training_loss(x)
    assert math.isfinite(loss.item()) and logs["bpp"] > 0
    assert loss.item() == pytest.approx(logs["bpp"] + 0.01 * 255**2 * logs["mse"], rel=1e-5)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_codec_round_trip_matches_eval_forward(tiny: ConvAECodec) -> None:
    x = _image(32, 48, seed=5)
    with torch.no_grad():
        payload = tiny.compress(x)
        decoded = tiny.decompress(payload, (32, 48))
        out = tiny(x)  # eval mode: rounded latents
    assert isinstance(payload, bytes) and len(payload) > 0
    torch.testing.assert_close(decoded, out["x_hat"], atol=1e-5, rtol=0)
    # the bytes carry about what the entropy model estimates (plus the range coder's few bytes)
    estimate = -torch.log2(out["likelihoods"]["y"]).sum().item()
    assert 8 * len(payload) == pytest.approx(estimate, abs=64 + 0.05 * estimate)


def test_bpp_is_counted_from_the_bytes(tiny: ConvAECodec, tmp_path) -> None:
    config = TrainConfig(model="conv-ae", name="tiny",
                         model_args={"bottleneck": 4, "lmbda": 0.01, "widths": [8, 8, 8]})
    save_checkpoint(tiny, tmp_path / "tiny", config.to_dict())
    codec = LearnedCodec(CodecSpec("tiny", {1: ("tiny", 0)}), folder=tmp_path)
    codec.name = "tiny-conv-ae"
    image = _image(30, 46, seed=7)[0]  # not a multiple of 4: padded, then cropped back
    data = codec.compress(image, 1)
    decoded = codec.decompress(data)
    assert decoded.shape == image.shape
    assert bpp(data, 30, 46) == 8 * len(data) / (30 * 46)
    with torch.no_grad():
        payload = tiny.compress(torch.nn.functional.pad(image[None], (0, 2, 0, 2), mode="replicate"))
    assert len(data) == len(payload) + 19 + len("tiny-conv-ae")  # our container header + payload


# ----------------------------------------------------------------------------- shipped checkpoints
def test_registered_codec_round_trips_a_crop_with_its_checkpoints() -> None:
    missing = [q for q in CONV_AE_QUALITIES if not (weights_dir() / f"conv-ae-q{q}.safetensors").is_file()]
    assert not missing, f"checkpoints conv-ae-q{missing} are not shipped"
    codec = get_codec("conv-ae")
    assert codec.qualities == CONV_AE_QUALITIES
    image = crop_to(evaluation_set("kodim23")[0][1], 48, 64)  # 64 wide, 48 high
    sizes = []
    for q in codec.qualities:
        data = codec.compress(image, q)
        decoded = codec.decompress(data)
        assert decoded.shape == image.shape and decoded.min() >= 0 and decoded.max() <= 1
        assert psnr(image, decoded) > 15
        sizes.append(len(data))
    assert sizes == sorted(sizes)  # higher quality, more bytes


def test_shipped_paper_checkpoint_is_the_paper_model() -> None:
    path = weights_dir() / "conv-ae-paper"
    assert path.with_suffix(".safetensors").is_file(), "conv-ae-paper is not shipped"
    model = load_checkpoint(path)
    assert isinstance(model, PakaKhatterAE)
    assert sum(p.numel() for p in model.parameters()) == 316_355
