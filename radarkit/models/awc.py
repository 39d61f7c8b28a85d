"""Multi-modal 3-D pose regressor of AWC: modality encoders, feature fusion, pose head.

The model of Qi et al. (``awc-balanced-multimodal.txt`` Sec. 3.1, Fig. 2): one encoder per
modality turns its input into a feature vector ``f^m`` of a common width ``D``, a fusion module
combines the ``M`` vectors and a regression head predicts ``(J, 3)`` joint positions in metres.
An absent modality contributes a zero feature vector (paper Sec. 3.2, "zero-padding of
features"), which is how the Shapley contributions of :mod:`radarkit.train.awc` evaluate every
modality subset from one set of encoder outputs.

Modalities (MM-Fi folder names) and their inputs:

* ``"rgb"``: 2-D keypoints from a camera, ``(B, J, 2)`` or ``(B, T, J, 2)`` (T frames), in pixels
  of an image of ``keypoint_image_size`` (mapped to [-1, 1]) or already normalised;
  :class:`KeypointEncoder`, a temporal convolution in the manner of VideoPose3D (the paper's RGB
  backbone).
* ``"lidar"``: body-surface point cloud ``(B, N, 3)`` x, y, z in m, with a validity mask
  ``(B, N)``; :class:`PointSetEncoder`.
* ``"mmwave"``: radar point cloud ``(B, N, 5)`` x, y, z (m), Doppler (m/s), intensity, with mask;
  :class:`PointSetEncoder` (the paper uses Point Transformer for both point clouds; this is a
  lighter PointNet with masked self-attention, see the class notes).
* ``"wifi-csi"``: CSI amplitude ``(B, antenna, subcarrier, packet)`` = ``(B, 3, 114, 10)`` in MM-Fi;
  :class:`CSIEncoder`, a small CNN.

Point clouds are passed as a ``(points, mask)`` tuple (see :func:`pad_point_sets`) or as a bare
tensor when every point is valid.

Fusion (paper Sec. 4.1, Table 1): ``"concat"`` (eq. 2: one linear layer on the concatenated
features), ``"mlp"`` (two layers) or ``"attention"`` (self-attention across modality tokens).

References
----------
.. [1] M. Qi, J. Peng, X. Zhang, H. Ma, "Towards Balanced Multi-Modal Learning in 3D Human Pose
   Estimation" (``awc-balanced-multimodal.txt``), Sec. 3.1-3.2, eq. 2-3, Sec. 4.1.
.. [2] D. Pavllo et al., "3D human pose estimation in video with temporal convolutions and
   semi-supervised training", CVPR 2019 (dilated temporal convolutions over 2-D keypoints).
.. [3] C. R. Qi et al., "PointNet: Deep Learning on Point Sets", CVPR 2017 (shared point MLP and
   symmetric pooling); H. Zhao et al., "Point Transformer", ICCV 2021.
.. [4] J. Yang et al., "MM-Fi: Multi-Modal Non-Intrusive 4D Human Dataset", NeurIPS 2023
   (modalities and their shapes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "MODALITIES",
    "KeypointEncoder",
    "PointSetEncoder",
    "CSIEncoder",
    "MaskedSelfAttention",
    "ConcatFusion",
    "MLPFusion",
    "AttentionFusion",
    "AWCPoseModel",
    "pad_point_sets",
]

#: Modality names known to :class:`AWCPoseModel` (MM-Fi folder names).
MODALITIES: tuple[str, ...] = ("rgb", "lidar", "mmwave", "wifi-csi")

_NEG = -1e9  # additive attention bias for padded keys (finite: a row of pads stays NaN-free)


class MaskedSelfAttention(nn.Module):
    """Pre-norm multi-head self-attention block with a feed-forward layer, for padded sets.

    Parameters
    ----------
    dim : int
        Token width.
    n_heads : int
        Attention heads (``dim`` must be divisible by it).
    mlp_ratio : float
        Width of the feed-forward layer relative to ``dim``.
    dropout : float
        Dropout on the attention output and the feed-forward layer.

    Notes
    -----
    Written with plain tensor operations (no fused kernels), so it runs under
    ``torch.func.vmap`` (the per-sample gradients of the Fisher information) and on any device.
    Padded keys get a large negative bias; a set with no valid element attends uniformly to
    its padding and stays finite (its pooled feature is zeroed by the caller).

    References
    ----------
    .. [1] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """

    def __init__(self, dim: int, n_heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Apply the block.

        Parameters
        ----------
        x : Tensor, shape (B, N, dim)
            Tokens.
        mask : Tensor of bool, shape (B, N), optional
            True for valid tokens; padded tokens are ignored as keys.

        Returns
        -------
        Tensor, shape (B, N, dim)
        """
        b, n, d = x.shape
        h = self.n_heads
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)  # (B, h, N, N)
        if mask is not None:
            scores = scores + (~mask)[:, None, None, :].to(scores.dtype) * _NEG
        att = torch.softmax(scores, dim=-1)
        out = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.proj(out))
        return x + self.drop(self.mlp(self.norm2(x)))


class KeypointEncoder(nn.Module):
    """2-D keypoint encoder: dilated temporal convolutions over T frames, pooled over time.

    Parameters
    ----------
    n_joints : int
        Keypoints per frame (17 for COCO / MM-Fi).
    feature_dim : int
        Output feature width ``D``.
    channels : int
        Convolution channels.
    kernel_size : int
        Temporal kernel (odd); block ``i`` is dilated by ``kernel_size ** i`` (VideoPose3D).
    n_blocks : int
        Residual temporal blocks.
    dropout : float
        Dropout inside the blocks (VideoPose3D uses 0.25).
    image_size : (int, int), optional
        ``(width, height)`` in pixels: keypoints are mapped from pixels to [-1, 1]. None: inputs
        are used as given (normalise them beforehand).

    Notes
    -----
    Input ``(B, J, 2)`` (one frame) or ``(B, T, J, 2)``; output ``(B, D)`` float32. Padding keeps
    the T axis, so any T >= 1 works (T = 1 reduces the encoder to a residual per-frame MLP).
    Normalisation is GroupNorm with one group (per sample), not BatchNorm, so that per-sample
    gradients (Fisher information) and tiny batches behave.

    References
    ----------
    .. [1] Pavllo et al., CVPR 2019, Sec. 3 (temporal dilated convolution model).
    """

    def __init__(self, n_joints: int = 17, feature_dim: int = 256, channels: int = 256,
                 kernel_size: int = 3, n_blocks: int = 2, dropout: float = 0.1,
                 image_size: tuple[int, int] | None = None):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.n_joints = n_joints
        scale = (1.0, 1.0) if image_size is None else (image_size[0] / 2.0, image_size[1] / 2.0)
        shift = (0.0, 0.0) if image_size is None else scale
        self.register_buffer("in_shift", torch.tensor(shift, dtype=torch.float32), persistent=False)
        self.register_buffer("in_scale", torch.tensor(scale, dtype=torch.float32), persistent=False)
        self.expand = nn.Conv1d(2 * n_joints, channels, 1)
        self.blocks = nn.ModuleList()
        for i in range(n_blocks):
            dil = kernel_size ** i
            self.blocks.append(nn.Sequential(
                nn.Conv1d(channels, channels, kernel_size, dilation=dil, padding=dil * (kernel_size // 2)),
                nn.GroupNorm(1, channels), nn.ReLU(), nn.Dropout(dropout),
                nn.Conv1d(channels, channels, 1), nn.GroupNorm(1, channels), nn.ReLU(),
                nn.Dropout(dropout)))
        self.out = nn.Linear(channels, feature_dim)

    def forward(self, keypoints: Tensor) -> Tensor:
        """Encode keypoints.

        Parameters
        ----------
        keypoints : Tensor, shape (B, J, 2) or (B, T, J, 2)
            Pixel coordinates (with ``image_size``) or normalised coordinates.

        Returns
        -------
        Tensor of float32, shape (B, feature_dim)
        """
        if keypoints.dim() == 3:
            keypoints = keypoints[:, None]
        if keypoints.dim() != 4 or keypoints.shape[-2:] != (self.n_joints, 2):
            raise ValueError(f"keypoints must be (B, [T,] {self.n_joints}, 2), got {tuple(keypoints.shape)}")
        x = (keypoints.float() - self.in_shift) / self.in_scale
        b, t = x.shape[:2]
        x = self.expand(x.reshape(b, t, -1).transpose(1, 2))  # (B, C, T)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x.mean(dim=-1))


class PointSetEncoder(nn.Module):
    """Point-cloud encoder for a padded batch of variable-size clouds (LiDAR, mmWave radar).

    A shared per-point MLP, ``n_attention_layers`` masked self-attention blocks (point-to-point
    interaction, a light stand-in for the paper's Point Transformer), then masked max- and
    mean-pooling over the valid points and a linear layer.

    Parameters
    ----------
    in_dims : int
        Values per point: 3 (x, y, z in m; LiDAR) or 5 (x, y, z, Doppler m/s, intensity; MM-Fi
        mmWave).
    feature_dim : int
        Output feature width ``D``.
    hidden : int
        Point feature width.
    n_attention_layers : int
        Self-attention blocks over the points (0: plain PointNet).
    n_heads : int
        Attention heads.
    input_scale : sequence of float, optional
        Per-channel divisors applied to the raw point values (e.g. an intensity scale), length
        ``in_dims``.
    dropout : float
        Dropout in the attention blocks.

    Notes
    -----
    Input ``(B, N, in_dims)`` with a bool mask ``(B, N)`` (True = real point); output
    ``(B, D)`` float32. The output does not depend on the values of padded points nor on the
    order of the points. A cloud with no valid point gives the feature of zero pooled values.

    References
    ----------
    .. [1] Qi et al., "PointNet", CVPR 2017; Zhao et al., "Point Transformer", ICCV 2021.
    """

    def __init__(self, in_dims: int = 3, feature_dim: int = 256, hidden: int = 128,
                 n_attention_layers: int = 1, n_heads: int = 4,
                 input_scale: Sequence[float] | None = None, dropout: float = 0.0):
        super().__init__()
        self.in_dims = in_dims
        scale = torch.ones(in_dims) if input_scale is None else torch.as_tensor(input_scale,
                                                                                dtype=torch.float32)
        if scale.shape != (in_dims,):
            raise ValueError(f"input_scale must have {in_dims} values, got {tuple(scale.shape)}")
        self.register_buffer("in_scale", scale.float(), persistent=False)
        self.point_mlp = nn.Sequential(nn.Linear(in_dims, hidden // 2), nn.ReLU(),
                                       nn.Linear(hidden // 2, hidden), nn.LayerNorm(hidden), nn.ReLU())
        self.attention = nn.ModuleList(MaskedSelfAttention(hidden, n_heads, dropout=dropout)
                                       for _ in range(n_attention_layers))
        self.out = nn.Linear(2 * hidden, feature_dim)

    def forward(self, points: Tensor, mask: Tensor | None = None) -> Tensor:
        """Encode a padded batch of point clouds.

        Parameters
        ----------
        points : Tensor, shape (B, N, in_dims)
            Point values; padded rows are ignored.
        mask : Tensor of bool, shape (B, N), optional
            True for real points; None: all points are real.

        Returns
        -------
        Tensor of float32, shape (B, feature_dim)
        """
        if points.dim() != 3 or points.shape[-1] != self.in_dims:
            raise ValueError(f"points must be (B, N, {self.in_dims}), got {tuple(points.shape)}")
        if mask is None:
            mask = torch.ones(points.shape[:2], dtype=torch.bool, device=points.device)
        mask = mask.bool()
        x = points.float() / self.in_scale
        x = torch.where(mask[..., None], x, torch.zeros_like(x))  # padding never reaches the MLP as NaN
        h = self.point_mlp(x)
        for block in self.attention:
            h = block(h, mask)
        valid = mask[..., None]
        count = valid.sum(dim=1).clamp(min=1)
        h_max = torch.where(valid, h, torch.full_like(h, -torch.inf)).amax(dim=1)
        h_max = torch.where(valid.any(dim=1), h_max, torch.zeros_like(h_max))
        h_mean = torch.where(valid, h, torch.zeros_like(h)).sum(dim=1) / count
        return self.out(torch.cat([h_max, h_mean], dim=-1))


class CSIEncoder(nn.Module):
    """WiFi CSI amplitude encoder: a small 2-D CNN over (subcarrier, packet), antennas as channels.

    Parameters
    ----------
    n_antennas : int
        Receive antennas (input channels; 3 in MM-Fi).
    feature_dim : int
        Output feature width ``D``.
    channels : sequence of int
        Channels of the convolution stages; each stage halves the subcarrier axis.

    Notes
    -----
    Input ``(B, antenna, subcarrier, packet)`` (MM-Fi: ``(B, 3, 114, 10)``, amplitude); output
    ``(B, D)``. Any number of subcarriers and packets works (global average pooling at the end).

    References
    ----------
    .. [1] Y. Zhou et al., "MetaFi++: WiFi-enabled transformer-based human pose estimation",
       IEEE IoT-J 2023 (the paper's CSI backbone; this is a smaller CNN).
    """

    def __init__(self, n_antennas: int = 3, feature_dim: int = 256, channels: Sequence[int] = (32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = n_antennas
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=(2, 1), padding=1), nn.GroupNorm(1, c), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.n_antennas = n_antennas
        self.out = nn.Linear(c_in, feature_dim)

    def forward(self, csi: Tensor) -> Tensor:
        """Encode CSI amplitudes.

        Parameters
        ----------
        csi : Tensor, shape (B, antenna, subcarrier, packet)

        Returns
        -------
        Tensor of float32, shape (B, feature_dim)
        """
        if csi.dim() != 4 or csi.shape[1] != self.n_antennas:
            raise ValueError(f"CSI must be (B, {self.n_antennas}, subcarrier, packet), "
                             f"got {tuple(csi.shape)}")
        return self.out(self.features(csi.float()).mean(dim=(-2, -1)))


class ConcatFusion(nn.Module):
    """Concatenation fusion, paper eq. 2: ``y = w [f^1; ...; f^M] + b`` (one linear layer).

    Parameters
    ----------
    n_modalities : int
        ``M``.
    feature_dim : int
        ``D``, the width of every modality feature.
    out_dim : int
        ``3 J``.

    Notes
    -----
    Input ``(B, M, D)``, output ``(B, out_dim)``. With this head the prediction is the sum of
    per-modality linear predictions (paper eq. 3).
    """

    def __init__(self, n_modalities: int, feature_dim: int, out_dim: int):
        super().__init__()
        self.linear = nn.Linear(n_modalities * feature_dim, out_dim)

    def forward(self, features: Tensor) -> Tensor:
        """Map ``(B, M, D)`` features to ``(B, out_dim)``."""
        return self.linear(features.flatten(1))


class MLPFusion(nn.Module):
    """MLP fusion: concatenated features through a two-layer perceptron.

    Parameters
    ----------
    n_modalities, feature_dim, out_dim : int
        As :class:`ConcatFusion`.
    hidden : int
        Hidden width.
    dropout : float
        Dropout after the hidden layer.
    """

    def __init__(self, n_modalities: int, feature_dim: int, out_dim: int, hidden: int = 512,
                 dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_modalities * feature_dim, hidden), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    def forward(self, features: Tensor) -> Tensor:
        """Map ``(B, M, D)`` features to ``(B, out_dim)``."""
        return self.net(features.flatten(1))


class AttentionFusion(nn.Module):
    """Self-attention fusion across the M modality tokens, then a linear head on all tokens.

    Parameters
    ----------
    n_modalities, feature_dim, out_dim : int
        As :class:`ConcatFusion`.
    n_layers : int
        Self-attention blocks.
    n_heads : int
        Attention heads.
    dropout : float
        Dropout in the blocks.

    Notes
    -----
    Each token is the modality feature (zero when the modality is absent) plus a learned
    modality embedding, which tells the blocks which sensor a token comes from.
    """

    def __init__(self, n_modalities: int, feature_dim: int, out_dim: int, n_layers: int = 1,
                 n_heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.embedding = nn.Parameter(torch.zeros(n_modalities, feature_dim))
        nn.init.normal_(self.embedding, std=0.02)
        self.blocks = nn.ModuleList(MaskedSelfAttention(feature_dim, n_heads, dropout=dropout)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(feature_dim)
        self.linear = nn.Linear(n_modalities * feature_dim, out_dim)

    def forward(self, features: Tensor) -> Tensor:
        """Map ``(B, M, D)`` features to ``(B, out_dim)``."""
        x = features + self.embedding
        for block in self.blocks:
            x = block(x)
        return self.linear(self.norm(x).flatten(1))


_FUSIONS = {"concat": ConcatFusion, "mlp": MLPFusion, "attention": AttentionFusion}


class AWCPoseModel(nn.Module):
    """Multi-modal 3-D pose regressor: per-modality encoders, fusion, ``(J, 3)`` head.

    Parameters
    ----------
    modalities : sequence of str
        The run's modalities, a subset of :data:`MODALITIES` in any order; the order fixes the
        feature axis ``M`` (and the order of Shapley values).
    n_joints : int
        Joints predicted (17 for MM-Fi, COCO-17 order).
    feature_dim : int
        Width ``D`` of every modality feature.
    fusion : {"concat", "mlp", "attention"}
        Fusion module (paper Table 1); "concat" is eq. 2.
    keypoint_image_size : (int, int), optional
        ``(width, height)`` of the camera image the 2-D keypoints are given in (MM-Fi: 640 x 480);
        None when keypoints are already normalised.
    mmwave_dims : int
        Values per radar point (5 in MM-Fi: x, y, z, Doppler, intensity; 3 for x, y, z only).
    mmwave_scale : sequence of float, optional
        Per-channel divisors of the radar point values (e.g. to bring intensity near unit range).
    lidar_dims : int
        Values per LiDAR point (3).
    csi_antennas : int
        CSI receive antennas (3 in MM-Fi).
    point_attention_layers : int
        Self-attention blocks in the point-set encoders.
    keypoint_channels : int, optional
        Channels of the keypoint encoder's temporal convolutions (default: ``feature_dim``;
        VideoPose3D uses 1024).
    dropout : float
        Dropout in encoders and fusion.

    Raises
    ------
    ValueError
        Unknown or repeated modality, no modality, or unknown fusion.

    Notes
    -----
    ``forward(inputs)`` takes a mapping from modality name to its input (see the module notes);
    a modality missing from the mapping (or None) is absent: its feature is zero. The two
    halves are exposed for the Shapley computation: :meth:`encode` returns the stacked
    features ``(B, M, D)``, :meth:`fuse` evaluates the fusion + head for any presence mask, and
    :meth:`fuse_subsets` evaluates many subsets at once from the same features.

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` Sec. 3.1 (architecture), Sec. 3.2 (zero
       features for absent modalities), Sec. 4.1 (fusion strategies).
    """

    def __init__(self, modalities: Sequence[str] = MODALITIES, n_joints: int = 17, feature_dim: int = 256,
                 fusion: str = "concat", keypoint_image_size: tuple[int, int] | None = None,
                 mmwave_dims: int = 5, mmwave_scale: Sequence[float] | None = None, lidar_dims: int = 3,
                 csi_antennas: int = 3, point_attention_layers: int = 1, keypoint_channels: int | None = None,
                 dropout: float = 0.1):
        super().__init__()
        modalities = tuple(modalities)
        if not modalities:
            raise ValueError("at least one modality is needed")
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or len(set(modalities)) != len(modalities):
            raise ValueError(f"modalities must be distinct names from {MODALITIES}, got {modalities}")
        if fusion not in _FUSIONS:
            raise ValueError(f"fusion must be one of {sorted(_FUSIONS)}, got {fusion!r}")
        self.modalities = modalities
        self.n_joints = n_joints
        self.feature_dim = feature_dim
        self.fusion_kind = fusion
        encoders: dict[str, nn.Module] = {}
        for m in modalities:
            if m == "rgb":
                encoders[m] = KeypointEncoder(n_joints, feature_dim,
                                              channels=keypoint_channels or feature_dim,
                                              image_size=keypoint_image_size, dropout=dropout)
            elif m == "lidar":
                encoders[m] = PointSetEncoder(lidar_dims, feature_dim,
                                              n_attention_layers=point_attention_layers)
            elif m == "mmwave":
                encoders[m] = PointSetEncoder(mmwave_dims, feature_dim, input_scale=mmwave_scale,
                                              n_attention_layers=point_attention_layers)
            else:
                encoders[m] = CSIEncoder(csi_antennas, feature_dim)
        self.encoders = nn.ModuleDict(encoders)
        kwargs = {} if fusion == "concat" else {"dropout": dropout}
        self.fusion = _FUSIONS[fusion](len(modalities), feature_dim, 3 * n_joints, **kwargs)

    def encode(self, inputs: Mapping[str, Tensor | tuple[Tensor, Tensor] | None]) -> Tensor:
        """Run the encoders of the modalities present in ``inputs``.

        Parameters
        ----------
        inputs : mapping of str to Tensor or (Tensor, Tensor)
            Modality inputs (batch first); point clouds as ``(points, mask)`` or ``points``.
            Missing or None entries are absent modalities.

        Returns
        -------
        Tensor of float32, shape (B, M, D)
            Features in the order of ``self.modalities``; zero rows for absent modalities.

        Raises
        ------
        ValueError
            No modality of the model is present, an unknown modality is given, or batch sizes
            differ between modalities.
        """
        extra = [k for k, v in inputs.items() if v is not None and k not in self.modalities]
        if extra:
            raise ValueError(f"inputs for modalities {extra} the model was not built with {self.modalities}")
        feats: dict[str, Tensor] = {}
        for m in self.modalities:
            x = inputs.get(m)
            if x is None:
                continue
            if m in ("lidar", "mmwave"):
                points, mask = (x, None) if isinstance(x, Tensor) else x
                feats[m] = self.encoders[m](points, mask)
            else:
                feats[m] = self.encoders[m](x)
        if not feats:
            raise ValueError(f"no input for any of the model's modalities {self.modalities}")
        sizes = {f.shape[0] for f in feats.values()}
        if len(sizes) != 1:
            raise ValueError(f"batch sizes differ between modalities: {sorted(sizes)}")
        ref = next(iter(feats.values()))
        zeros = ref.new_zeros(ref.shape)
        return torch.stack([feats.get(m, zeros) for m in self.modalities], dim=1)

    def fuse(self, features: Tensor, present: Tensor | None = None) -> Tensor:
        """Fusion and regression head on (possibly masked) features.

        Parameters
        ----------
        features : Tensor, shape (B, M, D)
            Output of :meth:`encode`.
        present : Tensor of bool, shape (M,) or (B, M), optional
            Modalities kept; the others' features are set to zero. None keeps all.

        Returns
        -------
        Tensor, shape (B, J, 3)
            Joint positions in metres.
        """
        if present is not None:
            keep = present.to(device=features.device, dtype=features.dtype)
            features = features * keep[..., None]
        return self.fusion(features).reshape(features.shape[0], self.n_joints, 3)

    def fuse_subsets(self, features: Tensor, subsets: Tensor) -> Tensor:
        """Predictions of every modality subset from one set of features, in one head call.

        Parameters
        ----------
        features : Tensor, shape (B, M, D)
            Output of :meth:`encode` (detach it when no gradient is wanted).
        subsets : Tensor of bool, shape (S, M)
            One presence mask per subset.

        Returns
        -------
        Tensor, shape (S, B, J, 3)
            Joint positions in metres for each subset.
        """
        s, (b, m, d) = subsets.shape[0], features.shape
        keep = subsets.to(device=features.device, dtype=features.dtype)[:, None, :, None]
        stacked = (features[None] * keep).reshape(s * b, m, d)
        return self.fusion(stacked).reshape(s, b, self.n_joints, 3)

    def forward(self, inputs: Mapping[str, Tensor | tuple[Tensor, Tensor] | None]) -> Tensor:
        """Predict 3-D joints.

        Parameters
        ----------
        inputs : mapping of str to Tensor or (Tensor, Tensor)
            See :meth:`encode`.

        Returns
        -------
        Tensor of float32, shape (B, J, 3)
            Joint positions in metres.
        """
        return self.fuse(self.encode(inputs))

    def modality_parameters(self, modality: str) -> dict[str, nn.Parameter]:
        """The parameters of one modality's encoder, by their names in ``named_parameters()``.

        Parameters
        ----------
        modality : str
            One of ``self.modalities``.

        Returns
        -------
        dict of str to torch.nn.Parameter
            ``"encoders.<modality>.<...>"`` names (the ``theta^m`` of paper eq. 7).

        Raises
        ------
        KeyError
            If the model has no such modality.
        """
        if modality not in self.encoders:
            raise KeyError(f"model has no modality {modality!r} (has {self.modalities})")
        return dict(self.encoders[modality].named_parameters(prefix=f"encoders.{modality}"))


def pad_point_sets(clouds: Sequence[np.ndarray | Tensor], max_points: int | None = None,
                   dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Pad variable-size point clouds into one batch with a validity mask.

    Parameters
    ----------
    clouds : sequence of array-like, each shape (N_i, C)
        One cloud per sample; ``N_i`` may be 0.
    max_points : int, optional
        Keep at most this many points per cloud: larger clouds are thinned to evenly spaced
        points (deterministic). None: pad to the largest cloud.
    dtype : torch.dtype
        Output dtype.

    Returns
    -------
    points : Tensor, shape (B, N, C)
        Zero-padded points, ``N = max(min(N_i, max_points))`` (at least 1).
    mask : Tensor of bool, shape (B, N)
        True for real points.

    Raises
    ------
    ValueError
        Empty batch, a cloud that is not 2-D, or clouds with different C.
    """
    if len(clouds) == 0:
        raise ValueError("no point clouds to pad")
    arrays = [torch.as_tensor(np.asarray(c)) if not isinstance(c, Tensor) else c for c in clouds]
    widths = {a.shape[-1] if a.dim() == 2 else -1 for a in arrays}
    if len(widths) != 1 or -1 in widths:
        shapes = [tuple(a.shape) for a in arrays]
        raise ValueError(f"point clouds must be (N, C) with one C, got shapes {shapes}")
    kept = []
    for a in arrays:
        if max_points is not None and a.shape[0] > max_points:
            idx = torch.from_numpy(np.linspace(0, a.shape[0] - 1, max_points).round().astype(np.int64))
            a = a[idx]
        kept.append(a)
    n = max(1, max(a.shape[0] for a in kept))
    c = widths.pop()
    points = torch.zeros(len(kept), n, c, dtype=dtype)
    mask = torch.zeros(len(kept), n, dtype=torch.bool)
    for i, a in enumerate(kept):
        points[i, : a.shape[0]] = a.to(dtype)
        mask[i, : a.shape[0]] = True
    return points, mask
