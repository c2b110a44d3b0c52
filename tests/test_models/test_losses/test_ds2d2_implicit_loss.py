# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 implicit stream: dense heads (RetinaNet / FCOS / GFL) and the
Faster R-CNN RoI head, with the teacher head and the HF amplifier."""
import os
import os.path as osp
import tempfile
import unittest

import torch
import torch.nn.functional as F

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import (DS2D2DenseImplicitLoss,
                                      DS2D2RoIImplicitLoss)
from mmkd_dense.models.losses.ds2d2_roi_implicit_loss import \
    sample_student_rois
from mmkd_dense.models.utils.dense_head_kd import (cached_dense_head_targets,
                                                   decode_boxes,
                                                   flatten_level_outputs)
from mmkd_dense.models.utils.haar_wavelet import high_frequency
from ._ds2d2_helpers import (HEADS, HeadsOnly, batch, build, fpn_features,
                             frozen, make_context, roi_head_cfg, wire,
                             single_stage_detector_cfg,
                             single_stage_train_cfg, two_stage_detector_cfg)


def dense_head(kind, seed=0):
    torch.manual_seed(seed)
    cfg = dict(HEADS[kind](), _scope_='mmdet',
               train_cfg=single_stage_train_cfg(kind), test_cfg=None)
    head = build(cfg)
    head.init_weights()
    return head


def dense_setup(kind='retina', seed=0):
    student = HeadsOnly(bbox_head=dense_head(kind, seed))
    teacher = HeadsOnly(bbox_head=frozen(dense_head(kind, seed + 1)))
    _, samples = batch(seed)
    return student, teacher, samples


def reference_dense_implicit(head_out_s, head_out_t, student_head, samples):
    """The reference's RetinaNet ``implicit()`` written out with mmdet's own
    GIoULoss / weight_reduce_loss, level by level."""
    from mmdet.models.losses import GIoULoss
    from mmdet.models.losses.utils import weight_reduce_loss
    from mmdet.models.utils import unpack_gt_instances
    stu_clses, stu_regs = head_out_s[:2]
    tea_clses, tea_regs = head_out_t[:2]
    gts, ignores, metas = unpack_gt_instances(samples)
    sizes = [c.size()[-2:] for c in stu_clses]
    anchors, valid = student_head.get_anchors(sizes, metas, device='cpu')
    _, label_weights_list, _, _, avg_factor = student_head.get_targets(
        anchors, valid, gts, metas, batch_gt_instances_ignore=ignores)
    giou = GIoULoss(loss_weight=1.0)
    n = stu_clses[0].shape[0]
    k = student_head.cls_out_channels
    coder = student_head.bbox_coder
    total = 0
    for lvl in range(len(stu_clses)):
        tea_cls = tea_clses[lvl].permute(0, 2, 3, 1).reshape(-1, k)
        stu_cls = stu_clses[lvl].permute(0, 2, 3, 1).reshape(-1, k)
        lvl_anchors = anchors[0][lvl][None].repeat(n, 1, 1).reshape(-1, 4)
        tea_box = coder.decode(
            lvl_anchors, tea_regs[lvl].permute(0, 2, 3, 1).reshape(-1, 4))
        stu_box = coder.decode(
            lvl_anchors, stu_regs[lvl].permute(0, 2, 3, 1).reshape(-1, 4))
        reg_w = tea_cls.max(dim=1)[0].sigmoid()
        total = total + giou(stu_box, tea_box, reg_w, avg_factor)
        target = tea_cls.detach().sigmoid()
        qfl = F.binary_cross_entropy_with_logits(stu_cls, target,
                                                 reduction='none')
        qfl = qfl * (stu_cls.sigmoid() - target).abs()
        lw = label_weights_list[lvl].reshape(-1)[:, None].repeat(1, k)
        total = total + weight_reduce_loss(qfl, lw, 'mean', avg_factor)
    return total


class TestDenseImplicitTeacherAmplifier(unittest.TestCase):

    def test_matches_reference_retinanet(self):
        student, teacher, samples = dense_setup('retina')
        ctx = make_context(samples)
        feats_s = fpn_features(1)
        feats_t = fpn_features(2)
        loss = DS2D2DenseImplicitLoss(amplifier='teacher', loss_weight=1.0)
        wire(loss, student, teacher)
        value = loss(feats_s, feats_t, ctx)
        head = teacher.bbox_head
        expected = reference_dense_implicit(head(feats_s), head(feats_t),
                                            student.bbox_head, samples)
        self.assertGreater(float(expected), 0)
        self.assertAlmostEqual(float(value), float(expected), places=4)
        # loss_weight and the two term weights scale linearly
        def run(**kwargs):
            return wire(DS2D2DenseImplicitLoss(**kwargs), student,
                        teacher)(feats_s, feats_t, ctx)

        scaled = run(loss_weight=0.7)
        self.assertAlmostEqual(float(scaled), 0.7 * float(value), places=4)
        cls_only = run(reg_weight=0.)
        reg_only = run(cls_weight=0.)
        self.assertAlmostEqual(float(cls_only + reg_only), float(value),
                               places=4)

    def test_zero_when_student_equals_teacher(self):
        for kind in ('retina', 'fcos', 'gfl'):
            with self.subTest(kind=kind):
                student, teacher, samples = dense_setup(kind)
                ctx = make_context(samples)
                feats = fpn_features(3)
                value = wire(DS2D2DenseImplicitLoss(), student,
                             teacher)(feats, feats, ctx)
                self.assertLess(abs(float(value)), 1e-5)

    def test_gradient_reaches_student_features_only(self):
        for kind in ('retina', 'fcos', 'gfl'):
            with self.subTest(kind=kind):
                student, teacher, samples = dense_setup(kind)
                ctx = make_context(samples)
                feats_s = fpn_features(4, requires_grad=True)
                feats_t = fpn_features(5, requires_grad=True)
                value = wire(DS2D2DenseImplicitLoss(), student,
                             teacher)(feats_s, feats_t, ctx)
                self.assertTrue(torch.isfinite(value))
                self.assertGreater(float(value), 0)
                value.backward()
                for f in feats_s:
                    self.assertGreater(float(f.grad.abs().sum()), 0)
                for f in feats_t:
                    self.assertIsNone(f.grad)
                for p in teacher.parameters():
                    self.assertIsNone(p.grad)
                for p in student.parameters():  # targets only, no KD grad
                    self.assertIsNone(p.grad)

    def test_interval_skips_heads_and_scales_active_iterations(self):
        student, teacher, samples = dense_setup('retina')
        ctx = make_context(samples)
        feats_s = fpn_features(1, requires_grad=True)
        feats_t = fpn_features(2)
        every = float(wire(DS2D2DenseImplicitLoss(), student,
                           teacher)(feats_s, feats_t, ctx))
        head_calls = []
        teacher.bbox_head.register_forward_hook(
            lambda *args: head_calls.append(1))
        loss = DS2D2DenseImplicitLoss(interval=3)
        wire(loss, student, teacher)
        values = []
        for _ in range(4):
            head_calls.clear()
            values.append(loss(feats_s, feats_t, ctx))
            # student + teacher features on active calls, nothing otherwise
            self.assertEqual(len(head_calls),
                             2 if len(values) in (1, 4) else 0)
        self.assertAlmostEqual(float(values[0]), 3 * every, places=4)
        self.assertAlmostEqual(float(values[3]), 3 * every, places=4)
        for skipped in values[1:3]:
            self.assertEqual(float(skipped), 0.0)
            self.assertFalse(skipped.requires_grad)
        values[0].backward()
        self.assertGreater(float(feats_s[0].grad.abs().sum()), 0)
        # evaluation-mode calls are always computed, unscaled
        loss.eval()
        self.assertAlmostEqual(float(loss(feats_s, feats_t, ctx)), every,
                               places=4)
        with self.assertRaisesRegex(ValueError, 'interval'):
            DS2D2DenseImplicitLoss(interval=0)

    def test_targets_from_student_assigner(self):
        student, teacher, samples = dense_setup('retina')
        ctx = make_context(samples)
        targets = cached_dense_head_targets(ctx, student.bbox_head,
                                            [(8, 10), (4, 5)],
                                            torch.device('cpu'))
        # 9 anchors per cell, 2 images
        self.assertEqual(targets.label_weights.numel(),
                         2 * 9 * (80 + 20))
        # PseudoSampler: avg_factor = sum over images of max(#pos, 1)
        self.assertGreaterEqual(targets.avg_factor, 2.0)
        # the image without GT keeps all its anchors as negatives (weight 1)
        lw = targets.label_weights
        level0 = lw[:2 * 720].view(2, 720)
        self.assertTrue(torch.all(level0[1] == 1))

    def test_fcos_boxes_same_in_train_and_eval_mode(self):
        student, teacher, samples = dense_setup('fcos')
        ctx = make_context(samples)
        head = teacher.bbox_head
        feats = fpn_features(6)
        targets = cached_dense_head_targets(ctx, student.bbox_head,
                                            [(8, 10), (4, 5)],
                                            torch.device('cpu'))

        def boxes():
            reg = flatten_level_outputs(head(feats)[1], 4)
            return decode_boxes(head, reg, targets)

        head.train()
        boxes_train = boxes()
        head.eval()
        boxes_eval = boxes()
        torch.testing.assert_close(boxes_train, boxes_eval)
        self.assertEqual(float(targets.avg_factor) >= 1, True)

    def test_mismatched_priors_raise(self):
        student = HeadsOnly(bbox_head=dense_head('retina'))
        gfl_teacher = HeadsOnly(bbox_head=frozen(dense_head('gfl')))
        _, samples = batch(0)
        ctx = make_context(samples)
        with self.assertRaisesRegex(ValueError, 'anchor generator'):
            wire(DS2D2DenseImplicitLoss(), student, gfl_teacher)(
                fpn_features(1), fpn_features(2), ctx)

    def test_config_errors(self):
        with self.assertRaisesRegex(ValueError, 'amplifier_cfg'):
            DS2D2DenseImplicitLoss(amplifier='high_frequency')
        with self.assertRaises(ValueError):
            DS2D2DenseImplicitLoss(amplifier='low')
        with self.assertRaises(ValueError):
            DS2D2DenseImplicitLoss(amplifier='teacher', amplifier_ckpt='x')
        with self.assertRaisesRegex(FileNotFoundError, 'amplifier_ckpt'):
            DS2D2DenseImplicitLoss(
                amplifier='high_frequency',
                amplifier_cfg=single_stage_detector_cfg('retina'),
                amplifier_ckpt='work_dirs/does_not_exist/epoch_24.pth')


class TestDenseImplicitHFAmplifier(unittest.TestCase):

    def amplifier_cfg(self, kind='retina'):
        return dict(type='mmkd_dense.HFAmplifierDetector',
                    detector=single_stage_detector_cfg(kind))

    def test_hf_amplifier_on_high_frequency_features(self):
        student, teacher, samples = dense_setup('retina')
        ctx = make_context(samples)
        loss = DS2D2DenseImplicitLoss(amplifier='high_frequency',
                                      amplifier_cfg=self.amplifier_cfg())
        wire(loss, student, teacher)
        amp = loss.amplifier
        self.assertIsNotNone(amp)
        self.assertTrue(all(not p.requires_grad for p in amp.parameters()))
        loss.train()
        self.assertFalse(amp.training)
        feats_s = fpn_features(7, requires_grad=True)
        feats_t = fpn_features(8)
        value = loss(feats_s, feats_t, ctx)
        hf_s = tuple(high_frequency(f) for f in feats_s)
        hf_t = tuple(high_frequency(f) for f in feats_t)
        expected = reference_dense_implicit(amp(hf_s), amp(hf_t),
                                            student.bbox_head, samples)
        self.assertAlmostEqual(float(value), float(expected), places=4)
        value.backward()
        for f in feats_s:
            self.assertGreater(float(f.grad.abs().sum()), 0)
        for p in amp.parameters():
            self.assertIsNone(p.grad)
        # HF of equal features -> equal amplifier outputs -> 0
        feats = fpn_features(9)
        self.assertLess(abs(float(loss(feats, feats, ctx))), 1e-5)

    def test_loads_amplifier_checkpoint(self):
        source = build(self.amplifier_cfg())
        state = {k: v.clone() for k, v in source.state_dict().items()}
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'amp.pth')
            torch.save(dict(state_dict=state, meta=dict()), path)
            loss = DS2D2DenseImplicitLoss(amplifier='high_frequency',
                                          amplifier_cfg=self.amplifier_cfg(),
                                          amplifier_ckpt=path)
            for name, value in loss.amplifier.state_dict().items():
                torch.testing.assert_close(value,
                                           state['detector.bbox_head.' + name])
            # a checkpoint without the head is an error naming the keys
            torch.save(dict(state_dict={'backbone.x': torch.zeros(1)}), path)
            with self.assertRaisesRegex(KeyError, 'bbox_head'):
                DS2D2DenseImplicitLoss(amplifier='high_frequency',
                                       amplifier_cfg=self.amplifier_cfg(),
                                       amplifier_ckpt=path)
            os.remove(path)


def roi_setup(seed=0):
    torch.manual_seed(seed)
    det_cfg = two_stage_detector_cfg()
    student = build(det_cfg)
    torch.manual_seed(seed + 1)
    teacher = frozen(build(det_cfg))
    _, samples = batch(seed)
    return student, teacher, samples


def rpn_proposals(seed, num=40, input_shape=(64, 80)):
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(2):
        xy = torch.rand(num, 2, generator=gen) * torch.tensor([60., 48.])
        wh = 4 + torch.rand(num, 2, generator=gen) * 20
        out.append(InstanceData(bboxes=torch.cat([xy, xy + wh], 1)))
    return out


def roi_features(seed, requires_grad=False):
    return fpn_features(seed, sizes=((16, 20), (8, 10), (4, 5)),
                        requires_grad=requires_grad)


class TestRoIImplicit(unittest.TestCase):

    def test_hand_computed_with_fixed_head_outputs(self):
        """Amplifier outputs fixed by hand: 2 RoIs, K = 2 (+ background).

        Teacher logits [0, 0, 0] and [ln 2, 0, 0]; student [0, 0, 0] twice.
        KL(t || s) with T: RoI 0 is 0; RoI 1: t = softmax([ln2, 0, 0] / T).
        """
        student, teacher, samples = roi_setup()
        ctx = make_context(samples)
        k = 2
        student.roi_head.bbox_head.num_classes = k
        cls_t = torch.tensor([[0., 0., 0.], [float(torch.log(
            torch.tensor(2.))), 0., 0.]])
        cls_s = torch.zeros(2, 3, requires_grad=True)
        reg_t = torch.tensor([[0., 0., 0., 0., 1., 1., 1., 1.],
                              [2., 2., 2., 2., 0., 0., 0., 0.]])
        reg_s = torch.zeros(2, 8, requires_grad=True)

        def fake_forward(feats, rois):
            # the teacher side runs under no_grad, the student side with grad
            if not torch.is_grad_enabled():
                return dict(cls_score=cls_t, bbox_pred=reg_t)
            return dict(cls_score=cls_s, bbox_pred=reg_s)

        teacher.roi_head._bbox_forward = fake_forward
        feats_s, feats_t = roi_features(1), roi_features(2)
        from unittest import mock
        with mock.patch(
                'mmkd_dense.models.losses.ds2d2_roi_implicit_loss.'
                'sample_student_rois',
                return_value=(torch.zeros(2, 5), 10)):
            for as_weight in (True, False):
                loss = DS2D2RoIImplicitLoss(temperature=2.0,
                                            cls_weight=0.5,
                                            avg_factor_as_weight=as_weight)
                wire(loss, student, teacher)
                value = loss(feats_s, feats_t, ctx, rpn_results=[])
                t = torch.softmax(cls_t[1] / 2.0, 0)
                kl1 = float((t * (t.log() - torch.log(torch.tensor(1 / 3)))
                             ).sum()) * 4.0
                exp_cls = 0.5 * (kl1 / 2) * (10 if as_weight else 1)
                # class probs (ignoring background): RoI0 [1/3, 1/3] ->
                # w = 1/3, k* = 0 -> |0 - 0| = 0; RoI1 [1/2, 1/4] -> w = 1/2,
                # k* = 0 -> deltas 2 -> sum = 0.5 * 4 * 2 = 4.
                w0, w1 = 1 / 3, 0.5
                exp_reg = (w1 * 4 * 2) / (4 * (w0 + w1))
                self.assertAlmostEqual(float(value), exp_cls + exp_reg,
                                       places=5)

    def test_zero_when_equal_and_gradients(self):
        for amplifier in ('teacher', 'high_frequency'):
            with self.subTest(amplifier=amplifier):
                student, teacher, samples = roi_setup()
                ctx = make_context(samples)
                kwargs = {}
                if amplifier == 'high_frequency':
                    kwargs['amplifier_cfg'] = dict(
                        type='mmkd_dense.HFAmplifierDetector',
                        detector=two_stage_detector_cfg())
                loss = DS2D2RoIImplicitLoss(amplifier=amplifier, **kwargs)
                wire(loss, student, teacher)
                feats = roi_features(3)
                torch.manual_seed(0)
                same = loss(feats, feats, ctx, rpn_results=rpn_proposals(0))
                self.assertLess(abs(float(same)), 1e-5)  # fp32 KL x 65
                feats_s = roi_features(4, requires_grad=True)
                feats_t = roi_features(5, requires_grad=True)
                value = loss(feats_s, feats_t, ctx,
                             rpn_results=rpn_proposals(1))
                self.assertTrue(torch.isfinite(value))
                self.assertGreater(float(value), 0)
                value.backward()
                self.assertGreater(float(feats_s[0].grad.abs().sum()), 0)
                self.assertIsNone(feats_s[2].grad)  # P4 is not pooled
                for f in feats_t:
                    self.assertIsNone(f.grad)
                for module in (teacher, student):
                    for p in module.parameters():
                        self.assertIsNone(p.grad)
                if loss.amplifier is not None:
                    for p in loss.amplifier.parameters():
                        self.assertIsNone(p.grad)

    def test_sampling_follows_student_sampler(self):
        student, teacher, samples = roi_setup()
        ctx = make_context(samples)
        torch.manual_seed(0)
        rois, avg_factor = sample_student_rois(
            student.roi_head, rpn_proposals(2), ctx.data_samples)
        # image 0 (3 GT added to 40 proposals): 32 sampled, <= 8 positive;
        # image 1 (no GT): 32 negatives. avg_factor = sum over images of
        # max(#pos, 1) + max(#neg, 1) = 32 + (1 + 32) (mmdet SamplingResult)
        self.assertEqual(rois.shape[1], 5)
        self.assertEqual(int((rois[:, 0] == 0).sum()), 32)
        self.assertEqual(int((rois[:, 0] == 1).sum()), 32)
        self.assertEqual(int(avg_factor), 65)

    def test_quirk_scales_with_avg_factor(self):
        student, teacher, samples = roi_setup()
        ctx = make_context(samples)
        feats_s, feats_t = roi_features(6), roi_features(7)
        proposals = rpn_proposals(3)
        values = {}
        for quirk in (True, False):
            torch.manual_seed(0)
            loss = wire(DS2D2RoIImplicitLoss(reg_weight=0.,
                                             avg_factor_as_weight=quirk),
                        student, teacher)
            values[quirk] = float(loss(feats_s, feats_t, ctx,
                                       rpn_results=proposals))
        torch.manual_seed(0)
        _, avg_factor = sample_student_rois(student.roi_head, proposals,
                                            ctx.data_samples)
        self.assertAlmostEqual(values[True] / values[False], avg_factor,
                               places=2)

    def test_interval(self):
        student, teacher, samples = roi_setup()
        ctx = make_context(samples)
        feats_s, feats_t = roi_features(6), roi_features(7)
        proposals = rpn_proposals(3)
        torch.manual_seed(0)
        every = float(wire(DS2D2RoIImplicitLoss(), student, teacher)(
            feats_s, feats_t, ctx, rpn_results=proposals))
        loss = DS2D2RoIImplicitLoss(interval=2)
        wire(loss, student, teacher)
        torch.manual_seed(0)  # same RoI sample as above
        first = loss(feats_s, feats_t, ctx, rpn_results=proposals)
        second = loss(feats_s, feats_t, ctx, rpn_results=proposals)
        self.assertGreater(every, 0)
        self.assertAlmostEqual(float(first), 2 * every, places=3)
        self.assertEqual(float(second), 0.0)
        with self.assertRaisesRegex(ValueError,
                                    'DS2D2RoIImplicitLoss.interval'):
            DS2D2RoIImplicitLoss(interval=-1)

    def test_recomputes_proposals_without_recorder(self):
        student, teacher, samples = roi_setup()
        ctx = make_context(samples)
        value = wire(DS2D2RoIImplicitLoss(), student, teacher)(
            roi_features(8), roi_features(9), ctx)
        self.assertTrue(torch.isfinite(value))
        self.assertGreater(float(value), 0)

    def test_amplifier_roi_head_from_checkpoint(self):
        cfg = dict(type='mmkd_dense.HFAmplifierDetector',
                   detector=two_stage_detector_cfg())
        source = build(cfg)
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'amp.pth')
            torch.save(dict(state_dict=source.state_dict()), path)
            loss = DS2D2RoIImplicitLoss(amplifier='high_frequency',
                                        amplifier_cfg=cfg,
                                        amplifier_ckpt=path)
        for name, value in loss.amplifier.state_dict().items():
            torch.testing.assert_close(
                value, source.state_dict()['detector.roi_head.' + name])
        self.assertEqual(type(loss.amplifier).__name__,
                         type(build(dict(roi_head_cfg(),
                                         _scope_='mmdet'))).__name__)



class TestWiring(unittest.TestCase):
    """Heads are wired once by prepare_from_*, never read from the batch."""

    def test_handles_are_not_submodules(self):
        student, teacher, samples = dense_setup('retina')
        loss = wire(DS2D2DenseImplicitLoss(), student, teacher)
        self.assertEqual(list(loss.state_dict()), [])
        self.assertEqual(list(loss.parameters()), [])
        self.assertIs(loss._handles['student_head'], student.bbox_head)
        self.assertIs(loss._handles['teacher_head'], teacher.bbox_head)
        roi_student, roi_teacher, _ = roi_setup()
        roi = wire(DS2D2RoIImplicitLoss(), roi_student, roi_teacher)
        self.assertEqual(list(roi.state_dict()), [])
        self.assertIs(roi._handles['teacher_roi_head'], roi_teacher.roi_head)
        self.assertIs(roi._handles['student_rpn_head'], roi_student.rpn_head)

    def test_unwired_and_wrong_detector_errors(self):
        student, teacher, samples = dense_setup('retina')
        ctx = make_context(samples)
        with self.assertRaisesRegex(RuntimeError, 'prepare_from_student'):
            DS2D2DenseImplicitLoss()(fpn_features(1), fpn_features(2), ctx)
        roi_student, roi_teacher, _ = roi_setup()
        with self.assertRaisesRegex(TypeError, 'DS2D2RoIImplicitLoss'):
            DS2D2DenseImplicitLoss().prepare_from_student(roi_student)
        with self.assertRaisesRegex(TypeError, 'DS2D2DenseImplicitLoss'):
            DS2D2RoIImplicitLoss().prepare_from_student(student)
        with self.assertRaisesRegex(AttributeError,
                                    'teacher_head="head".*bbox_head'):
            DS2D2DenseImplicitLoss(teacher_head='head').prepare_from_teacher(
                teacher)
        # no RPN to recompute proposals and none mapped: the fix is named
        no_rpn = HeadsOnly(roi_head=roi_student.roi_head)
        loss = wire(DS2D2RoIImplicitLoss(), no_rpn, roi_teacher)
        with self.assertRaisesRegex(ValueError, 'map rpn_results'):
            loss(roi_features(1), roi_features(2), ctx)


if __name__ == '__main__':
    unittest.main()
