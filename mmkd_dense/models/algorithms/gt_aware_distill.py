# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Single-teacher distillation that gives losses the batch's ground truth."""
import os.path as osp
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from mmrazor.models.algorithms import SingleTeacherDistill
from mmrazor.models.utils import add_prefix

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext

__all__ = ['GTAwareDistill', 'TEACHER_FORWARD_MODES']

#: How much of the teacher runs in each training step.
#: ``'feat'``: backbone + neck only (like mmrazor ``FpnTeacherDistill``);
#: enough for FPN-feature KD and the cheapest.
#: ``'tensor'``: backbone, neck and head forward without loss or
#: post-processing (head-output KD with recorders on head modules).
#: ``'loss'``: the teacher's full ``mode='loss'`` forward (needed when a
#: recorder or delivery hooks the teacher's loss/target computation).
TEACHER_FORWARD_MODES = ('feat', 'tensor', 'loss')

_REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
_URL_PREFIXES = ('http://', 'https://', 's3://', 'torchvision://',
                 'open-mmlab://', 'modelzoo://', 'mmcls://', 'pavi://')


@MODELS.register_module()
class GTAwareDistill(SingleTeacherDistill):
    """``SingleTeacherDistill`` whose distiller losses can use GT and metas.

    In every ``loss()`` call it builds a
    :class:`~mmkd_dense.structures.DistillBatchContext` (GT boxes and labels
    in padded-input pixels, ignore regions, image metas, batch input shape,
    the input tensor, the student and the teacher) and hands it to the
    distiller (:class:`~mmkd_dense.models.GTAwareDistiller`), which passes it
    to each loss that declares a ``batch_context`` argument.

    Args:
        distiller (dict): distiller config; must build a ``GTAwareDistiller``
            (or subclass).
        teacher (dict | BaseModel): teacher detector config or model. A dict
            ``dict(cfg_file='configs/detectors/...py', cfg_options={...})``
            takes the ``model`` of that detector config file (the one the
            teacher was trained with) with dotted-key overrides applied.
        teacher_ckpt (str, optional): local path of the teacher checkpoint.
            Checked to exist before anything is built.
        teacher_forward (str): ``'feat'`` (default), ``'tensor'`` or
            ``'loss'``; see :data:`TEACHER_FORWARD_MODES`.
        **kwargs: the remaining :class:`SingleTeacherDistill` arguments
            (``architecture``, ``teacher_trainable``, ``teacher_norm_eval``,
            ``calculate_student_loss``, ...).
    """

    def __init__(self,
                 distiller: dict,
                 teacher: Union[BaseModel, Dict],
                 teacher_ckpt: Optional[str] = None,
                 teacher_forward: str = 'feat',
                 **kwargs) -> None:
        if teacher_forward not in TEACHER_FORWARD_MODES:
            raise ValueError(
                f'model.teacher_forward="{teacher_forward}" is not one of '
                f'{TEACHER_FORWARD_MODES}.')
        check_teacher_ckpt(teacher_ckpt)
        self.teacher_forward = teacher_forward
        teacher = resolve_detector_cfg(teacher, 'model.teacher')
        if 'architecture' in kwargs:
            kwargs['architecture'] = resolve_detector_cfg(
                kwargs['architecture'], 'model.architecture')
        super().__init__(
            distiller=distiller,
            teacher=teacher,
            teacher_ckpt=teacher_ckpt,
            **kwargs)
        if not hasattr(self.distiller, 'set_batch_context'):
            raise TypeError(
                'model.distiller.type must be mmkd_dense.GTAwareDistiller (or '
                f'a subclass) for GTAwareDistill, got '
                f'{type(self.distiller).__name__}.')

    def _run_teacher(self, batch_inputs: torch.Tensor,
                     data_samples: Optional[List[BaseDataElement]]) -> Dict:
        """Teacher forward under its recorders; returns teacher losses when
        the teacher is trainable and runs in ``'loss'`` mode."""
        with self.distiller.teacher_recorders, self.distiller.deliveries:
            with torch.set_grad_enabled(self.teacher_trainable):
                if self.teacher_forward == 'feat':
                    self.teacher.extract_feat(batch_inputs)
                    return {}
                if self.teacher_forward == 'tensor':
                    self.teacher(batch_inputs, data_samples, mode='tensor')
                    return {}
                teacher_losses = self.teacher(
                    batch_inputs, data_samples, mode='loss')
        return teacher_losses if self.teacher_trainable else {}

    def loss(self,
             batch_inputs: torch.Tensor,
             data_samples: Optional[List[BaseDataElement]] = None) -> Dict:
        """Teacher forward, student forward, then GT-aware distill losses.

        Returns:
            dict: ``student.*`` task losses, ``distill.*`` KD losses and,
            for a trainable teacher in ``'loss'`` mode, ``teacher.*``.
        """
        losses = dict()
        self.distiller.set_deliveries_override(False)
        losses.update(
            add_prefix(self._run_teacher(batch_inputs, data_samples),
                       'teacher'))

        self.distiller.set_deliveries_override(True)
        with self.distiller.student_recorders, self.distiller.deliveries:
            if self.calculate_student_loss:
                student_losses = self.student(
                    batch_inputs, data_samples, mode='loss')
                losses.update(add_prefix(student_losses, 'student'))
            else:
                with torch.set_grad_enabled(self.student_trainable):
                    self.student(batch_inputs, data_samples, mode='loss')

        if not self.distillation_stopped:
            context = DistillBatchContext.from_data_samples(
                data_samples or [], batch_inputs,
                student=self.student, teacher=self.teacher)
            self.distiller.set_batch_context(context)
            try:
                distill_losses = self.distiller.compute_distill_losses()
            finally:
                self.distiller.set_batch_context(None)
            losses.update(add_prefix(distill_losses, 'distill'))
        return losses


def resolve_detector_cfg(model_cfg: Union[BaseModel, Dict],
                         key: str) -> Union[BaseModel, Dict]:
    """Expand ``dict(cfg_file=..., cfg_options=...)`` into a model dict.

    Relative paths are tried from the working directory, then from the
    mmkd_dense repository root (so ``configs/...`` works from anywhere).

    Args:
        model_cfg (dict | BaseModel): a model, a model dict or a reference.
        key (str): config key named in error messages.

    Returns:
        dict | BaseModel: the model dict to build (or the model as given).
    """
    if not isinstance(model_cfg, dict) or 'cfg_file' not in model_cfg:
        return model_cfg
    from mmengine.config import Config
    extra = set(model_cfg) - {'cfg_file', 'cfg_options'}
    if extra:
        raise ValueError(f'{key}: with cfg_file only cfg_options may be '
                         f'given, found {sorted(extra)}.')
    path = model_cfg['cfg_file']
    candidates = [path] if osp.isabs(path) else [
        path, osp.join(_REPO_ROOT, path)
    ]
    found = next((p for p in candidates if osp.isfile(p)), None)
    if found is None:
        raise FileNotFoundError(
            f'{key}.cfg_file="{path}" not found (looked in {candidates}).')
    cfg = Config.fromfile(found)
    if 'model' not in cfg:
        raise KeyError(f'{key}.cfg_file="{path}" defines no `model`.')
    if model_cfg.get('cfg_options'):
        cfg.merge_from_dict(
            {f'model.{k}': v for k, v in model_cfg['cfg_options'].items()})
    return cfg.model


def check_teacher_ckpt(teacher_ckpt: Optional[str],
                       key: str = 'model.teacher_ckpt') -> None:
    """Raise a readable error if ``teacher_ckpt`` is set but unusable.

    Args:
        teacher_ckpt (str, optional): the configured path.
        key (str): config key named in the message.
    """
    if not teacher_ckpt:
        return
    if not isinstance(teacher_ckpt, str):
        raise TypeError(f'{key} must be a path string, got '
                        f'{type(teacher_ckpt).__name__}.')
    if teacher_ckpt.startswith(_URL_PREFIXES):
        return  # remote: mmengine downloads it (needs network access).
    if not osp.isfile(teacher_ckpt):
        raise FileNotFoundError(
            f'{key}="{teacher_ckpt}" does not exist. Train the teacher first '
            '(python tools/train.py <teacher config>) or point '
            f'{key} at its checkpoint, e.g. --cfg-options '
            f'{key}=work_dirs/<teacher>/epoch_12.pth')
