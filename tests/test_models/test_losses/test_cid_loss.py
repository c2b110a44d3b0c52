# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CID logit distillation (dense heads, RoI head) and CID-weighted feature
losses."""
import copy
import math
import unittest

import torch
from torch import nn

import mmkd_dense  # noqa: F401
import mmkd_dense.models.heads  # noqa: F401
from mmkd_dense.models.losses import (CIDLoss, CIDRoILoss,
                                      CIDWeightedFeatureLoss, FGDLoss)
from mmkd_dense.models.losses.cid_loss import distribution_kl
from mmkd_dense.models.losses.kd_quality_focal_loss import \
    kd_quality_focal_loss
from mmkd_dense.models.utils import (channel_attention, cid_weight_map,
                                     spatial_attention)
from mmkd_dense.models.utils.dense_head_kd import (aligned_giou_loss,
                                                   prior_grid)
from mmkd_dense.structures import DistillBatchContext
from mmkd_dense.utils.dummy_batch import make_dummy_batch
from ._ds2d2_helpers import wire

INPUT = (64, 80)
GN = dict(type='GN', num_groups=4, requires_grad=True)


def _build(cfg):
    from mmengine.registry import DefaultScope, MODELS, init_default_scope
    if DefaultScope.get_current_instance() is None:
        init_default_scope('mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


HEADS = dict(
    gfl=dict(type='GFLHead', num_classes=3, in_channels=8, stacked_convs=1,
             feat_channels=16, norm_cfg=GN,
             anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                                   octave_base_scale=8, scales_per_octave=1,
                                   strides=[8, 16])),
    retina=dict(type='RetinaHead', num_classes=3, in_channels=8,
                stacked_convs=1, feat_channels=16,
                anchor_generator=dict(type='AnchorGenerator',
                                      octave_base_scale=4,
                                      scales_per_octave=1,
                                      ratios=[0.5, 1.0, 2.0],
                                      strides=[8, 16])),
    fcos=dict(type='FCOSHead', num_classes=3, in_channels=8,
              stacked_convs=1, feat_channels=16, strides=[8, 16],
              norm_cfg=GN, norm_on_bbox=True, centerness_on_reg=True))


class Detector(nn.Module):
    """Just enough of a detector: the head under ``bbox_head``."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.bbox_head = head


def make_case(kind, boxes=(3, 1), seed=0):
    torch.manual_seed(seed)
    head = _build(copy.deepcopy(HEADS[kind]))
    teacher = Detector(head)
    student = Detector(copy.deepcopy(head))
    for p in teacher.parameters():
        p.requires_grad_(False)
    _, samples = make_dummy_batch(num_images=2, input_shape=INPUT,
                                  num_classes=3, boxes_per_image=boxes,
                                  seed=seed)
    context = DistillBatchContext(samples, INPUT)
    gen = torch.Generator().manual_seed(seed + 1)
    feats = (torch.randn(2, 8, 8, 10, generator=gen),
             torch.randn(2, 8, 4, 5, generator=gen))
    return student, teacher, context, feats


class TestKDTerms(unittest.TestCase):

    def test_kd_qfl_hand_computed(self):
        # s = 0 (p = 0.5), t = logit(0.8): BCE = ln 2, focal = |0.5 - 0.8|
        pred = torch.tensor([[0.0]])
        target = torch.tensor([[math.log(0.8 / 0.2)]])
        value = kd_quality_focal_loss(pred, target, beta=1.0,
                                      reduction='none')
        self.assertAlmostEqual(float(value), math.log(2) * 0.3, places=5)
        self.assertEqual(float(kd_quality_focal_loss(target, target)), 0.)

    def test_distribution_kl_hand_computed(self):
        # T = 1: q = (0.5, 0.5), p = softmax(0, ln 3) = (0.25, 0.75)
        pred = torch.tensor([[0.0, math.log(3.)]])
        target = torch.zeros(1, 2)
        expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
        self.assertAlmostEqual(
            float(distribution_kl(pred, target, 1.0, dim=1)), expected,
            places=6)
        # T^2 scaling and zero at equality
        self.assertEqual(float(distribution_kl(pred, pred, 10., dim=1)), 0.)

    def test_giou_loss_hand_computed(self):
        # (0,0,2,2) vs (1,1,3,3): IoU 1/7, enclosing 9 -> GIoU 1/7 - 2/9
        a = torch.tensor([[0., 0., 2., 2.], [0., 0., 0., 0.]])
        b = torch.tensor([[1., 1., 3., 3.], [0., 0., 0., 0.]])
        value = aligned_giou_loss(a, b)
        self.assertAlmostEqual(float(value[0]), 1 - (1 / 7 - 2 / 9),
                               places=5)
        self.assertEqual(float(value[1]), 0.)  # identical degenerate boxes

    def test_prior_grid(self):
        gfl = _build(copy.deepcopy(HEADS['gfl']))
        fcos = _build(copy.deepcopy(HEADS['fcos']))
        self.assertEqual(prior_grid(gfl, 1), ((16., 16.), 0.))
        self.assertEqual(prior_grid(fcos, 0), ((8., 8.), 0.5))


class TestCIDLoss(unittest.TestCase):

    def _loss(self, kind, student, teacher, **kwargs):
        box_kd = 'kl' if kind == 'gfl' else 'giou'
        return wire(CIDLoss(box_kd=box_kd, **kwargs), student, teacher)

    def test_zero_when_student_equals_teacher(self):
        for kind in HEADS:
            student, teacher, context, feats = make_case(kind)
            outs = student.bbox_head(feats)
            value = self._loss(kind, student, teacher)(outs, feats, context)
            self.assertAlmostEqual(float(value), 0., places=5, msg=kind)

    def test_gradient_reaches_student_only(self):
        for kind in HEADS:
            student, teacher, context, feats = make_case(kind, seed=1)
            with torch.no_grad():
                for p in student.bbox_head.parameters():
                    p.add_(torch.randn_like(p) * 0.05)
            outs = student.bbox_head(feats)
            value = self._loss(kind, student, teacher)(outs, feats, context)
            self.assertGreater(float(value), 1e-4, msg=kind)
            value.backward()
            grad = sum(float(p.grad.abs().sum())
                       for p in student.parameters() if p.grad is not None)
            self.assertGreater(grad, 0., msg=kind)
            self.assertTrue(all(p.grad is None
                                for p in teacher.parameters()), msg=kind)

    def test_matches_hand_assembled_value(self):
        # GFL, one image with GT: (1/Z) sum_p W(p) [KDQFL + 0.25 * KL/4*4]
        student, teacher, context, feats = make_case('gfl', boxes=(2, 0))
        with torch.no_grad():
            for p in student.bbox_head.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        outs_s = student.bbox_head(feats)
        outs_t = teacher.bbox_head(feats)
        value = wire(CIDLoss(box_kd='kl', temperature=10.), student,
                     teacher)(outs_s, feats, context)
        boxes, index = context.flat_gt_bboxes()
        total, z = 0., 0.
        for level, stride in enumerate((8., 16.)):
            cs, ct = outs_s[0][level], outs_t[0][level]
            n, _, h, w = cs.shape
            weight = cid_weight_map(boxes, index, 2, (h, w), (stride, stride),
                                    offset=0.)
            cls = kd_quality_focal_loss(
                cs.permute(0, 2, 3, 1).reshape(-1, 3),
                ct.permute(0, 2, 3, 1).reshape(-1, 3), beta=1.0,
                reduction='none').sum(1).reshape(n, h, w)
            bs = outs_s[1][level].reshape(n, 4, 17, h, w)
            bt = outs_t[1][level].reshape(n, 4, 17, h, w)
            box = distribution_kl(bs, bt, 10., dim=2).sum(1) / 4
            total = total + (weight * (cls + 0.25 * box)).sum()
            z = z + weight.sum()
        self.assertAlmostEqual(float(z), 4., places=4)  # 2 boxes x 2 levels
        self.assertAlmostEqual(float(value), float(total / z), places=5)

    def test_only_cid_regions_count(self):
        # changing the student's outputs where W = 0 leaves the loss as is
        student, teacher, context, feats = make_case('retina', boxes=(1, 0))
        outs = student.bbox_head(feats)
        loss = self._loss('retina', student, teacher)
        base = loss(outs, feats, context)
        moved = tuple([t.clone() for t in part] for part in outs)
        moved[0][0][1] += 5.  # image 1 has no GT
        moved[1][0][1] -= 2.
        self.assertAlmostEqual(float(loss(moved, feats, context)),
                               float(base), places=6)
        moved[0][0][0] += 5.  # image 0 has GT
        self.assertGreater(float(loss(moved, feats, context)),
                           float(base) + 1e-3)

    def test_no_gt_batch(self):
        for kind in HEADS:
            student, teacher, context, feats = make_case(kind, boxes=(0,))
            outs = student.bbox_head(feats)
            with torch.no_grad():
                outs[0][0].add_(1.)
            value = self._loss(kind, student, teacher)(outs, feats, context)
            self.assertEqual(float(value), 0., msg=kind)

    def test_light_ml_student_and_shape_errors(self):
        student, teacher, context, feats = make_case('gfl')
        cfg = copy.deepcopy(HEADS['gfl'])
        cfg['type'] = 'mmkd_dense.LightMLGFLHead'
        lifted = _build(cfg)
        lifted.load_state_dict(teacher.bbox_head.state_dict(), strict=False)
        value = wire(CIDLoss(box_kd='kl'), Detector(lifted), teacher)(
            lifted(feats), feats, context)
        self.assertAlmostEqual(float(value), 0., places=5)
        with self.assertRaisesRegex(ValueError, 'box_kd'):
            CIDLoss(box_kd='l1')
        with self.assertRaisesRegex(ValueError, 'giou'):
            wire(CIDLoss(box_kd='giou'), Detector(lifted), teacher)(
                lifted(feats), feats, context)


class Shared2FCRoIDetector(nn.Module):

    def __init__(self):
        super().__init__()
        self.roi_head = _build(dict(
            type='StandardRoIHead',
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=7,
                               sampling_ratio=0),
                out_channels=8, featmap_strides=[4, 8]),
            bbox_head=dict(type='Shared2FCBBoxHead', in_channels=8,
                           fc_out_channels=32, roi_feat_size=7,
                           num_classes=3)))


class TestCIDRoILoss(unittest.TestCase):

    def _case(self, boxes=(2, 1)):
        torch.manual_seed(0)
        teacher = Shared2FCRoIDetector()
        student = copy.deepcopy(teacher)
        for p in teacher.parameters():
            p.requires_grad_(False)
        _, samples = make_dummy_batch(num_images=2, input_shape=INPUT,
                                      num_classes=3, boxes_per_image=boxes)
        context = DistillBatchContext(samples, INPUT)
        feats = (torch.randn(2, 8, 16, 20), torch.randn(2, 8, 8, 10))
        gen = torch.Generator().manual_seed(2)
        xy = torch.rand(12, 2, generator=gen) * 50
        rois = torch.cat([
            torch.tensor([0.] * 6 + [1.] * 6)[:, None], xy,
            xy + 5 + torch.rand(12, 2, generator=gen) * 20
        ], 1)
        # the GT boxes are RoIs too (add_gt_as_proposals)
        gts = [torch.cat([torch.full((len(b), 1), float(i)), b], 1)
               for i, b in enumerate(context.gt_bboxes)]
        rois = torch.cat([rois] + gts)
        return student, teacher, context, feats, rois

    def _student_out(self, student, feats, rois):
        roi_feats = student.roi_head.bbox_roi_extractor(feats, rois)
        return student.roi_head.bbox_head(roi_feats)

    def test_zero_when_equal_positive_otherwise(self):
        student, teacher, context, feats, rois = self._case()
        cls, reg = self._student_out(student, feats, rois)
        loss = wire(CIDRoILoss(), student, teacher)
        self.assertAlmostEqual(float(loss(cls, reg, rois, feats, context)),
                               0., places=5)
        with torch.no_grad():
            for p in student.roi_head.bbox_head.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        cls, reg = self._student_out(student, feats, rois)
        value = loss(cls, reg, rois, feats, context)
        self.assertGreater(float(value), 1e-4)
        value.backward()
        self.assertGreater(
            float(student.roi_head.bbox_head.fc_cls.weight.grad.abs().sum()),
            0.)
        self.assertTrue(all(p.grad is None for p in teacher.parameters()))

    def test_no_gt(self):
        student, teacher, context, feats, rois = self._case(boxes=(0,))
        cls, reg = self._student_out(student, feats, rois)
        value = wire(CIDRoILoss(), student, teacher)(cls + 1., reg, rois,
                                                      feats, context)
        self.assertEqual(float(value), 0.)



class TestCIDWiring(unittest.TestCase):

    def test_handles_and_errors(self):
        student, teacher, context, feats = make_case('retina')
        loss = wire(CIDLoss(box_kd='giou'), student, teacher)
        self.assertIs(loss._handles['teacher_head'], teacher.bbox_head)
        self.assertEqual(list(loss.state_dict()), [])
        outs = student.bbox_head(feats)
        with self.assertRaisesRegex(RuntimeError, 'prepare_from_student'):
            CIDLoss(box_kd='giou')(outs, feats, context)
        roi = Shared2FCRoIDetector()
        with self.assertRaisesRegex(AttributeError,
                                    'student_head="bbox_head".*CIDRoILoss'):
            CIDLoss().prepare_from_student(roi)
        with self.assertRaisesRegex(TypeError, 'prior_generator'):
            CIDLoss(student_head='roi_head').prepare_from_student(roi)
        with self.assertRaisesRegex(AttributeError, 'CIDLoss'):
            CIDRoILoss().prepare_from_student(student)


class TestCIDWeightedFeatureLoss(unittest.TestCase):

    def _context(self):
        _, samples = make_dummy_batch(num_images=2, input_shape=INPUT,
                                      boxes_per_image=(3, 0))
        return DistillBatchContext(samples, INPUT)

    def test_fgd_mask_mode_uses_cid_foreground(self):
        context = self._context()
        gen = torch.Generator().manual_seed(0)
        s = torch.randn(2, 8, 8, 10, generator=gen)
        t = torch.randn(2, 8, 8, 10, generator=gen)
        fgd = dict(type='mmkd_dense.FGDLoss', student_channels=8,
                   teacher_channels=8, alpha_fgd=1.0, beta_fgd=0.,
                   gamma_fgd=0., lambda_fgd=0., with_global=False)
        wrapped = CIDWeightedFeatureLoss(loss=fgd, mode='mask')
        value = wrapped(s, t, context)
        # by hand: sum W * a_s * a_c * (T - S)^2 / N, W = CID map
        boxes, index = context.flat_gt_bboxes()
        weight = cid_weight_map(boxes, index, 2, (8, 10), (8., 8.))
        att = spatial_attention(t, 0.5)[:, None] * channel_attention(
            t, 0.5)[:, :, None, None]
        expected = (weight[:, None] * att * (t - s)**2).sum() / 2
        self.assertAlmostEqual(float(value), float(expected), places=4)
        # differs from plain FGD (its masks are box/area masks)
        plain = FGDLoss(8, 8, alpha_fgd=1.0, beta_fgd=0., gamma_fgd=0.,
                        lambda_fgd=0., with_global=False)
        self.assertNotAlmostEqual(float(plain(s, t, context)),
                                  float(value), places=4)

    def test_feature_mode_masks_both_features(self):
        context = self._context()
        s, t = torch.randn(2, 4, 8, 10), torch.randn(2, 4, 8, 10)
        wrapped = CIDWeightedFeatureLoss(
            loss=dict(type='mmdet.MSELoss'), mode='feature', bg_weight=0.2)
        boxes, index = context.flat_gt_bboxes()
        weight = cid_weight_map(boxes, index, 2, (8, 10), (8., 8.))
        peak = weight.amax(dim=(1, 2), keepdim=True).clamp(min=1e-12)
        m = (0.2 + 0.8 * weight / peak)[:, None]
        expected = ((m * s - m * t)**2).mean()
        self.assertAlmostEqual(float(wrapped(s, t, context)),
                               float(expected), places=6)
        self.assertEqual(float(wrapped(s, s, context)), 0.)

    def test_mask_mode_needs_a_gt_aware_loss(self):
        with self.assertRaisesRegex(ValueError, 'feature'):
            CIDWeightedFeatureLoss(loss=dict(type='mmdet.MSELoss'))


if __name__ == '__main__':
    unittest.main()
