"""The networks the CNN benchmarks run, written by hand in torch (no torchvision).

`cnn8m` is the seeds' 8,765,066-parameter CNN; `resnet18` is the standard ImageNet ResNet-18
(11,689,512 parameters); `lenet` is LeNet-5 sized for 8×8 or 28×28 digits; `smallcnn` trains on
an image folder. Weights are random: inference timing does not depend on their values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

MODEL_NAMES = ("cnn8m", "resnet18", "lenet")


class Cnn8m(nn.Module):
    """Three 3×3 convs (64, 128, 256 filters) + ReLU + 2×2 max-pool, 512-unit dense, 10 out."""

    def __init__(self, num_classes: int = 10, image_size: int = 64) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(128, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = image_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * side * side, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class SmallCnn(nn.Module):
    """A narrow cnn8m (16, 32, 64 filters, 128-unit dense) that trains in seconds on a CPU."""

    def __init__(self, num_classes: int, image_size: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in (16, 32, 64):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        side = image_size // 8
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, 128),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class LeNet(nn.Module):
    """LeNet-5: two conv + pool stages, then 120 → 84 → 10 dense units.

    28×28 input uses the classic 5×5 kernels (28 → 14 → 5 after the second conv and pool);
    8×8 input (scikit-learn digits) uses 3×3 kernels with padding (8 → 4 → 2).
    """

    def __init__(self, image_size: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        if image_size == 28:
            conv1, conv2, side = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5), 5
        elif image_size == 8:
            conv1, conv2, side = nn.Conv2d(1, 6, 3, padding=1), nn.Conv2d(6, 16, 3, padding=1), 2
        else:
            raise ValueError(f"LeNet takes 8×8 or 28×28 images, not {image_size}×{image_size}")
        self.features = nn.Sequential(
            conv1, nn.ReLU(), nn.MaxPool2d(2), conv2, nn.ReLU(), nn.MaxPool2d(2)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class BasicBlock(nn.Module):
    """Two 3×3 conv + batch-norm layers with an identity (or 1×1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: torch.Tensor = self.relu(out + identity)
        return result


class ResNet18(nn.Module):
    """He et al. 2016, 18 layers: stem, four stages of two BasicBlocks, global pool, 1000-way fc."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        out: torch.Tensor = self.fc(torch.flatten(self.avgpool(x), 1))
        return out


@dataclass(frozen=True)
class ModelSpec:
    """A network and the shape of one input image, (channels, height, width)."""

    name: str
    module: nn.Module
    image_shape: tuple[int, int, int]


def build(name: str, *, seed: int = 0) -> ModelSpec:
    """A fresh model in eval mode with seeded random weights."""
    torch.manual_seed(seed)
    if name == "cnn8m":
        spec = ModelSpec(name, Cnn8m(), (3, 64, 64))
    elif name == "resnet18":
        spec = ModelSpec(name, ResNet18(), (3, 224, 224))
    elif name == "lenet":
        spec = ModelSpec(name, LeNet(28), (1, 28, 28))
    else:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    spec.module.eval()
    return spec


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (batch-norm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
