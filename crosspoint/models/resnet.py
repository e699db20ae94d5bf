"""ResNet-18 / ResNet-50 image encoders (He et al., 2016), trained from scratch, without the fc layer.

Stem: 7x7 conv stride 2 (64) + BN + ReLU + 3x3 max-pool stride 2; four stages of residual blocks
(widths 64, 128, 256, 512; stride 2 from the second stage on, with a 1x1 conv + BN shortcut where
the shape changes); global average pool. ResNet-18 uses BasicBlocks [2, 2, 2, 2] -> 512-d,
ResNet-50 Bottlenecks (expansion 4) [3, 4, 6, 3] -> 2048-d. The global pool is adaptive, so any
input of at least ~32 px works (64-96 px renders as well as 224).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convs (+BN), identity or 1x1 projection shortcut."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn(in_ch, width, 3, stride)
        self.conv2 = _conv_bn(width, width, 3)
        out = width * self.expansion
        self.shortcut = _conv_bn(in_ch, out, 1, stride) if stride != 1 or in_ch != out else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.relu(self.conv1(x)))
        return self.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride here, as in the common "v1.5" variant), 1x1 expand x4; shortcut as above."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * self.expansion
        self.conv1 = _conv_bn(in_ch, width, 1)
        self.conv2 = _conv_bn(width, width, 3, stride)
        self.conv3 = _conv_bn(width, out, 1)
        self.shortcut = _conv_bn(in_ch, out, 1, stride) if stride != 1 or in_ch != out else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.conv1(x))
        y = self.conv3(self.relu(self.conv2(y)))
        return self.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet trunk without fc: ``forward([B, 3, H, W]) -> [B, out_dim]`` (global average pool)."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], depths: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        in_ch = 64
        for i, (width, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
            blocks = []
            for j in range(depth):
                blocks.append(block(in_ch, width, 2 if (i > 0 and j == 0) else 1))
                in_ch = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_dim = in_ch
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, images: Tensor) -> Tensor:
        return torch.flatten(self.stages(self.stem(images)).mean(dim=(2, 3)), 1)


def resnet18() -> ResNet:
    """ResNet-18 trunk, 512-d output, about 11.18 M parameters."""
    return ResNet(BasicBlock, (2, 2, 2, 2))


def resnet50() -> ResNet:
    """ResNet-50 trunk, 2048-d output, about 23.51 M parameters (the paper's image encoder)."""
    return ResNet(Bottleneck, (3, 4, 6, 3))
