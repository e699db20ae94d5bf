"""The training stages' optimiser: torch's Adam with a correctly rounded square root on the CPU (the same
weights on every CPU), torch's fused Adam on CUDA."""

from __future__ import annotations

import torch

from crosspoint import exact


class PortableAdam(torch.optim.Adam):
    """``torch.optim.Adam`` (the same update, hyper-parameters and state, so its checkpoints load
    either way) whose step takes the square root with :func:`crosspoint.exact.tensor_sqrt`: torch's own Adam gives
    other weights on another CPU (see the README's reproducibility section). No amsgrad/maximize."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch's Adam step, see the class docstring
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                step = float(state["step"].item())
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = lr / (1 - beta1**step)
                denom = (exact.tensor_sqrt(exp_avg_sq) / ((1 - beta2**step) ** 0.5)).add_(eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)
        return loss


def make_adam(params, device: torch.device, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """The training stages' Adam: :class:`PortableAdam` on the CPU (the record's path: the same weights on
    every CPU), torch's fused Adam on CUDA (one kernel for all parameters instead of a few per tensor;
    CUDA's sqrt is already correctly rounded). Both keep torch Adam's state, so checkpoints load either way."""
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    return PortableAdam(params, lr=lr, weight_decay=weight_decay)
