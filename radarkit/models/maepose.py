"""MAEPose: a masked-autoencoder video ViT over Range-Doppler video, and its multi-frame heatmap head.

Two models share one encoder (``learned-models.md``, MAEPose; [1]_ section 3):

* :class:`MAEPosePretrain` (stage 1): 3-D patch embedding, random space-time masking (90 %), a ViT
  encoder over the visible tokens, a light ViT decoder that fills the masked positions with a learned
  mask token and predicts every patch's pixels; the loss is the MSE over the masked patches only.
* :class:`MAEPose` (stage 2): the same encoder without masking, followed by :class:`HeatmapDecoder`
  (Conv3d over time, spatial upsampling, convolution to 13 joint heatmaps for 5 target frames);
  :func:`heatmaps_to_joints` turns heatmaps into normalised 2-D joints (argmax, soft-argmax option).

Input layout
------------
Clips are ``(batch, channel, frame, height, width)`` float32. A Range-Doppler cube is stored as
``(frame, doppler, range)`` (``architecture.md``); a clip of it is ``cube[t0:t0 + 20][None]``, i.e.
``height`` = Doppler bins (fftshifted, zero velocity in the middle) and ``width`` = range bins. A
Range-Azimuth clip is the same with ``height`` = azimuth bins. Any channel count (e.g. magnitude and
phase, or RD and RA maps of equal size stacked as channels) and non-square maps are accepted; the
frame count and the two map sizes must be multiples of the patch size.

Choices the paper leaves open (its numeric patch and grid sizes are not in the text we have)
----------------------------------------------------------------------------------------------
* **Paper configuration** (:data:`PRESETS` ``"paper"``): 20-frame clips of 256 x 256 RD maps (256 ADC
  samples and 255 chirp loops in the paper's set-up, section 4.1, padded to 256 Doppler bins), one
  channel, patch size (t, h, w) = (2, 16, 16) as in the video MAE of Feichtenhofer et al. [2]_ that the
  paper follows; hence a 10 x 16 x 16 grid of 2560 tokens, 256 of them visible at 90 % masking. The
  heatmap head merges the 10 temporal token positions pairwise (Conv3d kernel = stride (2, 1, 1)) into
  the 5 target frames and upsamples the 16 x 16 token grid x4 to 64 x 64 heatmaps. The encoder has
  21,491,328 parameters with fixed sin-cos positional embeddings (:func:`count_parameters`).
* **Positional embeddings**: fixed 3-D sin-cos by default (``pos_embed="sincos"``): the channel
  dimension is split into time, height and width parts, each a 1-D sin-cos code of the token index
  (the 2-D scheme of MAE [3]_ extended to three axes); not trained, so the encoder works unchanged on
  any grid. ``pos_embed="learned"`` gives separable learned space + time embeddings as in [2]_
  (``(1, H'W', D)`` spatial plus ``(1, T', D)`` temporal, initialised N(0, 0.02)).
* **Tube masking** (VideoMAE [4]_) is an option: the same spatial positions are masked in every frame.
* **Normalised-patch loss** (``norm_pix_loss``): the target of each patch is standardised by its own
  mean and variance, as in [3]_.
* **Heatmap weights**: the weighted MSE weights each (target frame, joint) heatmap by a user weight
  (e.g. visibility, or 0 for missing labels), the usual target-weight of heatmap pose estimation.

References
----------
.. [1] "MAEPose: Self-Supervised Spatiotemporal Learning for Human Pose Estimation on mmWave Video"
   (``shared/papers/maepose.txt``), sections 3.1-3.2 and 4.6.
.. [2] C. Feichtenhofer, H. Fan, Y. Li, K. He, "Masked Autoencoders As Spatiotemporal Learners",
   NeurIPS 2022.
.. [3] K. He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022.
.. [4] Z. Tong et al., "VideoMAE: Masked Autoencoders are Data-Efficient Learners for Self-Supervised
   Video Pre-Training", NeurIPS 2022.
.. [5] H. Bao et al., "BEiT: BERT Pre-Training of Image Transformers", ICLR 2022 (layer-wise
   learning-rate decay).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PRESETS",
    "pretrain_overrides",
    "config_from_json",
    "PatchEmbed3d",
    "Attention",
    "Mlp",
    "Block",
    "MAEPoseEncoder",
    "MAEDecoder",
    "MAEPosePretrain",
    "HeatmapDecoder",
    "MAEPose",
    "Masking",
    "patchify",
    "unpatchify",
    "random_masking",
    "sincos_pos_embed_1d",
    "sincos_pos_embed_3d",
    "masked_patch_loss",
    "patch_mean_std",
    "gaussian_heatmaps",
    "heatmap_loss",
    "heatmaps_to_joints",
    "param_groups_lrd",
    "count_parameters",
    "build_pretrain",
    "build_finetune",
]

#: Named configurations (keyword arguments of :class:`MAEPosePretrain` / :class:`MAEPose`).
#: ``"paper"``: the paper's encoder/decoder sizes ([1]_ section 3.1) on 20 x 256 x 256 RD clips with
#: (2, 16, 16) patches; ``"small"``: a CPU-trainable variant on 20 x 32 x 32 clips.
PRESETS: dict[str, dict] = {
    "paper": dict(in_chans=1, num_frames=20, img_size=(256, 256), patch_size=(2, 16, 16),
                  embed_dim=384, depth=12, num_heads=6, decoder_embed_dim=512, decoder_depth=4,
                  decoder_num_heads=16, n_joints=13, n_target_frames=5, heatmap_size=(64, 64),
                  head_channels=256),
    "small": dict(in_chans=1, num_frames=20, img_size=(32, 32), patch_size=(4, 8, 8),
                  embed_dim=96, depth=4, num_heads=4, decoder_embed_dim=64, decoder_depth=2,
                  decoder_num_heads=4, n_joints=13, n_target_frames=5, heatmap_size=(16, 16),
                  head_channels=64),
}

_ENCODER_KEYS = ("in_chans", "num_frames", "img_size", "patch_size", "embed_dim", "depth", "num_heads")
#: Fine-tuning keys of the heatmap head, which the stage-1 model does not take.
_HEAD_KEYS = ("n_joints", "n_target_frames", "heatmap_size", "head_channels", "head_pos_embed")
_PRETRAIN_KEYS = (*_ENCODER_KEYS, "decoder_embed_dim", "decoder_depth", "decoder_num_heads")
_FINETUNE_KEYS = (*_ENCODER_KEYS, *_HEAD_KEYS)


def _triple(v: int | Iterable[int]) -> tuple[int, int, int]:
    t = (v, v, v) if isinstance(v, int) else tuple(int(x) for x in v)
    if len(t) != 3:
        raise ValueError(f"expected an int or 3 ints, got {v!r}")
    return t  # type: ignore[return-value]


def _pair(v: int | Iterable[int]) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(int(x) for x in v)
    if len(t) != 2:
        raise ValueError(f"expected an int or 2 ints, got {v!r}")
    return t  # type: ignore[return-value]


def token_grid(num_frames: int, img_size: int | tuple[int, int],
               patch_size: int | tuple[int, int, int]) -> tuple[int, int, int]:
    """Token grid ``(T', H', W')`` of a clip.

    Parameters
    ----------
    num_frames : int
        Frames per clip ``T``.
    img_size : int or (int, int)
        Map size ``(H, W)`` (Doppler or azimuth bins, range bins).
    patch_size : int or (int, int, int)
        Patch size ``(t, h, w)``.

    Returns
    -------
    (int, int, int)
        ``(T / t, H / h, W / w)``.

    Raises
    ------
    ValueError
        A size that is not a positive multiple of its patch size.
    """
    pt, ph, pw = _triple(patch_size)
    h, w = _pair(img_size)
    grid = []
    for name, size, p in (("frames", num_frames, pt), ("height", h, ph), ("width", w, pw)):
        if p < 1 or size < p or size % p:
            raise ValueError(f"{name} {size} is not a positive multiple of the patch size {p}")
        grid.append(size // p)
    return tuple(grid)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------
# Patches and positional embeddings
# ---------------------------------------------------------------------------------------------------

def patchify(clips: torch.Tensor, patch_size: int | tuple[int, int, int]) -> torch.Tensor:
    """Cut clips into flattened space-time patches.

    Parameters
    ----------
    clips : torch.Tensor
        ``(B, C, T, H, W)``, any dtype; ``T, H, W`` multiples of the patch size.
    patch_size : int or (int, int, int)
        ``(t, h, w)``.

    Returns
    -------
    torch.Tensor
        ``(B, N, t * h * w * C)`` with ``N = T' H' W'`` tokens in (time, height, width) order, the
        order of the patch embedding's tokens; each patch vector is ordered (t, h, w, C).

    Raises
    ------
    ValueError
        Wrong rank or sizes not divisible by the patch size.
    """
    if clips.ndim != 5:
        raise ValueError(f"clips must be (B, C, T, H, W), got shape {tuple(clips.shape)}")
    b, c, t, h, w = clips.shape
    pt, ph, pw = _triple(patch_size)
    gt, gh, gw = token_grid(t, (h, w), (pt, ph, pw))
    x = clips.reshape(b, c, gt, pt, gh, ph, gw, pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # b, gt, gh, gw, pt, ph, pw, c
    return x.reshape(b, gt * gh * gw, pt * ph * pw * c)


def unpatchify(patches: torch.Tensor, patch_size: int | tuple[int, int, int],
               grid: tuple[int, int, int], in_chans: int) -> torch.Tensor:
    """Inverse of :func:`patchify`.

    Parameters
    ----------
    patches : torch.Tensor
        ``(B, N, t * h * w * C)``.
    patch_size : int or (int, int, int)
        ``(t, h, w)``.
    grid : (int, int, int)
        Token grid ``(T', H', W')`` with ``T' H' W' = N``.
    in_chans : int
        Channel count ``C``.

    Returns
    -------
    torch.Tensor
        ``(B, C, T' t, H' h, W' w)``.

    Raises
    ------
    ValueError
        ``patches`` does not match the grid, patch size and channel count.
    """
    pt, ph, pw = _triple(patch_size)
    gt, gh, gw = grid
    if patches.ndim != 3 or patches.shape[1] != gt * gh * gw or patches.shape[2] != pt * ph * pw * in_chans:
        raise ValueError(f"patches of shape {tuple(patches.shape)} do not match grid {grid}, patch size "
                         f"{(pt, ph, pw)} and {in_chans} channels")
    b = patches.shape[0]
    x = patches.reshape(b, gt, gh, gw, pt, ph, pw, in_chans)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # b, c, gt, pt, gh, ph, gw, pw
    return x.reshape(b, in_chans, gt * pt, gh * ph, gw * pw)


def sincos_pos_embed_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """1-D sine-cosine code of positions (Transformer / MAE convention).

    Parameters
    ----------
    dim : int
        Even output dimension; the first half holds sines, the second cosines.
    positions : torch.Tensor
        ``(M,)`` positions (token indices).

    Returns
    -------
    torch.Tensor
        float32 ``(M, dim)``: ``sin(p w_k)``, ``cos(p w_k)`` with ``w_k = 10000^(-2k/dim)``.

    Raises
    ------
    ValueError
        ``dim`` odd.

    References
    ----------
    A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 3.5.
    """
    if dim % 2:
        raise ValueError(f"sin-cos embedding dimension must be even, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1).float()


def sincos_pos_embed_3d(dim: int, grid: tuple[int, int, int]) -> torch.Tensor:
    """Fixed space-time sin-cos positional embedding.

    The channels are split into a time part and two equal spatial parts (height, width), each an even
    number of channels: ``d_s = 2 floor(dim / 6)`` for height and width, ``dim - 2 d_s`` for time.

    Parameters
    ----------
    dim : int
        Embedding dimension (even).
    grid : (int, int, int)
        Token grid ``(T', H', W')``.

    Returns
    -------
    torch.Tensor
        float32 ``(T' H' W', dim)`` in the token order of :func:`patchify`.

    Raises
    ------
    ValueError
        ``dim`` odd or smaller than 6.

    References
    ----------
    K. He et al., MAE (2-D sin-cos), CVPR 2022; extended here to three axes.
    """
    if dim % 2 or dim < 6:
        raise ValueError(f"3-D sin-cos embedding needs an even dimension >= 6, got {dim}")
    d_s = 2 * (dim // 6)
    d_t = dim - 2 * d_s
    gt, gh, gw = grid
    tt, hh, ww = torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw), indexing="ij")
    return torch.cat([sincos_pos_embed_1d(d_t, tt.reshape(-1)), sincos_pos_embed_1d(d_s, hh.reshape(-1)),
                      sincos_pos_embed_1d(d_s, ww.reshape(-1))], dim=1)


class PatchEmbed3d(nn.Module):
    """3-D patch embedding: a Conv3d whose kernel equals its stride ([1]_ section 3.1.1).

    Parameters
    ----------
    in_chans : int
        Input channels ``C``.
    embed_dim : int
        Token dimension ``D`` (384 in the paper).
    patch_size : int or (int, int, int)
        Patch (= kernel = stride) size ``(t, h, w)``.

    Notes
    -----
    ``forward``: ``(B, C, T, H, W)`` -> ``(B, T' H' W', D)`` tokens in (time, height, width) order.
    """

    def __init__(self, in_chans: int = 1, embed_dim: int = 384,
                 patch_size: int | tuple[int, int, int] = (2, 16, 16)) -> None:
        super().__init__()
        self.patch_size = _triple(patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


# ---------------------------------------------------------------------------------------------------
# Transformer blocks
# ---------------------------------------------------------------------------------------------------

class Attention(nn.Module):
    """Multi-head self-attention (``F.scaled_dot_product_attention``).

    Parameters
    ----------
    dim : int
        Token dimension; a multiple of ``num_heads``.
    num_heads : int
        Attention heads.
    qkv_bias : bool
        Bias in the query/key/value projection.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dimension {dim} is not a multiple of {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Two-layer GELU MLP of a Transformer block (hidden size ``mlp_ratio * dim``)."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm ViT block: ``x + DropPath(Attn(LN(x)))``, then ``x + DropPath(MLP(LN(x)))``.

    Parameters
    ----------
    dim : int
        Token dimension.
    num_heads : int
        Attention heads.
    mlp_ratio : float
        MLP hidden size over ``dim`` (4 in ViT).
    drop_path : float
        Stochastic-depth probability of dropping each residual branch per sample (training only).

    References
    ----------
    A. Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio)
        self.drop_path = float(drop_path)

    def _drop(self, y: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_path == 0.0:
            return y
        keep = 1.0 - self.drop_path
        mask = y.new_empty((y.shape[0],) + (1,) * (y.ndim - 1)).bernoulli_(keep)
        return y * mask / keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self._drop(self.attn(self.norm1(x)))
        return x + self._drop(self.mlp(self.norm2(x)))


def _init_weights(module: nn.Module) -> None:
    """Xavier-uniform linear layers, zero biases, unit LayerNorms (MAE initialisation)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class _PosEmbed(nn.Module):
    """Space-time positional embedding, fixed sin-cos or separable learned (module docstring)."""

    def __init__(self, dim: int, grid: tuple[int, int, int], kind: str) -> None:
        super().__init__()
        self.grid = grid
        self.kind = kind
        if kind == "sincos":
            self.register_buffer("pos", sincos_pos_embed_3d(dim, grid)[None], persistent=False)
        elif kind == "learned":
            gt, gh, gw = grid
            self.pos_spatial = nn.Parameter(torch.zeros(1, gh * gw, dim))
            self.pos_temporal = nn.Parameter(torch.zeros(1, gt, dim))
            nn.init.trunc_normal_(self.pos_spatial, std=0.02)
            nn.init.trunc_normal_(self.pos_temporal, std=0.02)
        else:
            raise ValueError(f"pos_embed must be 'sincos' or 'learned', got {kind!r}")

    def forward(self) -> torch.Tensor:
        """Embedding of all tokens, ``(1, N, D)``."""
        if self.kind == "sincos":
            return self.pos
        gt = self.grid[0]
        hw = self.pos_spatial.shape[1]
        return (self.pos_spatial.repeat(1, gt, 1)
                + torch.repeat_interleave(self.pos_temporal, hw, dim=1))


# ---------------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------------

class Masking(NamedTuple):
    """Result of :func:`random_masking`.

    Attributes
    ----------
    ids_keep : torch.Tensor
        int64 ``(B, N_keep)``: indices of the visible tokens (in random order).
    ids_restore : torch.Tensor
        int64 ``(B, N)``: the permutation that puts ``[visible, masked]`` tokens back in grid order.
    mask : torch.Tensor
        float32 ``(B, N)``: 1 for masked tokens, 0 for visible ones, in grid order.
    """

    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor


def random_masking(batch: int, grid: tuple[int, int, int], mask_ratio: float = 0.9, tube: bool = False,
                   device: torch.device | str | None = None,
                   generator: torch.Generator | None = None) -> Masking:
    """Random space-time masking of a token grid, independently per sample.

    Parameters
    ----------
    batch : int
        Batch size ``B``.
    grid : (int, int, int)
        Token grid ``(T', H', W')``; ``N = T' H' W'``.
    mask_ratio : float
        Fraction of tokens masked, in [0, 1) (0.9 in [1]_ section 3.1.2).
    tube : bool
        Tube masking [4]_: draw the masked spatial positions once and mask them in every time slot.
    device : torch.device or str, optional
        Device of the returned tensors.
    generator : torch.Generator, optional
        Random generator (on ``device``) for reproducible masks.

    Returns
    -------
    Masking
        ``N_keep = round(N (1 - mask_ratio))`` visible tokens per sample (random masking), or
        ``T' round(H'W' (1 - mask_ratio))`` (tube masking); at least one.

    Raises
    ------
    ValueError
        ``mask_ratio`` outside [0, 1).
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    gt, gh, gw = grid
    n = gt * gh * gw
    if tube:
        n_space = gh * gw
        keep_space = max(1, int(round(n_space * (1.0 - mask_ratio))))
        noise = torch.rand(batch, n_space, device=device, generator=generator)
        keep_pos = torch.argsort(noise, dim=1)[:, :keep_space]  # (B, keep_space)
        offsets = torch.arange(gt, device=keep_pos.device).reshape(1, gt, 1) * n_space
        ids_keep = (keep_pos[:, None, :] + offsets).reshape(batch, gt * keep_space)
        visible = torch.zeros(batch, n, dtype=torch.bool, device=ids_keep.device)
        visible.scatter_(1, ids_keep, True)
        # Visible tokens first (in the order of ids_keep), then the masked ones.
        masked_ids = torch.argsort(visible.to(torch.int8), dim=1, stable=True)[:, :n - ids_keep.shape[1]]
        ids_shuffle = torch.cat([ids_keep, masked_ids], dim=1)
    else:
        n_keep = max(1, int(round(n * (1.0 - mask_ratio))))
        noise = torch.rand(batch, n, device=device, generator=generator)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_keep = ids_shuffle[:, :n_keep]
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(batch, n, device=ids_keep.device)
    mask[:, :ids_keep.shape[1]] = 0.0
    mask = torch.gather(mask, 1, ids_restore)
    return Masking(ids_keep, ids_restore, mask)


# ---------------------------------------------------------------------------------------------------
# Encoder / MAE decoder
# ---------------------------------------------------------------------------------------------------

class MAEPoseEncoder(nn.Module):
    """Video ViT encoder: 3-D patch embedding, space-time positional embedding, ViT blocks, LayerNorm.

    Parameters
    ----------
    in_chans : int
        Input channels ``C`` (1 for a magnitude RD map).
    num_frames : int
        Frames per clip ``T`` (20 in [1]_).
    img_size : int or (int, int)
        Map size ``(H, W)``, e.g. (Doppler bins, range bins); non-square allowed.
    patch_size : int or (int, int, int)
        Patch size ``(t, h, w)``; the sizes above must be multiples of it.
    embed_dim, depth, num_heads : int
        Token dimension, blocks and heads (384, 12, 6 in [1]_ section 3.1.3).
    mlp_ratio : float
        MLP hidden size over ``embed_dim``.
    pos_embed : {"sincos", "learned"}
        Positional embedding kind (module docstring).
    drop_path : float
        Maximum stochastic depth, linearly increasing over the blocks (0 disables it).

    Notes
    -----
    ``forward(x, ids_keep=None)``: ``x`` ``(B, C, T, H, W)`` -> tokens ``(B, N, D)``, or only the
    tokens selected by ``ids_keep`` ``(B, N_keep)`` (positional embeddings are added before
    selection, so visible tokens keep their place in space-time).
    """

    def __init__(self, in_chans: int = 1, num_frames: int = 20, img_size: int | tuple[int, int] = (256, 256),
                 patch_size: int | tuple[int, int, int] = (2, 16, 16), embed_dim: int = 384, depth: int = 12,
                 num_heads: int = 6, mlp_ratio: float = 4.0, pos_embed: str = "sincos",
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_frames = num_frames
        self.img_size = _pair(img_size)
        self.patch_size = _triple(patch_size)
        self.grid = token_grid(num_frames, self.img_size, self.patch_size)
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed3d(in_chans, embed_dim, self.patch_size)
        self.pos_embed = _PosEmbed(embed_dim, self.grid, pos_embed)
        rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, r) for r in rates)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.apply(_init_weights)
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))  # as a linear layer on flattened patches (MAE)
        nn.init.zeros_(self.patch_embed.proj.bias)

    @property
    def num_tokens(self) -> int:
        """Tokens per clip ``N = T' H' W'``."""
        return math.prod(self.grid)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the expected shape when ``x`` is not ``(B, C, T, H, W)``."""
        expected = (self.in_chans, self.num_frames, *self.img_size)
        if x.ndim != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"clips must be (B, {', '.join(map(str, expected))}) = (batch, channel, "
                             f"frame, height, width); got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, ids_keep: torch.Tensor | None = None) -> torch.Tensor:
        self.check_input(x)
        tokens = self.patch_embed(x) + self.pos_embed()
        if ids_keep is not None:
            tokens = torch.gather(tokens, 1, ids_keep[..., None].expand(-1, -1, tokens.shape[-1]))
        for blk in self.blocks:
            tokens = blk(tokens)
        return self.norm(tokens)


class MAEDecoder(nn.Module):
    """MAE reconstruction decoder ([1]_ section 3.1.4): visible tokens + mask tokens -> patch pixels.

    Parameters
    ----------
    grid : (int, int, int)
        Token grid ``(T', H', W')``.
    patch_dim : int
        Pixels per patch ``t h w C`` (the prediction size per token).
    encoder_dim : int
        Encoder token dimension.
    embed_dim, depth, num_heads : int
        Decoder width, blocks, heads (512, 4, 16 in [1]_).
    mlp_ratio : float
        MLP hidden size over ``embed_dim``.
    pos_embed : {"sincos", "learned"}
        Positional embedding kind.

    Notes
    -----
    ``forward(latent, ids_restore)``: ``latent`` ``(B, N_keep, encoder_dim)`` in the order of
    ``ids_keep``; returns ``(B, N, patch_dim)`` predictions in grid order.
    """

    def __init__(self, grid: tuple[int, int, int], patch_dim: int, encoder_dim: int = 384,
                 embed_dim: int = 512, depth: int = 4, num_heads: int = 16, mlp_ratio: float = 4.0,
                 pos_embed: str = "sincos") -> None:
        super().__init__()
        self.embed = nn.Linear(encoder_dim, embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = _PosEmbed(embed_dim, grid, pos_embed)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.pred = nn.Linear(embed_dim, patch_dim)
        self.apply(_init_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.embed(latent)
        b, n_keep, d = x.shape
        n = ids_restore.shape[1]
        x = torch.cat([x, self.mask_token.expand(b, n - n_keep, d)], dim=1)
        x = torch.gather(x, 1, ids_restore[..., None].expand(-1, -1, d)) + self.pos_embed()
        for blk in self.blocks:
            x = blk(x)
        return self.pred(self.norm(x))


def patch_mean_std(patches: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Each patch's mean and standard deviation, the statistics of the normalised-patch loss ([3]_).

    Parameters
    ----------
    patches : torch.Tensor
        ``(..., P)`` patches (:func:`patchify`).
    eps : float
        Variance floor.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``(..., 1)`` mean and ``sqrt(var + eps)`` (population variance) over the last axis.
    """
    mean = patches.mean(dim=-1, keepdim=True)
    return mean, (patches.var(dim=-1, keepdim=True, unbiased=False) + eps).sqrt()


def masked_patch_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                      norm_pix_loss: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """Mean squared error over the masked patches only ([1]_ section 3.1.4).

    Parameters
    ----------
    pred : torch.Tensor
        ``(B, N, P)`` predicted patches.
    target : torch.Tensor
        ``(B, N, P)`` true patches (:func:`patchify` of the clip).
    mask : torch.Tensor
        ``(B, N)``, 1 = masked (counted), 0 = visible (ignored).
    norm_pix_loss : bool
        Standardise each target patch by its own mean and variance first ([3]_).
    eps : float
        Variance floor of the normalisation.

    Returns
    -------
    torch.Tensor
        Scalar: per-patch MSE averaged over the masked patches.
    """
    if norm_pix_loss:
        mean, std = patch_mean_std(target, eps)
        target = (target - mean) / std
    per_patch = ((pred - target) ** 2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp_min(1.0)


class MAEPosePretrain(nn.Module):
    """Stage-1 model: masked space-time autoencoder over radar video ([1]_ section 3.1).

    Parameters
    ----------
    in_chans, num_frames, img_size, patch_size, embed_dim, depth, num_heads : see MAEPoseEncoder
        Encoder configuration (paper: 1, 20, (256, 256) assumed, (2, 16, 16) assumed, 384, 12, 6).
    decoder_embed_dim, decoder_depth, decoder_num_heads : int
        Decoder configuration (512, 4, 16 in [1]_).
    mlp_ratio : float
        MLP ratio of all blocks.
    mask_ratio : float
        Default masking ratio (0.9).
    tube_masking : bool
        Tube instead of random space-time masking.
    norm_pix_loss : bool
        Per-patch normalised reconstruction target.
    pos_embed : {"sincos", "learned"}
        Positional embeddings of encoder and decoder.
    drop_path : float
        Encoder stochastic depth.

    Notes
    -----
    ``forward(x, mask_ratio=None, generator=None)`` -> ``(loss, pred, mask)``: scalar loss,
    ``(B, N, t h w C)`` predicted patches (in the normalised space when ``norm_pix_loss``), ``(B, N)``
    mask (1 = masked).
    """

    def __init__(self, in_chans: int = 1, num_frames: int = 20, img_size: int | tuple[int, int] = (256, 256),
                 patch_size: int | tuple[int, int, int] = (2, 16, 16), embed_dim: int = 384, depth: int = 12,
                 num_heads: int = 6, decoder_embed_dim: int = 512, decoder_depth: int = 4,
                 decoder_num_heads: int = 16, mlp_ratio: float = 4.0, mask_ratio: float = 0.9,
                 tube_masking: bool = False, norm_pix_loss: bool = False, pos_embed: str = "sincos",
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.encoder = MAEPoseEncoder(in_chans, num_frames, img_size, patch_size, embed_dim, depth, num_heads,
                                      mlp_ratio, pos_embed, drop_path)
        self.patch_dim = math.prod(self.encoder.patch_size) * in_chans
        self.decoder = MAEDecoder(self.encoder.grid, self.patch_dim, embed_dim, decoder_embed_dim,
                                  decoder_depth, decoder_num_heads, mlp_ratio, pos_embed)
        self.mask_ratio = mask_ratio
        self.tube_masking = tube_masking
        self.norm_pix_loss = norm_pix_loss

    def forward(self, x: torch.Tensor, mask_ratio: float | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        m = random_masking(x.shape[0], self.encoder.grid, ratio, self.tube_masking, x.device, generator)
        latent = self.encoder(x, m.ids_keep)
        pred = self.decoder(latent, m.ids_restore)
        loss = masked_patch_loss(pred, patchify(x, self.encoder.patch_size), m.mask, self.norm_pix_loss)
        return loss, pred, m.mask

    def reconstruct(self, x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Clip with its masked patches replaced by the prediction (for the reconstruction figure).

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C, T, H, W)`` input clip.
        pred, mask : torch.Tensor
            ``forward``'s outputs. With ``norm_pix_loss``, predictions are mapped back with each
            patch's true mean and standard deviation (MAE's visualisation convention).

        Returns
        -------
        torch.Tensor
            ``(B, C, T, H, W)``: visible patches from ``x``, masked ones from ``pred``.
        """
        target = patchify(x, self.encoder.patch_size)
        if self.norm_pix_loss:
            mean, std = patch_mean_std(target)
            pred = pred * std + mean
        merged = torch.where(mask[..., None].bool(), pred, target)
        return unpatchify(merged, self.encoder.patch_size, self.encoder.grid, self.encoder.in_chans)


# ---------------------------------------------------------------------------------------------------
# Fine-tuning: heatmap decoder
# ---------------------------------------------------------------------------------------------------

class HeatmapDecoder(nn.Module):
    """Multi-frame heatmap pose decoder ([1]_ section 3.2.2).

    Token features ``(B, T' H' W', D)`` are laid out as a ``(B, D, T', H', W')`` volume; a Conv3d with
    kernel = stride ``(T' / F, 1, 1)`` merges time into the ``F`` target frames; each frame's
    ``H' x W'`` map is upsampled in x2 bilinear + 3x3 conv + BatchNorm + ReLU stages to the heatmap
    size, and a 1x1 convolution gives one heatmap per joint.

    Parameters
    ----------
    embed_dim : int
        Encoder token dimension ``D``.
    grid : (int, int, int)
        Token grid ``(T', H', W')``; ``T'`` must be a multiple of ``n_target_frames``.
    n_joints : int
        Heatmaps per frame (13, COCO without eyes and ears; :data:`radarkit.skeleton.COCO13`).
    n_target_frames : int
        Target frames ``F`` per clip (5 in [1]_).
    heatmap_size : int or (int, int)
        Output heatmap size ``(H_hm, W_hm)``; ``ceil(log2(max ratio to the token grid))`` upsampling
        stages, the last one landing exactly on this size.
    channels : int
        Channels of the Conv3d and upsampling stages.

    Notes
    -----
    ``forward(tokens)`` -> ``(B, F, J, H_hm, W_hm)`` heatmaps (unbounded; trained towards Gaussians).
    """

    def __init__(self, embed_dim: int = 384, grid: tuple[int, int, int] = (10, 16, 16), n_joints: int = 13,
                 n_target_frames: int = 5, heatmap_size: int | tuple[int, int] = (64, 64),
                 channels: int = 256) -> None:
        super().__init__()
        gt, gh, gw = grid
        if n_target_frames < 1 or gt % n_target_frames:
            raise ValueError(f"{gt} temporal token positions cannot be merged into {n_target_frames} "
                             "target frames (needs a multiple)")
        self.grid = grid
        self.n_target_frames = n_target_frames
        self.n_joints = n_joints
        self.heatmap_size = _pair(heatmap_size)
        k = gt // n_target_frames
        self.temporal = nn.Conv3d(embed_dim, channels, kernel_size=(k, 1, 1), stride=(k, 1, 1))
        self.act = nn.GELU()
        hh, ww = self.heatmap_size
        ratio = max(hh / gh, ww / gw)
        n_up = max(0, math.ceil(math.log2(ratio) - 1e-9))
        self.sizes = [(round(gh * (hh / gh) ** (i / n_up)), round(gw * (ww / gw) ** (i / n_up)))
                      for i in range(1, n_up + 1)] if n_up else []
        if not self.sizes and (gh, gw) != (hh, ww):
            self.sizes = [(hh, ww)]
        self.up = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                          nn.ReLU(inplace=True)) for _ in self.sizes)
        self.final = nn.Conv2d(channels, n_joints, kernel_size=1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, d = tokens.shape
        gt, gh, gw = self.grid
        x = tokens.transpose(1, 2).reshape(b, d, gt, gh, gw)
        x = self.act(self.temporal(x))  # (B, C, F, H', W')
        f = x.shape[2]
        x = x.transpose(1, 2).reshape(b * f, x.shape[1], gh, gw)
        for size, stage in zip(self.sizes, self.up, strict=True):
            x = stage(F.interpolate(x, size=size, mode="bilinear", align_corners=False))
        x = self.final(x)
        return x.reshape(b, f, self.n_joints, *x.shape[-2:])


class MAEPose(nn.Module):
    """Stage-2 model: the (pre-trained) encoder without masking + the heatmap decoder ([1]_ 3.2).

    Parameters
    ----------
    in_chans, num_frames, img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio, pos_embed,
    drop_path : see MAEPoseEncoder
        Must equal the pre-training configuration to load its encoder weights.
    n_joints, n_target_frames, heatmap_size, head_channels : see HeatmapDecoder
        Head configuration (13 joints, 5 frames, 64 x 64 assumed, 256 channels assumed).
    head_pos_embed : bool
        Add the encoder's positional embedding to its output tokens again before the head (off by
        default, as in [1]_). The convolutional head is translation-equivariant, so it can place a
        joint only from position information carried by the tokens; an MAE-pre-trained encoder may
        lose it (on sparse simulated RD video every output token of a clip becomes nearly the same
        clip summary after the first block), and the target heatmap plane is not aligned with the
        input's range/Doppler grid anyway.

    Notes
    -----
    ``forward(x)``: ``(B, C, T, H, W)`` -> heatmaps ``(B, F, J, H_hm, W_hm)``; decode with
    :func:`heatmaps_to_joints`. :meth:`load_encoder` copies a pre-trained encoder.
    """

    def __init__(self, in_chans: int = 1, num_frames: int = 20, img_size: int | tuple[int, int] = (256, 256),
                 patch_size: int | tuple[int, int, int] = (2, 16, 16), embed_dim: int = 384, depth: int = 12,
                 num_heads: int = 6, mlp_ratio: float = 4.0, pos_embed: str = "sincos",
                 drop_path: float = 0.1, n_joints: int = 13, n_target_frames: int = 5,
                 heatmap_size: int | tuple[int, int] = (64, 64), head_channels: int = 256,
                 head_pos_embed: bool = False) -> None:
        super().__init__()
        self.encoder = MAEPoseEncoder(in_chans, num_frames, img_size, patch_size, embed_dim, depth, num_heads,
                                      mlp_ratio, pos_embed, drop_path)
        self.head = HeatmapDecoder(embed_dim, self.encoder.grid, n_joints, n_target_frames, heatmap_size,
                                   head_channels)
        self.head_pos_embed = bool(head_pos_embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(x)
        if self.head_pos_embed:
            tokens = tokens + self.encoder.pos_embed()
        return self.head(tokens)

    def load_encoder(self, source: MAEPosePretrain | MAEPoseEncoder | dict) -> None:
        """Initialise the encoder from a pre-trained model or an encoder ``state_dict``.

        Parameters
        ----------
        source : MAEPosePretrain, MAEPoseEncoder or dict
            Pre-trained model, its encoder, or the encoder's ``state_dict``.

        Raises
        ------
        ValueError
            The weights do not match this encoder (missing/unexpected keys or shapes).
        """
        if isinstance(source, MAEPosePretrain):
            source = source.encoder
        state = source.state_dict() if isinstance(source, nn.Module) else source
        try:
            self.encoder.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"pre-trained encoder does not match: {exc}") from None


# ---------------------------------------------------------------------------------------------------
# Heatmap targets, loss and decoding
# ---------------------------------------------------------------------------------------------------

def gaussian_heatmaps(joints: torch.Tensor, size: int | tuple[int, int], sigma: float = 2.0) -> torch.Tensor:
    """Gaussian target heatmaps at normalised 2-D joint positions ([1]_ section 3.2.2).

    Parameters
    ----------
    joints : torch.Tensor
        ``(..., J, 2)`` joints as normalised image coordinates ``(x, y)`` in [0, 1] (x along the
        heatmap width, y along its height); pixel ``(i, j)`` has its centre at
        ``((j + 0.5) / W, (i + 0.5) / H)``, the convention of :func:`heatmaps_to_joints`.
    size : int or (int, int)
        Heatmap size ``(H, W)``.
    sigma : float
        Gaussian standard deviation in heatmap pixels.

    Returns
    -------
    torch.Tensor
        ``(..., J, H, W)`` float, peak 1 at the joint.
    """
    h, w = _pair(size)
    x = joints[..., 0, None, None] * w - 0.5
    y = joints[..., 1, None, None] * h - 0.5
    jj = torch.arange(w, device=joints.device, dtype=joints.dtype)
    ii = torch.arange(h, device=joints.device, dtype=joints.dtype)
    return torch.exp(-((jj.reshape(1, w) - x) ** 2 + (ii.reshape(h, 1) - y) ** 2) / (2.0 * sigma ** 2))


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted MSE between predicted and target heatmaps ([1]_ section 3.2.2).

    Parameters
    ----------
    pred, target : torch.Tensor
        ``(B, F, J, H, W)`` heatmaps.
    weight : torch.Tensor, optional
        ``(B, F, J)`` (or broadcastable) non-negative weight of each heatmap (e.g. 0 for unlabelled
        joints); all ones when omitted.

    Returns
    -------
    torch.Tensor
        Scalar ``sum_{b,f,j} w mean_{pixels}(pred - target)^2 / (B F J)``.
    """
    per_map = ((pred - target) ** 2).mean(dim=(-2, -1))
    if weight is not None:
        per_map = per_map * weight
    return per_map.mean()


def heatmaps_to_joints(heatmaps: torch.Tensor, soft: bool = False, beta: float = 20.0) -> torch.Tensor:
    """Normalised 2-D joint coordinates from heatmaps ([1]_ section 3.2.3, eq. 1-2).

    Parameters
    ----------
    heatmaps : torch.Tensor
        ``(..., H, W)`` heatmaps.
    soft : bool
        Soft-argmax (differentiable): expectation of the pixel centres under
        ``softmax(beta * heatmap)``; otherwise the hard argmax pixel.
    beta : float
        Soft-argmax inverse temperature. Near a unit-peak Gaussian of ``sigma`` pixels,
        ``softmax(beta h)`` is a Gaussian of ``sigma / sqrt(beta)`` pixels: 20 makes it about half a
        pixel wide for ``sigma = 2`` (sub-pixel expectation, background weight negligible).

    Returns
    -------
    torch.Tensor
        ``(..., 2)`` float: ``(x, y) = ((j + 0.5) / W, (i + 0.5) / H)`` of the argmax pixel ``(i, j)``
        (or the soft expectation), in [0, 1].
    """
    h, w = heatmaps.shape[-2:]
    flat = heatmaps.reshape(*heatmaps.shape[:-2], h * w)
    xs = (torch.arange(w, device=heatmaps.device, dtype=torch.float32) + 0.5) / w
    ys = (torch.arange(h, device=heatmaps.device, dtype=torch.float32) + 0.5) / h
    if soft:
        p = torch.softmax(beta * flat.float(), dim=-1).reshape(*heatmaps.shape[:-2], h, w)
        return torch.stack([(p.sum(dim=-2) * xs).sum(dim=-1), (p.sum(dim=-1) * ys).sum(dim=-1)], dim=-1)
    idx = flat.argmax(dim=-1)
    return torch.stack([xs[idx % w], ys[idx // w]], dim=-1)


# ---------------------------------------------------------------------------------------------------
# Optimisation helpers and builders
# ---------------------------------------------------------------------------------------------------

def _layer_id(name: str, depth: int) -> int:
    """Layer index of an encoder parameter for layer-wise lr decay (0 = embeddings)."""
    if name.startswith(("encoder.patch_embed", "encoder.pos_embed")):
        return 0
    if name.startswith("encoder.blocks."):
        return int(name.split(".")[2]) + 1
    return depth + 1  # final encoder norm and the head


def param_groups_lrd(model: MAEPose, weight_decay: float = 0.05, layer_decay: float = 0.75
                     ) -> list[dict]:
    """Optimiser parameter groups with layer-wise learning-rate decay ([1]_ section 3.2.1; [5]_).

    Parameter ``p`` in layer ``l`` (0 = patch/positional embedding, ``1..depth`` = encoder blocks,
    ``depth + 1`` = final norm and heatmap head) gets ``lr_scale = layer_decay ** (depth + 1 - l)``.
    Biases, normalisation weights (all 1-D parameters) and learned positional embeddings get no weight
    decay.

    Parameters
    ----------
    model : MAEPose
        Fine-tuning model.
    weight_decay : float
        Decoupled weight decay of the decayed groups (0.05 in [1]_ section 4.6).
    layer_decay : float
        Per-layer lr factor in (0, 1] (0.75 is the MAE fine-tuning default; 1 disables the decay).

    Returns
    -------
    list of dict
        Groups ``{"params", "weight_decay", "lr_scale", "layer_id"}`` for ``torch.optim.AdamW``; multiply
        each group's ``lr`` by ``lr_scale`` (``radarkit.train.maepose`` does this).
    """
    depth = len(model.encoder.blocks)
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim == 1 or ".pos_embed." in name
        lid = _layer_id(name, depth)
        key = (lid, no_decay)
        if key not in groups:
            groups[key] = {"params": [], "weight_decay": 0.0 if no_decay else weight_decay,
                           "lr_scale": layer_decay ** (depth + 1 - lid), "layer_id": lid}
        groups[key]["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as fixed sin-cos embeddings excluded).

    Parameters
    ----------
    module : nn.Module
        Any module.
    trainable_only : bool
        Count only parameters with ``requires_grad``.

    Returns
    -------
    int
        Parameter count.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _preset_kwargs(preset: str, keys, overrides: dict) -> dict:
    if preset not in PRESETS:
        raise KeyError(f"unknown MAEPose preset {preset!r} (known: {', '.join(PRESETS)})")
    return {**{k: v for k, v in PRESETS[preset].items() if k in keys}, **overrides}


def config_from_json(config: dict) -> dict:
    """A model configuration read back from JSON (a checkpoint's ``model`` entry), sizes as tuples.

    Parameters
    ----------
    config : dict
        Keyword overrides as stored in JSON, where tuples such as ``img_size`` became lists.

    Returns
    -------
    dict
        The same keys with every list turned back into a tuple, for :func:`build_pretrain` /
        :func:`build_finetune`.
    """
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items()}


def pretrain_overrides(config: dict) -> dict:
    """The entries of a model configuration that apply to the stage-1 model.

    Parameters
    ----------
    config : dict
        Keyword overrides of a fine-tuning model (e.g. a checkpoint's ``model`` configuration).

    Returns
    -------
    dict
        ``config`` without the heatmap-head keys (``n_joints``, ``n_target_frames``,
        ``heatmap_size``, ``head_channels``, ``head_pos_embed``), for :func:`build_pretrain`.
    """
    return {k: v for k, v in config.items() if k not in _HEAD_KEYS}


def build_pretrain(preset: str = "paper", **overrides) -> MAEPosePretrain:
    """Stage-1 model of a named preset (:data:`PRESETS`), with keyword overrides.

    Raises
    ------
    KeyError
        Unknown preset.
    """
    return MAEPosePretrain(**_preset_kwargs(preset, _PRETRAIN_KEYS, overrides))


def build_finetune(preset: str = "paper", **overrides) -> MAEPose:
    """Stage-2 model of a named preset (:data:`PRESETS`), with keyword overrides.

    Raises
    ------
    KeyError
        Unknown preset.
    """
    return MAEPose(**_preset_kwargs(preset, _FINETUNE_KEYS, overrides))
