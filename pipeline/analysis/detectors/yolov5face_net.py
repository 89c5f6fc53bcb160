"""YOLOv5-face (the 'l' and 'n' variants) in PyTorch, laid out so yolov5l-face.pth and
yolov5n-face.pth (state dicts of CodeFormer's facelib model) load with strict=True.

The network is a flat list of layers `model.<i>`; each takes the previous output or the
outputs of earlier layers (`sources`), as in the YOLOv5 model files.
"""

from __future__ import annotations

import torch
from torch import nn

ANCHORS = ((4, 5, 8, 10, 13, 16), (23, 29, 43, 55, 73, 105), (146, 217, 231, 300, 335, 433))
VALUES_PER_ANCHOR = 16  # x, y, w, h, objectness, 5 landmarks (x, y), face class


class Conv(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class StemBlock(nn.Module):
    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.stem_1 = Conv(c1, c2, 3, 2)
        self.stem_2a = Conv(c2, c2 // 2, 1, 1, 0)
        self.stem_2b = Conv(c2 // 2, c2, 3, 2, 1)
        self.stem_2p = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)
        self.stem_3 = Conv(c2 * 2, c2, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.stem_1(x)
        return self.stem_3(torch.cat((self.stem_2b(self.stem_2a(s1)), self.stem_2p(s1)), 1))


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool) -> None:
        super().__init__()
        self.cv1 = Conv(c, c, 1, 1)
        self.cv2 = Conv(c, c, 3, 1)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        c_ = c2 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, shortcut) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), dim=1))


class SPP(nn.Module):
    def __init__(self, c1: int, c2: int, k: tuple[int, ...] = (3, 5, 7)) -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * (len(k) + 1), c2, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [m(x) for m in self.m], 1))


def _depthwise(c: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(c, c, 3, stride, 1, bias=False, groups=c)


class ShuffleV2Block(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        half = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(inp, stride), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, half, 1, 1, 0, bias=False), nn.BatchNorm2d(half), nn.SiLU(),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else half, half, 1, 1, 0, bias=False), nn.BatchNorm2d(half), nn.SiLU(),
            _depthwise(half, stride), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, 1, 0, bias=False), nn.BatchNorm2d(half), nn.SiLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        b, c, h, w = out.shape
        return out.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


class Upsample(nn.Upsample):
    def __init__(self) -> None:
        super().__init__(scale_factor=2, mode="nearest")


class Concat(nn.Module):
    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, 1)


class Detect(nn.Module):
    """Decodes each level into [B, N, 16] rows in input pixels: box centre/size, objectness,
    5 landmarks and class score (the last two multiplied give the face confidence)."""

    strides = (8, 16, 32)

    def __init__(self, channels: tuple[int, int, int]) -> None:
        super().__init__()
        a = torch.tensor(ANCHORS, dtype=torch.float32).view(3, -1, 2)
        self.register_buffer("anchors", a / torch.tensor(self.strides, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("anchor_grid", a.clone().view(3, 1, -1, 1, 1, 2))
        self.m = nn.ModuleList(nn.Conv2d(c, VALUES_PER_ANCHOR * 3, 1) for c in channels)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        rows = []
        for i, x in enumerate(xs):
            x = self.m[i](x)
            b, _, ny, nx = x.shape
            x = x.view(b, 3, VALUES_PER_ANCHOR, ny, nx).permute(0, 1, 3, 4, 2)
            yv, xv = torch.meshgrid(torch.arange(ny, device=x.device), torch.arange(nx, device=x.device), indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2).float()
            stride, anchor = self.strides[i], self.anchor_grid[i]
            xy = (x[..., 0:2].sigmoid() * 2.0 - 0.5 + grid) * stride
            wh = (x[..., 2:4].sigmoid() * 2) ** 2 * anchor
            marks = [x[..., 5 + 2 * k:7 + 2 * k] * anchor + grid * stride for k in range(5)]
            y = torch.cat([xy, wh, x[..., 4:5].sigmoid(), *marks, x[..., 15:16].sigmoid()], dim=-1)
            rows.append(y.reshape(b, -1, VALUES_PER_ANCHOR))
        return torch.cat(rows, 1)


# (sources, module factory): sources is -1 for the previous layer or a tuple of layer indexes.
def _layers_l() -> list:
    return [
        (-1, lambda: StemBlock(3, 64)), (-1, lambda: C3(64, 128, 3)), (-1, lambda: Conv(128, 256, 3, 2)),
        (-1, lambda: C3(256, 256, 9)), (-1, lambda: Conv(256, 512, 3, 2)), (-1, lambda: C3(512, 512, 9)),
        (-1, lambda: Conv(512, 1024, 3, 2)), (-1, lambda: SPP(1024, 1024)), (-1, lambda: C3(1024, 1024, 3, False)),
        (-1, lambda: Conv(1024, 512, 1, 1)), (-1, Upsample), ((-1, 5), Concat), (-1, lambda: C3(1024, 512, 3, False)),
        (-1, lambda: Conv(512, 256, 1, 1)), (-1, Upsample), ((-1, 3), Concat), (-1, lambda: C3(512, 256, 3, False)),
        (-1, lambda: Conv(256, 256, 3, 2)), ((-1, 13), Concat), (-1, lambda: C3(512, 512, 3, False)),
        (-1, lambda: Conv(512, 512, 3, 2)), ((-1, 9), Concat), (-1, lambda: C3(1024, 1024, 3, False)),
        ((16, 19, 22), lambda: Detect((256, 512, 1024))),
    ]


def _shuffle_stage(inp: int, oup: int, repeats: int) -> list:
    return [(-1, lambda: ShuffleV2Block(inp, oup, 2)),
            (-1, lambda: nn.Sequential(*(ShuffleV2Block(oup, oup, 1) for _ in range(repeats))))]


def _layers_n() -> list:
    return [
        (-1, lambda: StemBlock(3, 32)), *_shuffle_stage(32, 128, 3), *_shuffle_stage(128, 256, 7),
        *_shuffle_stage(256, 512, 3),
        (-1, lambda: Conv(512, 128, 1, 1)), (-1, Upsample), ((-1, 4), Concat), (-1, lambda: C3(384, 128, 1, False)),
        (-1, lambda: Conv(128, 128, 1, 1)), (-1, Upsample), ((-1, 2), Concat), (-1, lambda: C3(256, 128, 1, False)),
        (-1, lambda: Conv(128, 128, 3, 2)), ((-1, 11), Concat), (-1, lambda: C3(256, 128, 1, False)),
        (-1, lambda: Conv(128, 128, 3, 2)), ((-1, 7), Concat), (-1, lambda: C3(256, 128, 1, False)),
        ((14, 17, 20), lambda: Detect((128, 128, 128))),
    ]


class YOLOv5FaceNet(nn.Module):
    """Input RGB [B, 3, H, W] in 0..1 with H, W multiples of 32; output [B, N, 16] (see Detect)."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        specs = {"l": _layers_l, "n": _layers_n}[variant]()
        self.sources = [s for s, _ in specs]
        self.model = nn.Sequential(*(make() for _, make in specs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        for sources, layer in zip(self.sources, self.model):
            if sources == -1:
                x = layer(x)
            else:
                x = layer([x if s == -1 else outputs[s] for s in sources])
            outputs.append(x)
        return x
