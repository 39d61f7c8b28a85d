"""MAEPose runs: pre-training, fine-tuning, evaluation, and the leave-one-person-out ablation.

The building blocks behind ``radarkit train maepose`` / ``radarkit eval maepose`` and the acceptance
script of the pre-training ablation ([1]_ section 4.6, "pre-trained vs random initialisation"):

* :func:`pretrain` -- stage 1 on unlabelled clips (:class:`radarkit.data.clips.RadarClips`), early
  stopping on the validation persons' masked-patch loss;
* :func:`masked_loss` -- masked-patch MSE on fixed, seeded masks, next to the loss of *predicting
  the mean* (the training clips' per-pixel mean clip, with the same masks): the reference a useful
  reconstruction must beat;
* :func:`finetune` -- stage 2 from a pre-trained encoder or from random initialisation, with the
  same budget (epochs, batches, learning rate, early stopping on the validation heatmap loss);
* :func:`evaluate_clips` -- MPJPE (m), PCK@5cm and per-joint errors in metres (the clips' plane
  extent turns normalised joints into metres);
* :func:`run_lopo` -- the ablation: for each leave-one-person-out fold (split seed 42,
  :func:`radarkit.data.folds.lopo_folds`) pre-train on the non-test persons' unlabelled clips,
  fine-tune pre-trained and random-init models identically, test on the held-out person; per-fold
  table, summary JSON.

Run as a script (``python -m radarkit.pipelines.maepose_lopo --help``); it simulates the data
itself unless ``--data`` is given.

Input and schedule defaults of the script (diagnosis of the first runs, where the MAE's masked loss
stayed near the mean prediction): clips get a display noise floor (cells below the clip's median +
3 dB raised to it, :func:`radarkit.data.clips.clip_dynamic_range`) and min-max scaling, so thermal
noise is one constant and the loss falls on the person's returns; both stages use a warm-up + cosine
learning-rate schedule (MAE-ST/VideoMAE, which [1]_ 4.6 follows) and pre-training runs 60 epochs.
``--unlabelled-subjects N`` simulates N more persons used only, without labels, for pre-training
(never a test, validation or fine-tuning person) -- the setting in which self-supervision should pay.

Diagnosis of the pre-trained arm (simulated RD video, "small" preset, 4 labelled + 8 unlabelled
persons): the encoder weights transfer exactly (every key, the sin-cos positional buffer, the same
patch embedding and clip normalisation), but MAE pre-training makes the encoder's *first block*
map every token of a full clip to nearly the same clip-summary vector (about 98 % of the token
variance is between clips, under 1 % between positions; a random encoder keeps about 90 % as
position). The convolutional heatmap head is translation-equivariant and the target plane is not
aligned with the range/Doppler grid, so it then has no position to place joints from: validation
heatmap loss near that of predicting zeros. ``head_pos_embed`` (positional embedding re-added at
the head input, both arms) removes that failure; ``visible_loss_weight`` (pre-training) keeps the
tokens local; ``head_warmup_epochs`` is LP-FT. None of them, nor a lower pre-training or
fine-tuning learning rate or fewer labelled clips, made the pre-trained arm beat random
initialisation on both folds: linear probes of the pre-trained features decode pose no better than
the mean pose. Neither did longer pre-training (it stops improving near epoch 70, masked loss at
0.63-0.73 of the mean clip's), a 0.75 masking ratio, 64 x 64 maps at full range resolution
(range bins 56:120), dual RD + RA input, 8 labelled persons, pre-training on the labelled persons
only, or a twice as wide encoder (``--embed-dim 192 --num-heads 6``: random init fine-tunes it as
well as the small one, and the masked loss stays at 0.60-0.72 of the mean clip's): the pre-trained
arm stays behind on at least one fold. Nor did side-plane targets (``--plane yz``, where the
horizontal coordinate is range: both arms far worse, 0.20 m random init against 0.32 m
pre-trained), or people who all perform every exercise (``--segment-s 5 --action-order cycle``;
with random 10 s segments a test person's exercise can be missing from the two fine-tuning
people's): the pre-trained arm lost both folds (0.132 / 0.139 m against 0.115 / 0.129 m). The
``mixed`` scene (all ten actions, 4 s each, 40 s per person, 30 pre-training epochs) and
``--norm-pix-loss`` each lost fold 0 (0.146 against 0.140 m; 0.122 against 0.116 m). Nor did
four times the unlabelled data: 32 unlabelled persons, one shared pre-training on them alone
(``--pretrain-on unlabelled``, 40 epochs), all four folds: 0.127 m pre-trained against 0.115 m
random init (mean-pose baseline 0.137 m), lost in every fold, masked loss at 0.66-0.76 of the
mean clip's. With 8 unlabelled persons and that shared pre-training: finer patches
(``--patch-size 4,4,4``, 320 tokens instead of 80: both arms worse, 0.141 against 0.139 m), a
fine-tuning learning rate of 3e-3 (0.146 against 0.124 m) or 3e-4 (0.140 against 0.134 m), or
60 fine-tuning epochs (0.132 against 0.120 m), or tube masking (``--tube-masking``; at a 0.75
ratio 0.131 against 0.122 m; with ``--patch-size 4,4,4`` at 0.9, 0.141 against 0.139 m, the
first fold won by 0.002 m and the second lost by 0.005 m). Through 30 fine-tuning epochs the
pre-trained arm also fits its *training* clips worse (heatmap loss 0.0031 against 0.0026).

Fairness choices: the random-init model is fine-tuned with layer decay 1 (every layer at the full
learning rate, its natural setting: a random encoder has nothing to preserve), the pre-trained one
with the configured layer decay; both see the same clips in the same order (same seed), the same
number of epochs and the same early stopping.

References
----------
.. [1] "MAEPose: Self-Supervised Spatiotemporal Learning for Human Pose Estimation on mmWave Video"
   (``shared/papers/maepose.txt``), sections 3, 4.4 and 4.6.
.. [2] A. Kumar et al., "Fine-Tuning can Distort Pretrained Features and Underperform
   Out-of-Distribution", ICLR 2022 (LP-FT: train the head on a frozen encoder first).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TrainSettings",
    "model_kwargs",
    "make_loader",
    "pretrain",
    "masked_loss",
    "mean_clip",
    "reconstruction_example",
    "finetune",
    "evaluate_clips",
    "run_lopo",
    "main",
]


#: Encoder hyper-parameters that :class:`TrainSettings` may override in the preset (both arms).
ENCODER_OVERRIDES = ("embed_dim", "depth", "num_heads", "patch_size")


@dataclass(frozen=True)
class TrainSettings:
    """Training budget and optimiser settings shared by both stages.

    Parameters
    ----------
    preset : str
        Model preset (:data:`radarkit.models.maepose.PRESETS`: ``"small"`` for CPU, ``"paper"``).
    heatmap_size : (int, int) or None
        Heatmap size override (None: the preset's).
    embed_dim, depth, num_heads : int or None
        Encoder width, number of transformer blocks and attention heads, overriding the preset's
        (None: the preset's; ``embed_dim`` must be a multiple of the head count). Both arms of the
        ablation use the same encoder; the pre-training decoder keeps the preset's size.
    patch_size : (int, int, int) or None
        ``(time, height, width)`` of the encoder's space-time patches, overriding the preset's
        (None: the preset's; each must divide the clip's frames, height and width). Smaller
        patches mean more tokens: the ``small`` preset's (4, 8, 8) makes 80 tokens of a
        20 x 32 x 32 clip, of which 8 stay visible at 90 % masking; (4, 4, 4) makes 320.
    batch_size : int
        Clips per batch.
    pretrain_epochs, finetune_epochs : int
        Epoch limits.
    pretrain_lr : float
        Pre-training AdamW learning rate.
    finetune_lr : float
        Fine-tuning learning rate of the top layer.
    layer_decay : float
        Layer-wise lr decay of a pre-trained encoder ([1]_ 3.2.1).
    weight_decay : float
        AdamW weight decay (0.05, [1]_ 4.6).
    patience : int
        Early-stopping patience on the validation loss (10 in [1]_).
    mask_ratio : float
        Pre-training masking ratio (0.9).
    sigma : float
        Target Gaussian sigma in heatmap pixels.
    soft_argmax : bool
        Decode joints by soft-argmax instead of argmax.
    range_shift : int
        Training augmentation: random range roll of up to this many map cells
        (:class:`radarkit.data.clips.RadarClips`); evaluation clips are never shifted.
    schedule : {"cosine", "constant"}
        Learning-rate schedule of both stages: per-step linear warm-up then cosine decay over the
        epoch limit (:func:`radarkit.train.maepose.warmup_cosine`, as MAE-ST/VideoMAE which [1]_
        4.6 follows), or a constant rate.
    warmup_epochs : float
        Warm-up length in epochs of the cosine schedule.
    tube_masking : bool
        Pre-train with tube masking (the same spatial patches masked in every time slot, as
        VideoMAE) instead of independent space-time masking ([1]_ 3.1 uses the latter).
    norm_pix_loss : bool
        Pre-train on per-patch normalised targets (:class:`radarkit.models.maepose.MAEPosePretrain`).
    visible_loss_weight : float
        Pre-training adds this weight times the visible patches' reconstruction MSE
        (:func:`radarkit.train.maepose.pretrain_loss`); 0 (default) is [1]_'s masked-only loss. The
        masked-patch loss reported by :func:`masked_loss` never includes it.
    head_warmup_epochs : int
        Fine-tuning epochs, at the start, during which the encoder is frozen and only the heatmap head
        trains (LP-FT, [2]_); applied identically to both initialisations. 0 (default, as [1]_):
        the whole model trains from the first step. The epochs count towards ``finetune_epochs`` and
        the learning-rate schedule runs through them unchanged.
    head_pos_embed : bool
        Fine-tuning models add the encoder's positional embedding to its output tokens before the
        heatmap head (:class:`radarkit.models.maepose.MAEPose`); both initialisations alike. Off by
        default ([1]_'s head).
    seed : int
        Seed of initialisation, shuffling and masks.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``.
    """

    preset: str = "small"
    heatmap_size: tuple[int, int] | None = None
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    patch_size: tuple[int, int, int] | None = None
    batch_size: int = 8
    pretrain_epochs: int = 20
    finetune_epochs: int = 20
    pretrain_lr: float = 1e-3
    finetune_lr: float = 1e-3
    layer_decay: float = 0.75
    weight_decay: float = 0.05
    patience: int = 10
    mask_ratio: float = 0.9
    sigma: float = 2.0
    soft_argmax: bool = False
    range_shift: int = 0
    schedule: str = "cosine"
    warmup_epochs: float = 2.0
    tube_masking: bool = False
    norm_pix_loss: bool = False
    visible_loss_weight: float = 0.0
    head_warmup_epochs: int = 0
    head_pos_embed: bool = False
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.head_warmup_epochs < 0:
            raise ValueError(f"head_warmup_epochs must be >= 0, got {self.head_warmup_epochs}")
        for name in ("embed_dim", "depth", "num_heads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.patch_size is not None:
            if len(self.patch_size) != 3 or min(self.patch_size) < 1:
                raise ValueError(f"patch_size must be three sizes >= 1, got {self.patch_size}")
            object.__setattr__(self, "patch_size", tuple(int(v) for v in self.patch_size))

    @property
    def encoder(self) -> dict[str, Any]:
        """The encoder overrides that are set (``embed_dim``, ``depth``, ``num_heads``, ``patch_size``)."""
        return {k: v for k in ENCODER_OVERRIDES if (v := getattr(self, k)) is not None}


def _scheduler(optimizer, settings: TrainSettings, epochs: int, steps_per_epoch: int):
    from radarkit.train.maepose import warmup_cosine

    if settings.schedule == "constant":
        return None
    total = max(1, epochs * steps_per_epoch)
    return warmup_cosine(optimizer, total, min(total - 1, round(settings.warmup_epochs * steps_per_epoch)))


def model_kwargs(preset: str, spec, map_size: tuple[int, int],
                 heatmap_size: tuple[int, int] | None = None, head_pos_embed: bool = False,
                 encoder: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword overrides of a preset for clips of ``spec`` (channels, frames, map size, heatmaps).

    Parameters
    ----------
    preset : str
        Model preset name.
    spec : radarkit.data.clips.ClipSpec
        Clip specification (channels, frames, target frames).
    map_size : (int, int)
        ``(H, W)`` of the clips.
    heatmap_size : (int, int), optional
        Heatmap size override.
    head_pos_embed : bool
        Fine-tuning model with the positional embedding re-added at the head
        (:class:`radarkit.models.maepose.MAEPose`); recorded only when True, so checkpoints written
        without it read the same.
    encoder : dict, optional
        Encoder overrides (``embed_dim``, ``depth``, ``num_heads``, ``patch_size``;
        :attr:`TrainSettings.encoder`).

    Returns
    -------
    dict
        For :func:`radarkit.models.maepose.build_pretrain` / ``build_finetune`` (unused keys are
        dropped by the builders' filters; heatmap keys only matter for fine-tuning). Checkpoints store
        it as their ``model`` configuration, which rebuilds the same model.

    Raises
    ------
    KeyError
        Unknown preset.
    """
    from radarkit.models.maepose import PRESETS

    if preset not in PRESETS:
        raise KeyError(f"unknown MAEPose preset {preset!r} (known: {', '.join(PRESETS)})")
    kw: dict[str, Any] = {"in_chans": spec.in_chans, "num_frames": spec.num_frames,
                          "img_size": tuple(int(v) for v in map_size),
                          "n_target_frames": spec.n_target_frames}
    if heatmap_size is not None:
        kw["heatmap_size"] = tuple(int(v) for v in heatmap_size)
    if head_pos_embed:
        kw["head_pos_embed"] = True
    unknown = set(encoder or ()) - set(ENCODER_OVERRIDES)
    if unknown:
        raise KeyError(f"unknown encoder override(s): {', '.join(sorted(unknown))}")
    kw.update(encoder or {})
    return kw


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int = 0):
    """A single-process ``DataLoader`` with a seeded shuffle (same order for equal seeds)."""
    import torch
    from torch.utils.data import DataLoader

    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=0)


def _unlabelled(clips, range_shift: int = 0):
    from radarkit.data.clips import RadarClips

    return RadarClips(clips.sequences, clips.spec, labels=False, range_shift=range_shift)


def _echo_none(_: str) -> None:
    return None


def pretrain(train_clips, val_clips, spec, settings: TrainSettings,
             echo: Callable[[str], Any] = _echo_none,
             on_epoch: Callable[[int, float, float, Any], None] | None = None):
    """Stage 1: masked-autoencoder pre-training with early stopping ([1]_ section 3.1).

    Parameters
    ----------
    train_clips : RadarClips
        Training clips (labels ignored).
    val_clips : RadarClips or None
        Validation clips; their masked loss (fixed masks) drives early stopping. None monitors the
        training loss.
    spec : ClipSpec
        Clip specification of both.
    settings : TrainSettings
        Budget and optimiser settings.
    echo : callable
        One line per epoch.
    on_epoch : callable, optional
        ``on_epoch(epoch, train_loss, val_loss, model)`` after each epoch (e.g. a checkpoint).

    Returns
    -------
    model : MAEPosePretrain
        With the best validation weights restored.
    history : list of dict
        ``{"epoch", "train_loss", "val_loss"}`` rows.

    Raises
    ------
    ValueError
        No training clips.
    """
    from radarkit.models.maepose import build_pretrain, pretrain_overrides
    from radarkit.train.loop import seed_everything, select_device
    from radarkit.train.maepose import fit, pretrain_epoch, pretrain_optimizer

    if len(train_clips) == 0:
        raise ValueError("no training clips for pre-training")
    seed_everything(settings.seed)
    dev = select_device(settings.device)
    kw = pretrain_overrides(model_kwargs(settings.preset, spec, train_clips.map_size, settings.heatmap_size,
                                         encoder=settings.encoder))
    model = build_pretrain(settings.preset, mask_ratio=settings.mask_ratio,
                           tube_masking=settings.tube_masking, norm_pix_loss=settings.norm_pix_loss,
                           **kw).to(dev)
    opt = pretrain_optimizer(model, settings.pretrain_lr, settings.weight_decay)
    loader = make_loader(_unlabelled(train_clips, settings.range_shift), settings.batch_size, True,
                         settings.seed)
    sched = _scheduler(opt, settings, settings.pretrain_epochs, len(loader))
    state = {"train": None}

    def train_one() -> float:
        state["train"] = pretrain_epoch(model, loader, opt, grad_clip=1.0, scheduler=sched,
                                        visible_weight=settings.visible_loss_weight)["loss"]
        return state["train"]

    has_val = val_clips is not None and len(val_clips) > 0

    def validate() -> float:
        if not has_val:
            return float(state["train"])
        return masked_loss(model, val_clips, settings.mask_ratio, settings.batch_size, seed=1234)["loss"]

    def logged(epoch: int, tr: float, va: float) -> None:
        # without validation clips early stopping watches the training loss: print it once
        echo(f"pretrain epoch {epoch + 1}: train {tr:.4f}" + (f" val {va:.4f}" if has_val else ""))
        if on_epoch is not None:
            on_epoch(epoch, tr, va, model)

    history = fit(model, train_one, validate, settings.pretrain_epochs, settings.patience, logged)
    return model, history


def masked_loss(model, clips, mask_ratio: float = 0.9, batch_size: int = 8, seed: int = 1234,
                mean_clip: np.ndarray | None = None) -> dict[str, float]:
    """Masked-patch MSE of a pre-trained model on fixed masks, and of predicting the mean.

    Parameters
    ----------
    model : MAEPosePretrain
        Evaluated in eval mode on its device.
    clips : RadarClips
        Clips (labels ignored).
    mask_ratio : float
        Masking ratio.
    batch_size : int
        Clips per batch.
    seed : int
        Seed of the mask generator (equal seeds, equal masks).
    mean_clip : ndarray of float32, shape (C, T, H, W), optional
        Reference prediction for every clip (e.g. the training clips' per-pixel mean); zeros (the
        mean of a z-scored clip) when omitted. With the model's ``norm_pix_loss`` the reference's
        patches are standardised like the targets, so both losses compare in the same space.

    Returns
    -------
    dict
        ``loss`` (the model's masked MSE, clip-weighted mean) and ``mean_loss`` (the reference's MSE
        on the same masked patches, with the model's loss definition).
    """
    import torch

    from radarkit.models.maepose import masked_patch_loss, patch_mean_std, patchify

    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    model.eval()
    ref = None if mean_clip is None else torch.as_tensor(mean_clip, dtype=torch.float32, device=dev)
    total = ref_total = 0.0
    n = 0
    guess = None  # the reference's patches (1, N, P), built once and broadcast over each batch
    with torch.no_grad():
        for batch in make_loader(_unlabelled(clips), batch_size, False):
            x = batch.to(dev)
            loss, _, mask = model(x, mask_ratio=mask_ratio, generator=gen)
            target = patchify(x, model.encoder.patch_size)
            if guess is None:
                first = torch.zeros_like(x[:1]) if ref is None else ref[None]
                guess = patchify(first, model.encoder.patch_size)
                if model.norm_pix_loss:  # the targets are standardised per patch: so is the reference
                    g_mean, g_std = patch_mean_std(guess)
                    guess = (guess - g_mean) / g_std
            ref_loss = masked_patch_loss(guess, target, mask, model.norm_pix_loss)
            total += float(loss) * len(x)
            ref_total += float(ref_loss) * len(x)
            n += len(x)
    if not n:
        raise ValueError("no clips to evaluate")
    return {"loss": total / n, "mean_loss": ref_total / n}


def mean_clip(clips) -> np.ndarray:
    """Per-pixel mean of normalised clips ``(C, T, H, W)`` float32 (the *predict the mean* reference)."""
    acc = None
    for i in range(len(clips)):
        c = clips.clip(i).astype(np.float64)
        acc = c if acc is None else acc + c
    if acc is None:
        raise ValueError("no clips")
    return (acc / len(clips)).astype(np.float32)


def reconstruction_example(model, clip: np.ndarray, mask_ratio: float = 0.9, seed: int = 0
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Original, masked and reconstructed versions of one clip (for the reconstruction figure).

    Parameters
    ----------
    model : MAEPosePretrain
        Pre-trained model.
    clip : ndarray of float32, shape (C, T, H, W)
        Normalised clip.
    mask_ratio : float
        Masking ratio.
    seed : int
        Mask seed.

    Returns
    -------
    original, masked, reconstructed : ndarray of float32, shape (C, T, H, W)
        ``masked`` is NaN on the masked patches; ``reconstructed`` keeps the visible patches and
        fills the masked ones with the model's prediction.
    """
    import torch

    from radarkit.models.maepose import unpatchify

    dev = next(model.parameters()).device
    model.eval()
    x = torch.as_tensor(clip, dtype=torch.float32, device=dev)[None]
    gen = torch.Generator(device=dev).manual_seed(seed)
    with torch.no_grad():
        _, pred, mask = model(x, mask_ratio=mask_ratio, generator=gen)
        recon = model.reconstruct(x, pred, mask)
        enc = model.encoder
        patch_dim = int(np.prod(enc.patch_size)) * enc.in_chans
        mask_px = unpatchify(mask[..., None].expand(-1, -1, patch_dim), enc.patch_size, enc.grid,
                             enc.in_chans)
    original = x[0].cpu().numpy()
    masked = np.where(mask_px[0].cpu().numpy() > 0, np.nan, original).astype(np.float32)
    return original, masked, recon[0].cpu().numpy()


def finetune(train_clips, val_clips, spec, settings: TrainSettings, encoder_state: dict | None = None,
             echo: Callable[[str], Any] = _echo_none,
             on_epoch: Callable[[int, float, float, Any], None] | None = None):
    """Stage 2: heatmap fine-tuning from a pre-trained encoder or random initialisation ([1]_ 3.2).

    Parameters
    ----------
    train_clips, val_clips : RadarClips
        Labelled clips; the validation heatmap loss drives early stopping (training loss when
        ``val_clips`` is None or empty).
    spec : ClipSpec
        Clip specification.
    settings : TrainSettings
        Budget (the same for both initialisations).
    encoder_state : dict, optional
        Pre-trained encoder ``state_dict``; None = random initialisation (layer decay 1).
    echo : callable
        One line per epoch.
    on_epoch : callable, optional
        ``on_epoch(epoch, train_loss, val_loss, model)``.

    Returns
    -------
    model : MAEPose
        Best validation weights.
    history : list of dict

    Raises
    ------
    ValueError
        No training clips, or an encoder state that does not fit.
    """
    from radarkit.models.maepose import build_finetune
    from radarkit.train.loop import seed_everything, select_device
    from radarkit.train.maepose import finetune_epoch, finetune_optimizer, fit, predict

    if len(train_clips) == 0:
        raise ValueError("no training clips for fine-tuning")
    seed_everything(settings.seed)
    dev = select_device(settings.device)
    kw = model_kwargs(settings.preset, spec, train_clips.map_size, settings.heatmap_size,
                      settings.head_pos_embed, settings.encoder)
    model = build_finetune(settings.preset, **kw)
    if encoder_state is not None:
        model.load_encoder(encoder_state)
    model.to(dev)
    decay = settings.layer_decay if encoder_state is not None else 1.0
    opt = finetune_optimizer(model, settings.finetune_lr, settings.weight_decay, decay)
    loader = make_loader(train_clips.with_range_shift(settings.range_shift), settings.batch_size, True,
                         settings.seed)
    sched = _scheduler(opt, settings, settings.finetune_epochs, len(loader))
    val_loader = (make_loader(val_clips, settings.batch_size, False)
                  if val_clips is not None and len(val_clips) else None)
    state = {"train": None, "epoch": 0}

    def train_one() -> float:
        frozen = state["epoch"] < settings.head_warmup_epochs
        for p in model.encoder.parameters():  # AdamW skips parameters without a gradient
            p.requires_grad_(not frozen)
        state["train"] = finetune_epoch(model, loader, opt, settings.sigma, grad_clip=1.0,
                                        scheduler=sched)["loss"]
        state["epoch"] += 1
        return state["train"]

    def validate() -> float:
        if val_loader is None:
            return float(state["train"])
        return float(predict(model, val_loader, settings.sigma)["loss"])

    def logged(epoch: int, tr: float, va: float) -> None:
        echo(f"finetune epoch {epoch + 1}: train {tr:.5f} val {va:.5f}")
        if on_epoch is not None:
            on_epoch(epoch, tr, va, model)

    history = fit(model, train_one, validate, settings.finetune_epochs, settings.patience, logged)
    return model, history


def evaluate_clips(model, clips, spec, batch_size: int = 8, sigma: float = 2.0, soft: bool = False,
                   threshold: float = 0.05) -> dict[str, Any]:
    """MPJPE, PCK and per-joint errors of a fine-tuned model, in metres ([1]_ section 4.4).

    Parameters
    ----------
    model : MAEPose
        Fine-tuned model.
    clips : RadarClips
        Labelled clips.
    spec : ClipSpec
        Their specification (its ``extent`` maps normalised joints to metres).
    batch_size : int
        Clips per batch.
    sigma : float
        Target sigma of the reported heatmap loss.
    soft : bool
        Soft-argmax decoding.
    threshold : float
        PCK threshold in metres (0.05 = PCK@5cm).

    Returns
    -------
    dict
        ``loss``, ``mpjpe_m``, ``pck`` (fraction), ``per_joint_mpjpe_m`` and ``per_joint_pck``
        (lists in skeleton order), ``joints`` (names), ``n_clips``.
    """
    from radarkit.metrics.joints import mpjpe, mpjpe_per_joint, pck, pck_per_joint
    from radarkit.skeleton import get_skeleton
    from radarkit.train.maepose import denormalise_joints, predict

    out = predict(model, make_loader(clips, batch_size, False), sigma, soft)
    pred = denormalise_joints(out["pred"], spec.extent)
    target = denormalise_joints(out["target"], spec.extent)
    vis = out["weight"] > 0
    return {"loss": float(out["loss"]), "mpjpe_m": mpjpe(pred, target, vis),
            "pck": pck(pred, target, threshold, vis),
            "per_joint_mpjpe_m": mpjpe_per_joint(pred, target, vis).tolist(),
            "per_joint_pck": pck_per_joint(pred, target, threshold, vis).tolist(),
            "joints": list(get_skeleton(spec.skeleton).joints), "n_clips": len(clips)}


def _fmt_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def run_lopo(data: str | Path, spec, settings: TrainSettings, cubes: str | Path | None = None,
             n_folds: int = 2, n_val: int = 1, split_seed: int = 42, pretrain_stride: int | None = None,
             out: str | Path | None = None, echo: Callable[[str], Any] = print,
             unlabelled_subjects: Sequence[int] = (), pretrain_on: str = "fold") -> dict[str, Any]:
    """The pre-training ablation over leave-one-person-out folds ([1]_ sections 4.4 and 4.6).

    For each of the first ``n_folds`` folds: pre-train for a fixed number of epochs on the training
    and validation persons' unlabelled clips (the test person is never seen), record the test
    person's masked-patch loss against predicting the training mean clip; fine-tune a pre-trained
    and a random-init model with the same budget; evaluate both on the test person.

    Parameters
    ----------
    data : str or Path
        Dataset folder (``radarkit simulate`` layout, >= 3 persons).
    spec : ClipSpec
        Clip specification.
    settings : TrainSettings
        Budget of both stages (identical for both initialisations).
    cubes : str or Path, optional
        Cube root (:func:`radarkit.data.clips.load_sequence`); None computes maps on the fly.
    n_folds : int
        Folds run (the first ones in person order).
    n_val : int
        Validation persons per fold.
    split_seed : int
        Fold split seed (42 as in [1]_).
    pretrain_stride : int, optional
        Clip stride of the pre-training clips (denser clips = more unlabelled samples); default the
        spec's stride.
    out : str or Path, optional
        Folder receiving ``summary.json`` and ``table.md`` (written atomically).
    echo : callable
        Progress lines.
    unlabelled_subjects : sequence of int
        Persons of ``data`` treated as unlabelled recordings: their annotations are dropped on
        loading, they are in no fold, and every fold pre-trains on them besides its training and
        validation persons (the paper's premise: unlabelled recordings are cheap, labels are not).
        The folds are built over the remaining (labelled) persons, so a test person is never an
        unlabelled one.
    pretrain_on : {"fold", "unlabelled"}
        ``"fold"``: each fold pre-trains its own model on its training, validation and unlabelled
        persons. ``"unlabelled"``: one model pre-trained on the unlabelled persons alone serves
        every fold (no labelled person is ever seen in pre-training; one pre-training instead of
        one per fold). Needs ``unlabelled_subjects``.

    Returns
    -------
    dict
        ``folds`` (per fold: persons, masked/mean losses, both models' metrics, seconds),
        ``table`` (markdown), ``mean`` (per metric and method), ``settings``, ``spec``,
        ``acceptance`` (pre-training loss below 0.5 x mean-prediction loss in every fold; mean
        MPJPE of pre-trained below random-init).

    Raises
    ------
    ValueError
        Fewer persons than ``n_folds`` or than LOPO with ``n_val`` needs; an unknown
        ``pretrain_on``, or ``"unlabelled"`` without unlabelled persons.
    """
    from radarkit.data.clips import RadarClips, load_dataset
    from radarkit.data.folds import lopo_folds
    from radarkit.metrics.stats import fold_table

    if pretrain_on not in ("fold", "unlabelled"):
        raise ValueError(f"pretrain_on must be 'fold' or 'unlabelled', got {pretrain_on!r}")
    if pretrain_on == "unlabelled" and not len(unlabelled_subjects):
        raise ValueError("pretrain_on='unlabelled' needs unlabelled_subjects")
    t_all = time.perf_counter()
    seqs = load_dataset(data, spec, cubes, labels=True)
    unl_ids = {int(v) for v in unlabelled_subjects}
    unlabelled = [s for s in seqs if s.subject in unl_ids]
    for s in unlabelled:  # never use their labels
        s.joints = s.weight = None
    seqs = [s for s in seqs if s.subject not in unl_ids]
    if unl_ids and not unlabelled:
        raise ValueError(f"no sequences of the unlabelled persons {sorted(unl_ids)}")
    clips = RadarClips(seqs, spec)
    folds = lopo_folds(np.unique(clips.subjects), n_val=n_val, seed=split_seed)
    if n_folds > len(folds):
        raise ValueError(f"{n_folds} folds asked, the data has {len(folds)} persons")
    pre_spec = replace(spec, stride=pretrain_stride) if pretrain_stride else spec
    pre_spec_clips = RadarClips(seqs + unlabelled, pre_spec, labels=False)
    echo(f"{len(seqs)} sequences, {len(clips)} labelled clips of {clips.map_size}, "
         f"persons {sorted(set(clips.subjects.tolist()))}; unlabelled persons {sorted(unl_ids) or 'none'} "
         f"({len(unlabelled)} sequences)")
    def pretrain_persons(fold) -> tuple[int, ...]:
        # every non-test person, unlabelled, or the unlabelled persons alone
        unl = tuple(sorted(unl_ids))
        return unl if pretrain_on == "unlabelled" else (*fold.train, *fold.val, *unl)

    shared = None
    if pretrain_on == "unlabelled":
        t0 = time.perf_counter()
        echo(f"pre-training once, on the unlabelled persons {sorted(unl_ids)}")
        pre_train = pre_spec_clips.subset(pretrain_persons(None), labels=False)
        mae, pre_hist = pretrain(pre_train, None, spec, settings, echo)
        shared = (pre_train, mae, pre_hist, time.perf_counter() - t0)
    rows = []
    for fold in folds[:n_folds]:
        t0 = time.perf_counter()
        echo(f"fold {fold.index}: test {fold.test}, train {fold.train}, val {fold.val}")
        train, val, test = (clips.subset(p) for p in (fold.train, fold.val, (fold.test,)))
        if shared is None:  # fixed epochs (no validation person left)
            pre_train = pre_spec_clips.subset(pretrain_persons(fold), labels=False)
            mae, pre_hist = pretrain(pre_train, None, spec, settings, echo)
            t_pre = time.perf_counter() - t0
        else:
            pre_train, mae, pre_hist, t_pre = shared
        ref = mean_clip(pre_train)
        rec_test = masked_loss(mae, test, settings.mask_ratio, settings.batch_size, seed=99, mean_clip=ref)
        rec_zero = masked_loss(mae, test, settings.mask_ratio, settings.batch_size, seed=99)
        echo(f"  masked-patch loss on person {fold.test}: {rec_test['loss']:.4f} (predicting the mean "
             f"clip {rec_test['mean_loss']:.4f}, zeros {rec_zero['mean_loss']:.4f})")
        enc_state = {k: v.detach().clone() for k, v in mae.encoder.state_dict().items()}
        results = {}
        for name, state in (("pretrained", enc_state), ("random_init", None)):
            t1 = time.perf_counter()
            model, hist = finetune(train, val, spec, settings, state, echo)
            metrics = evaluate_clips(model, test, spec, settings.batch_size, settings.sigma,
                                     settings.soft_argmax)
            metrics.update(epochs=len(hist), seconds=time.perf_counter() - t1)
            results[name] = metrics
            echo(f"  {name}: MPJPE {metrics['mpjpe_m']:.4f} m, PCK@5cm {100 * metrics['pck']:.1f} % "
                 f"({len(hist)} epochs, {metrics['seconds']:.0f} s)")
        rows.append({"fold": fold.index, "test": fold.test, "train": list(fold.train), "val": list(fold.val),
                     "pretrain_epochs": len(pre_hist), "pretrain_seconds": t_pre,
                     "pretrain_final_train_loss": pre_hist[-1]["train_loss"],
                     "masked_loss": rec_test["loss"], "mean_clip_loss": rec_test["mean_loss"],
                     "zero_loss": rec_zero["mean_loss"], **results,
                     "seconds": time.perf_counter() - t0})
    per_fold_mpjpe = {m: [r[m]["mpjpe_m"] for r in rows] for m in ("pretrained", "random_init")}
    per_fold_pck = {m: [100 * r[m]["pck"] for r in rows] for m in ("pretrained", "random_init")}
    names = [f"{r['fold']} (person {r['test']})" for r in rows]
    table = "\n\n".join([
        "MPJPE (m)\n\n" + fold_table(per_fold_mpjpe, names, "{:.4f}"),
        "PCK@5cm (%)\n\n" + fold_table(per_fold_pck, names, "{:.1f}"),
        "Masked-patch MSE on the test person\n\n" + fold_table(
            {"pre-trained MAE": [r["masked_loss"] for r in rows],
             "mean clip": [r["mean_clip_loss"] for r in rows]}, names, "{:.4f}"),
    ])
    mean = {"mpjpe_m": {k: float(np.mean(v)) for k, v in per_fold_mpjpe.items()},
            "pck_percent": {k: float(np.mean(v)) for k, v in per_fold_pck.items()},
            "masked_loss": float(np.mean([r["masked_loss"] for r in rows])),
            "mean_clip_loss": float(np.mean([r["mean_clip_loss"] for r in rows]))}
    acceptance = {
        "masked_loss_below_half_mean": all(r["masked_loss"] < 0.5 * r["mean_clip_loss"] for r in rows),
        "pretrained_lower_mpjpe": mean["mpjpe_m"]["pretrained"] < mean["mpjpe_m"]["random_init"],
        "pretrained_lower_mpjpe_every_fold": all(r["pretrained"]["mpjpe_m"] < r["random_init"]["mpjpe_m"]
                                                 for r in rows),
    }
    summary = {"folds": rows, "table": table, "mean": mean, "acceptance": acceptance,
               "settings": asdict(settings), "spec": spec.to_dict(), "n_clips": len(clips),
               "pretrain_clips_per_fold": [len(pre_spec_clips.subset(pretrain_persons(f)))
                                           for f in folds[:n_folds]],
               "unlabelled_subjects": sorted(unl_ids), "pretrain_on": pretrain_on,
               "seconds": time.perf_counter() - t_all}
    if out is not None:
        from radarkit.atomic import atomic_output

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_output(out / "summary.json", force=True) as tmp:
            tmp.write_text(json.dumps(summary, indent=1, default=float) + "\n", encoding="utf-8")
        with atomic_output(out / "table.md", force=True) as tmp:
            tmp.write_text(table + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line of the ablation script (``python -m radarkit.pipelines.maepose_lopo``).

    Parameters
    ----------
    argv : list of str, optional
        Arguments (``sys.argv[1:]`` when omitted); ``--help`` lists them.

    Returns
    -------
    dict
        The summary of :func:`run_lopo`.
    """
    import argparse

    from radarkit.data.clips import ClipSpec

    p = argparse.ArgumentParser(prog="python -m radarkit.pipelines.maepose_lopo",
                                description="MAEPose pre-training ablation over LOPO folds on simulated RD "
                                            "video (pre-trained + fine-tuned vs random init + fine-tuned).")
    p.add_argument("--data", type=Path, help="Dataset folder; simulated into --work when omitted.")
    p.add_argument("--cubes", type=Path, help="Cube root (radarkit cube DIR --kind rd-video --out CUBES).")
    p.add_argument("--work", type=Path, default=Path("maepose_lopo_work"), help="Simulation/output folder.")
    p.add_argument("--subjects", type=int, default=4, help="Labelled persons (the LOPO folds).")
    p.add_argument("--unlabelled-subjects", type=int, default=0,
                   help="Extra simulated persons used only, without labels, for pre-training (never tested).")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--scene", default="exercise")
    p.add_argument("--segment-s", type=float, default=10.0,
                   help="Simulation: seconds per action segment of a person's script.")
    p.add_argument("--action-order", default="random", choices=["random", "cycle"],
                   help="Simulation: actions drawn at random per segment, or cycled so that every person "
                        "performs every action of the scene (needs seconds >= actions x segment).")
    p.add_argument("--kind", default="rd", choices=["rd", "ra", "dual"])
    p.add_argument("--plane", default="xz", choices=["xz", "yz"],
                   help="Joint target plane: frontal xz (default) or side yz, where the horizontal "
                        "coordinate is range; yz needs --range-shift 0.")
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--stride", type=int, default=4, help="Clip stride of fine-tuning/test clips.")
    p.add_argument("--pretrain-stride", type=int, default=2, help="Clip stride of pre-training clips.")
    p.add_argument("--range-bins", default="32:160")
    p.add_argument("--size", default="32x32")
    p.add_argument("--normalise", default="minmax", choices=["zscore", "minmax", "none"],
                   help="Per-clip normalisation after the noise floor.")
    p.add_argument("--noise-margin-db", type=float, default=3.0,
                   help="Raise cells below the clip's noise floor (median) + this many dB to it; <0: off.")
    p.add_argument("--dynamic-range-db", type=float, default=None,
                   help="Raise cells more than this many dB below the clip's peak (off by default).")
    p.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    p.add_argument("--tube-masking", action="store_true",
                   help="Pre-train with tube masking (same spatial patches masked in every time slot).")
    p.add_argument("--norm-pix-loss", action="store_true", help="Per-patch normalised pre-training targets.")
    p.add_argument("--heatmap-size", default="32x32")
    p.add_argument("--embed-dim", type=int, default=None,
                   help="Encoder width (default: the small preset's 96).")
    p.add_argument("--depth", type=int, default=None, help="Encoder blocks (default: the small preset's 4).")
    p.add_argument("--num-heads", type=int, default=None,
                   help="Encoder attention heads (default: the small preset's 4).")
    p.add_argument("--patch-size", default=None,
                   help="Encoder patch T,H,W (default: the small preset's 4,8,8).")
    p.add_argument("--pretrain-on", default="fold", choices=["fold", "unlabelled"],
                   help="Pre-train per fold on its non-test persons (and the unlabelled ones), or once "
                        "on the unlabelled persons alone for every fold.")
    p.add_argument("--pretrain-epochs", type=int, default=60)
    p.add_argument("--finetune-epochs", type=int, default=15)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--pretrain-lr", type=float, default=1.5e-3)
    p.add_argument("--mask-ratio", type=float, default=0.9, help="Pre-training masking ratio.")
    p.add_argument("--finetune-lr", type=float, default=1e-3)
    p.add_argument("--layer-decay", type=float, default=0.75,
                   help="Layer-wise lr decay of the pre-trained encoder (1: none).")
    p.add_argument("--range-shift", type=int, default=6, help="Training range-roll augmentation (cells).")
    p.add_argument("--visible-loss-weight", type=float, default=0.0,
                   help="Pre-training: weight of the visible patches' reconstruction MSE (0: masked only).")
    p.add_argument("--head-warmup-epochs", type=int, default=0,
                   help="Fine-tuning epochs with the encoder frozen (head only, LP-FT), both arms.")
    p.add_argument("--head-pos-embed", action="store_true",
                   help="Add the positional embedding to the encoder output before the heatmap head.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    a = p.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    data = a.data
    if data is None:
        from radarkit.config.presets import get_preset
        from radarkit.sim.dataset import write_dataset

        n_all = a.subjects + a.unlabelled_subjects
        data = a.work / f"sim{n_all}"
        if (a.segment_s, a.action_order) != (10.0, "random"):
            data = a.work / f"sim{n_all}_{a.action_order}_seg{a.segment_s:g}"
        if not (data / "dataset.json").exists():
            print(f"simulating {n_all} persons x {a.seconds:g} s ({a.scene}) into {data}")
            write_dataset(data, get_preset("hupr"), scene=a.scene, n_subjects=n_all, seconds=a.seconds,
                          radars=("hori",), seed=0, segment_s=a.segment_s, action_order=a.action_order)
    start, stop = (int(v) for v in a.range_bins.split(":"))
    size = tuple(int(v) for v in a.size.split("x"))
    hm = tuple(int(v) for v in a.heatmap_size.split("x"))
    if a.plane == "yz" and a.range_shift:
        p.error("--plane yz needs --range-shift 0 (side-plane labels refuse range-shift augmentation)")
    spec = ClipSpec(kind=a.kind, stride=a.stride, range_bins=(start, stop), size=size, normalise=a.normalise,
                    plane=a.plane,
                    noise_margin_db=a.noise_margin_db if a.noise_margin_db >= 0 else None,
                    dynamic_range_db=a.dynamic_range_db)
    patch = tuple(int(v) for v in a.patch_size.split(",")) if a.patch_size else None
    settings = TrainSettings(heatmap_size=hm, embed_dim=a.embed_dim, depth=a.depth, num_heads=a.num_heads,
                             patch_size=patch,
                             batch_size=a.batch_size, pretrain_epochs=a.pretrain_epochs,
                             finetune_epochs=a.finetune_epochs, pretrain_lr=a.pretrain_lr,
                             finetune_lr=a.finetune_lr, layer_decay=a.layer_decay, patience=a.patience,
                             mask_ratio=a.mask_ratio, range_shift=a.range_shift,
                             head_warmup_epochs=a.head_warmup_epochs, head_pos_embed=a.head_pos_embed,
                             visible_loss_weight=a.visible_loss_weight,
                             schedule=a.schedule, tube_masking=a.tube_masking, norm_pix_loss=a.norm_pix_loss,
                             seed=a.seed, device=a.device)
    # persons 1..subjects are labelled; the simulator numbers persons from 1, the extra ones come last
    unlabelled = range(a.subjects + 1, a.subjects + a.unlabelled_subjects + 1)
    summary = run_lopo(data, spec, settings, a.cubes, a.folds, pretrain_stride=a.pretrain_stride,
                       out=a.work / "results", unlabelled_subjects=unlabelled, pretrain_on=a.pretrain_on)
    print(summary["table"])
    print(json.dumps({"mean": summary["mean"], "acceptance": summary["acceptance"],
                      "seconds": round(summary["seconds"], 1)}, indent=1))
    return summary


if __name__ == "__main__":  # pragma: no cover
    main()
