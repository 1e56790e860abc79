"""GDN / IGDN against the per-pixel formula and their bounded parameters (the masked convolutions of
the context models are tested in test_minnen2018.py)."""
import pytest
import torch

from lic.layers import GDN, lower_bound


def _random_gdn(channels: int, inverse: bool, seed: int = 0) -> tuple[GDN, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    beta = 0.5 + torch.rand(channels, generator=g)
    gamma = 0.3 * torch.rand(channels, channels, generator=g)
    gdn = GDN(channels, inverse=inverse)
    gdn.set_parameters(beta, gamma)
    return gdn, beta, gamma


def test_initialisation() -> None:
    gdn = GDN(4)
    torch.testing.assert_close(gdn.beta, torch.ones(4))
    torch.testing.assert_close(gdn.gamma, 0.1 * torch.eye(4))


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_matches_per_pixel_formula(inverse: bool) -> None:
    gdn, beta, gamma = _random_gdn(5, inverse)
    torch.testing.assert_close(gdn.beta, beta)
    torch.testing.assert_close(gdn.gamma, gamma)
    x = torch.randn(2, 5, 3, 4)
    y = gdn(x)
    for b in range(2):
        for m in range(3):
            for n in range(4):
                v = x[b, :, m, n]
                for i in range(5):
                    norm = torch.sqrt(beta[i] + sum(gamma[i, j] * v[j] ** 2 for j in range(5)))
                    expected = v[i] * norm if inverse else v[i] / norm
                    torch.testing.assert_close(y[b, i, m, n], expected, rtol=1e-5, atol=1e-6)


def test_inverse_gdn_is_the_multiply_form() -> None:
    gdn, _, _ = _random_gdn(6, inverse=False, seed=1)
    igdn, _, _ = _random_gdn(6, inverse=True, seed=1)
    x = torch.randn(1, 6, 5, 5)
    # same parameters: GDN divides by the norm that IGDN multiplies with
    torch.testing.assert_close(gdn(x) * igdn(x), x * x, rtol=1e-5, atol=1e-6)


def test_parameters_stay_above_bounds_after_a_huge_step() -> None:
    gdn = GDN(3)
    opt = torch.optim.SGD(gdn.parameters(), lr=1.0)
    x = torch.randn(1, 3, 4, 4)
    # a loss whose gradient pushes beta and gamma far below zero
    loss = 1e6 * (gdn.beta.sum() + gdn.gamma.sum()) + gdn(x).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert gdn.beta_stored.min() < 0  # the raw parameter did overshoot ...
    assert gdn.beta.min() >= gdn.beta_min * (1 - 1e-6)  # ... the effective one did not
    assert gdn.gamma.min() >= 0
    assert torch.isfinite(gdn(x)).all()
    # the gradient-friendly bound lets a parameter stuck below the bound climb back up
    opt.zero_grad()
    (-gdn.beta.sum()).backward()
    assert (gdn.beta_stored.grad < 0).all()


def test_lower_bound_gradient() -> None:
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    y = lower_bound(x, 0.5)
    assert y.tolist() == [0.5, 2.0]
    y.sum().backward()  # descent would push x down: blocked below the bound
    assert x.grad.tolist() == [0.0, 1.0]
    x.grad = None
    (-lower_bound(x, 0.5)).sum().backward()  # descent pushes x up: passes
    assert x.grad.tolist() == [-1.0, -1.0]
