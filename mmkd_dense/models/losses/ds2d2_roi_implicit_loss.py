# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 implicit stream for two-stage detectors (Faster R-CNN RoI head).

Paper: Gao, Zhao, Yuan, Li, "Dual-Stream Spectral Decoupling Distillation for
Remote Sensing Object Detection", IEEE TGRS 63 (2025), arXiv 2512.04413;
reference code PolarAid/DS2D2 (``ds2d2_faster_rcnn.py``).
"""
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.amplifier_head import load_amplifier_head
from ..utils.dense_head_kd import find_module
from ..utils.haar_wavelet import high_frequency
from ..utils.iteration_interval import IterationInterval
from ..utils.precision import autocast_disabled, to_float32
from ..utils.renamed_args import renamed_args

__all__ = ['DS2D2RoIImplicitLoss', 'sample_student_rois']

_EPS = torch.finfo(torch.float32).eps  # mmdet weight_reduce_loss eps
_AMPLIFIERS = ('teacher', 'high_frequency')


def _student_proposals(rpn_head: nn.Module, proposal_cfg: Any,
                       feats: Sequence[Tensor], metas: List[Dict]) -> List:
    """Recompute the student's training proposals (fallback when no
    ``rpn_results`` recorder is configured)."""
    with torch.no_grad():
        outs = rpn_head(tuple(f.detach() for f in feats))
        return rpn_head.predict_by_feat(
            *outs, batch_img_metas=metas, cfg=proposal_cfg, rescale=False)


def sample_student_rois(roi_head: nn.Module, rpn_results: Sequence,
                        data_samples: Sequence) -> tuple:
    """Assign and sample the student's proposals with the student RoI
    head's own assigner / sampler (as its training does).

    Args:
        roi_head (nn.Module): the student's ``roi_head`` (its
            ``bbox_assigner`` and ``bbox_sampler``).
        rpn_results (Sequence[InstanceData]): per-image proposals
            (``priors`` or ``bboxes``).
        data_samples (Sequence[DetDataSample]): the batch's samples
            (``batch_context.data_samples``).

    Returns:
        tuple: ``rois`` ``(R, 5)`` (batch index, xyxy) and ``avg_factor``
        (sum over images of #pos + #neg sampled RoIs, each >= 1).
    """
    from mmdet.models.utils import unpack_gt_instances
    from mmdet.structures.bbox import bbox2roi
    from mmengine.structures import InstanceData
    gts, gts_ignore, _ = unpack_gt_instances(list(data_samples))
    results = []
    with torch.no_grad():
        for i, proposals in enumerate(rpn_results):
            priors = proposals.priors if 'priors' in proposals \
                else proposals.bboxes
            pred = InstanceData(priors=priors.detach())
            assign = roi_head.bbox_assigner.assign(pred, gts[i],
                                                   gts_ignore[i])
            results.append(
                roi_head.bbox_sampler.sample(assign, pred, gts[i]))
    rois = bbox2roi([res.priors for res in results])
    return rois, sum(res.avg_factor for res in results)


@MODELS.register_module()
@renamed_args(loss_cls_weight='cls_weight',
              loss_reg_weight='reg_weight')
class DS2D2RoIImplicitLoss(nn.Module):
    """Implicit stream of DS2D2 for a Faster R-CNN RoI head: one amplifier.

    RoIs are the student's RPN proposals, assigned (MaxIoU) and sampled
    (512 / image, 25 % positive, GT added) by the student RoI head's own
    assigner and sampler. The amplifier's ``_bbox_forward`` (RoIAlign on
    P2-P5 + box head) runs on student and teacher features:

    - ``amplifier='teacher'``: the frozen teacher ``roi_head`` on the FPN
      features (full-frequency amplifier);
    - ``amplifier='high_frequency'``: the ``roi_head`` trained in stage 2,
      loaded from ``amplifier_ckpt``, on ``HF(F)``.

    With ``R`` sampled RoIs, ``K`` classes and temperature ``T``:

    - ``L_cls = cls_weight * T^2 * mean_R(sum_{K+1} KL(softmax(t/T) ||
      softmax(s/T)))``, times ``avg_factor`` (number of sampled RoIs) when
      ``avg_factor_as_weight`` (see below);
    - ``p = softmax(t)[:, :K]``, ``w = max p``, ``k* = argmax p``; the class
      ``k*`` deltas of both (class-aware regression) give
      ``L_reg = reg_weight * sum(w * |d_s - d_t|) / (4 * sum w)``.

    Returns ``loss_weight * (L_cls + L_reg)``.

    Network parts are wired once when the distiller is built
    (:meth:`prepare_from_student`: the student's RoI head, and its RPN head
    and ``rpn_proposal`` config for the proposal fallback;
    :meth:`prepare_from_teacher`: the teacher's RoI head, the amplifier of
    ``amplifier='teacher'``).

    **Reference quirk.** The reference passes ``avg_factor`` positionally as
    the KL loss's ``weight``, so ``L_cls`` is *multiplied* by the number of
    sampled RoIs of the batch (about 512 x images per GPU), not divided.
    The published loss weights (e.g. ``w_FF = 1e-5`` on DIOR) were tuned
    with it, so ``avg_factor_as_weight=True`` (default) reproduces it; set
    False for a plain mean over RoIs (then rescale ``loss_weight``). With
    the quirk the effective weight scales with the images per GPU (the
    reference trained 2 per GPU).

    Args:
        amplifier (str): ``'teacher'`` or ``'high_frequency'``.
        amplifier_cfg (str | dict, optional): amplifier-stage config path
            (``'high_frequency'`` only).
        amplifier_ckpt (str, optional): its checkpoint; checked to exist.
            None = random head (tests only).
        loss_weight (float): ``w_FF`` / ``w_HA``. Defaults to 1.0.
        temperature (float): ``T``. Defaults to 3.
        cls_weight (float): Defaults to 0.5.
        reg_weight (float): Defaults to 1.0.
        avg_factor_as_weight (bool): reproduce the reference quirk.
            Defaults to True.
        interval (int): compute this loss on every ``interval``-th training
            iteration only, multiplied by ``interval`` (0 on the others);
            see :class:`IterationInterval`. 1 (the default) = every
            iteration, as the reference. A speed option, not in the paper.
        interval_offset (int): first iteration (``< interval``) on which
            the loss is computed. Defaults to 0.
        student_roi_head (str): the student's RoI head. Defaults to
            ``'roi_head'``.
        student_rpn_head (str): the student's RPN head (recomputes the
            proposals when no ``rpn_results`` are mapped). Defaults to
            ``'rpn_head'``.
        teacher_roi_head (str): the teacher's RoI head. Defaults to
            ``'roi_head'``.

    Mixed precision: the amplifier's RoI head runs under the caller's
    autocast; its class logits and deltas are cast to float32 and the KL
    and L1 terms run with autocast disabled, so the loss is float32.
    """

    def __init__(self,
                 amplifier: str = 'teacher',
                 amplifier_cfg: Optional[Union[str, Dict]] = None,
                 amplifier_ckpt: Optional[str] = None,
                 loss_weight: float = 1.0,
                 temperature: float = 3.0,
                 cls_weight: float = 0.5,
                 reg_weight: float = 1.0,
                 avg_factor_as_weight: bool = True,
                 interval: int = 1,
                 interval_offset: int = 0,
                 student_roi_head: str = 'roi_head',
                 student_rpn_head: str = 'rpn_head',
                 teacher_roi_head: str = 'roi_head') -> None:
        super().__init__()
        self.student_roi_head = student_roi_head
        self.student_rpn_head = student_rpn_head
        self.teacher_roi_head = teacher_roi_head
        # handles wired by prepare_from_*; a plain dict, so the detectors'
        # heads are not registered here (no duplicated parameters)
        self._handles: Dict[str, nn.Module] = {}
        self._rpn_proposal_cfg: Any = None
        self.schedule = IterationInterval(
            interval, key='DS2D2RoIImplicitLoss.interval',
            offset=interval_offset)
        if amplifier not in _AMPLIFIERS:
            raise ValueError(f'amplifier="{amplifier}" must be one of '
                             f'{_AMPLIFIERS}.')
        if temperature < 1:
            raise ValueError(f'temperature={temperature} must be >= 1.')
        self.amplifier_type = amplifier
        self.loss_weight = loss_weight
        self.temperature = temperature
        self.cls_weight = cls_weight
        self.reg_weight = reg_weight
        self.avg_factor_as_weight = avg_factor_as_weight
        self.amplifier: Optional[nn.Module] = None
        if amplifier == 'high_frequency':
            if amplifier_cfg is None:
                raise ValueError(
                    'DS2D2RoIImplicitLoss(amplifier="high_frequency") needs '
                    'amplifier_cfg = the amplifier-stage config (e.g. configs/'
                    'ds2d2/ds2d2_hf-amplifier_faster-rcnn-r101_2x_dior.py) '
                    'and amplifier_ckpt = its trained checkpoint.')
            self.amplifier = load_amplifier_head(
                amplifier_cfg, amplifier_ckpt, 'roi_head',
                key='DS2D2RoIImplicitLoss')
        elif amplifier_cfg is not None or amplifier_ckpt is not None:
            raise ValueError(
                'amplifier="teacher" uses the teacher roi_head; remove '
                'amplifier_cfg / amplifier_ckpt or set '
                'amplifier="high_frequency".')

    # ------------------------------------------------------------------ #
    # wiring (called once by the distiller)
    # ------------------------------------------------------------------ #
    def prepare_from_student(self, student: nn.Module) -> None:
        """Keep handles on the student's RoI head (assigner, sampler, box
        head) and, if it has one, its RPN head with the proposal config of
        its training (``train_cfg.rpn_proposal``, else ``test_cfg.rpn``)."""
        try:
            roi_head = find_module(student, self.student_roi_head,
                                   'DS2D2RoIImplicitLoss.student_roi_head')
        except AttributeError as err:
            raise TypeError(
                f'{err} DS2D2RoIImplicitLoss needs a two-stage student '
                '(roi_head); use DS2D2DenseImplicitLoss for dense '
                'heads.') from None
        self._handles['student_roi_head'] = roi_head
        try:
            rpn_head = student.get_submodule(self.student_rpn_head)
        except AttributeError:
            return  # rpn_results must then be mapped from a recorder
        self._handles['student_rpn_head'] = rpn_head
        train_cfg = getattr(student, 'train_cfg', None) or {}
        test_cfg = getattr(student, 'test_cfg', None) or {}
        self._rpn_proposal_cfg = train_cfg.get('rpn_proposal',
                                               test_cfg.get('rpn'))

    def prepare_from_teacher(self, teacher: nn.Module) -> None:
        """Keep a handle on the teacher's RoI head, the full-frequency
        amplifier (``amplifier='teacher'`` only)."""
        if self.amplifier is None:
            self._handles['teacher_roi_head'] = find_module(
                teacher, self.teacher_roi_head,
                'DS2D2RoIImplicitLoss.teacher_roi_head')

    def _handle(self, name: str) -> nn.Module:
        head = self._handles.get(name)
        if head is None:
            raise RuntimeError(
                f'DS2D2RoIImplicitLoss.{name} is not wired: build the loss '
                'through mmkd_dense.GTAwareDistiller (it calls '
                'prepare_from_student / prepare_from_teacher once when the '
                'distiller is built), or call them yourself.')
        return head

    def train(self, mode: bool = True) -> 'DS2D2RoIImplicitLoss':
        """Keep the frozen amplifier in eval mode."""
        super().train(mode)
        if self.amplifier is not None:
            self.amplifier.eval()
        return self

    def forward(self,
                preds_S: Sequence[Tensor],
                preds_T: Sequence[Tensor],
                batch_context: DistillBatchContext,
                rpn_results: Optional[Sequence] = None) -> Tensor:
        """Compute the RoI-level implicit loss of this amplifier.

        Args:
            preds_S (Sequence[Tensor]): student FPN levels (P2-P6).
            preds_T (Sequence[Tensor]): teacher FPN levels.
            batch_context (DistillBatchContext): the batch's GT and metas.
            rpn_results (Sequence[InstanceData], optional): the student's
                training proposals, recorded with a ``MethodInputs`` recorder
                on ``StandardRoIHead.loss`` (``data_idx=1``); recomputed from
                the student RPN when not given.

        Returns:
            Tensor: scalar loss.
        """
        roi_head_s = self._handle('student_roi_head')
        feats_s, feats_t = tuple(preds_S), tuple(preds_T)
        scale = self.schedule.step(self.training)
        if scale == 0:
            return feats_s[0].new_zeros(())
        if rpn_results is None:
            if 'student_rpn_head' not in self._handles:
                raise ValueError(
                    'DS2D2RoIImplicitLoss: no rpn_results were mapped and '
                    f'the student has no "{self.student_rpn_head}" '
                    '(student_rpn_head) to recompute them; map rpn_results '
                    'from a MethodInputs recorder on StandardRoIHead.loss '
                    '(data_idx=1).')
            metas = [s.metainfo for s in batch_context.data_samples]
            rpn_results = _student_proposals(
                self._handles['student_rpn_head'], self._rpn_proposal_cfg,
                feats_s, metas)
        rois, avg_factor = sample_student_rois(roi_head_s, rpn_results,
                                               batch_context.data_samples)
        head = self._handle('teacher_roi_head') if self.amplifier is None \
            else self.amplifier
        num_inputs = head.bbox_roi_extractor.num_inputs
        feats_s, feats_t = feats_s[:num_inputs], feats_t[:num_inputs]
        if self.amplifier is not None:
            feats_s = tuple(high_frequency(f) for f in feats_s)
        with torch.no_grad():
            if self.amplifier is not None:
                feats_t = tuple(high_frequency(f) for f in feats_t)
            res_t = head._bbox_forward(tuple(f.detach() for f in feats_t),
                                       rois)
        res_s = head._bbox_forward(feats_s, rois)
        with autocast_disabled():
            return self._loss(
                *to_float32((res_s['cls_score'], res_s['bbox_pred'],
                             res_t['cls_score'], res_t['bbox_pred'])),
                roi_head_s.bbox_head, avg_factor, scale)

    def _loss(self, cls_s: Tensor, reg_s: Tensor, cls_t: Tensor,
              reg_t: Tensor, bbox_head: nn.Module, avg_factor: float,
              scale: float) -> Tensor:
        """``scale * loss_weight * (L_cls + L_reg)`` from the (float32)
        RoI outputs ``(R, K+1)`` / ``(R, 4K)`` of student and teacher."""
        temp = self.temperature
        kl = F.kl_div(F.log_softmax(cls_s / temp, dim=1),
                      F.softmax(cls_t / temp, dim=1),
                      reduction='none').sum(1) * temp * temp  # (R,)
        if self.avg_factor_as_weight:
            kl = kl * avg_factor
        loss_cls = self.cls_weight * kl.mean()

        num_classes = bbox_head.num_classes
        prob_t = F.softmax(cls_t, dim=1)[:, :num_classes]
        weight, cls_idx = prob_t.max(dim=1)  # (R,)
        if not bbox_head.reg_class_agnostic:
            index = cls_idx[:, None, None].expand(-1, 1, 4)
            reg_s = reg_s.reshape(-1, num_classes, 4).gather(1,
                                                             index).squeeze(1)
            reg_t = reg_t.reshape(-1, num_classes, 4).gather(1,
                                                             index).squeeze(1)
        loss_reg = (weight[:, None] * (reg_s - reg_t).abs()).sum() / (
            4 * weight.sum() + _EPS)
        return scale * self.loss_weight * (loss_cls +
                                           self.reg_weight * loss_reg)
