# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Every CID + Light-ML config (and its VisDrone detector configs) builds,
puts Light-ML in the student's forward path and trains 2 CPU iterations."""
import glob
import os.path as osp
import unittest

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.connectors import LightML
from mmkd_dense.testing import build_model_from_cfg, run_dummy_train_steps

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/cid_lightml/*.py')))
DETECTORS = sorted(
    glob.glob(osp.join(ROOT, 'configs/detectors/*/*_15e_visdrone.py')))


def num_classes_of(path: str) -> int:
    # VisDrone and the embedded digits demo have 10 classes, UAVDT 3, COCO 80
    if path.endswith('_uavdt.py'):
        return 3
    return 10 if path.endswith(('_visdrone.py', '_digits.py')) else 80


class TestCIDLightMLConfigs(unittest.TestCase):

    def test_config_set(self):
        names = {osp.basename(p) for p in CONFIGS}
        for expected in (
                'cid-lightml_head_gfl-r101_gfl-r18_15e_visdrone.py',
                'cid-lightml-fgd_head-fpn_gfl-r101_gfl-r18_15e_visdrone.py',
                'cid-lightml_head_retina-r101_retina-r18_15e_visdrone.py',
                'cid-lightml_head_fcos-r101_fcos-r18_15e_visdrone.py',
                'cid-lightml_roi_faster-rcnn-r101_faster-rcnn-r18_15e_'
                'visdrone.py',
                'cid-lightml_head_gfl-r101_gfl-r50_1x_coco.py'):
            self.assertIn(expected, names)

    def test_visdrone_detector_configs(self):
        self.assertGreaterEqual(len(DETECTORS), 12)
        for path in DETECTORS:
            cfg = Config.fromfile(path)
            model = cfg.model
            head = model.get('bbox_head') or model.roi_head.bbox_head
            self.assertEqual(head.num_classes, 10, path)
            test_cfg = model.test_cfg.get('rcnn', model.test_cfg)
            self.assertEqual(test_cfg.max_per_img, 500, path)
            self.assertEqual(cfg.train_dataloader.dataset.type,
                             'RepeatDataset')
            self.assertEqual(cfg.train_dataloader.dataset.times, 5)
            self.assertEqual(cfg.train_cfg.max_epochs, 15)
            self.assertEqual(cfg.param_scheduler[1].milestones, [11, 14])
            self.assertEqual(cfg.optim_wrapper.optimizer.lr, 0.01)
            self.assertEqual(cfg.optim_wrapper.clip_grad.max_norm, 10)
            self.assertEqual(cfg.train_pipeline[2].scale, (1333, 800))

    def test_lightml_detectors_init_identity_and_predict(self):
        from mmkd_dense.utils.dummy_batch import make_dummy_batch
        paths = [p for p in DETECTORS if '-lightml_' in osp.basename(p)]
        self.assertEqual(len(paths), 5)
        for path in paths:
            with self.subTest(config=osp.basename(path)):
                model = build_model_from_cfg(Config.fromfile(path))
                model.init_weights()
                lml = [m for m in model.modules() if isinstance(m, LightML)]
                self.assertEqual(len(lml), 1)
                # identity start survives the detector's init_weights
                self.assertEqual(float(lml[0].mix.weight.abs().sum()), 0.)
                model.eval()
                inputs, samples = make_dummy_batch(
                    num_images=1, num_classes=10, boxes_per_image=(2,))
                with torch.no_grad():
                    results = model(inputs, samples, mode='predict')
                self.assertEqual(len(results), 1)
                self.assertIn('pred_instances', results[0])


def _make_train_test(path: str):
    """A test method: build ``path`` and train 2 CPU iterations."""

    def test(self) -> None:
        name = osp.basename(path)
        cfg = Config.fromfile(path)
        self.assertEqual(cfg.model.type, 'mmkd_dense.GTAwareDistill')
        model = build_model_from_cfg(cfg)
        student = model.student
        self.assertTrue(
            any(isinstance(m, LightML) for m in student.modules()),
            f'{name}: no Light-ML in the student')
        self.assertFalse(
            any(isinstance(m, LightML) for m in model.teacher.modules()))
        history = run_dummy_train_steps(
            model, num_steps=2, num_classes=num_classes_of(path))
        cid_keys = [k for k in history[0] if k.startswith('distill.loss_cid')]
        self.assertTrue(cid_keys, f'{name}: no CID loss logged')
        # the teacher is frozen, the student trains
        self.assertTrue(
            all(not p.requires_grad for p in model.teacher.parameters()))
        lml = next(m for m in student.modules() if isinstance(m, LightML))
        # after two SGD steps Light-ML has left the identity
        self.assertGreater(float(lml.mix.weight.abs().sum()), 0.)

    return test


class TestCIDLightMLConfigsTrain(unittest.TestCase):
    """One test per config (run a single one with ``-k <config stem>``)."""


for _path in CONFIGS:
    _stem = osp.splitext(osp.basename(_path))[0].replace('-', '_')
    setattr(TestCIDLightMLConfigsTrain, f'test_train_2_iters_{_stem}',
            _make_train_test(_path))


if __name__ == '__main__':
    unittest.main()
