"""DiffMM's diffusion side: the noise schedule, the denoiser MLP, and batched user rows.

Everything works on a batch of users' rows of the interaction matrix R: the dense
[batch, n_items] slice is built from R's CSR arrays per batch only, never U x I whole
(MODELS.md 1.3, 5: the original holds R dense on the GPU, 45 GB for Amazon Electronics).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import DiffMMConfig


class UserRows:
    """R as CSR index tensors; `dense(users)` materialises just those rows as 0/1 floats."""

    def __init__(self, users: Tensor, items: Tensor, n_users: int, n_items: int) -> None:
        keys = torch.unique(users.long() * n_items + items.long())  # sorted, duplicates dropped
        rows = keys // n_items
        self.indices = keys % n_items  # [nnz] item of each entry, grouped by user
        counts = torch.bincount(rows, minlength=n_users)
        self.indptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])  # [U + 1]
        self.n_users = n_users
        self.n_items = n_items

    def dense(self, users: Tensor) -> Tensor:
        """[B, n_items] float32 rows of R for `users` [B]."""
        starts = self.indptr[users]
        lengths = self.indptr[users + 1] - starts  # [B]
        total = int(lengths.sum())
        row_of = torch.repeat_interleave(torch.arange(len(users), device=users.device), lengths)
        first = torch.repeat_interleave(starts - (lengths.cumsum(0) - lengths), lengths)
        cols = self.indices[first + torch.arange(total, device=users.device)]
        out = torch.zeros(len(users), self.n_items, device=users.device)
        out[row_of, cols] = 1.0
        return out


class DiffusionSchedule:
    """Gaussian diffusion over user rows: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, T steps.

    Variances linspace(scale * min, scale * max, T); betas derived from them (capped at 0.999);
    the denoiser predicts x0; the reverse pass uses the posterior mean only.
    """

    def __init__(self, cfg: DiffMMConfig) -> None:
        self.steps = cfg.steps
        self.noise_scale = cfg.noise_scale
        var = torch.linspace(
            cfg.noise_scale * cfg.noise_min,
            cfg.noise_scale * cfg.noise_max,
            cfg.steps,
            dtype=torch.float64,
        )
        alpha_bar = 1.0 - var
        betas = [float(1.0 - alpha_bar[0])]
        for t in range(1, cfg.steps):
            betas.append(min(float(1.0 - alpha_bar[t] / alpha_bar[t - 1]), 0.999))
        beta = torch.tensor(betas, dtype=torch.float64)
        cum = torch.cumprod(1.0 - beta, 0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64), cum[:-1]])
        self.sqrt_cum = cum.sqrt().float()
        self.sqrt_one_minus_cum = (1.0 - cum).sqrt().float()
        self.snr = (cum / (1.0 - cum)).float()
        self.coef_x0 = (beta * prev.sqrt() / (1.0 - cum)).float()
        self.coef_xt = ((1.0 - prev) * (1.0 - beta).sqrt() / (1.0 - cum)).float()

    def training_losses(
        self, model: Denoiser, x0: Tensor, item_emb: Tensor, modal_feats: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(L_diff, L_msi), each a mean over the batch.

        L_diff = w_t mean((x0 - x0_hat)^2), w_t = SNR(t-1) - SNR(t) (1 at t = 0).
        L_msi = mean((x0_hat F_m - x0 E_item)^2) with F_m, E_item detached.
        """
        dev = x0.device
        t = torch.randint(0, self.steps, (len(x0),), device=dev)  # [B]
        if self.noise_scale != 0.0:
            noise = torch.randn_like(x0)
            x_t = self.sqrt_cum.to(dev)[t, None] * x0
            x_t = x_t + self.sqrt_one_minus_cum.to(dev)[t, None] * noise
        else:
            x_t = x0
        x0_hat = model(x_t, t, dropout=True)  # [B, I]
        mse = (x0 - x0_hat).pow(2).mean(1)  # [B]
        if self.noise_scale != 0.0:
            snr = self.snr.to(dev)
            weight = torch.where(t == 0, torch.ones_like(mse), snr[t - 1] - snr[t])
        else:  # no noise: every step is plain reconstruction
            weight = torch.ones_like(mse)
        msi = (matmul(x0_hat, modal_feats, model.bf16) - x0 @ item_emb).pow(2).mean(1)  # [B]
        return (weight * mse).mean(), msi.mean()

    @torch.no_grad()
    def denoise(self, model: Denoiser, x0: Tensor, chain: HiddenChain | None = None) -> Tensor:
        """The reverse pass from x0 itself (sampling_steps 0, no noise): T posterior means,
        x_{t-1} = coef_x0[t] x0_hat(x_t, t) + coef_xt[t] x_t, from x_T = x0.

        Run in the denoiser's hidden space (`HiddenChain`, built here unless given): the same
        chain, ~6x fewer multiply-adds than T passes over [B, I]. Without noise (`noise_scale`
        0) there is no posterior: one reconstruction x0_hat(x0, 0).
        """
        if self.noise_scale == 0.0:
            t0 = torch.zeros(len(x0), dtype=torch.int64, device=x0.device)
            once: Tensor = model(x0, t0, dropout=False)
            return once
        chain = chain or HiddenChain(model)
        return chain.run(x0, [float(c) for c in self.coef_x0], [float(c) for c in self.coef_xt])


class HiddenChain:
    """The reverse chain of a `Denoiser` (no dropout) carried in its hidden space.

    With W_in = [W_x | W_e] (item and time columns), x0_hat(x, t) = W_out h + b_out,
    h = tanh(W_x x + W_e emb_t + b_in). Every x_t of the chain is a x0 + W_out a + c b_out
    (a [B, hidden]), so W_x x_t = u_t follows u_{t-1} = c0 (M h_t + W_x b_out) + c1 u_t with
    M = W_x W_out [hidden, hidden] multiplied once per chain. A rebuild then costs one sparse
    W_x x0, T [B, hidden] x [hidden, hidden] products and one [B, hidden] x [hidden, I] at
    the end, instead of 2T products with I columns: the same arithmetic up to float rounding
    (~1e-6 relative; issue 16: a Beauty rebuild, 22k users x 9.7k items, 102 s of CPU before).
    Built once per regeneration (the weights fixed while it runs), reused for every batch.
    """

    def __init__(self, model: Denoiser) -> None:
        n_items = model.out.weight.shape[0]
        weight = model.inp.weight.detach()  # [hidden, I + e]
        self.model = model
        self.w_items_t = weight[:, :n_items].t().contiguous()  # [I, hidden]
        self.w_time = weight[:, n_items:]  # [hidden, e]
        self.b_in = model.inp.bias.detach()
        self.w_out_t = model.out.weight.detach().t().contiguous()  # [hidden, I]
        self.b_out = model.out.bias.detach()
        with model.autocast(weight.device.type):
            self.mix_t = (self.w_out_t @ self.w_items_t).float()  # M^T: [hidden, hidden]
        self.b_out_in = self.b_out @ self.w_items_t  # W_x b_out: [hidden]

    def run(self, x0: Tensor, coef_x0: list[float], coef_xt: list[float]) -> Tensor:
        """x_0 of the chain from x_T = x0 [B, I] (T = len(coef_x0)): [B, I] float32."""
        model = self.model
        u = torch.sparse.mm(x0.to_sparse(), self.w_items_t)  # W_x x0: [B, hidden]
        acc = torch.zeros_like(u)  # a
        x0_weight, b_out_weight = 1.0, 0.0
        with model.autocast(x0.device.type):
            for step in reversed(range(len(coef_x0))):
                c0, c1 = coef_x0[step], coef_xt[step]
                t = torch.full((1,), step, dtype=torch.int64, device=x0.device)
                emb = model.time_layer(timestep_embedding(t, model.time_dim)).float()  # [1, e]
                h = torch.tanh(u + (emb @ self.w_time.t() + self.b_in))  # [B, hidden]
                mixed = (h @ self.mix_t).float()
                u = c0 * (mixed + self.b_out_in) + c1 * u
                acc = c0 * h + c1 * acc
                x0_weight, b_out_weight = c1 * x0_weight, c0 + c1 * b_out_weight
            out = (acc @ self.w_out_t).float()  # [B, I]
        return out.add_(self.b_out, alpha=b_out_weight).add_(x0, alpha=x0_weight)


class Denoiser(nn.Module):
    """[dropout(x_t) | Linear(sinusoid(t))] -> Linear(I + e, hidden) -> tanh -> Linear(., I).

    `bf16`: the two wide layers multiply in bfloat16 under autocast (weights and their Adam stay
    fp32), the output returned as fp32, where the device multiplies bfloat16 natively
    (`bf16_is_native`; elsewhere fp32 as without it); see `DiffMMConfig.precision`.
    """

    def __init__(
        self, n_items: int, hidden: int, time_dim: int, dropout: float, bf16: bool = False
    ) -> None:
        super().__init__()
        self.bf16 = bf16
        self.time_dim = time_dim
        self.time_layer = nn.Linear(time_dim, time_dim)
        self.inp = nn.Linear(n_items + time_dim, hidden)
        self.out = nn.Linear(hidden, n_items)
        self.drop = nn.Dropout(dropout)
        for layer in (self.time_layer, self.inp, self.out):  # DiffMM's init_weights
            fan_out, fan_in = layer.weight.shape
            nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))
            nn.init.normal_(layer.bias, 0.0, 0.001)

    def forward(self, x: Tensor, t: Tensor, dropout: bool = True) -> Tensor:
        emb = self.time_layer(timestep_embedding(t, self.time_dim))  # [B, e]
        if dropout:
            x = self.drop(x)
        low = bf16_in_use(self.bf16, x.device)
        if low:  # concatenated at half width: the layer would cast it anyway
            x, emb = x.bfloat16(), emb.bfloat16()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=low):
            h = torch.tanh(self.inp(torch.cat([x, emb], dim=1)))  # [B, hidden]
            out: Tensor = self.out(h)  # [B, I]
        return out.float()

    def autocast(self, device_type: str) -> torch.autocast:
        """The bfloat16 region of `bf16` (a no-op without it, or where bfloat16 is not native).
        Entered around several forward passes (a regeneration's), the weights are cast once for
        all of them."""
        low = bf16_in_use(self.bf16, torch.device(device_type))
        return torch.autocast(device_type, dtype=torch.bfloat16, enabled=low)


def matmul(a: Tensor, b: Tensor, bf16: bool) -> Tensor:
    """a @ b; with `bf16` where the device multiplies bfloat16 natively (`bf16_is_native`), both
    cast to bfloat16 (fp32 accumulation inside the kernel: AMX or AVX512-BF16 on a recent Xeon,
    tensor cores on a GPU) and the product returned as fp32; elsewhere the fp32 product."""
    if not bf16_in_use(bf16, a.device):
        return a @ b
    return (a.bfloat16() @ b.bfloat16()).float()


def bf16_in_use(requested: bool, device: torch.device) -> bool:
    """Whether a bf16 option (`DiffMMConfig.precision`) takes effect on `device`: asked for, and
    native there (`bf16_is_native`). The one place the denoisers and `matmul` decide it."""
    return requested and bf16_is_native(device)


def bf16_is_native(device: torch.device) -> bool:
    """Whether bfloat16 matmuls on `device` run on a fast kernel: a CPU that oneDNN multiplies
    bfloat16 on (AVX-512 or AMX; an AVX2-only CPU falls back to a scalar kernel, ~80x slower
    than fp32: 27 s against 0.34 s for a [1024, 9691] x [9691, 1000] product, one thread on this
    AMD EPYC), or a GPU that supports it. Cached per device type."""
    return _bf16_is_native(device.type)


@functools.cache
def _bf16_is_native(device_type: str) -> bool:
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type == "cpu":
        mkldnn = torch.backends.mkldnn.is_available()
        return bool(mkldnn and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding [cos | sin] of integer steps: [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / max(half, 1))
    angles = t[:, None].float() * freqs[None]  # [B, half]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb
