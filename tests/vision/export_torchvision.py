#!/usr/bin/python3
"""Export torchvision networks with random weights to ONNX for test_torch_nets.

For every network this writes <out>/<name>/model.onnx and output.f32 (the
PyTorch output for the deterministic input below, little-endian float32) and
meta.txt ("N C H W" of the input, then the output dims).

Input (the C test builds the same tensor): x[i] = sin(0.001 * i) * 2 for the
flattened NCHW index i, batch 2, 3 x 224 x 224.

Default: SMALL variants (what CI runs; tests/data/vision/ holds their export):
  vgg16       torchvision VGG configuration "D" (13 conv + 3 FC) at 1/8 width,
              classifier 64*7*7 -> 64 -> 64 -> 10
  resnet50    torchvision Bottleneck blocks in the ResNet-50 layout [3,4,6,3]
              at 1/8 width (planes 8,16,32,64), 10 classes
  mobilenetv2 torchvision MobileNetV2(width_mult=0.25, num_classes=10)
  convfeat    conv-BN-ReLU-conv-ReLU feature map [N,16,56,56] (embed pooling tests)
--full exports the real torchvision vgg16/resnet50/mobilenet_v2 (1000 classes,
random weights; VGG16 is a 528 MB file), to be run with
KITE_TORCH_NETS_DIR=<out> build-*/tests/test_vision torch_nets_dir.

Random weights: torch.manual_seed(1234); BatchNorm running statistics are
randomised too so folded/unfolded BN paths are both exercised.
Requires Debian python3-torch and python3-torchvision (no onnx package).
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import Bottleneck
from torchvision.models.vgg import VGG, make_layers


def deterministic_input(n=2, c=3, h=224, w=224):
    count = n * c * h * w
    idx = torch.arange(count, dtype=torch.float64)
    return (torch.sin(0.001 * idx) * 2).float().reshape(n, c, h, w)


class SmallResNet50(nn.Module):
    """ResNet-50 layout ([3,4,6,3] Bottlenecks) with a width multiplier."""

    def __init__(self, width=8, num_classes=10):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make(width, 3, 1)
        self.layer2 = self._make(width * 2, 4, 2)
        self.layer3 = self._make(width * 4, 6, 2)
        self.layer4 = self._make(width * 8, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * 4, num_classes)

    def _make(self, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes * 4:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, down)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def small_vgg16():
    cfg = [8, 8, "M", 16, 16, "M", 32, 32, 32, "M", 64, 64, 64, "M", 64, 64, 64, "M"]
    m = VGG(make_layers(cfg, batch_norm=False), num_classes=10, init_weights=True)
    m.classifier = nn.Sequential(nn.Linear(64 * 7 * 7, 64), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(64, 64), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(64, 10))
    return m


def randomise_bn(model):
    g = torch.Generator().manual_seed(99)
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            mod.weight.data.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            mod.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def export(name, model, out_dir, x):
    model.eval()
    randomise_bn(model)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(model, x, os.path.join(d, "model.onnx"), opset_version=13,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                      do_constant_folding=True)
    y.contiguous().numpy().astype("<f4").tofile(os.path.join(d, "output.f32"))
    with open(os.path.join(d, "meta.txt"), "w") as f:
        f.write(" ".join(str(v) for v in x.shape) + "\n")
        f.write(" ".join(str(v) for v in y.shape) + "\n")
    print(f"{name}: {sum(p.numel() for p in model.parameters())} params, output {tuple(y.shape)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "vision"))
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(1234)
    x = deterministic_input()
    if args.full:
        nets = {"vgg16": torchvision.models.vgg16(), "resnet50": torchvision.models.resnet50(),
                "mobilenetv2": torchvision.models.mobilenet_v2()}
    else:
        nets = {"vgg16": small_vgg16(), "resnet50": SmallResNet50(),
                "mobilenetv2": torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)}
    for name, model in nets.items():
        export(name, model, args.out, x)
    if not args.full:
        # a feature extractor with a 4-D output, for the embed pipeline's pooling tests
        feat = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        export("convfeat", feat, args.out, x)


if __name__ == "__main__":
    sys.exit(main())
