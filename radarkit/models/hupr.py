"""HuPR: two-radar human pose estimation from VRDAEMap windows (Lee et al., WACV 2023).

Architecture (paper section 4, Fig. 4 and 6; ``learned-models.md``), for each of the horizontal
and the vertical radar:

1. mean over elevation, then :class:`MNet` fuses the Doppler axis per frame (Conv3d 2 -> D with
   kernel/stride (2, 1, 1) over Doppler, then max-pooling over the remaining K/2 Doppler bins);
2. :class:`Encoder3D`: three spatio-temporal scales (2D channels at 64 x 64, 4D at 32 x 32, 8D at
   16 x 16; time and space halved between scales), each followed by a temporal Conv3d whose kernel
   spans the remaining frames (T, T/2, T/4), which merges the window into one 2-D map per scale.

Then :class:`CSAM` (cross- and self-attention between the two radars) at each scale feeds a 2-D
decoder (:class:`Decoder2D`: residual 2-D blocks without batch norm, PReLU, bilinear x2), whose
1x1 convolution gives 14 initial heatmaps (64 x 64, sigmoid), refined by :class:`PRGCN` (three
graph-convolution layers over the skeleton adjacency ``A + I`` on 32 x 32 downscaled maps).

Input layout
------------
Per radar a float tensor ``(B, T, K, 2, R, A, E)`` = (batch, 8 frames t-4..t+3, 8 Doppler bins,
real/imag, 64 range bins, 64 azimuth bins, 8 elevation bins). A radarkit VRDAE cube stores
``(frame, doppler, elevation, azimuth, range)`` complex; :func:`vrdae_to_input` does the transpose
``(T, K, E, A, R) -> (T, K, 2, R, A, E)`` with real and imaginary parts as separate channels.
Range is the heatmap's row axis and azimuth its column axis inside the network; for the vertical
radar (rotated by 90 degrees) its "azimuth" is the scene's elevation. Normalisation (per-slice
min-max then z-score in the official code) belongs to the data pipeline.

Differences from the official code (robert80203/HuPR-A-Benchmark-...; read for understanding):
real and imaginary parts are kept as channels of MNet (the official ``.view`` interleaves Doppler
bins and real/imag; ``legacy_view=True`` reproduces that reshape for checkpoints trained that way);
the adjacency comes from :data:`radarkit.skeleton.HUPR14` (symmetric, with Neck-hip edges; the
official matrix is asymmetric) and is a buffer that follows the model's device (no ``.cuda()``);
attention uses :func:`torch.nn.functional.scaled_dot_product_attention` with scale 1, the same
arithmetic as the official einsum/softmax without materialising the 4096 x 4096 map when the
backend can avoid it.

References
----------
.. [1] S.-P. Lee, N. P. Kini, W.-H. Peng, C.-W. Ma, J.-N. Hwang, "HuPR: A Benchmark for Human Pose
   Estimation Using Millimeter Wave Radar", WACV 2023 (sections 4.1-4.3, 5.2; eq. 1-3).
.. [2] K. He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (basic blocks).
.. [3] T. N. Kipf, M. Welling, "Semi-Supervised Classification with Graph Convolutional Networks",
   ICLR 2017 (graph convolution).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radarkit.skeleton import HUPR14, Skeleton

__all__ = [
    "HuPRConfig",
    "PRESETS",
    "get_config",
    "Conv3d",
    "MNet",
    "BasicBlock3D",
    "BasicBlock2D",
    "Encoder3D",
    "CSAM",
    "Decoder2D",
    "PRGCN",
    "HuPR",
    "hupr",
    "hupr_loss",
    "vrdae_to_input",
]


@dataclass(frozen=True)
class HuPRConfig:
    """Hyper-parameters of :class:`HuPR` (defaults: the paper's model, 35.5 M parameters).

    Attributes
    ----------
    n_frames : int
        Frames per window T (paper: 8, t-4..t+3); a multiple of 4.
    n_doppler : int
        Doppler bins K kept around zero velocity (paper: 8); even.
    n_range, n_azimuth, n_elevation : int
        Range, azimuth and elevation bins of the VRDAEMap (paper: 64, 64, 8). Range x azimuth is
        also the heatmap grid; both must be multiples of 8.
    n_filters : int
        Base width D (official ``numFilters``: 32 gives the paper's 35.5 M parameters).
    decoder_filters : int or None
        Base width D' of the 2-D decoder, whose scales have 8D', 4D', 2D' and D' channels and whose
        last 1 x 1 convolution maps D' channels to the heatmaps. None: D, as the paper (its
        decoder shares ``numFilters``). The ``small`` preset widens only the decoder (D' = 8 with
        D = 4): with D' = 4 the 14 heatmaps are combinations of 4 feature maps, and in 6 minutes
        of CPU training that model fitted its training people to AP 0.0, D' = 8 and 16 to 10.6.
    n_joints : int
        Heatmaps (14 for HuPR-14).
    csam_scales : tuple of int
        Scales (1: full resolution, 2: half, 3: quarter) fused by cross- and self-attention; the
        others concatenate the two radars' features. Paper: all three; ``()`` is the "Ours" row of
        Table 3 (no CSAM). Attention at scale 1 costs ``(R A)^2`` per map, most of the run time of
        a narrow model on a CPU.
    use_gcn : bool
        PRGCN refinement; False returns the initial heatmaps twice.
    gcn_residual : bool
        Refined logits = initial logits + PRGCN(initial logits), with PRGCN's output layer
        starting at zero, so the refined heatmaps start equal to the initial ones and PRGCN learns
        a correction (not in the paper, whose PRGCN output replaces the initial heatmaps; the
        ``small`` preset uses it: without it, a CPU-budget run's PRGCN output stays the same pose
        for every input while the 2-D decoder's initial heatmaps already track the person).
    heatmap_bias : bool
        Add a learned per-joint, per-pixel bias ``(J, R, A)`` to the initial heatmap logits (not in
        the paper, which has none). With :func:`radarkit.train.hupr.init_heatmap_prior` it starts a
        model without PRGCN, or with a residual one, at the mean training heatmap. It also
        learns where the training subjects stood, which a held-out subject need not share.
    joint_bias : bool
        Add a learned per-joint scalar ``(J, 1, 1)`` to the initial heatmap logits (not in the paper,
        whose last 1 x 1 convolution has no bias). :func:`radarkit.train.hupr.init_heatmap_prior`
        sets it to the logit of the joint's mean target value, the best constant prediction
        (RetinaNet's prior-probability initialisation); unlike ``heatmap_bias`` it is the same
        at every range and azimuth bin, so the decoder stays translation-equivariant.
    legacy_view : bool
        Reproduce the official MNet input reshape that interleaves Doppler bins and real/imag.

    Raises
    ------
    ValueError
        Sizes the architecture cannot take (see each attribute).

    References
    ----------
    HuPR sections 4.1-4.2 and 5.2 (N = 8 frames, K = 8, H = W = 64, E = 8).
    """

    n_frames: int = 8
    n_doppler: int = 8
    n_range: int = 64
    n_azimuth: int = 64
    n_elevation: int = 8
    n_filters: int = 32
    decoder_filters: int | None = None
    n_joints: int = 14
    csam_scales: tuple[int, ...] = (1, 2, 3)
    use_gcn: bool = True
    gcn_residual: bool = False
    heatmap_bias: bool = False
    joint_bias: bool = False
    legacy_view: bool = False

    def __post_init__(self) -> None:
        if self.n_frames % 4 or self.n_frames < 4:
            raise ValueError(f"n_frames must be a positive multiple of 4, got {self.n_frames}")
        if self.n_doppler % 2 or self.n_doppler < 2:
            raise ValueError(f"n_doppler must be even, got {self.n_doppler}")
        if self.n_filters < 1 or (self.decoder_filters is not None and self.decoder_filters < 1):
            raise ValueError(f"n_filters and decoder_filters must be positive, got {self.n_filters} "
                             f"and {self.decoder_filters}")
        if self.n_range % 8 or self.n_azimuth % 8:
            raise ValueError("n_range and n_azimuth must be multiples of 8")
        if not set(self.csam_scales) <= {1, 2, 3}:
            raise ValueError(f"csam_scales must be a subset of (1, 2, 3), got {self.csam_scales}")
        object.__setattr__(self, "csam_scales", tuple(sorted(set(self.csam_scales))))

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """Output heatmap (height, width) = (range bins, azimuth bins)."""
        return (self.n_range, self.n_azimuth)

    def input_shape(self, batch: int = 1) -> tuple[int, ...]:
        """Shape of one radar's input tensor ``(B, T, K, 2, R, A, E)``."""
        return (batch, self.n_frames, self.n_doppler, 2, self.n_range, self.n_azimuth,
                self.n_elevation)

    def to_dict(self) -> dict:
        """Plain dictionary (for checkpoints and logs)."""
        return asdict(self)


#: Named configurations. ``paper``: the published model (35.5 M parameters, 137 GFLOP per
#: window). ``small``: D = 4, a decoder of width D' = 8 (``decoder_filters``) and attention only at
#: the two coarser scales (3.9 M parameters, of which 3.2 M are PRGCN's three 1024 x 1024 layers;
#: 2.5 GFLOP per window), same input and output, trainable on a CPU
#: (``benchmarks/bench_hupr_model.py``); PRGCN refines residually (``gcn_residual``) and a
#: per-joint ``joint_bias`` can start the heatmaps at the mean target value
#: (:func:`radarkit.train.hupr.init_heatmap_prior`). Checkpoints of ``small`` written before these
#: fields existed load with them off (``decoder_filters`` None: D' = D = 4), as they were trained.
PRESETS: dict[str, HuPRConfig] = {
    "paper": HuPRConfig(),
    "small": HuPRConfig(n_filters=4, decoder_filters=8, csam_scales=(2, 3), gcn_residual=True,
                        joint_bias=True),
}


def get_config(preset: str | HuPRConfig = "paper", **overrides) -> HuPRConfig:
    """A preset configuration with optional field overrides.

    Parameters
    ----------
    preset : str or HuPRConfig
        ``"paper"`` or ``"small"`` (or a configuration to modify).
    **overrides
        :class:`HuPRConfig` fields to change.

    Returns
    -------
    HuPRConfig

    Raises
    ------
    KeyError
        Unknown preset (the message lists the known ones).
    """
    if not isinstance(preset, HuPRConfig):
        try:
            preset = PRESETS[preset]
        except KeyError:
            raise KeyError(f"unknown HuPR preset {preset!r}; known: {', '.join(PRESETS)}") from None
    return replace(preset, **overrides) if overrides else preset


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` that, on the CPU, computes a stride-1 "same" convolution as one 2-D
    convolution over the temporal kernel offsets stacked as channels.

    ``y[:, :, t] = sum_dt conv2d(x[:, :, t + dt - p], w[:, :, dt]) = conv2d(concat_dt x[:, :, t + dt
    - p], concat_dt w[:, :, dt])``: the same result and the same parameters (``weight`` of shape
    ``(out, in, kT, kH, kW)``) as ``nn.Conv3d``, so state dictionaries are interchangeable.
    PyTorch's CPU ``conv3d`` leaves oneDNN for a slow reference path on small inputs (batch 1 with
    few channels: 5-8 x slower here) and its weight gradient is slow; the 2-D form runs oneDNN
    ``conv2d`` on ``batch x frames`` channels-last images (with 4-24 channels, channels-last
    forward + backward is 1.3-2.2 x faster than the default layout here). On other devices, and
    for strided, dilated or grouped convolutions, ``nn.Conv3d`` runs unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kt, kh, kw = self.kernel_size
        same = tuple(self.padding) == (kt // 2, kh // 2, kw // 2) and kt % 2 == 1
        if (x.device.type != "cpu" or not same or self.stride != (1, 1, 1) or self.groups != 1
                or self.dilation != (1, 1, 1) or self.padding_mode != "zeros" or x.ndim != 5):
            return super().forward(x)
        b, c, t, h, w = x.shape
        padded = F.pad(x, (0, 0, 0, 0, kt // 2, kt // 2))  # (B, C, T + kT - 1, H, W)
        # one copy into (B, T, H, W, kT C), channel dt C + c; viewed as (B T, kT C, H, W) images
        # with channels-last strides
        stacked = torch.cat([padded[:, :, dt:dt + t].permute(0, 2, 3, 4, 1) for dt in range(kt)], dim=-1)
        images = stacked.view(b * t, h, w, kt * c).permute(0, 3, 1, 2)
        weight = self.weight.transpose(1, 2).reshape(self.out_channels, kt * c, kh, kw)
        out = F.conv2d(images, weight.contiguous(memory_format=torch.channels_last), self.bias,
                       padding=(kh // 2, kw // 2))
        return out.reshape(b, t, -1, h, w).transpose(1, 2)


class MNet(nn.Module):
    """Doppler fusion of one frame's range-azimuth maps (HuPR section 4.2, after [RODNet]).

    Parameters
    ----------
    n_doppler : int
        Doppler bins K (even).
    out_channels : int
        Output channels D.

    Shapes
    ------
    ``(N, 2, K, R, A)`` (real/imag channels, Doppler as depth) -> ``(N, D, R, A)``.

    Notes
    -----
    The official module is a ``Conv3d`` with kernel and stride ``(2, 1, 1)`` over Doppler, then a
    max-pool over the ``K / 2`` Doppler pairs. The convolution is a per-pixel linear map of each
    pair's 2 x 2 values, so it runs here as one ``einsum`` over ``self.conv``'s weights (same
    parameters and state dictionary; torch's CPU ``Conv3d`` took 3-5 times longer forward and
    backward).

    Raises
    ------
    ValueError
        An input whose Doppler depth is not the ``K`` the module was built for.
    """

    def __init__(self, n_doppler: int = 8, out_channels: int = 32) -> None:
        super().__init__()
        self.n_doppler = n_doppler
        self.conv = nn.Conv3d(2, out_channels, kernel_size=(2, 1, 1), stride=(2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, k, r, a = x.shape
        if k != self.n_doppler:
            raise ValueError(f"MNet built for {self.n_doppler} Doppler bins got {k}")
        w = self.conv.weight.view(-1, c, 2)  # (D, re/im, Doppler bin in the pair)
        y = torch.einsum("dcj,ncpjs->npds", w, x.reshape(n, c, k // 2, 2, r * a))
        y = y.amax(dim=1) + self.conv.bias.view(1, -1, 1)  # max over pairs; bias commutes
        return y.view(n, -1, r, a)


class BasicBlock3D(nn.Module):
    """Residual block of two 3x3x3 convolutions with batch norm and ReLU; the shortcut is a 3x3x3
    convolution with batch norm (HuPR section 5.2: "two basic blocks from ResNet" per stage).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            Conv3d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
            Conv3d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(out_channels),
        )
        self.shortcut = nn.Sequential(
            Conv3d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(out_channels),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class BasicBlock2D(nn.Module):
    """Residual block of two 3x3 convolutions with PReLU and no batch norm (HuPR decoder, 5.2).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.PReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        )
        self.shortcut = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class Encoder3D(nn.Module):
    """Multi-scale spatio-temporal encoder of one radar (HuPR section 4.2, Fig. 4 middle).

    Parameters
    ----------
    n_filters : int
        Base width D; the scales have 2D, 4D and 8D channels.
    n_frames : int
        Frames T of the window (a multiple of 4).

    Shapes
    ------
    ``(B, D, T, H, W)`` -> three maps ``(B, 2D, H, W)``, ``(B, 4D, H/2, W/2)``, ``(B, 8D, H/4, W/4)``.
    Between scales time and space are halved (trilinear); each scale's temporal Conv3d has a kernel
    over all its remaining frames (T, T/2, T/4), so the time axis is merged to one.
    """

    def __init__(self, n_filters: int = 32, n_frames: int = 8) -> None:
        super().__init__()
        c1, c2, c3 = 2 * n_filters, 4 * n_filters, 8 * n_filters
        self.stage1 = nn.Sequential(Conv3d(n_filters, c1, 3, padding=1), BasicBlock3D(c1, c1))
        self.stage2 = nn.Sequential(BasicBlock3D(c1, c2), BasicBlock3D(c2, c2))
        self.stage3 = nn.Sequential(BasicBlock3D(c2, c3), BasicBlock3D(c3, c3))
        self.merge = nn.ModuleList([
            nn.Conv3d(c, c, (t, 1, 1), bias=False)
            for c, t in ((c1, n_frames), (c2, n_frames // 2), (c3, n_frames // 4))
        ])

    @staticmethod
    def _halve(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=0.5, mode="trilinear", align_corners=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f1 = self.stage1(x)
        f2 = self.stage2(self._halve(f1))
        f3 = self.stage3(self._halve(f2))
        return tuple(m(f).squeeze(2) for m, f in zip(self.merge, (f1, f2, f3), strict=True))


def _attend(key: torch.Tensor, query: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Spatial attention: every query position takes a softmax(key . query)-weighted sum of the value
    vectors over all key positions (unscaled dot product, HuPR Fig. 6). ``(B, C, H, W)`` each."""
    b, c, h, w = value.shape
    # (B, 1, HW, C): one head. With the head axis, PyTorch's CPU flash-attention kernel runs
    # (3x faster forward and backward at 32 x 32 positions than the unbatched math path).
    k, q, v = (t.flatten(2).transpose(1, 2).unsqueeze(1) for t in (key, query, value))
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    return out.squeeze(1).transpose(1, 2).reshape(b, c, h, w)


class CSAM(nn.Module):
    """Cross- and Self-Attention Module at one scale (HuPR section 4.2, Fig. 6).

    Cross-attention: the other radar's projected features are the query (guiding signal), this
    radar's projected features the key, its features the value; a residual connection is added.
    Self-attention: query and key both from the same radar, no residual. Projections are 1x1
    convolutions without bias.

    Parameters
    ----------
    channels : int
        Channels C of each radar's features.

    Shapes
    ------
    ``(B, C, H, W)`` twice -> ``(B, 4C, H, W)`` = [hori cross, hori self, vert cross, vert self].
    """

    def __init__(self, channels: int) -> None:
        super().__init__()

        def proj() -> nn.Conv2d:
            return nn.Conv2d(channels, channels, 1, bias=False)

        self.key_cross = nn.ModuleList([proj(), proj()])  # per radar: hori, vert
        self.query_cross = nn.ModuleList([proj(), proj()])
        self.key_self = nn.ModuleList([proj(), proj()])
        self.query_self = nn.ModuleList([proj(), proj()])

    def forward(self, hori: torch.Tensor, vert: torch.Tensor) -> torch.Tensor:
        h_cross = _attend(self.key_cross[0](hori), self.query_cross[1](vert), hori) + hori
        v_cross = _attend(self.key_cross[1](vert), self.query_cross[0](hori), vert) + vert
        h_self = _attend(self.key_self[0](hori), self.query_self[0](hori), hori)
        v_self = _attend(self.key_self[1](vert), self.query_self[1](vert), vert)
        return torch.cat([h_cross, h_self, v_cross, v_self], dim=1)


class _Concat(nn.Module):
    """Fusion without attention: the two radars' features concatenated (Table 3, "Ours")."""

    def forward(self, hori: torch.Tensor, vert: torch.Tensor) -> torch.Tensor:
        return torch.cat([hori, vert], dim=1)


class Decoder2D(nn.Module):
    """Multi-scale 2-D decoder from the fused features to initial heatmap logits (HuPR 4.2).

    Parameters
    ----------
    n_filters : int
        Base width D of the encoder (scales 2D, 4D, 8D).
    n_joints : int
        Output heatmaps.
    fusion_factors : (int, int, int)
        Channels of the fused features per encoder channel at scales 1, 2, 3: 4 with CSAM, 2 with
        concatenation.
    decoder_filters : int, optional
        Base width D' of the decoder's own layers (8D', 4D', 2D', D' channels); default D, as
        the paper.

    Shapes
    ------
    fused scales ``(B, f1*2D, H, W)``, ``(B, f2*4D, H/2, W/2)``, ``(B, f3*8D, H/4, W/4)`` ->
    ``(B, n_joints, H, W)`` logits.
    """

    def __init__(self, n_filters: int = 32, n_joints: int = 14,
                 fusion_factors: tuple[int, int, int] = (4, 4, 4),
                 decoder_filters: int | None = None) -> None:
        super().__init__()
        d, (f1, f2, f3) = n_filters, fusion_factors
        e = decoder_filters or d
        self.stage3 = nn.Sequential(BasicBlock2D(f3 * 8 * d, 8 * e), BasicBlock2D(8 * e, 4 * e))
        self.stage2 = nn.Sequential(BasicBlock2D(4 * e + f2 * 4 * d, 4 * e), BasicBlock2D(4 * e, 2 * e))
        self.stage1 = nn.Sequential(BasicBlock2D(2 * e + f1 * 2 * d, 2 * e), BasicBlock2D(2 * e, e))
        self.head = nn.Conv2d(e, n_joints, 1, bias=False)

    @staticmethod
    def _double(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)

    def forward(self, s1: torch.Tensor, s2: torch.Tensor, s3: torch.Tensor) -> torch.Tensor:
        x = self._double(self.stage3(s3))
        x = self._double(self.stage2(torch.cat([x, s2], dim=1)))
        return self.head(self.stage1(torch.cat([x, s1], dim=1)))


class PRGCN(nn.Module):
    """Pose Refinement Graph Convolutional Network (HuPR section 4.3, eq. 1).

    Each joint's heatmap, downscaled by 2 and flattened, is a node feature ``v_i`` of length
    ``HW/4``; three layers ``V' = ReLU(A_hat V W1 + b1)``, ``V'' = ReLU(A_hat V' W2 + b2)``,
    ``H = A_hat V'' W3 + b3`` (sigmoid applied by the caller after upscaling) with ``A_hat = A + I``
    of the skeleton graph. Biases are per joint and feature, as in the official code.

    Parameters
    ----------
    adjacency : array_like, shape (n_joints, n_joints)
        ``A + I`` (e.g. ``HUPR14.adjacency(self_loops=True)``).
    heatmap_size : (int, int)
        Heatmap (H, W); nodes have ``H/2 * W/2`` features.

    Shapes
    ------
    ``(B, J, H, W)`` logits -> ``(B, J, H, W)`` refined logits.
    """

    def __init__(self, adjacency: np.ndarray, heatmap_size: tuple[int, int] = (64, 64)) -> None:
        super().__init__()
        a = torch.as_tensor(np.asarray(adjacency), dtype=torch.float32)
        self.register_buffer("adjacency", a, persistent=False)
        self.heatmap_size = tuple(heatmap_size)
        n_feat = (heatmap_size[0] // 2) * (heatmap_size[1] // 2)
        n_joints = a.shape[0]
        bound = 1.0 / math.sqrt(n_feat)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.empty(n_feat, n_feat).uniform_(-bound, bound)) for _ in range(3)])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.empty(n_joints, n_feat).uniform_(-bound, bound)) for _ in range(3)])

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        b, j, h, w = heatmaps.shape
        x = F.interpolate(heatmaps, scale_factor=0.5, mode="bilinear", align_corners=True)
        x = x.reshape(b, j, -1)  # (B, J, F) node features
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.matmul(self.adjacency, x) @ weight.T + bias
            if layer < 2:
                x = F.relu(x)
        x = x.reshape(b, j, h // 2, w // 2)
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)


class HuPR(nn.Module):
    """HuPR pose estimator: two VRDAEMap windows -> 14 keypoint heatmaps.

    Parameters
    ----------
    config : HuPRConfig, optional
        Hyper-parameters; default the paper's (``PRESETS["paper"]``, 35.5 M parameters).
    skeleton : Skeleton
        Joint set whose adjacency PRGCN uses (default HuPR-14).

    Shapes
    ------
    ``forward(hori, vert)``: two ``(B, T, K, 2, R, A, E)`` tensors (or ``E`` = 1: windows already
    averaged over elevation, :class:`radarkit.data.hupr.HuPRWindows` ``mean_elevation``; the model's
    first step is that mean) -> ``(initial, refined)``
    heatmaps, each ``(B, n_joints, R, A)`` in [0, 1] (sigmoid). Evaluation uses ``refined``.
    :meth:`forward_logits` returns the same before the sigmoid (for :func:`hupr_loss`).

    Raises
    ------
    ValueError
        ``skeleton`` and ``config`` disagree on the joint count; at call time, inputs of another
        shape than ``config.input_shape(B)`` (with its ``E`` or 1 elevation bins).

    References
    ----------
    HuPR, sections 4.1-4.3 and 5.2.
    """

    def __init__(self, config: HuPRConfig | None = None, skeleton: Skeleton = HUPR14) -> None:
        super().__init__()
        cfg = config or PRESETS["paper"]
        if skeleton.n_joints != cfg.n_joints:
            raise ValueError(f"skeleton {skeleton.name} has {skeleton.n_joints} joints, "
                             f"config {cfg.n_joints}")
        self.config = cfg
        d = cfg.n_filters
        self.mnet = nn.ModuleList([MNet(cfg.n_doppler, d), MNet(cfg.n_doppler, d)])
        self.encoders = nn.ModuleList([Encoder3D(d, cfg.n_frames), Encoder3D(d, cfg.n_frames)])
        self.fusion = nn.ModuleList([CSAM(c) if s in cfg.csam_scales else _Concat()
                                     for s, c in ((1, 2 * d), (2, 4 * d), (3, 8 * d))])
        factors = tuple(4 if s in cfg.csam_scales else 2 for s in (1, 2, 3))
        self.decoder = Decoder2D(d, cfg.n_joints, factors, cfg.decoder_filters)
        self.gcn = (PRGCN(skeleton.adjacency(self_loops=True), cfg.heatmap_size)
                    if cfg.use_gcn else None)
        if self.gcn is not None and cfg.gcn_residual:  # the correction starts at zero
            with torch.no_grad():
                self.gcn.weights[2].zero_()
                self.gcn.biases[2].zero_()
        self.heatmap_bias = (nn.Parameter(torch.zeros(cfg.n_joints, *cfg.heatmap_size))
                             if cfg.heatmap_bias else None)
        self.joint_bias = (nn.Parameter(torch.zeros(cfg.n_joints, 1, 1)) if cfg.joint_bias
                           else None)

    def _check(self, x: torch.Tensor, name: str) -> None:
        want = self.config.input_shape(x.shape[0])
        if tuple(x.shape) != want and tuple(x.shape) != want[:-1] + (1,):
            raise ValueError(f"{name} input has shape {tuple(x.shape)}, expected (B, T, K, 2, R, A, E)"
                             f" = {want}")

    def encode_radar(self, x: torch.Tensor, radar: int) -> tuple[torch.Tensor, ...]:
        """Elevation mean, MNet and the 3-D encoder of radar ``radar`` (0 hori, 1 vert).

        ``(B, T, K, 2, R, A, E)`` -> three scale maps (see :class:`Encoder3D`).
        """
        b, t, k, _, r, a, _ = x.shape
        x = x.mean(dim=-1)  # (B, T, K, 2, R, A)
        if self.config.legacy_view:  # official code: reinterpret (K, 2) memory as (2, K)
            x = x.contiguous().view(b * t, 2, k, r, a)
        else:
            x = x.transpose(2, 3).reshape(b * t, 2, k, r, a)
        f = self.mnet[radar](x)  # (B*T, D, R, A)
        f = f.reshape(b, t, -1, r, a).transpose(1, 2)  # (B, D, T, R, A)
        return self.encoders[radar](f)

    def forward_logits(self, hori: torch.Tensor,
                       vert: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Initial and PRGCN-refined heatmap logits, each ``(B, n_joints, R, A)``."""
        self._check(hori, "horizontal")
        self._check(vert, "vertical")
        hs, vs = self.encode_radar(hori, 0), self.encode_radar(vert, 1)
        fused = [fuse(h, v) for fuse, h, v in zip(self.fusion, hs, vs, strict=True)]
        initial = self.decoder(*fused)
        if self.heatmap_bias is not None:
            initial = initial + self.heatmap_bias
        if self.joint_bias is not None:
            initial = initial + self.joint_bias
        if self.gcn is None:
            return initial, initial
        refined = self.gcn(initial)
        if self.config.gcn_residual:
            refined = initial + refined
        return initial, refined

    def forward(self, hori: torch.Tensor, vert: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        initial, refined = self.forward_logits(hori, vert)
        return torch.sigmoid(initial), torch.sigmoid(refined)


def hupr(preset: str | HuPRConfig = "paper", **overrides) -> HuPR:
    """Build a :class:`HuPR` model from a preset (``"paper"`` or ``"small"``) and field overrides.

    Parameters
    ----------
    preset : str or HuPRConfig
        See :data:`PRESETS`.
    **overrides
        :class:`HuPRConfig` fields.

    Returns
    -------
    HuPR
    """
    return HuPR(get_config(preset, **overrides))


def hupr_loss(initial_logits: torch.Tensor, refined_logits: torch.Tensor, target: torch.Tensor,
              alpha: float = 1.0, weight: torch.Tensor | None = None) -> torch.Tensor:
    """HuPR training loss ``BCE(initial, T) + alpha * BCE(refined, T)`` (paper eq. 2-3).

    Pixel-wise binary cross-entropy on the sigmoid of the logits (computed from the logits for
    numerical stability), averaged over pixels, joints and batch (eq. 3 sums; the mean only scales
    the learning rate, and is what the official code optimises).

    Parameters
    ----------
    initial_logits, refined_logits : Tensor, shape (B, J, H, W)
        :meth:`HuPR.forward_logits` outputs.
    target : Tensor, shape (B, J, H, W)
        Gaussian heatmap targets in [0, 1] (:func:`radarkit.data.heatmaps.gaussian_heatmaps`).
    alpha : float
        Weight of the refined term (paper: 1).
    weight : Tensor, shape (B, J), optional
        Per-joint mask (0 for unlabelled joints); the mean is taken over the unmasked maps.

    Returns
    -------
    Tensor
        Scalar loss.
    """
    def bce(logits: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        if weight is None:
            return loss.mean()
        w = weight[:, :, None, None].to(loss.dtype)
        return (loss * w).sum() / (w.sum() * loss.shape[-2] * loss.shape[-1]).clamp_min(1.0)

    return bce(initial_logits) + alpha * bce(refined_logits)


def vrdae_to_input(cube: np.ndarray) -> np.ndarray:
    """Convert a complex VRDAE window in radarkit's axis order to HuPR's input layout.

    Parameters
    ----------
    cube : ndarray, complex, shape (..., T, K, E, A, R)
        ``(frame, doppler, elevation, azimuth, range)`` as stored in radarkit cube files
        (``architecture.md``), already cut to the model's Doppler/range/angle bins.

    Returns
    -------
    ndarray, float32, shape (..., T, K, 2, R, A, E)
        Real and imaginary parts as a separate axis; range, azimuth, elevation last.
    """
    cube = np.asarray(cube)
    if cube.ndim < 5:
        raise ValueError(f"expected (..., frame, doppler, elevation, azimuth, range), got {cube.shape}")
    parts = np.stack([cube.real, cube.imag], axis=-4)  # (..., T, K, 2, E, A, R)
    return np.ascontiguousarray(np.swapaxes(parts, -1, -3), dtype=np.float32)  # (..., 2, R, A, E)
