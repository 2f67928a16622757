"""The training DataLoader: random horizontal flips (the paper's only augmentation), worker count from the
machine, pinned memory on CUDA, persistent workers."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Dataset


def available_cores() -> int:
    """CPU cores this process may use (respects affinity / container limits where the OS reports them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return os.cpu_count() or 1


def auto_workers(device: str = "cpu", cores: int | None = None) -> int:
    """Loader workers for this machine: on CUDA every core but one feeds the GPU (16+ on a GPU server); on a CPU
    run the training itself needs the cores, so ``cores // 2`` workers (1 on the lab's 2-core machines)."""
    cores = available_cores() if cores is None else cores
    if cores <= 1:
        return 0
    return max(1, cores - 1) if device.startswith("cuda") else max(1, cores // 2)


class RandomHorizontalFlip:
    """Flip a (C, H, W) tensor left-right with probability ``p`` (a face's mirror image is the same person)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1) if torch.rand(()) < self.p else x


class _Augmented(Dataset):
    def __init__(self, base: Dataset, augment: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.base, self.augment = base, augment

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return self.augment(x), y


def make_train_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int | str = "auto",
    device: str = "cpu",
    flip: bool = True,
    shuffle: bool = True,
    drop_last: bool = True,
    seed: int = 0,
    prefetch_factor: int = 4,
) -> DataLoader:
    """A shuffling training loader over a ``(tensor, label)`` dataset.

    ``workers="auto"`` uses :func:`auto_workers`; ``flip`` adds random horizontal flips; memory is pinned when
    ``device`` is CUDA; workers are persistent across epochs; shuffling is seeded by ``seed``.
    """
    n = auto_workers(device) if workers == "auto" else int(workers)
    if n < 0:
        raise ValueError(f"workers must be >= 0 or 'auto', got {workers!r}")
    ds = _Augmented(dataset, RandomHorizontalFlip()) if flip else dataset
    gen = torch.Generator().manual_seed(seed)
    extra = {"persistent_workers": True, "prefetch_factor": prefetch_factor} if n > 0 else {}
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=n,
        pin_memory=device.startswith("cuda") and torch.cuda.is_available(),
        drop_last=drop_last,
        generator=gen,
        **extra,
    )
