# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CrossKDLoss: the reference's per-level computation, zero when the
student's features equal the teacher's, gradients to the student only,
empty GT, wiring errors."""
import unittest

import torch
import torch.nn.functional as F

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import CrossKDLoss
from mmkd_dense.models.losses.crosskd_loss import align_scale
from tests.test_models.test_losses._head_kd_helpers import (
    HeadsOnly, build_head, context, features, head_cfg,
    run_with_tower_records, samples)

K = 1  # reused_teacher_head_idx for the 2-conv test heads
EPS = torch.finfo(torch.float32).eps


def _frozen(head):
    head.requires_grad_(False)
    return head


def _setup(kind, seed=0, boxes=(3, 0)):
    """Teacher / student heads, recorded tower features and the loss."""
    teacher = _frozen(build_head(head_cfg(kind), seed=1))
    student = build_head(head_cfg(kind), seed=2)
    if kind == 'fcos':  # positive distances: no degenerate boxes
        torch.nn.init.constant_(teacher.conv_reg.bias, 1.0)
    feats_t = features(seed)
    feats_s = features(seed + 5, requires_grad=True)
    with torch.no_grad():
        outs_t, t_cls, t_reg = run_with_tower_records(teacher, feats_t, K)
    _, s_cls, s_reg = run_with_tower_records(student, feats_s, K)
    loss = CrossKDLoss(reused_teacher_head_idx=K)
    loss.prepare_from_student(HeadsOnly(student))
    loss.prepare_from_teacher(HeadsOnly(teacher))
    data = samples(boxes, seed=seed)
    return dict(teacher=teacher, student=student, loss=loss, outs_t=outs_t,
                t_cls=t_cls, t_reg=t_reg, s_cls=s_cls, s_reg=s_reg,
                feats_s=feats_s, data=data)


def _call(s):
    return s['loss'](s['s_cls'], s['s_reg'], s['t_cls'], s['t_reg'],
                     s['outs_t'], context(s['data']))


def _reference(kind, s, fcos_empty_denorm=1e-6):
    """CrossKD's per-level computation (jbwang1997/CrossKD
    crosskd_{retinanet,gfl,fcos}.py), written out level by level.
    ``fcos_empty_denorm``: the FCOS normaliser without positives (the
    reference's ``max(0, 1e-6)``)."""
    from mmdet.models.losses import GIoULoss, IoULoss
    from mmdet.models.utils import unpack_gt_instances

    from mmkd_dense.models.losses import KDKLDivLoss, KDQualityFocalLoss
    teacher, student = s['teacher'], s['student']
    gts, ignored, metas = unpack_gt_instances(s['data'])
    qfl = KDQualityFocalLoss(beta=1.0, loss_weight=1.0)
    cross = []
    for lvl in range(2):
        c = F.relu(align_scale(s['s_cls'][lvl], s['t_cls'][lvl]))
        r = F.relu(align_scale(s['s_reg'][lvl], s['t_reg'][lvl]))
        for i in range(K, len(teacher.cls_convs)):
            c, r = teacher.cls_convs[i](c), teacher.reg_convs[i](r)
        if kind == 'retina':
            cross.append((teacher.retina_cls(c), teacher.retina_reg(r)))
        elif kind == 'gfl':
            cross.append((teacher.gfl_cls(c),
                          teacher.scales[lvl](teacher.gfl_reg(r)).float()))
        else:
            reg = teacher.scales[lvl](teacher.conv_reg(r)).float()
            cross.append((teacher.conv_cls(c), reg.clamp(min=0)))
    cls_t, reg_t = s['outs_t'][0], s['outs_t'][1]
    sizes = [t.shape[-2:] for t in cls_t]
    ch = teacher.cls_out_channels

    def flat(x, d):
        return x.permute(0, 2, 3, 1).reshape(-1, d)

    if kind == 'fcos':
        points = student.prior_generator.grid_priors(sizes, device='cpu')
        labels, bbox_targets = student.get_targets(points, gts)
        labels, bbox_targets = torch.cat(labels), torch.cat(bbox_targets)
        pos = ((labels >= 0) & (labels < 3)).nonzero().reshape(-1)
        denorm = max(float(student.centerness_target(
            bbox_targets[pos]).sum()), 1e-6) if len(pos) \
            else fcos_empty_denorm
        x_cls = torch.cat([flat(c, ch) for c, _ in cross])
        t_cls = torch.cat([flat(t, ch) for t in cls_t])
        # the CrossKD FCOS config: KDQFL weight 0.4, IoULoss weight 0.75
        loss_cls = 0.4 * qfl(x_cls, t_cls, avg_factor=denorm)
        pts = torch.cat([p.repeat(2, 1) for p in points])
        strides = torch.cat([torch.full((2 * len(p), 1), st) for p, st in
                             zip(points, (8., 16.))])
        # the reference's teacher is in eval mode: distances x stride
        x_box = student.bbox_coder.decode(
            pts, torch.cat([flat(r, 4) for _, r in cross]) * strides)
        t_box = student.bbox_coder.decode(
            pts, torch.cat([flat(r, 4) for r in reg_t]) * strides)
        w = t_cls.max(1)[0].sigmoid()
        return loss_cls + IoULoss(loss_weight=0.75)(x_box, t_box, w,
                                                    avg_factor=denorm)
    anchors, valid = student.get_anchors(sizes, metas, device='cpu')
    level_anchors = [a.clone() for a in anchors[0]]
    targets = student.get_targets(anchors, valid, gts, metas,
                                  batch_gt_instances_ignore=ignored)
    if kind == 'gfl':
        targets = targets[1:]
    _, label_weights, _, _, avg_factor = targets
    total, reg_losses, reg_weight_sum = 0., [], 0.
    for lvl in range(2):
        t_c, x_c = flat(cls_t[lvl], ch), flat(cross[lvl][0], ch)
        lw = label_weights[lvl].reshape(-1)
        total = total + qfl(x_c, t_c, lw, avg_factor=avg_factor)
        w = t_c.max(1)[0].sigmoid()
        w[lw == 0] = 0
        if kind == 'retina':
            a = level_anchors[lvl].repeat(2, 1)
            x_b = student.bbox_coder.decode(a, flat(cross[lvl][1], 4))
            t_b = student.bbox_coder.decode(a, flat(reg_t[lvl], 4))
            total = total + GIoULoss()(x_b, t_b, w, avg_factor=avg_factor)
        else:
            bins = teacher.reg_max + 1
            kl = KDKLDivLoss(temperature=1, class_reduction='sum',
                             loss_weight=4.0)
            reg_losses.append(kl(
                flat(cross[lvl][1], bins), flat(reg_t[lvl], bins),
                weight=w[:, None].expand(-1, 4).reshape(-1), avg_factor=4.0))
            reg_weight_sum = reg_weight_sum + w.sum()
    for r in reg_losses:
        total = total + r / reg_weight_sum
    return total


class TestCrossKDLoss(unittest.TestCase):

    def test_matches_reference_per_level(self):
        for kind in ('retina', 'gfl', 'fcos'):
            with self.subTest(kind=kind):
                s = _setup(kind, boxes=(3, 2))
                ours = _call(s)
                ref = _reference(kind, s)
                self.assertGreater(float(ref), 0.0)
                self.assertAlmostEqual(float(ours), float(ref), places=5)

    def test_zero_when_student_features_equal_teacher(self):
        for kind in ('retina', 'gfl', 'fcos'):
            with self.subTest(kind=kind):
                s = _setup(kind)
                s['s_cls'] = [t.clone() for t in s['t_cls']]
                s['s_reg'] = [t.clone() for t in s['t_reg']]
                # cross-head = the teacher's own forward (up to align's eps)
                self.assertLess(float(_call(s)), 1e-5)

    def test_gradient_reaches_student_tower_only(self):
        for kind in ('retina', 'gfl', 'fcos'):
            with self.subTest(kind=kind):
                s = _setup(kind)
                _call(s).backward()
                # the student's first K tower convs and its FPN input
                conv = s['student'].cls_convs[0].conv
                self.assertGreater(float(conv.weight.grad.abs().sum()), 0)
                self.assertGreater(float(s['feats_s'][0].grad.abs().sum()),
                                   0)
                # ... but not the student's later convs / predictors
                self.assertIsNone(s['student'].cls_convs[1].conv.weight.grad)
                self.assertTrue(all(p.grad is None
                                    for p in s['teacher'].parameters()))

    def test_empty_gt(self):
        for kind in ('retina', 'gfl', 'fcos'):
            with self.subTest(kind=kind):
                # one image without GT (default) and a batch without any
                for boxes in ((3, 0), (0, 0)):
                    s = _setup(kind, boxes=boxes)
                    value = _call(s)
                    self.assertTrue(torch.isfinite(value))
                    self.assertGreater(float(value), 0.0)
                    self.assertLess(float(value), 1e4)

    def test_fcos_no_positive_normaliser_is_one(self):
        s = _setup('fcos', boxes=(0, 0))
        with torch.no_grad():
            value = float(_call(s))
            ours = float(_reference('fcos', s, fcos_empty_denorm=1.0))
            spike = float(_reference('fcos', s))
        self.assertAlmostEqual(value, ours, places=5)
        # the reference's normaliser 1e-6 (+ mmdet's float eps): a spike of
        # 1 / (1e-6 + 1.19e-7) ~ 8.9e5
        self.assertAlmostEqual(spike / value, 1 / (1e-6 + EPS), delta=1e2)

    def test_wiring_errors(self):
        teacher = _frozen(build_head(head_cfg('retina')))
        with self.assertRaisesRegex(ValueError, 'teacher head has 2 tower'):
            CrossKDLoss(reused_teacher_head_idx=3).prepare_from_teacher(
                HeadsOnly(teacher))
        with self.assertRaisesRegex(ValueError, 'student head has 2 tower'):
            CrossKDLoss(reused_teacher_head_idx=3).prepare_from_student(
                HeadsOnly(build_head(head_cfg('retina'))))
        with self.assertRaisesRegex(ValueError, 'needs a frozen teacher'):
            CrossKDLoss(reused_teacher_head_idx=1).prepare_from_teacher(
                HeadsOnly(build_head(head_cfg('retina'))))
        with self.assertRaisesRegex(RuntimeError, 'were not called'):
            CrossKDLoss()([], [], [], [], ([], []), None)
        with self.assertRaisesRegex(ValueError, 'must be an int >= 0'):
            CrossKDLoss(reused_teacher_head_idx=-1)
        loss = CrossKDLoss(reused_teacher_head_idx=1)
        loss.prepare_from_teacher(HeadsOnly(teacher))
        # the default KD losses follow the head (RetinaNet: GIoU)
        self.assertEqual(type(loss.loss_reg_kd).__name__, 'GIoULoss')
        self.assertEqual(loss.loss_cls_kd.loss_weight, 1.0)
        fcos = CrossKDLoss(reused_teacher_head_idx=1)
        fcos.prepare_from_teacher(HeadsOnly(_frozen(build_head(
            head_cfg('fcos')))))
        self.assertEqual((type(fcos.loss_reg_kd).__name__,
                          fcos.loss_reg_kd.loss_weight,
                          fcos.loss_cls_kd.loss_weight),
                         ('IoULoss', 0.75, 0.4))
        self.assertEqual(list(loss.state_dict()), [])
        gfl = CrossKDLoss(reused_teacher_head_idx=1)
        gfl.prepare_from_teacher(HeadsOnly(_frozen(build_head(
            head_cfg('gfl')))))
        self.assertEqual(type(gfl.loss_reg_kd).__name__, 'KDKLDivLoss')
        self.assertEqual(
            (gfl.loss_reg_kd.temperature, gfl.loss_reg_kd.class_reduction,
             gfl.loss_reg_kd.loss_weight), (1, 'sum', 4.0))

    def test_level_and_width_errors(self):
        s = _setup('retina')
        with self.assertRaisesRegex(ValueError, 'record_idx="all"'):
            s['loss'](s['s_cls'][:1], s['s_reg'], s['t_cls'], s['t_reg'],
                      s['outs_t'], context(s['data']))
        narrow = [t[:, :4] for t in s['s_cls']]
        with self.assertRaisesRegex(ValueError, 'equal head widths'):
            s['loss'](narrow, s['s_reg'], s['t_cls'], s['t_reg'],
                      s['outs_t'], context(s['data']))


class TestCrossKDHeldFeature(unittest.TestCase):

    def test_reference_hold_is_the_post_relu_output(self):
        """The reference holds ``conv(x, activate=False)`` and then calls
        ``conv.activate`` on it; mmcv's ReLU is in place, so the held tensor
        is the ConvModule's (post-ReLU) output, which is what a recorder on
        ``cls_convs.{k-1}`` captures."""
        from mmcv.cnn import ConvModule
        conv = ConvModule(4, 4, 3, padding=1)
        x = torch.randn(2, 4, 5, 5)
        held = conv(x, activate=False)
        self.assertLess(float(held.min()), 0.0)
        conv.activate(held)
        self.assertGreaterEqual(float(held.min()), 0.0)
        torch.testing.assert_close(held, conv(x))


if __name__ == '__main__':
    unittest.main()
