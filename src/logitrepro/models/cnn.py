"""The two-conv CNN of Agarap (2017), readable top to bottom.

Architecture (AFAgarap/cnn-svm): 28x28x1 -> conv5x5xC1 SAME + ReLU + maxpool2
-> conv5x5xC2 SAME + ReLU + maxpool2 -> dense 7*7*C2 -> H, ReLU -> dropout -> dense H -> 10.
The paper uses C1=32, C2=64, H=1024; the `cpu` scale may shrink the widths, never the shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class CNNConfig:
    conv1_channels: int = 32
    conv2_channels: int = 64
    hidden: int = 1024
    n_classes: int = 10
    dropout: float = 0.5  # drop probability (the authors' keep_prob = 0.5)
    init_std: float = 0.1  # truncated normal, as tf.truncated_normal(stddev=0.1)
    init_bias: float = 0.1


class _MaxPool2(torch.autograd.Function):
    """2x2 max-pooling, stride 2, computed on a channels-last copy: PyTorch's CPU max-pool runs 4-5x
    faster on that layout, and pooling was a third of the CNN's step time. The gradient is
    handed back in the input's layout, so the convolutions' backward keeps its own (faster) path.
    Both layouts give the same maxima and send each window's gradient to its first maximum:
    `torch.max_pool2d`'s numbers to the bit (tests/models/test_cnn.py)."""

    @staticmethod
    def forward(ctx, x):  # (B, C, H, W) -> (B, C, H/2, W/2)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        y, argmax = torch.ops.aten.max_pool2d_with_indices(x_cl, [2, 2], [2, 2])
        ctx.save_for_backward(x_cl, argmax)
        return y.contiguous()

    @staticmethod
    def backward(ctx, grad_y):
        x_cl, argmax = ctx.saved_tensors
        grad_y = grad_y.contiguous(memory_format=torch.channels_last)
        grad_x = torch.ops.aten.max_pool2d_with_indices_backward(
            grad_y, x_cl, [2, 2], [2, 2], [0, 0], [1, 1], False, argmax
        )
        return grad_x.contiguous()


def max_pool2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max-pooling, stride 2, as `torch.max_pool2d(x, 2)` (the reference) computes it."""
    return _MaxPool2.apply(x)


class AgarapCNN(nn.Module):
    def __init__(self, config: CNNConfig):
        super().__init__()
        self.config = config
        c = config
        self.conv1 = nn.Conv2d(1, c.conv1_channels, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(c.conv1_channels, c.conv2_channels, kernel_size=5, padding=2)
        self.fc = nn.Linear(7 * 7 * c.conv2_channels, c.hidden)
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.hidden, c.n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        c = self.config
        for layer in (self.conv1, self.conv2, self.fc, self.out):
            # TF's truncated normal redraws beyond two standard deviations.
            nn.init.trunc_normal_(layer.weight, std=c.init_std, a=-2 * c.init_std, b=2 * c.init_std)
            nn.init.constant_(layer.bias, c.init_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, 28, 28) float in [0, 1]
        x = max_pool2(torch.relu(self.conv1(x)))  # (B, C1, 14, 14)
        x = max_pool2(torch.relu(self.conv2(x)))  # (B, C2, 7, 7)
        x = torch.relu(self.fc(x.flatten(1)))  # (B, H)
        return self.out(self.drop(x))  # (B, 10) raw scores o
