"""Data-parallel training under ``torchrun``: joining the job, and how a recipe's training reaches every process.

``asr train`` does the same on every process: each reads the manifests, calls :func:`start_distributed` and
:func:`asr.train.train` with the :class:`Distributed` it returns. A recipe does much besides training (data
preparation, decoding, results files), which must happen once: :func:`lead_from_rank_0` (what
:func:`asr.recipe.run_recipe` calls) runs the recipe's ``main`` on rank 0 only, and every :func:`asr.train.train`
call it makes is sent to the other ranks (:func:`shared_training`), which train along with it and then wait for
the next call (a recipe may train several models: folds, seeds). On several machines the recipe's files (its
prepared manifests and audio, the experiment folder) must lie on a filesystem every machine sees.

Without ``torchrun`` (``WORLD_SIZE`` unset or 1) none of this does anything. PyTorch is imported only when a job
is joined.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: How long the other ranks wait for rank 0's next training call (it may decode for hours between two).
JOB_WAIT = datetime.timedelta(days=7)


@dataclass
class Distributed:
    """Where this process stands in a data-parallel job (``world_size == 1``: a single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # on this machine: which GPU it takes
    local_world_size: int = 1  # processes on this machine, which share its CPU cores

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def cpu_threads(self) -> int:
        """This process's share of the machine's cores under several processes (0 for a single process: all
        the cores, torch's default)."""
        if self.world_size <= 1:
            return 0
        return max(1, (os.cpu_count() or 1) // self.local_world_size)


def start_distributed(device: str = "auto") -> Distributed:
    """Join the torchrun job this process was started in (``WORLD_SIZE`` > 1): NCCL when ``device`` (a
    ``train.device`` setting) runs on CUDA, gloo on CPU. Returns a single process's :class:`Distributed` when
    not started by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    import torch
    import torch.distributed

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(rank=torch.distributed.get_rank(), world_size=world_size, local_rank=local_rank,
                       local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size))))


def stop_distributed(dist: Distributed) -> None:
    """Leave the job :func:`start_distributed` joined (nothing for a single process)."""
    if dist.world_size > 1:
        import torch.distributed

        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


@dataclass
class _Leader:
    """Rank 0 of a recipe's job: the group that carries its training calls, and whether one is under way."""

    dist: Distributed
    jobs: Any  # a gloo process group with a long timeout: the other ranks wait on it between trainings
    training: bool = False


_leader: _Leader | None = None


def lead_from_rank_0(main: Callable[[], int]) -> int:
    """Run ``main`` once for the whole job and return its status: under torchrun on rank 0, while each other
    rank takes part in every training ``main`` starts and returns 0 when ``main`` is done; else in this
    process."""
    global _leader
    dist = start_distributed()
    if dist.world_size == 1:
        return main()
    import torch.distributed

    try:
        jobs = torch.distributed.new_group(backend="gloo", timeout=JOB_WAIT)
        if not dist.is_main:
            _follow(dist, jobs)
            return 0
        _leader = _Leader(dist, jobs)
        status = main()
        _send(jobs, None)
        return status
    except BaseException:
        # a failure between trainings releases the other ranks; one during a training leaves them in its
        # collectives, and torchrun ends them when this process exits with the error
        if _leader is not None and not _leader.training:
            _send(_leader.jobs, None)
        raise
    finally:
        _leader = None
        stop_distributed(dist)


@contextmanager
def shared_training(**job: Any) -> Iterator[Distributed]:
    """The :class:`Distributed` a :func:`asr.train.train` call without one trains in: under
    :func:`lead_from_rank_0`, rank 0's, after sending ``job`` (that call's arguments) to the other ranks,
    which train on it too; else a single process's."""
    leader = _leader
    if leader is None:
        yield Distributed()
        return
    leader.training = True
    _send(leader.jobs, job)
    yield leader.dist
    leader.training = False  # not reached when the training failed: the other ranks are still in it


def _follow(dist: Distributed, jobs: Any) -> None:
    """The other ranks' part: each training call rank 0 sends, until it sends ``None``."""
    from asr.train import train

    while (job := _receive(jobs)) is not None:
        train(**job, dist=dist, progress=False)


def _send(jobs: Any, job: dict[str, Any] | None) -> None:
    import torch.distributed

    torch.distributed.broadcast_object_list([job], src=0, group=jobs)


def _receive(jobs: Any) -> dict[str, Any] | None:
    import torch.distributed

    received: list[Any] = [None]
    torch.distributed.broadcast_object_list(received, src=0, group=jobs)
    return received[0]
