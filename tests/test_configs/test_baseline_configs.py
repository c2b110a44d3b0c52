# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The CWD, MGD and PKD baseline configs build and train (tiny inputs)."""
import os.path as osp
import unittest

import mmkd_dense  # noqa: F401
from mmengine.config import Config

from mmkd_dense.testing import build_model_from_cfg, run_dummy_train_steps

from ..test_tools.tool_helpers import REPO_ROOT

CWD = 'configs/baselines/cwd/cwd_fpn_retina-r101_retina-r50_2x_coco.py'
MGD = 'configs/baselines/mgd/mgd_fpn_retina-r101_retina-r50_2x_coco.py'
#: PKD children of configs/baselines/pkd/_base_/ -> mmrazor's loss weight
PKD = {
    'retina-r101_retina-r50_2x_coco': 10,
    'gfl-r101_gfl-r50_1x_coco': 10,
    'fcos-r101_fcos-r50_2x_coco': 10,
    'faster-rcnn-r101_faster-rcnn-r50_2x_coco': 6,
}


class TestBaselineConfigs(unittest.TestCase):

    def _train(self, path):
        cfg = Config.fromfile(osp.join(REPO_ROOT, path))
        model = build_model_from_cfg(cfg)
        history = run_dummy_train_steps(model, num_steps=1,
                                        input_shape=(64, 96), num_classes=80)
        teacher_grads = [p.grad for p in model.teacher.parameters()
                         if p.grad is not None]
        self.assertEqual(teacher_grads, [])
        return cfg, model, history[0]

    def test_cwd(self):
        cfg, model, losses = self._train(CWD)
        names = sorted(k for k in losses if k.startswith('distill.'))
        self.assertEqual(names, [f'distill.loss_cwd_fpn{i}' for i in range(5)])
        for loss in model.distiller.distill_losses.values():
            self.assertEqual(type(loss).__name__, 'ChannelWiseDivergence')
            self.assertEqual((loss.tau, loss.loss_weight), (1, 10))
        self.assertTrue(all(losses[n] > 0 for n in names[:4]))
        # P7 of a 64x96 input is 1x1: a softmax over one location is 1, so
        # the channel-wise KL divergence is exactly 0.
        self.assertEqual(losses[names[4]], 0.0)
        self.assertEqual(cfg.val_cfg.type,
                         'mmrazor.SingleTeacherDistillValLoop')

    def test_mgd(self):
        cfg, model, losses = self._train(MGD)
        names = sorted(k for k in losses if k.startswith('distill.'))
        self.assertEqual(names, [f'distill.loss_mgd_fpn{i}' for i in range(5)])
        connectors = model.distiller.connectors
        self.assertEqual(len(connectors), 5)
        for conn in connectors.values():
            self.assertEqual(type(conn).__name__, 'MGDConnector')
            self.assertAlmostEqual(conn.lambda_mgd, 0.65)
            # the generator is trained with the student
            self.assertTrue(any(p.grad is not None and p.grad.abs().sum() > 0
                                for p in conn.parameters()))
        for loss in model.distiller.distill_losses.values():
            self.assertAlmostEqual(loss.alpha_mgd, 2e-5)
        # "inheriting" init: student neck and head start from the teacher
        # (copied from the loaded teacher: model.student_init_from_teacher)
        self.assertEqual(list(cfg.model.student_init_from_teacher),
                         ['neck', 'bbox_head'])
        self.assertEqual(cfg.model.architecture.backbone.depth, 50)

    def test_pkd(self):
        for pair, weight in PKD.items():
            with self.subTest(pair=pair):
                cfg, model, losses = self._train(
                    f'configs/baselines/pkd/pkd_fpn_{pair}.py')
                names = sorted(k for k in losses if k.startswith('distill.'))
                # PKD distils the first 4 FPN levels (mmrazor's configs)
                self.assertEqual(
                    names, [f'distill.loss_pkd_fpn{i}' for i in range(4)])
                for loss in model.distiller.distill_losses.values():
                    self.assertEqual(type(loss).__name__, 'PKDLoss')
                    self.assertEqual(loss.loss_weight, weight)
                self.assertTrue(all(losses[n] > 0 for n in names))
                # teacher: the R101 detector of the same family and schedule
                family = pair.split('-r101')[0].replace('retina', 'retinanet')
                self.assertIn(f'/{family}_r101_fpn',
                              cfg.model.teacher.cfg_file)


if __name__ == '__main__':
    unittest.main()
