# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Each detector family x {FGD, PKD}: train 2 iterations through mmengine's
Runner on tiny generated COCO data, validate student and teacher, save,
resume, and evaluate the checkpoint with tools/test.py."""
import json
import os.path as osp
import tempfile
import unittest

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.testing import (build_model_from_cfg, make_tiny_coco,
                                shrink_config)
from mmkd_dense.utils.run_log import build_runner
from ._helpers import (REPO, low_score_thr, read_scalars, run_tool,
                       set_teacher_ckpt)

PAIRS = {
    'retina': 'retina-r101_retina-r50_2x',
    'fcos': 'fcos-r101_fcos-r50_2x',
    'faster_rcnn': 'faster-rcnn-r101_faster-rcnn-r50_2x',
    'gfl': 'gfl-r101_gfl-r50_1x',
}


class DistillRuntimeCase:
    """Mixin: one method; subclasses set METHOD ('fgd' or 'pkd')."""

    METHOD = ''

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = osp.join(cls.tmp.name, 'coco')
        make_tiny_coco(cls.data, num_images=3)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _teacher_ckpt(self, cfg, work):
        """A real mmengine checkpoint of the teacher, as train.py saves it
        (with message hub, HistoryBuffer and numpy meta)."""
        teacher_cfg = Config.fromfile(
            osp.join(REPO, cfg.model.teacher.cfg_file))
        teacher_cfg = shrink_config(teacher_cfg, self.data,
                                    osp.join(work, 'teacher'), max_iters=1)
        teacher_cfg.val_cfg = None
        teacher_cfg.val_dataloader = None
        teacher_cfg.val_evaluator = None
        runner = build_runner(teacher_cfg)
        runner.train()
        return osp.join(work, 'teacher', 'iter_1.pth')

    def _run_pair(self, family):
        name = f'{self.METHOD}_fpn_{PAIRS[family]}_coco.py'
        config = osp.join(REPO, 'configs/baselines', self.METHOD, name)
        work = osp.join(self.tmp.name, family)
        cfg = shrink_config(Config.fromfile(config), self.data,
                            osp.join(work, 'kd'))
        cfg = low_score_thr(cfg)
        # FGD: the student's neck/head are initialised from the teacher too
        set_teacher_ckpt(cfg, self._teacher_ckpt(cfg, work))

        # train 2 iterations + validation of student and teacher
        runner = build_runner(cfg)
        runner.train()
        ckpt = osp.join(work, 'kd', 'iter_2.pth')
        self.assertTrue(osp.isfile(ckpt))
        keys = set().union(*[r.keys() for r in read_scalars(cfg.work_dir)])
        self.assertIn('coco/bbox_mAP', keys)
        self.assertIn('teacher.coco/bbox_mAP', keys)
        self.assertTrue(any(k.startswith('distill.loss') for k in keys))
        state = torch.load(ckpt, map_location='cpu')
        self.assertTrue(any(k.startswith('architecture.')
                            for k in state['state_dict']))
        self.assertTrue(any(k.startswith('teacher.')
                            for k in state['state_dict']))

        # resume to iteration 3
        cfg3 = cfg.copy()
        cfg3.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3,
                              val_interval=3)
        cfg3.default_hooks.checkpoint = dict(type='CheckpointHook',
                                             interval=1, by_epoch=False)
        cfg3.resume = True
        cfg3.load_from = ckpt
        build_runner(cfg3).train()
        resumed = torch.load(osp.join(work, 'kd', 'iter_3.pth'),
                             map_location='cpu')
        self.assertEqual(resumed['meta']['iter'], 3)
        self.assertFalse(osp.exists(osp.join(work, 'kd', 'iter_1.pth')),
                         'resume must not restart from iteration 0')

        # evaluate with the stock test tool (student)
        dumped = osp.join(work, 'kd_config.py')
        cfg.dump(dumped)
        metrics_file = osp.join(work, 'metrics.json')
        proc = run_tool([
            'tools/test.py', dumped, ckpt, '--work-dir',
            osp.join(work, 'test'), '--metrics-out', metrics_file
        ])
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        with open(metrics_file) as f:
            metrics = json.load(f)
        self.assertIn('coco/bbox_mAP', metrics)
        self.assertGreaterEqual(metrics['coco/bbox_mAP'], 0.0)

    def test_retinanet(self):
        self._run_pair('retina')

    def test_fcos(self):
        self._run_pair('fcos')

    def test_faster_rcnn(self):
        self._run_pair('faster_rcnn')

    def test_gfl(self):
        self._run_pair('gfl')


class TestFGDRuntime(DistillRuntimeCase, unittest.TestCase):
    METHOD = 'fgd'


class TestPKDRuntime(DistillRuntimeCase, unittest.TestCase):
    METHOD = 'pkd'


class TestPlainDetectorTestTool(unittest.TestCase):
    """tools/test.py also evaluates plain mmdet configs."""

    def test_plain_config(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = osp.join(tmp, 'coco')
            make_tiny_coco(data, num_images=2)
            cfg = Config.fromfile(osp.join(
                REPO, 'configs/detectors/retinanet/retinanet_r18_fpn_2x_coco.py'))
            cfg = low_score_thr(shrink_config(cfg, data, osp.join(tmp, 'w')))
            model = build_model_from_cfg(cfg)
            ckpt = osp.join(tmp, 'model.pth')
            torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
            dumped = osp.join(tmp, 'cfg.py')
            cfg.dump(dumped)
            out = osp.join(tmp, 'preds.pkl')
            proc = run_tool(['tools/test.py', dumped, ckpt, '--out', out,
                             '--metrics-out', osp.join(tmp, 'm.json')])
            self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
            self.assertTrue(osp.isfile(out))
            with open(osp.join(tmp, 'm.json')) as f:
                self.assertIn('coco/bbox_mAP', json.load(f))


if __name__ == '__main__':
    unittest.main()
