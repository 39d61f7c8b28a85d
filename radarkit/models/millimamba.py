"""milliMamba: 2-D human pose from two radars with a cross-view Mamba encoder and an ST-cross decoder.

milliMamba [1]_ extracts spatio-temporal features from the horizontal and the vertical radar over a
long frame sequence with a *Cross-View Fusion Mamba encoder* (linear in the sequence length), then a
*Spatio-Temporal-Cross Attention decoder* predicts joint coordinates for several frames at once; it is
trained with a keypoint loss plus a velocity loss. The authors had released no code when this module
was written, and the abstract leaves most of the design open. The choices made here:

1. **Input** (:class:`RadarTokenizer`). Per radar a sequence of range x Doppler x angle cubes,
   ``(batch, frame, doppler, angle, range)``: radarkit's RAD axis order with Doppler fftshifted, after
   static clutter removal. For the horizontal radar the angle is azimuth, for the vertical radar
   (mounted at 90 degrees) it is elevation. This is the lighter representation (no separate
   elevation axis, unlike HuPR's range x azimuth x elevation x Doppler). Only the ``n_doppler``
   central Doppler bins (around zero velocity) are kept: a person's returns lie at low velocity,
   and fewer bins mean fewer input channels. Complex cubes enter as real and imaginary channels;
   real cubes (magnitude or dB) as one channel per Doppler bin. Each frame of each radar is
   standardised (zero mean, unit variance over Doppler, angle and range), because raw radar power
   varies by orders of magnitude between captures.
2. **Tokens**. A per-radar stem (3x3 convolution, GELU) and a non-overlapping patch embedding
   (convolution with kernel = stride = ``patch_size``) turn each frame into ``Pa x Pr`` tokens
   (angle patches x range patches) of width ``d_model``. The two radars have separate weights,
   because they see different angles. Learned position embeddings (per radar) and a learned
   radar ("view") embedding are added.
3. **Encoder** (:class:`CrossViewFusionMambaEncoder`). Each layer makes two bidirectional scans
   (forward + backward Mamba, summed; pre-norm, residual):

   * *spatial cross-view scan*, one sequence per frame over both radars' tokens in the order
     range patch -> radar -> angle patch. Both radars measure range, so the tokens of the two views
     at the same range patch sit next to each other, and the scan state carries one view's
     evidence into the other's tokens at that range. **This is where the views are fused**;
   * *temporal scan*, one sequence per token (radar, angle patch, range patch) over the frames,
     forward and backward in time.

   A layer costs ``O(T * 2 * Pa * Pr)``: linear in the number of frames ``T`` (and in the tokens per
   frame). There is no MLP between the scans: the Mamba block's gated in/out projections already mix
   channels (as in the original Mamba architecture). The encoder accepts any ``T``; ``n_frames`` is the
   nominal (training) length.
4. **Decoder** (:class:`SpatioTemporalCrossAttentionDecoder`). There are ``n_out_frames x n_joints``
   queries (a learned joint embedding plus a learned frame embedding). Each layer does:
   *spatial* self-attention among the joints of one frame (skeleton context, e.g. for a
   limb lost to specular reflection), *temporal* self-attention of one joint across the output
   frames (motion context), *cross*-attention of a frame's queries to the encoder tokens of the
   same frame (both radars, ``2 Pa Pr`` keys with a learned key position embedding), and an MLP,
   each pre-norm with a residual. Cross-attention stays within the query's frame, so the decoder's
   cost is linear in the number of frames; the encoder's temporal scans have already brought in the
   other frames. The predicted frames are the ``n_out_frames`` central frames of the input window,
   so each has context on both sides (:meth:`MilliMamba.output_frames`).
5. **Coordinates, not heatmaps**. The abstract states that the decoder predicts joint coordinates.
   Coordinates also (a) give sub-pixel outputs, without the 4-pixel quantisation of an argmax on a
   64 x 64 heatmap; (b) let the velocity loss act directly on the predicted positions (heatmaps
   would need a soft-argmax); (c) need no per-frame 2-D upsampling head, whose cost would grow with
   ``n_out_frames x 64 x 64``. A linear head with a sigmoid gives coordinates normalised to
   ``[0, 1]``, scaled to pixels of ``image_size`` (HuPR: 256 x 256). No per-joint confidence is
   predicted: for single-person OKS AP the evaluation uses a constant detection score.
6. **Loss** (:func:`millimamba_loss`). A keypoint loss plus ``velocity_weight`` times a velocity loss,
   both L1 on coordinates divided by the image size. The velocity loss compares the predicted and
   true frame-to-frame displacements, so it penalises jitter that the keypoint loss allows.
   The abstract gives no norm or weight. L1 is used because it is robust to the outliers in
   camera-generated pseudo labels; the weight defaults to 1.0. Joints that are not visible are
   masked out.
7. **Mamba hyper-parameters** follow the Mamba paper [2]_ (``d_state`` 16, ``d_conv`` 4,
   ``expand`` 2). The scan is :func:`radarkit.models.ssm.selective_scan`: the pure-torch chunked
   scan, or ``mamba_ssm`` on CUDA when it is installed.

Presets (:data:`PRESETS`): ``small`` (16 frames, 16 tokens per radar and frame, width 64, 2 + 2
layers: trainable on a CPU) and ``default`` (32 frames, 64 tokens per radar and frame, width 128,
4 encoder + 3 decoder layers).

References
----------
.. [1] N. P. Kini, S.-R. Tsai, G.-H. Lin, W.-H. Peng, C.-W. Ma, J.-N. Hwang, "milliMamba:
   Specular-Aware Human Pose Estimation via Dual mmWave Radar with Multi-Frame Mamba Fusion",
   WACV 2026, arXiv:2512.20128 (abstract).
.. [2] A. Gu, T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
   arXiv:2312.00752, 2023.
.. [3] L. Zhu et al., "Vision Mamba: Efficient Visual Representation Learning with Bidirectional
   State Space Model", ICML 2024 (bidirectional scans over image tokens).
.. [4] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023 (two-radar data, 256 x 256 keypoints, 14 joints).
.. [5] N. Carion et al., "End-to-End Object Detection with Transformers", ECCV 2020 (learned queries,
   L1 coordinate regression, positional embeddings added to the keys).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from radarkit.models.ssm import SCAN_BACKENDS, BiMamba

__all__ = [
    "MilliMambaConfig",
    "PRESETS",
    "RadarTokenizer",
    "CrossViewMambaLayer",
    "CrossViewFusionMambaEncoder",
    "STCADecoderLayer",
    "SpatioTemporalCrossAttentionDecoder",
    "MilliMamba",
    "millimamba",
    "keypoint_loss",
    "velocity_loss",
    "millimamba_loss",
]

N_VIEWS = 2  # horizontal, vertical radar


@dataclass(frozen=True)
class MilliMambaConfig:
    """Hyper-parameters of :class:`MilliMamba` (defaults: the ``default`` preset).

    Parameters
    ----------
    n_frames : int
        Nominal input frames per sample ``T`` (training length; the model accepts any ``T >=
        n_out_frames``).
    n_out_frames : int
        Frames predicted per sample (the central ones of the input window).
    n_doppler : int
        Doppler bins kept around zero velocity.
    complex_input : bool
        Inputs are complex cubes (real and imaginary channels) rather than real magnitudes.
    n_angle, n_range : int
        Angle and range bins of the input cubes.
    patch_size : (int, int)
        Token patch (angle bins, range bins); must divide ``(n_angle, n_range)``.
    n_joints : int
        Joints per pose (HuPR: 14).
    image_size : (int, int)
        (width, height) in pixels of the keypoint image frame (HuPR: 256 x 256).
    d_model : int
        Token width of encoder and decoder.
    d_state, d_conv, expand : int
        Mamba state size, causal-convolution kernel and expansion (Mamba paper: 16, 4, 2).
    encoder_layers, decoder_layers : int
        Number of cross-view Mamba layers and of STCA decoder layers.
    n_heads : int
        Attention heads in the decoder (must divide ``d_model``).
    mlp_ratio : float
        Hidden width of the decoder MLP relative to ``d_model``.
    dropout : float
        Dropout in the decoder.
    normalize_input : bool
        Standardise each frame of each radar (zero mean, unit variance).
    velocity_weight : float
        Weight of the velocity loss in :func:`millimamba_loss`.
    scan_backend : str
        Selective-scan backend (``"auto"``, ``"chunked"``, ``"sequential"``, ``"mamba_ssm"``).
    recompute_scan : bool
        Recompute the torch scan's states in backward instead of storing them (about 16x less
        activation memory at ``d_state`` 16, for one extra scan per block; see
        :class:`radarkit.models.ssm.Mamba`).

    Raises
    ------
    ValueError
        Inconsistent sizes (patch not dividing the grid, heads not dividing the width, ...).
    """

    n_frames: int = 32
    n_out_frames: int = 8
    n_doppler: int = 8
    complex_input: bool = True
    n_angle: int = 64
    n_range: int = 64
    patch_size: tuple[int, int] = (8, 8)
    n_joints: int = 14
    image_size: tuple[float, float] = (256.0, 256.0)
    d_model: int = 128
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    encoder_layers: int = 4
    decoder_layers: int = 3
    n_heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    normalize_input: bool = True
    velocity_weight: float = 1.0
    scan_backend: str = "auto"
    recompute_scan: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "patch_size", tuple(int(p) for p in self.patch_size))
        object.__setattr__(self, "image_size", tuple(float(s) for s in self.image_size))
        positive = ("n_frames", "n_out_frames", "n_doppler", "n_angle", "n_range", "n_joints", "d_model",
                    "d_state", "d_conv", "expand", "encoder_layers", "decoder_layers", "n_heads")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"MilliMambaConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_out_frames > self.n_frames:
            raise ValueError(f"n_out_frames ({self.n_out_frames}) exceeds n_frames ({self.n_frames})")
        pa, pr = self.patch_size if len(self.patch_size) == 2 else (0, 0)
        if min(pa, pr) < 1 or self.n_angle % pa or self.n_range % pr:
            raise ValueError(f"patch_size {self.patch_size} must divide (n_angle, n_range) = "
                             f"({self.n_angle}, {self.n_range})")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if len(self.image_size) != 2 or min(self.image_size) <= 0:
            raise ValueError(f"image_size must be (width, height) > 0, got {self.image_size}")
        if self.scan_backend not in SCAN_BACKENDS:
            raise ValueError(f"unknown scan backend {self.scan_backend!r}; choose one of {SCAN_BACKENDS}")

    @property
    def token_grid(self) -> tuple[int, int]:
        """(angle patches, range patches) per radar and frame."""
        return self.n_angle // self.patch_size[0], self.n_range // self.patch_size[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary (JSON-compatible) of the fields, for checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> MilliMambaConfig:
        """Inverse of :meth:`to_dict`.

        Parameters
        ----------
        values : mapping
            Field names to values (lists are accepted for the tuple fields).

        Returns
        -------
        MilliMambaConfig

        Raises
        ------
        ValueError
            Unknown field names or inconsistent values.
        """
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown MilliMambaConfig fields: {sorted(unknown)}")
        return cls(**values)


PRESETS: dict[str, MilliMambaConfig] = {
    "small": MilliMambaConfig(n_frames=16, n_out_frames=4, patch_size=(16, 16), d_model=64,
                              encoder_layers=2, decoder_layers=2, n_heads=4, mlp_ratio=2.0, dropout=0.0),
    "default": MilliMambaConfig(),
}


class RadarTokenizer(nn.Module):
    """Tokens of one radar: Doppler crop, standardisation, conv stem, patch embedding, positions.

    Parameters
    ----------
    n_doppler : int
        Doppler bins kept (the central ones of an fftshifted Doppler axis).
    complex_input : bool
        Complex cubes (real/imaginary channels) instead of real ones.
    n_angle, n_range : int
        Angle and range bins of the cubes.
    patch_size : (int, int)
        Patch (angle bins, range bins).
    d_model : int
        Token width.
    normalize_input : bool
        Standardise every frame over (Doppler, angle, range).

    References
    ----------
    A. Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021 (patch embedding); T. Xiao
    et al., "Early Convolutions Help Transformers See Better", NeurIPS 2021 (conv stem).
    """

    def __init__(self, n_doppler: int, complex_input: bool, n_angle: int, n_range: int,
                 patch_size: tuple[int, int], d_model: int, normalize_input: bool = True) -> None:
        super().__init__()
        self.n_doppler, self.complex_input = n_doppler, complex_input
        self.n_angle, self.n_range, self.normalize_input = n_angle, n_range, normalize_input
        channels = n_doppler * (2 if complex_input else 1)
        hidden = max(d_model // 2, channels)
        self.stem = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.GELU(),
                                  nn.Conv2d(hidden, d_model, patch_size, stride=patch_size))
        n_tokens = (n_angle // patch_size[0]) * (n_range // patch_size[1])
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens, d_model))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, cube: Tensor) -> Tensor:
        """Tokenise a cube sequence.

        Parameters
        ----------
        cube : Tensor, shape (batch, frame, doppler, angle, range)
            Complex (``complex_input``) or real; Doppler fftshifted (zero velocity at ``doppler // 2``)
            with at least ``n_doppler`` bins.

        Returns
        -------
        Tensor, shape (batch, frame, Pa * Pr, d_model)
            Tokens in angle-patch-major order (index ``ia * Pr + ir``).

        Raises
        ------
        ValueError
            Wrong rank, grid size, too few Doppler bins, or complex/real mismatch.
        """
        if cube.ndim != 5 or tuple(cube.shape[-2:]) != (self.n_angle, self.n_range):
            raise ValueError(f"expected (batch, frame, doppler, {self.n_angle}, {self.n_range}), "
                             f"got {tuple(cube.shape)}")
        if cube.is_complex() != self.complex_input:
            kind = "complex" if self.complex_input else "real"
            raise ValueError(f"expected a {kind} cube, got {cube.dtype}")
        n_dop = cube.shape[2]
        if n_dop < self.n_doppler:
            raise ValueError(f"cube has {n_dop} Doppler bins, the model keeps {self.n_doppler}")
        start = n_dop // 2 - self.n_doppler // 2
        x = cube[:, :, start:start + self.n_doppler]
        if self.complex_input:
            x = torch.cat([x.real, x.imag], dim=2)
        dtype = self.pos_embed.dtype
        x = x.to(dtype)
        if self.normalize_input:
            mean = x.mean(dim=(2, 3, 4), keepdim=True)
            std = x.std(dim=(2, 3, 4), keepdim=True)
            x = (x - mean) / (std + 1e-6)
        batch, frames = x.shape[:2]
        tokens = self.stem(x.flatten(0, 1))                                      # (B*T, d, Pa, Pr)
        tokens = tokens.flatten(2).transpose(1, 2) + self.pos_embed              # (B*T, Pa*Pr, d)
        return self.norm(tokens).view(batch, frames, -1, tokens.shape[-1])


class CrossViewMambaLayer(nn.Module):
    """One encoder layer: a spatial cross-view bidirectional scan, then a temporal one.

    Parameters
    ----------
    d_model : int
        Token width.
    token_grid : (int, int)
        (angle patches ``Pa``, range patches ``Pr``) per radar and frame.
    **mamba_kwargs
        Passed to :class:`radarkit.models.ssm.BiMamba` (``d_state``, ``d_conv``, ``expand``,
        ``scan_backend``).

    References
    ----------
    milliMamba (arXiv:2512.20128), Cross-View Fusion Mamba encoder; scan orders as in the module
    docstring, item 3.
    """

    def __init__(self, d_model: int, token_grid: tuple[int, int], **mamba_kwargs) -> None:
        super().__init__()
        self.token_grid = token_grid
        self.norm_space = nn.LayerNorm(d_model)
        self.space = BiMamba(d_model, **mamba_kwargs)
        self.norm_time = nn.LayerNorm(d_model)
        self.time = BiMamba(d_model, **mamba_kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer.

        Parameters
        ----------
        x : Tensor, shape (batch, frame, view=2, Pa * Pr, d_model)

        Returns
        -------
        Tensor, shape (batch, frame, view, Pa * Pr, d_model)
        """
        b, t, v, p, d = x.shape
        pa, pr = self.token_grid
        # spatial cross-view scan: per frame, order (range patch, view, angle patch)
        seq = x.view(b, t, v, pa, pr, d).permute(0, 1, 4, 2, 3, 5).reshape(b * t, pr * v * pa, d)
        seq = seq + self.space(self.norm_space(seq))
        x = seq.view(b, t, pr, v, pa, d).permute(0, 1, 3, 4, 2, 5).reshape(b, t, v, p, d)
        # temporal scan: per (view, token), over frames
        seq = x.permute(0, 2, 3, 1, 4).reshape(b * v * p, t, d)
        seq = seq + self.time(self.norm_time(seq))
        return seq.view(b, v, p, t, d).permute(0, 3, 1, 2, 4)


class CrossViewFusionMambaEncoder(nn.Module):
    """Stack of :class:`CrossViewMambaLayer` with a final LayerNorm; cost linear in the frames.

    Parameters
    ----------
    n_layers : int
        Number of layers.
    d_model : int
        Token width.
    token_grid : (int, int)
        (angle patches, range patches) per radar and frame.
    **mamba_kwargs
        Passed to the Mamba blocks.

    References
    ----------
    milliMamba (arXiv:2512.20128), Cross-View Fusion Mamba encoder.
    """

    def __init__(self, n_layers: int, d_model: int, token_grid: tuple[int, int], **mamba_kwargs) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CrossViewMambaLayer(d_model, token_grid, **mamba_kwargs)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tokens: Tensor) -> Tensor:
        """Encode both radars' token sequences jointly.

        Parameters
        ----------
        tokens : Tensor, shape (batch, frame, view=2, Pa * Pr, d_model)

        Returns
        -------
        Tensor, shape (batch, frame, view, Pa * Pr, d_model)
        """
        for layer in self.layers:
            tokens = layer(tokens)
        return self.norm(tokens)


class STCADecoderLayer(nn.Module):
    """Spatial, temporal and cross attention plus an MLP, on (frame x joint) queries.

    Parameters
    ----------
    d_model : int
        Query and memory width.
    n_heads : int
        Attention heads.
    mlp_ratio : float
        MLP hidden width relative to ``d_model``.
    dropout : float
        Dropout in attention and MLP.

    References
    ----------
    milliMamba (arXiv:2512.20128), Spatio-Temporal-Cross Attention decoder; A. Vaswani et al.,
    "Attention Is All You Need", NeurIPS 2017.
    """

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()

        def attention() -> nn.MultiheadAttention:
            return nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)

        self.norm_spatial, self.spatial = nn.LayerNorm(d_model), attention()
        self.norm_temporal, self.temporal = nn.LayerNorm(d_model), attention()
        self.norm_cross, self.cross = nn.LayerNorm(d_model), attention()
        hidden = int(round(d_model * mlp_ratio))
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, d_model), nn.Dropout(dropout))

    def forward(self, queries: Tensor, memory: Tensor, memory_pos: Tensor) -> Tensor:
        """Update the queries.

        Parameters
        ----------
        queries : Tensor, shape (batch, out_frame, joint, d_model)
        memory : Tensor, shape (batch, out_frame, tokens, d_model)
            Encoder tokens of each output frame (both radars).
        memory_pos : Tensor, shape (1, 1, tokens, d_model)
            Position embedding added to the keys.

        Returns
        -------
        Tensor, shape (batch, out_frame, joint, d_model)
        """
        b, t, j, d = queries.shape
        q = queries.reshape(b * t, j, d)                          # spatial: joints of one frame
        h = self.norm_spatial(q)
        q = q + self.spatial(h, h, h, need_weights=False)[0]
        q = q.view(b, t, j, d).transpose(1, 2).reshape(b * j, t, d)  # temporal: one joint over frames
        h = self.norm_temporal(q)
        q = q + self.temporal(h, h, h, need_weights=False)[0]
        q = q.view(b, j, t, d).transpose(1, 2).reshape(b * t, j, d)  # cross: to the same frame's tokens
        keys = (memory + memory_pos).flatten(0, 1)
        q = q + self.cross(self.norm_cross(q), keys, memory.flatten(0, 1), need_weights=False)[0]
        q = q + self.mlp(self.norm_mlp(q))
        return q.view(b, t, j, d)


class SpatioTemporalCrossAttentionDecoder(nn.Module):
    """Joint-coordinate decoder for several frames at once (learned queries, STCA layers, L1 head).

    Parameters
    ----------
    n_layers : int
        Number of :class:`STCADecoderLayer`.
    n_joints : int
        Joints per pose.
    n_out_frames : int
        Frames predicted at once.
    n_memory_tokens : int
        Encoder tokens per frame (both radars).
    d_model, n_heads : int
        Width and attention heads.
    mlp_ratio, dropout : float
        MLP width ratio and dropout.

    References
    ----------
    milliMamba (arXiv:2512.20128), STCA decoder; N. Carion et al., "DETR", ECCV 2020 (learned queries,
    key position embeddings, sigmoid-normalised coordinate head).
    """

    def __init__(self, n_layers: int, n_joints: int, n_out_frames: int, n_memory_tokens: int,
                 d_model: int, n_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.joint_embed = nn.Parameter(torch.zeros(n_joints, d_model))
        self.frame_embed = nn.Parameter(torch.zeros(n_out_frames, d_model))
        self.memory_pos = nn.Parameter(torch.zeros(1, 1, n_memory_tokens, d_model))
        for p in (self.joint_embed, self.frame_embed, self.memory_pos):
            nn.init.trunc_normal_(p, std=0.02)
        self.layers = nn.ModuleList(STCADecoderLayer(d_model, n_heads, mlp_ratio, dropout)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 2)

    def forward(self, memory: Tensor) -> Tensor:
        """Predict normalised joint coordinates.

        Parameters
        ----------
        memory : Tensor, shape (batch, out_frame, tokens, d_model)
            Encoder tokens of the frames to predict.

        Returns
        -------
        Tensor, shape (batch, out_frame, joint, 2), in [0, 1]
            (x / width, y / height).
        """
        b = memory.shape[0]
        q = (self.frame_embed[:, None, :] + self.joint_embed[None, :, :]).expand(b, -1, -1, -1)
        for layer in self.layers:
            q = layer(q, memory, self.memory_pos)
        return torch.sigmoid(self.head(self.norm(q)))


class MilliMamba(nn.Module):
    """milliMamba pose estimator: two radar cube sequences -> 2-D joints for the central frames.

    Parameters
    ----------
    config : MilliMambaConfig, optional
        Hyper-parameters (default: the ``default`` preset).
    **overrides
        Fields replacing those of ``config``.

    Raises
    ------
    ValueError
        Inconsistent hyper-parameters.

    References
    ----------
    N. P. Kini et al., "milliMamba", WACV 2026, arXiv:2512.20128; design choices in the module docstring.
    """

    def __init__(self, config: MilliMambaConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        config = dataclasses.replace(config or PRESETS["default"], **overrides)
        self.config = config
        c = config
        self.tokenizers = nn.ModuleList(
            RadarTokenizer(c.n_doppler, c.complex_input, c.n_angle, c.n_range, c.patch_size, c.d_model,
                           c.normalize_input) for _ in range(N_VIEWS))
        self.view_embed = nn.Parameter(torch.zeros(N_VIEWS, c.d_model))
        nn.init.trunc_normal_(self.view_embed, std=0.02)
        self.encoder = CrossViewFusionMambaEncoder(c.encoder_layers, c.d_model, c.token_grid,
                                                   d_state=c.d_state, d_conv=c.d_conv, expand=c.expand,
                                                   scan_backend=c.scan_backend,
                                                   recompute_scan=c.recompute_scan)
        pa, pr = c.token_grid
        self.decoder = SpatioTemporalCrossAttentionDecoder(c.decoder_layers, c.n_joints, c.n_out_frames,
                                                           N_VIEWS * pa * pr, c.d_model, c.n_heads,
                                                           c.mlp_ratio, c.dropout)
        self.register_buffer("image_size", torch.tensor(c.image_size), persistent=False)

    def output_frames(self, n_frames: int) -> slice:
        """Input-frame indices of the predicted frames (the ``n_out_frames`` central ones).

        Parameters
        ----------
        n_frames : int
            Frames in the input window.

        Returns
        -------
        slice
            ``slice(start, start + n_out_frames)`` with ``start = (n_frames - n_out_frames) // 2``.

        Raises
        ------
        ValueError
            ``n_frames < n_out_frames``.
        """
        n_out = self.config.n_out_frames
        if n_frames < n_out:
            raise ValueError(f"{n_frames} input frames, the model predicts {n_out}")
        start = (n_frames - n_out) // 2
        return slice(start, start + n_out)

    def encode(self, horizontal: Tensor, vertical: Tensor) -> Tensor:
        """Tokens of both radars through the Cross-View Fusion Mamba encoder.

        Parameters
        ----------
        horizontal, vertical : Tensor, shape (batch, frame, doppler, angle, range)
            Cube sequences of the horizontal (angle = azimuth) and vertical (angle = elevation) radar.

        Returns
        -------
        Tensor, shape (batch, frame, view=2, Pa * Pr, d_model)

        Raises
        ------
        ValueError
            Shapes that do not match the configuration or each other.
        """
        if horizontal.shape[:2] != vertical.shape[:2]:
            raise ValueError(f"horizontal {tuple(horizontal.shape)} and vertical {tuple(vertical.shape)} "
                             "differ in batch or frames")
        tokens = torch.stack([tok(x) for tok, x in zip(self.tokenizers, (horizontal, vertical), strict=True)],
                             dim=2)
        return self.encoder(tokens + self.view_embed[:, None, :])

    def forward(self, horizontal: Tensor, vertical: Tensor) -> Tensor:
        """Predict 2-D joints for the central ``n_out_frames`` frames.

        Parameters
        ----------
        horizontal, vertical : Tensor, shape (batch, frame, doppler, angle, range)
            Cube sequences (``frame >= n_out_frames``), complex or real per the configuration.

        Returns
        -------
        Tensor, shape (batch, n_out_frames, n_joints, 2), float
            Joint (x, y) in pixels of ``image_size``, for input frames :meth:`output_frames`.

        Raises
        ------
        ValueError
            Shapes that do not match the configuration.
        """
        features = self.encode(horizontal, vertical)
        memory = features[:, self.output_frames(features.shape[1])].flatten(2, 3)   # (B, T_out, 2P, d)
        return self.decoder(memory) * self.image_size.to(memory.dtype)

    def loss(self, pred: Tensor, target: Tensor,
             visible: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """:func:`millimamba_loss` with this model's image size and velocity weight.

        Parameters
        ----------
        pred, target : Tensor, shape (batch, n_out_frames, n_joints, 2)
            Joints in pixels.
        visible : Tensor, shape (batch, n_out_frames, n_joints), optional
            1 for labelled joints, 0 otherwise.

        Returns
        -------
        total : Tensor, scalar
        parts : dict
            ``"keypoint"`` and ``"velocity"`` losses (detached).
        """
        return millimamba_loss(pred, target, self.config.image_size, visible, self.config.velocity_weight)


def millimamba(preset: str = "default", **overrides: Any) -> MilliMamba:
    """Build a :class:`MilliMamba` from a preset.

    Parameters
    ----------
    preset : {"small", "default"}
        Preset name (:data:`PRESETS`).
    **overrides
        Configuration fields to change.

    Returns
    -------
    MilliMamba

    Raises
    ------
    ValueError
        Unknown preset or inconsistent fields.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown milliMamba preset {preset!r}; choose one of {sorted(PRESETS)}")
    return MilliMamba(PRESETS[preset], **overrides)


def _normalised(x: Tensor, image_size: tuple[float, float] | Tensor) -> Tensor:
    return x / torch.as_tensor(image_size, dtype=x.dtype, device=x.device)


def _masked_mean(err: Tensor, weight: Tensor | None) -> Tensor:
    # err (..., joint, 2); weight (..., joint) or None
    if weight is None:
        return err.mean()
    w = weight.to(err.dtype).unsqueeze(-1).expand_as(err)
    return (err * w).sum() / w.sum().clamp(min=1.0)


def keypoint_loss(pred: Tensor, target: Tensor, image_size: tuple[float, float] | Tensor,
                  visible: Tensor | None = None) -> Tensor:
    """Mean L1 error of joint coordinates normalised by the image size.

    Parameters
    ----------
    pred, target : Tensor, shape (..., joint, 2)
        (x, y) in pixels.
    image_size : (float, float)
        (width, height) in pixels.
    visible : Tensor, shape (..., joint), optional
        Weights (1 labelled, 0 not); the mean is over labelled joints.

    Returns
    -------
    Tensor, scalar
        ``mean |pred - target| / size`` (dimensionless).

    References
    ----------
    milliMamba (arXiv:2512.20128), keypoint loss (norm not given; L1 chosen, see module docstring).
    """
    return _masked_mean((_normalised(pred, image_size) - _normalised(target, image_size)).abs(), visible)


def velocity_loss(pred: Tensor, target: Tensor, image_size: tuple[float, float] | Tensor,
                  visible: Tensor | None = None, dim: int = 1) -> Tensor:
    """Mean L1 error of frame-to-frame joint displacements (velocity), normalised by the image size.

    Parameters
    ----------
    pred, target : Tensor, shape (batch, frame, joint, 2)
        (x, y) in pixels; ``frame`` is axis ``dim`` (at least 2 frames).
    image_size : (float, float)
        (width, height) in pixels.
    visible : Tensor, shape (batch, frame, joint), optional
        A displacement counts when the joint is labelled in both frames.
    dim : int
        Frame axis.

    Returns
    -------
    Tensor, scalar
        ``mean |(p[t+1] - p[t]) - (g[t+1] - g[t])| / size``; zero when the prediction is the target
        shifted by a constant (it penalises jitter, not offsets).

    Raises
    ------
    ValueError
        Fewer than 2 frames.

    References
    ----------
    milliMamba (arXiv:2512.20128), velocity loss; D. Pavllo et al., "3D human pose estimation in
    video with temporal convolutions", CVPR 2019 (velocity error).
    """
    if pred.shape[dim] < 2:
        raise ValueError("the velocity loss needs at least 2 frames")
    v_pred = torch.diff(_normalised(pred, image_size), dim=dim)
    v_true = torch.diff(_normalised(target, image_size), dim=dim)
    weight = None
    if visible is not None:
        vis = visible.to(pred.dtype)
        n = vis.shape[dim]
        weight = vis.narrow(dim, 1, n - 1) * vis.narrow(dim, 0, n - 1)
    return _masked_mean((v_pred - v_true).abs(), weight)


def millimamba_loss(pred: Tensor, target: Tensor, image_size: tuple[float, float] | Tensor,
                    visible: Tensor | None = None,
                    velocity_weight: float = 1.0) -> tuple[Tensor, dict[str, Tensor]]:
    """Keypoint loss plus weighted velocity loss.

    Parameters
    ----------
    pred, target : Tensor, shape (batch, frame, joint, 2)
        (x, y) in pixels.
    image_size : (float, float)
        (width, height) in pixels.
    visible : Tensor, shape (batch, frame, joint), optional
        Joint weights (1 labelled, 0 not).
    velocity_weight : float
        Weight of the velocity loss (0 disables it; single-frame outputs use the keypoint loss only).

    Returns
    -------
    total : Tensor, scalar
        ``keypoint + velocity_weight * velocity``.
    parts : dict of str to Tensor
        ``"keypoint"`` and ``"velocity"`` (detached scalars).

    References
    ----------
    milliMamba (arXiv:2512.20128): "a velocity loss alongside the standard keypoint loss".
    """
    kpt = keypoint_loss(pred, target, image_size, visible)
    if velocity_weight and pred.shape[1] > 1:
        vel = velocity_loss(pred, target, image_size, visible)
    else:
        vel = kpt.new_zeros(())
    return kpt + velocity_weight * vel, {"keypoint": kpt.detach(), "velocity": vel.detach()}
