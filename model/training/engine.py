"""The training loop: frozen SAM 2, trainable refiner, one process per device, DDP across processes.

    python -m sam2refiner.model.train --config configs/sam2refiner_hiera_l.yaml                     # one process
    torchrun --nproc_per_node 8 -m sam2refiner.model.train --config configs/sam2refiner_hiera_l.yaml # 8 GPUs (nccl)

A step, per process:
  1. frozen encoder (no grad) on ``batch_size`` images (image + LA's four quadrants), or their cached outputs;
  2. under DDP: Localization Augment (``finish_features``), then per image one ``predict_masks`` call for the
     prompts sampled for its objects (mixed boxes / clicks / coarse masks), loss against the soft GT; one-click
     prompts ask SAM 2 for its three candidates (SAM 2's multimask policy) and the loss goes to the one SAM 2
     returns, the candidate the tracker and the one-click evaluation refine and keep;
  3. backward, gradient clipping, AdamW, schedule.
Everything random in a step (prompts, augmentation, torch RNG) is seeded from (seed, epoch or step, rank,
index), so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from sam2refiner.model.build import build_sam2refiner
from sam2refiner.model.transforms import prepare_image
from sam2refiner.model.weights.refiner_checkpoint import (
    load_refiner_weights,
    read_refiner_checkpoint,
    save_refiner_checkpoint,
)

from .config import TrainConfig
from .datasets import ConcatImages, SyntheticImages, load_manifest, open_image_set
from .feature_cache import FeatureCache, cat_backbones, move_backbone, select_backbone
from .losses import LossWeights, kept_candidate, refiner_loss
from .prompts import sample_training_prompt, stack_prompts
from .samples import TrainingSamples
from .train_state import load_train_state, save_train_state

log = logging.getLogger(__name__)

LOG_COLUMNS = [
    "step",
    "epoch",
    "lr",
    "loss",
    "final",
    "intermediate",
    "images_per_s",
    "encoder_s",
    "refiner_s",
    "elapsed_s",
]


# ------------------------------------------------------------------------------------------ distributed
@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Reads torchrun's environment; nccl on GPUs, gloo on CPUs. One process without torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


class ResumableSampler(DistributedSampler):
    """DistributedSampler that can skip the first samples of an epoch (those a resumed run already saw)."""

    skip: int = 0

    def __iter__(self):
        indices = list(super().__iter__())
        return iter(indices[self.skip :])

    def __len__(self) -> int:
        return max(0, super().__len__() - self.skip)


# ------------------------------------------------------------------------------------------ objective
class RefinerObjective(nn.Module):
    """The part of a step that has gradients, as one module so DDP can wrap it (only refiner parameters
    require grad; SAM 2's are frozen and DDP leaves them alone)."""

    def __init__(self, model, weights: LossWeights):
        super().__init__()
        self.model = model
        self.weights = weights

    def forward(self, backbone, orig_hw, prompt_batches, targets):
        """backbone: BackboneFeatures of B images; prompt_batches[i]: PromptBatch list of image i;
        targets[i]: [K_i, 1, S, S] soft GT rows matching the prompt sets' order. Returns mean loss parts."""
        features = self.model.finish_features(backbone, orig_hw)
        total, final, inter, count = 0.0, 0.0, 0.0, 0
        for i, batches in enumerate(prompt_batches):
            image_features = features.select(i)
            for pb in batches:
                pred = self.model.predict_masks(
                    image_features, pb.coords, pb.labels, pb.mask_input, multimask_output=pb.multimask
                )
                parts = refiner_loss(kept_candidate(pred), targets[i][pb.rows], self.weights)
                n = len(pb.rows)
                total = total + parts["loss"] * n
                final = final + parts["final"] * n
                inter = inter + parts["intermediate"] * n
                count += n
        if count == 0:  # no object survived augmentation in this batch: a zero loss that still touches every
            zero = sum(p.sum() for p in self.model.refiner_parameters()) * 0.0  # parameter (DDP expects grads)
            return zero, zero.detach(), zero.detach()
        return total / count, final / count, inter / count


def lr_factor(config: TrainConfig, steps_per_epoch: int):
    total = config.epochs * steps_per_epoch

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
        if config.schedule == "step":
            return warm * (config.lr_gamma if step >= config.lr_drop_epoch * steps_per_epoch else 1.0)
        if config.schedule == "cosine":
            return warm * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))
        return warm

    return factor


def parameter_digest(model) -> str:
    """sha256 of the refiner's weights (rank-agreement checks in tests and logs)."""
    h = hashlib.sha256()
    for k, v in sorted(model.refiner_state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def build_train_dataset(config: TrainConfig):
    if config.data == "synthetic":
        return SyntheticImages(
            "synthetic-train",
            config.synthetic_images,
            config.image_size,
            config.synthetic_seed,
            config.synthetic_objects,
        )
    manifest = load_manifest(config.manifest)
    names = config.train_sets or list(manifest["train"])
    return ConcatImages([open_image_set(manifest, "train", n) for n in names])


@dataclass
class TrainResult:
    step: int
    losses: list = field(default_factory=list)  # (step, loss) of every step this process ran
    refiner_path: Path | None = None
    state_path: Path | None = None
    digest: str = ""


class Trainer:
    def __init__(self, config: TrainConfig, device: str | None = None):
        self.config = config
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dist = init_distributed(device.type)
        if device.type == "cuda":
            device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(device)  # TF32 is switched on by build_sam2refiner
        self.device = device
        self.out_dir = Path(config.out_dir)
        self.model = build_sam2refiner(
            config.sam2_config,
            config.image_size,
            device,
            config.sam2_checkpoint,
            modules=config.switches,
            seed=config.seed,
        )
        if config.init_refiner:
            load_refiner_weights(self.model, read_refiner_checkpoint(config.init_refiner))
        params = self.model.refiner_parameters()
        if not params:
            raise ValueError("modules: every refiner module is switched off; there is nothing to train")
        # One-click prompts train on SAM 2's multimask candidates, as SAM 2 itself decodes them (its policy's
        # point counts); the loss goes to the candidate SAM 2 returns (losses.kept_candidate).
        sam = self.model.sam2
        self.multimask_points = (
            (sam.multimask_min_pt_num, sam.multimask_max_pt_num) if sam.multimask_output_in_sam else None
        )
        self.objective = RefinerObjective(self.model, LossWeights(config.loss_final, config.loss_intermediate))
        self.wrapped = DistributedDataParallel(self.objective) if self.dist.world > 1 else self.objective
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)

        dataset = build_train_dataset(config)
        max_side = config.max_side or 2 * config.image_size
        self.samples = TrainingSamples(dataset, config.image_size, max_side, config.augment_prob, config.seed)
        self.sampler = ResumableSampler(
            self.samples, self.dist.world, self.dist.rank, shuffle=True, seed=config.seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // config.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"batch_size: {config.batch_size} per process x {self.dist.world} processes is more than the "
                f"{len(dataset)} training images"
            )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(config, self.steps_per_epoch))
        self.cache = FeatureCache(config.feature_cache_mb * 2**20)
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if device.type == "cuda" and config.amp == "auto"
            else nullcontext()
        )
        self.step = 0
        self.timing = {"encoder": 0.0, "refiner": 0.0}

    # -------------------------------------------------------------------------------- checkpoints
    @property
    def state_path(self) -> Path:
        return self.out_dir / "checkpoints" / "last.pt"

    def maybe_resume(self) -> None:
        resume = self.config.resume
        path = self.state_path if resume == "auto" else (Path(resume) if resume else None)
        if path is None or (resume == "auto" and not path.exists()):
            return
        if not path.exists():
            raise FileNotFoundError(f"resume: training state {path} does not exist")
        self.step, _ = load_train_state(path, self.model, self.optimizer, self.scheduler, self.config.as_dict())
        if self.dist.main:
            log.info("resumed from %s at step %d", path, self.step)

    def save_state(self, epoch: int) -> None:
        if self.dist.main:
            save_train_state(
                self.state_path, self.model, self.optimizer, self.scheduler, self.step, epoch, self.config.as_dict()
            )

    # -------------------------------------------------------------------------------- one step
    def _encode(self, batch: list[dict]):
        """Backbone features of the batch (cached where possible) and each image's (H, W)."""
        s = self.config.image_size
        prepared = [prepare_image(item["image"], s, self.device) for item in batch]
        parts: list = [None] * len(batch)
        for i, item in enumerate(batch):
            if not item["augmented"]:
                hit = self.cache.get(item["index"])
                if hit is not None:
                    parts[i] = move_backbone(hit, self.device)
        todo = [i for i, p in enumerate(parts) if p is None]
        if todo:
            with torch.no_grad(), self.autocast:
                fresh = self.model.encode_backbone(
                    torch.stack([prepared[i][0] for i in todo]), [prepared[i][1] for i in todo]
                )
            for j, i in enumerate(todo):
                parts[i] = select_backbone(fresh, j)
                if not batch[i]["augmented"]:
                    self.cache.put(batch[i]["index"], parts[i])
        return cat_backbones(parts), [p[2] for p in prepared]

    def _prompts(self, batch: list[dict], epoch: int):
        """Mixed prompts per object (``prompts_per_object`` sets each) and the matching target rows."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, self.step, self.dist.rank, 7])
        prompt_batches, targets = [], []
        for item in batch:
            t = torch.from_numpy(item["targets"])[: cfg.max_objects]
            prompts, rows = [], []
            for k in range(t.shape[0]):
                binary = t[k].numpy() >= 0.5
                if not binary.any():
                    binary = t[k].numpy() > 0
                for _ in range(cfg.prompts_per_object):
                    prompts.append(sample_training_prompt(binary, rng, cfg.image_size))
                    rows.append(k)
            prompt_batches.append(stack_prompts(prompts, self.device, self.multimask_points))
            targets.append(t[rows][:, None].to(self.device))
        return prompt_batches, targets

    def train_step(self, batch: list[dict], epoch: int) -> tuple[float, float, float]:
        torch.manual_seed(self.config.seed * 1_000_003 + self.step)
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        t0 = time.perf_counter()
        backbone, orig_hw = self._encode(batch)
        sync()
        t1 = time.perf_counter()
        prompt_batches, targets = self._prompts(batch, epoch)
        self.model.train()
        with self.autocast:
            loss, final, inter = self.wrapped(backbone, orig_hw, prompt_batches, targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.refiner_parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        sync()
        t2 = time.perf_counter()
        self.timing["encoder"] += t1 - t0
        self.timing["refiner"] += t2 - t1
        values = torch.stack([loss.detach().float(), final.float(), inter.float()])
        if self.dist.world > 1:
            dist.all_reduce(values)
            values /= self.dist.world
        return tuple(float(v) for v in values)

    # -------------------------------------------------------------------------------- the loop
    def fit(self) -> TrainResult:
        cfg = self.config
        self.maybe_resume()
        total = cfg.epochs * self.steps_per_epoch
        stop = min(total, cfg.max_steps) if cfg.max_steps else total
        result = TrainResult(self.step)
        log_file = None
        if self.dist.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(json.dumps(cfg.as_dict(), indent=2))
            log_path = self.out_dir / "train_log.csv"
            new = not log_path.exists() or self.step == 0
            log_file = open(log_path, "w" if new else "a", newline="")
            writer = csv.DictWriter(log_file, LOG_COLUMNS)
            if new:
                writer.writeheader()
        bar = tqdm(
            total=stop, initial=self.step, disable=not (cfg.progress and self.dist.main), desc="train", unit="step"
        )
        start, images, running = time.perf_counter(), 0, None
        try:
            while self.step < stop:
                epoch = self.step // self.steps_per_epoch
                self.sampler.set_epoch(epoch)
                self.samples.epoch = epoch
                self.sampler.skip = (self.step - epoch * self.steps_per_epoch) * cfg.batch_size
                loader = DataLoader(
                    self.samples,
                    batch_size=cfg.batch_size,
                    sampler=self.sampler,
                    drop_last=True,
                    num_workers=cfg.num_workers,
                    collate_fn=list,
                    pin_memory=self.device.type == "cuda",
                )
                for batch in loader:
                    loss, final, inter = self.train_step(batch, epoch)
                    self.step += 1
                    images += len(batch) * self.dist.world
                    result.losses.append((self.step, loss))
                    running = loss if running is None else 0.9 * running + 0.1 * loss
                    elapsed = time.perf_counter() - start
                    bar.update(1)
                    bar.set_postfix(
                        loss=f"{running:.4f}",
                        img_s=f"{images / elapsed:.2f}",
                        lr=f"{self.scheduler.get_last_lr()[0]:.2e}",
                    )
                    if log_file is not None and (self.step % cfg.log_every == 0 or self.step == stop):
                        writer.writerow(
                            {
                                "step": self.step,
                                "epoch": epoch,
                                "lr": self.scheduler.get_last_lr()[0],
                                "loss": loss,
                                "final": final,
                                "intermediate": inter,
                                "images_per_s": images / elapsed,
                                "encoder_s": self.timing["encoder"],
                                "refiner_s": self.timing["refiner"],
                                "elapsed_s": elapsed,
                            }
                        )
                        log_file.flush()
                    if self.step % cfg.checkpoint_every == 0:
                        self.save_state(epoch)
                    if self.step >= stop:
                        break
                if self.step % self.steps_per_epoch == 0:
                    self.save_state(self.step // self.steps_per_epoch)
        finally:
            bar.close()
            if log_file is not None:
                log_file.close()
        self.save_state(self.step // self.steps_per_epoch)
        result.step = self.step
        result.state_path = self.state_path
        result.digest = parameter_digest(self.model)
        (self.out_dir / f"rank{self.dist.rank}_summary.json").parent.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{self.dist.rank}_summary.json").write_text(
            json.dumps(
                {
                    "step": self.step,
                    "digest": result.digest,
                    "losses": result.losses,
                    "timing": self.timing,
                    "cache": {"hits": self.cache.hits, "misses": self.cache.misses, "mb": self.cache.nbytes / 2**20},
                }
            )
        )
        if self.dist.main:
            result.refiner_path = self.out_dir / "refiner.safetensors"
            save_refiner_checkpoint(self.model, result.refiner_path)
        if self.dist.world > 1:
            dist.barrier()
        return result


def train(config: TrainConfig, device: str | None = None) -> TrainResult:
    return Trainer(config, device).fit()


__all__ = ["Trainer", "train", "TrainResult", "RefinerObjective", "parameter_digest", "lr_factor"]
