# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Single-teacher distillation that gives losses the batch's ground truth."""
import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from mmrazor.models.algorithms import SingleTeacherDistill
from mmrazor.models.utils import add_prefix

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from mmkd_dense.utils import strict_loading
from mmkd_dense.utils.detector_cfg import resolve_detector_cfg
from ..distillers.gt_aware_distiller import (DistillConfigError,
                                             GTAwareDistiller)

__all__ = [
    'GTAwareDistill', 'TEACHER_FORWARD_MODES', 'check_teacher_ckpt',
    'resolve_detector_cfg', 'detector_num_classes', 'teacher_ckpt_hint',
    'teacher_weights_check_only'
]

#: How much of the teacher runs in each training step.
#: ``'feat'``: backbone + neck only (like mmrazor ``FpnTeacherDistill``);
#: enough for FPN-feature KD and the cheapest.
#: ``'tensor'``: backbone, neck and head forward without loss or
#: post-processing (head-output KD with recorders on head modules).
#: ``'loss'``: the teacher's full ``mode='loss'`` forward (needed when a
#: recorder or delivery hooks the teacher's loss/target computation).
TEACHER_FORWARD_MODES = ('feat', 'tensor', 'loss')

_CHECK_ONLY = [False]


@contextlib.contextmanager
def teacher_weights_check_only() -> Iterator[None]:
    """Within the block, a built :class:`GTAwareDistill` only checks its
    ``teacher_ckpt`` (keys and shapes, tensors memory-mapped) instead of
    loading it. The preflight builds its throw-away model this way, so the
    teacher checkpoint is read once per run (by the Runner's model)."""
    previous = _CHECK_ONLY[0]
    _CHECK_ONLY[0] = True
    try:
        yield
    finally:
        _CHECK_ONLY[0] = previous


@MODELS.register_module()
class GTAwareDistill(SingleTeacherDistill):
    """``SingleTeacherDistill`` whose distiller losses can use GT and metas.

    In every ``loss()`` call it builds a
    :class:`~mmkd_dense.structures.DistillBatchContext` (GT boxes and labels
    in padded-input pixels, ignore regions, image metas, batch input shape:
    data only) and passes it as the argument of the distiller's
    ``compute_distill_losses`` (:class:`~mmkd_dense.models.GTAwareDistiller`),
    which hands it to each loss that declares a ``batch_context`` argument.

    Args:
        distiller (dict): distiller config; must build a ``GTAwareDistiller``
            (or subclass).
        teacher (dict | BaseModel): teacher detector config or model. A dict
            ``dict(cfg_file='configs/detectors/...py', cfg_options={...})``
            takes the ``model`` of that detector config file (the one the
            teacher was trained with) with dotted-key overrides applied.
        teacher_ckpt (str, optional): path (or URL) of the teacher
            checkpoint. Checked to exist before anything is built, then
            loaded *strictly*: a missing, unexpected or mis-shaped key is an
            error naming ``model.teacher_ckpt`` (mmrazor loads it
            non-strictly). None needs ``allow_random_teacher=True``.
        teacher_forward (str): ``'feat'`` (default), ``'tensor'`` or
            ``'loss'``; see :data:`TEACHER_FORWARD_MODES`.
        allow_random_teacher (bool): allow ``teacher_ckpt=None``, i.e. a
            teacher that keeps its initialisation (tests, speed benchmarks);
            a warning goes to the run log. Defaults to False.
        student_init_from_teacher (Sequence[str]): names of student
            submodules (e.g. ``('neck', 'bbox_head')``) initialised from the
            teacher's same-named submodules once the teacher is loaded: the
            "inheriting" student initialisation of FGD (``init_student``)
            and MGD. It follows ``model.teacher_ckpt`` wherever that is set
            (config or ``--cfg-options``) and reads no file itself; the
            copied parts are then skipped by ``Runner.init_weights()``.
            Shapes must match (error naming the key). Defaults to ``()``.
        teacher_restored_from (str, optional): set by ``tools/test.py`` and
            ``tools/train.py --resume``: the full (distillation) checkpoint
            that the Runner loads after building restores the teacher, so
            ``teacher_ckpt`` is neither checked nor read.
        **kwargs: the remaining :class:`SingleTeacherDistill` arguments
            (``architecture``, ``teacher_trainable``, ``teacher_norm_eval``,
            ``calculate_student_loss``, ...).
    """

    def __init__(self,
                 distiller: dict,
                 teacher: Union[BaseModel, Dict],
                 teacher_ckpt: Optional[str] = None,
                 teacher_forward: str = 'feat',
                 allow_random_teacher: bool = False,
                 student_init_from_teacher: Sequence[str] = (),
                 teacher_restored_from: Optional[str] = None,
                 **kwargs) -> None:
        if teacher_forward not in TEACHER_FORWARD_MODES:
            raise ValueError(
                f'model.teacher_forward="{teacher_forward}" is not one of '
                f'{TEACHER_FORWARD_MODES}.')
        if teacher_restored_from is None:
            check_teacher_ckpt(teacher_ckpt)
            if not teacher_ckpt and not allow_random_teacher:
                raise DistillConfigError(
                    'model.teacher_ckpt is not set, so the teacher would '
                    'stay randomly initialised and the student would be '
                    'distilled from noise. Point it at the trained teacher '
                    '(--cfg-options model.teacher_ckpt=work_dirs/<teacher>/'
                    'epoch_N.pth), or set model.allow_random_teacher=True '
                    'to run with a random teacher on purpose (tests, speed '
                    'benchmarks).')
        self.teacher_forward = teacher_forward
        teacher = resolve_detector_cfg(teacher, 'model.teacher')
        if 'architecture' in kwargs:
            kwargs['architecture'] = resolve_detector_cfg(
                kwargs['architecture'], 'model.architecture')
        # the checkpoint is loaded below, strictly (mmrazor's own loading
        # is non-strict and would also run the teacher's init_cfg first)
        super().__init__(
            distiller=distiller, teacher=teacher, teacher_ckpt=None,
            **kwargs)
        if not isinstance(self.distiller, GTAwareDistiller):
            raise TypeError(
                'model.distiller.type must be mmkd_dense.GTAwareDistiller (or '
                f'a subclass) for GTAwareDistill, got '
                f'{type(self.distiller).__name__}.')
        self.num_classes_mismatch = self._check_num_classes()
        if teacher_restored_from is not None:
            # weights come from the full checkpoint the Runner loads next;
            # skip the teacher's own init (e.g. an ImageNet file)
            self.teacher._is_init = True
            strict_loading.log(
                f'model.teacher: weights restored from '
                f'{teacher_restored_from} (model.teacher_ckpt='
                f'{teacher_ckpt!r} is not read)')
        elif teacher_ckpt:
            strict_loading.load_state_dict_strict(
                self.teacher, teacher_ckpt, 'model.teacher_ckpt',
                f'the teacher (model.teacher, {type(self.teacher).__name__})',
                hint_fn=teacher_ckpt_hint, check_only=_CHECK_ONLY[0])
            # every tensor is loaded: Runner.init_weights() must not
            # re-initialise the teacher
            self.teacher._is_init = True
        elif not _CHECK_ONLY[0]:
            strict_loading.log(
                'model.teacher_ckpt is None and model.allow_random_teacher='
                'True: the teacher keeps its initialisation (random or its '
                'init_cfg), so the distillation losses do not carry a '
                "trained teacher's knowledge. Use this only for tests and "
                'benchmarks.', level='WARNING')
        self._init_student_from_teacher(
            student_init_from_teacher,
            copy=teacher_restored_from is None and not _CHECK_ONLY[0])

    def _init_student_from_teacher(self, names: Sequence[str],
                                   copy: bool) -> None:
        """Copy the teacher's submodules ``names`` into the student's.

        Args:
            names (Sequence[str]): submodule names, e.g. ``'neck'``.
            copy (bool): copy the tensors (False: check names and shapes
                only, as in the preflight or when a full checkpoint is
                restored next).
        """
        key = 'model.student_init_from_teacher'
        if isinstance(names, str):
            raise DistillConfigError(
                f'{key} must be a list of submodule names, e.g. '
                f"['neck', 'bbox_head'], got the string {names!r}.")
        for name in names:
            parts = []
            for side, model in (('student', self.student),
                                ('teacher', self.teacher)):
                try:
                    parts.append(model.get_submodule(name))
                except AttributeError:
                    top = sorted(n for n, _ in model.named_children())
                    raise DistillConfigError(
                        f'{key}: the {side} ({type(model).__name__}) has no '
                        f'submodule "{name}"; top-level modules: {top}.'
                    ) from None
            student_part, teacher_part = parts
            s_state = student_part.state_dict()
            t_state = teacher_part.state_dict()
            bad = [k for k in s_state
                   if k not in t_state or s_state[k].shape != t_state[k].shape]
            extra = [k for k in t_state if k not in s_state]
            if bad or extra:
                shown = ', '.join(
                    f'{k} {tuple(s_state[k].shape)} vs '
                    f'{tuple(t_state[k].shape) if k in t_state else "missing"}'
                    for k in bad[:3])
                raise DistillConfigError(
                    f'{key}: student.{name} and teacher.{name} differ '
                    f'({len(bad)} missing or mis-shaped, {len(extra)} extra '
                    f'tensors; first: {shown or extra[:3]}). Only parts of '
                    'the same architecture and width can be copied; remove '
                    f'"{name}" from {key} for this pair.')
            if copy:
                student_part.load_state_dict(t_state)
                # Runner.init_weights() must keep the copied weights
                student_part._is_init = True
                strict_loading.log(
                    f'{key}: student.{name} initialised from teacher.{name} '
                    f'({len(s_state)} tensors)')

    def _check_num_classes(self) -> Optional[tuple]:
        """Compare the teacher's and the student's class counts.

        Returns:
            tuple | None: ``(teacher, student)`` counts when they differ
            under ``teacher_forward='feat'`` (a warning is logged; the
            preflight turns it into an error if a loss runs the teacher
            head), else None.

        Raises:
            DistillConfigError: counts differ and the teacher's head runs
                (``teacher_forward`` ``'tensor'`` or ``'loss'``).
        """
        num_t = detector_num_classes(self.teacher)
        num_s = detector_num_classes(self.student)
        if num_t is None or num_s is None or num_t == num_s:
            return None
        what = (f'model.teacher has {num_t} classes (its bbox_head.'
                f'num_classes) but model.architecture has {num_s}')
        if self.teacher_forward != 'feat':
            raise DistillConfigError(
                f'{what}: with model.teacher_forward='
                f'"{self.teacher_forward}" the teacher\'s head outputs are '
                'distilled class by class, which needs the same classes. '
                'Use a teacher trained on the student\'s dataset (set '
                'num_classes in model.teacher, e.g. model.teacher.'
                'cfg_options, and a matching model.teacher_ckpt).')
        strict_loading.log(
            f'{what}. Only FPN features are distilled (model.teacher_forward'
            '="feat"), which works with a teacher trained on other classes, '
            'but the teacher.* validation metrics are meaningless. If this '
            'is not intended, fix the teacher\'s num_classes.',
            level='WARNING')
        return (num_t, num_s)

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
                    _tensor_forward(self.teacher, batch_inputs, data_samples)
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
                data_samples or [], batch_inputs)
            distill_losses = self.distiller.compute_distill_losses(context)
            losses.update(add_prefix(distill_losses, 'distill'))
        return losses


def _tensor_forward(detector: torch.nn.Module, batch_inputs: torch.Tensor,
                    data_samples: Optional[List[BaseDataElement]]) -> None:
    """``mode='tensor'`` forward of a detector in which a single-stage
    detector's ``bbox_head`` is *called* (mmdet's ``_forward`` calls
    ``bbox_head.forward``, which skips forward hooks, so a ``ModuleOutputs``
    recorder on ``bbox_head`` would record nothing). Same outputs."""
    from mmdet.models.detectors import SingleStageDetector
    if isinstance(detector, SingleStageDetector):
        detector.bbox_head(detector.extract_feat(batch_inputs))
    else:
        detector(batch_inputs, data_samples, mode='tensor')


def check_teacher_ckpt(teacher_ckpt: Optional[str],
                       key: str = 'model.teacher_ckpt') -> None:
    """Raise a readable error if ``teacher_ckpt`` is set but unusable
    (see :func:`mmkd_dense.utils.strict_loading.check_teacher_ckpt`)."""
    strict_loading.check_teacher_ckpt(teacher_ckpt, key)


def detector_num_classes(detector: torch.nn.Module) -> Optional[int]:
    """Number of classes of a detector's classification head, if any.

    Single-stage: ``bbox_head.num_classes``; two-stage: the (last)
    ``roi_head.bbox_head.num_classes`` (the RPN's single class is ignored).
    """
    roi_head = getattr(detector, 'roi_head', None)
    head = getattr(roi_head, 'bbox_head', None) if roi_head is not None \
        else getattr(detector, 'bbox_head', None)
    if isinstance(head, torch.nn.ModuleList) and len(head):
        head = head[-1]
    num = getattr(head, 'num_classes', None)
    return num if isinstance(num, int) else None


def teacher_ckpt_hint(state: Dict, diff) -> str:
    """The fix for a ``teacher_ckpt`` that does not fit the teacher."""
    kind = strict_loading.checkpoint_kind(state)
    if kind == 'distillation':
        return ('This is a distillation checkpoint (keys "architecture.*", '
                '"teacher.*"), not a detector checkpoint. To use its '
                'student as the teacher, extract it first: python tools/'
                'model_converters/extract_student.py <its config> <this '
                'checkpoint> student.pth, and set model.teacher_ckpt='
                'student.pth.')
    if kind == 'amplifier':
        return ('This is a DS2D2 HF-amplifier checkpoint (keys '
                '"detector.*"): give the teacher detector\'s checkpoint '
                '(the amplifier config\'s load_from) as model.teacher_ckpt.')
    if diff.mismatched and not diff.missing and not diff.unexpected:
        return ('Same layers, other sizes: the checkpoint was trained with '
                'another model config (channels, depth or num_classes). Set '
                'model.teacher to the config the teacher was trained with '
                '(model.teacher.cfg_file=...).')
    return ('Set model.teacher to the config this checkpoint was trained '
            'with (model.teacher.cfg_file=...), or point model.teacher_ckpt '
            'at the teacher\'s checkpoint.')
