# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A toy mmengine model and runner config for the hook tests (no mmdet:
each run takes well under a second)."""
import itertools
from typing import Dict, Optional

import torch
from mmengine.model import BaseModel
from torch.utils.data import Dataset

__all__ = ['ToyDistillModel', 'ToyDataset', 'toy_runner_cfg']

#: unique experiment names: mmengine keys loggers and message hubs by name
_RUN_IDS = itertools.count()


class ToyDataset(Dataset):
    """``length`` scalar samples, all 1.0."""

    def __init__(self, length: int = 4) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int) -> Dict:
        return dict(inputs=torch.ones(1))


class ToyDistillModel(BaseModel):
    """Returns ``student.loss_a`` and ``distill.loss_b`` like a distiller.

    Args:
        bad_from (int, optional): from this (1-based) call of
            ``forward(mode='loss')`` on, ``distill.loss_b`` is ``bad_value``
            (times the weight, so the gradient is non-finite too).
        bad_value (float): NaN or Inf.
        sqrt_grad_from (int, optional): from this call on, add
            ``student.loss_sqrt = (w - w.detach()) ** 0.5``: value 0 but an
            infinite gradient (a finite loss with a non-finite grad norm).
    """

    def __init__(self, bad_from: Optional[int] = None,
                 bad_value: float = float('nan'),
                 sqrt_grad_from: Optional[int] = None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([0.5]))
        self.register_buffer('calls', torch.zeros(1))
        self.bad_from = bad_from
        self.bad_value = bad_value
        self.sqrt_grad_from = sqrt_grad_from
        self.num_calls = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        pred = x * self.weight
        if mode != 'loss':
            return [dict(pred=p) for p in pred]
        self.num_calls += 1
        losses = dict({'student.loss_a': ((pred - 2.0)**2).mean()})
        losses['distill.loss_b'] = 0.1 * (self.weight**2).sum()
        if self.bad_from is not None and self.num_calls >= self.bad_from:
            losses['distill.loss_b'] = losses['distill.loss_b'] * \
                self.bad_value
        if self.sqrt_grad_from is not None and \
                self.num_calls >= self.sqrt_grad_from:
            losses['student.loss_sqrt'] = (
                (self.weight - self.weight.detach())**0.5).sum()
        return losses


def toy_runner_cfg(work_dir: str, model: BaseModel, max_iters: int = 4,
                   interval: int = 1, max_keep_ckpts: int = -1,
                   guard: bool = True, safe: bool = True, lr: float = 0.1,
                   clip_grad: Optional[dict] = None, resume: bool = False,
                   **ckpt_kwargs) -> Dict:
    """Runner kwargs of an iteration-based toy run."""
    hooks = [dict(type='mmkd_dense.NonFiniteGuardHook')] if guard else []
    ckpt = dict(type='mmkd_dense.SafeCheckpointHook' if safe else
                'CheckpointHook', interval=interval, by_epoch=False,
                max_keep_ckpts=max_keep_ckpts, **ckpt_kwargs)
    optim = dict(optimizer=dict(type='SGD', lr=lr))
    if clip_grad:
        optim['clip_grad'] = clip_grad
    return dict(
        model=model,
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=ToyDataset(64),  # no epoch end: mmengine sleeps 2 s there
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2, num_workers=0),
        optim_wrapper=optim,
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=ckpt,
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks,
        default_scope='mmengine',
        resume=resume,
        log_level='WARNING',
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        experiment_name=f'toy_{next(_RUN_IDS)}')
