# Copyright (c) mmkd_dense contributors. All rights reserved.
"""GTAwareDistill: the GT hand-off to the distiller, gradient isolation,
teacher forward modes and teacher loading (the distiller's config errors are
in ``tests/test_models/test_distillers/test_gt_aware_distiller.py``)."""
import os.path as osp
import tempfile
import unittest

import torch
from mmengine.config import Config
from torch import nn

import mmkd_dense  # noqa: F401
from mmkd_dense.registry import MODELS
from mmkd_dense.testing import build_model_from_cfg, run_dummy_train_steps
from mmkd_dense.utils.dummy_batch import make_dummy_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEMO_KD = osp.join(REPO, 'configs/demo/'
                   'fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py')


@MODELS.register_module()
class _ContextProbeLoss(nn.Module):
    """Test loss that records what the distiller hands it."""

    seen = []

    def forward(self, preds_S, preds_T, batch_context):
        _ContextProbeLoss.seen.append(batch_context)
        return (preds_S.mean() - preds_T.mean())**2


def demo_cfg():
    return Config.fromfile(DEMO_KD)


class TestGTAwareDistill(unittest.TestCase):

    def test_losses_and_gradients_reach_student_only(self):
        model = build_model_from_cfg(demo_cfg())
        history = run_dummy_train_steps(model, num_steps=1, num_classes=10)
        keys = set(history[0])
        self.assertTrue({f'distill.loss_fgd_fpn{i}'
                         for i in range(3)} <= keys)
        self.assertIn('student.loss_cls', keys)
        self.assertTrue(all(p.grad is None
                            for p in model.teacher.parameters()))
        self.assertTrue(all(not p.requires_grad
                            for p in model.teacher.parameters()))
        self.assertTrue(any(p.grad is not None
                            for p in model.student.parameters()))
        align = model.distiller.distill_losses['loss_fgd_fpn0'].align
        self.assertIsNotNone(align.weight.grad)

    def test_batch_context_contents(self):
        cfg = demo_cfg()
        cfg.model.distiller.distill_losses = dict(
            loss_probe=dict(type='mmkd_dense._ContextProbeLoss'))
        cfg.model.distiller.loss_forward_mappings = dict(
            loss_probe=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=0),
                preds_T=dict(from_student=False, recorder='fpn',
                             data_idx=0)))
        model = build_model_from_cfg(cfg)
        inputs, samples = make_dummy_batch(
            input_shape=(96, 128), num_classes=10, boxes_per_image=(3, 0))
        _ContextProbeLoss.seen.clear()
        model.loss(inputs, samples)
        ctx = _ContextProbeLoss.seen[-1]
        self.assertEqual(ctx.batch_input_shape, (96, 128))
        self.assertEqual([len(b) for b in ctx.gt_bboxes], [3, 0])
        self.assertTrue(torch.equal(ctx.gt_bboxes[0],
                                    samples[0].gt_instances.bboxes))
        # data only: no models, no input tensor
        for name in ('student', 'teacher', 'batch_inputs'):
            self.assertFalse(hasattr(ctx, name), name)
        boxes, index = ctx.flat_gt_bboxes()
        self.assertEqual(boxes.shape, (3, 4))
        self.assertEqual(index.tolist(), [0, 0, 0])
        # an argument of the call, not state kept on the distiller
        self.assertFalse(hasattr(model.distiller, 'batch_context'))
        self.assertFalse(hasattr(model.distiller, 'set_batch_context'))

    def test_teacher_forward_modes(self):
        for mode in ('feat', 'tensor', 'loss'):
            cfg = demo_cfg()
            cfg.model.teacher_forward = mode
            model = build_model_from_cfg(cfg)
            losses = model.loss(*make_dummy_batch(num_classes=10))
            self.assertIn('distill.loss_fgd_fpn2', losses, mode)
            self.assertFalse(any(k.startswith('teacher.') for k in losses))
        cfg = demo_cfg()
        cfg.model.teacher_forward = 'head'
        with self.assertRaisesRegex(ValueError, 'model.teacher_forward'):
            build_model_from_cfg(cfg)

    def test_teacher_ckpt_is_loaded(self):
        cfg = demo_cfg()
        teacher = build_model_from_cfg(
            Config.fromfile(osp.join(
                REPO, 'configs/demo/retinanet_r18c32_fpn_12e_digits.py')))
        with torch.no_grad():
            for p in teacher.parameters():
                p.fill_(0.125)
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'teacher.pth')
            torch.save(dict(state_dict=teacher.state_dict(),
                            meta=dict(epoch=12)), path)
            cfg.model.teacher_ckpt = path
            model = build_model_from_cfg(cfg, drop_teacher_ckpt=False)
        weight = model.teacher.backbone.conv1.weight
        self.assertTrue(torch.all(weight == 0.125))

    def test_missing_teacher_ckpt(self):
        cfg = demo_cfg()
        cfg.model.teacher_ckpt = '/nonexistent/teacher.pth'
        with self.assertRaisesRegex(FileNotFoundError, 'model.teacher_ckpt'):
            build_model_from_cfg(cfg, drop_teacher_ckpt=False)

    def test_teacher_cfg_file_with_options(self):
        cfg = demo_cfg()
        cfg.model.teacher.cfg_options = {'bbox_head.stacked_convs': 1}
        model = build_model_from_cfg(cfg)
        self.assertEqual(len(model.teacher.bbox_head.cls_convs), 1)
        cfg.model.teacher = dict(cfg_file='configs/demo/missing.py')
        with self.assertRaisesRegex(FileNotFoundError,
                                    'model.teacher.cfg_file'):
            build_model_from_cfg(cfg)


if __name__ == '__main__':
    unittest.main()


class TestStudentInitFromTeacher(unittest.TestCase):
    """``student_init_from_teacher`` copies same-shaped teacher parts into
    the student once the teacher is loaded (FGD's ``init_student``), keeps
    them through ``init_weights()`` and names the key on a mismatch."""

    CFG = osp.join(REPO, 'configs/baselines/crosskd/'
                   'crosskd_head_retina-r18c32_retina-r18c16-fpn64_12e_'
                   'digits.py')

    def _teacher_ckpt(self, tmp):
        teacher = build_model_from_cfg(Config.fromfile(osp.join(
            REPO, 'configs/demo/retinanet_r18c32_fpn_12e_digits.py')))
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in teacher.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
        path = osp.join(tmp, 'teacher.pth')
        torch.save(dict(state_dict=teacher.state_dict()), path)
        return teacher, path

    def test_head_copied_and_kept_by_init_weights(self):
        with tempfile.TemporaryDirectory() as tmp:
            teacher, path = self._teacher_ckpt(tmp)
            cfg = Config.fromfile(self.CFG)
            cfg.model.teacher_ckpt = path
            cfg.model.student_init_from_teacher = ['bbox_head']
            model = build_model_from_cfg(cfg, drop_teacher_ckpt=False)
        model.init_weights()
        s_head = model.student.bbox_head.state_dict()
        for k, v in teacher.bbox_head.state_dict().items():
            self.assertTrue(torch.equal(s_head[k], v), k)
        # the copy is independent of the teacher's tensors
        self.assertNotEqual(
            model.student.bbox_head.retina_cls.weight.data_ptr(),
            model.teacher.bbox_head.retina_cls.weight.data_ptr())
        # a part not listed is not copied (same shapes in both)
        self.assertFalse(torch.equal(
            model.student.neck.fpn_convs[0].conv.weight,
            teacher.neck.fpn_convs[0].conv.weight))

    def test_mismatched_part_names_the_key(self):
        from mmkd_dense.models.distillers import DistillConfigError
        cfg = Config.fromfile(self.CFG)
        cfg.model.student_init_from_teacher = ['neck']  # c16 vs c32 inputs
        with self.assertRaisesRegex(DistillConfigError,
                                    'model.student_init_from_teacher.*neck'):
            build_model_from_cfg(cfg)
        cfg.model.student_init_from_teacher = ['nope']
        with self.assertRaisesRegex(DistillConfigError, 'no submodule "nope"'):
            build_model_from_cfg(cfg)
        cfg.model.student_init_from_teacher = 'bbox_head'
        with self.assertRaisesRegex(DistillConfigError, 'list of submodule'):
            build_model_from_cfg(cfg)
