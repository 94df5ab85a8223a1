"""FLOPs and activation sizes per image, counted from the layers a forward pass actually runs.

Counted: convolutions and linear layers, one multiply-add = 2 FLOPs (the convention of
`torch.utils.flop_counter` and of peak-FLOP/s figures). Not counted: biases, batch norm,
activations, pooling, residual additions: together well under 1% of these networks' work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


def _conv_macs(module: nn.Conv2d, output: torch.Tensor) -> int:
    kernel_h, kernel_w = module.kernel_size
    per_output = (module.in_channels // module.groups) * kernel_h * kernel_w
    return output.numel() * per_output


Hook = Callable[[nn.Module, tuple[torch.Tensor, ...], Any], None]


def _one_image_pass(
    module: nn.Module, image_shape: tuple[int, int, int], hook: Hook, layers: Sequence[nn.Module]
) -> None:
    """Run one zero image through `module` with `hook` on `layers`, then remove the hooks."""
    handles = [layer.register_forward_hook(hook) for layer in layers]
    try:
        with torch.inference_mode():
            parameter = next(module.parameters())
            module(torch.zeros((1, *image_shape), dtype=parameter.dtype, device=parameter.device))
    finally:
        for handle in handles:
            handle.remove()


def flops_per_image(module: nn.Module, image_shape: tuple[int, int, int]) -> int:
    """FLOPs of one forward pass over one image of shape (channels, height, width)."""
    macs = [0]

    def hook(layer: nn.Module, _inputs: tuple[torch.Tensor, ...], output: Any) -> None:
        if isinstance(layer, nn.Conv2d):
            macs[0] += _conv_macs(layer, output)
        elif isinstance(layer, nn.Linear):
            macs[0] += math.prod(output.shape) * layer.in_features

    layers = [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    _one_image_pass(module, image_shape, hook, layers)
    return 2 * macs[0]


def largest_activation_bytes(module: nn.Module, image_shape: tuple[int, int, int]) -> int:
    """Bytes of the largest output any layer produces for one image: what batching multiplies."""
    largest = [0]

    def hook(_layer: nn.Module, _inputs: tuple[torch.Tensor, ...], output: Any) -> None:
        if isinstance(output, torch.Tensor):
            largest[0] = max(largest[0], output.numel() * output.element_size())

    leaves = [m for m in module.modules() if not list(m.children())]
    _one_image_pass(module, image_shape, hook, leaves)
    return largest[0]
