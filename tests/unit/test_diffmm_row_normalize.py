"""DiffMM's row_normalize (issue 16): F.normalize(x, dim=1)'s values, its gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.diffmm import row_normalize


def test_row_normalize_is_f_normalize_in_value_and_gradient() -> None:
    torch.manual_seed(0)
    x = torch.randn(40, 16) * torch.rand(40, 1) * 5
    x[3] = 0.0  # a zero row: the clamp holds it
    x[7] = 1e-14  # a row below eps
    weights = torch.randn(40, 16)
    ours_in = x.clone().requires_grad_()
    ref_in = x.clone().requires_grad_()
    ours, ref = row_normalize(ours_in), F.normalize(ref_in, dim=1)
    assert torch.equal(ours, ref)
    (ours * weights).sum().backward()
    (ref * weights).sum().backward()
    assert ours_in.grad is not None and ref_in.grad is not None
    torch.testing.assert_close(ours_in.grad, ref_in.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours_in.grad[3], weights[3] / 1e-12)
    assert float((ours_in.grad[0] * ours[0].detach()).sum().abs()) < 1e-5  # orthogonal to y
