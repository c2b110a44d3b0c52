# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CPU distributed training with mmengine 0.10.7.

mmengine 0.10.7 has no CPU DDP path: ``init_dist('pytorch')`` calls
``torch.cuda.set_device`` (fails on CPU-only torch builds) and
``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to DDP (invalid for
CPU modules). On a machine without CUDA, :func:`prepare_cpu_distributed`
initialises a gloo process group itself (mmengine then skips ``init_dist``)
and configures the DDP wrapper with ``device_ids=None``.
"""
import os

import torch
import torch.distributed as torch_dist

__all__ = ['prepare_cpu_distributed']


def prepare_cpu_distributed(cfg, launcher: str) -> bool:
    """Make ``cfg`` runnable with ``launcher`` on a CPU-only machine.

    Args:
        cfg (Config): the run's config (modified in place).
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Returns:
        bool: True if a CPU (gloo) process group was set up.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} without CUDA is not supported; use '
            'tools/dist_train.sh (torchrun, --launcher pytorch) on CPU.')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
