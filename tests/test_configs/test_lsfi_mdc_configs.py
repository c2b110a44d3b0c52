# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Every LSFI + MDC-KD config (and the VOC / Cityscapes detector configs it
uses) builds with the intended losses, adapters and weights, and trains 2
CPU iterations on tiny synthetic batches.

One test method per config (``test_train_<config name>``), so subsets can
be run with ``-k``; each takes a few seconds per R50/R101 step on CPU.
"""
import glob
import os.path as osp
import re
import unittest

from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.connectors import FeatureAdapter
from mmkd_dense.models.losses import LSFILoss, MDCLoss
from mmkd_dense.testing import build_model_from_cfg, run_dummy_train_steps
from mmkd_dense.utils.pretrained import expected_imagenet_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/lsfi_mdc/*.py')))
DETECTORS = sorted(
    glob.glob(osp.join(ROOT, 'configs/detectors/*/*_1x_voc0712.py')) +
    glob.glob(osp.join(ROOT, 'configs/detectors/*/*_1x_cityscapes.py')))
NUM_CLASSES = dict(coco=80, voc0712=20, cityscapes=8, digits=10)
EXPECTED = [
    'lsfi-mdc_fpn_retina-r101_retina-r50_2x_coco.py',
    'lsfi-mdc_fpn_fcos-r101_fcos-r50_2x_coco.py',
    'lsfi-mdc_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py',
    'lsfi-mdc_fpn_gfl-r101_gfl-r50_1x_coco.py',
    'lsfi-mdc_fpn_retina-x101_retina-r50_2x_coco.py',
    'lsfi-mdc_fpn_fcos-x101_retina-r50_1x_coco.py',
] + [
    f'lsfi-mdc_fpn_{pair}_1x_{ds}.py'
    for ds in ('voc0712', 'cityscapes')
    for pair in ('retina-r101_retina-r50', 'fcos-r101_fcos-r50',
                 'faster-rcnn-r101_faster-rcnn-r50', 'gfl-r101_gfl-r50')
] + ['lsfi-mdc_fpn_retina-r18c32_retina-r18c16_12e_digits.py']
#: (temperature, alpha, beta, gamma) of LSFILoss per student family
#: (methods.md)
LSFI_WEIGHTS = {
    'retina': (0.5, 1e-3, 5e-4, 5e-4),
    'gfl': (0.5, 1e-3, 5e-4, 5e-4),
    'faster-rcnn': (0.5, 5e-5, 2.5e-5, 5e-5),
    'fcos': (0.8, 1.6e-3, 8e-4, 8e-4),
}
TYPES = {'retina': 'RetinaNet', 'gfl': 'GFL', 'faster-rcnn': 'FasterRCNN',
         'fcos': 'FCOS'}


def parse_name(path):
    """``lsfi-mdc_fpn_{t}_{s}_{sched}_{ds}.py`` -> its fields."""
    m = re.match(r'lsfi-mdc_fpn_(?P<t>[a-z-]+?)-(?P<tb>r\d+c?\d*|x101)_'
                 r'(?P<s>[a-z-]+?)-(?P<sb>r\d+c?\d*)_(?P<sched>\w+?)_'
                 r'(?P<ds>[a-z0-9]+)\.py$', osp.basename(path))
    assert m is not None, path
    return m.groupdict()


def head_num_classes(model_cfg):
    head = model_cfg.get('bbox_head') or model_cfg.roi_head.bbox_head
    return head.num_classes


class TestLSFIMDCConfigFiles(unittest.TestCase):

    def test_config_set(self):
        names = [osp.basename(p) for p in CONFIGS]
        self.assertEqual(sorted(names), sorted(EXPECTED))

    def test_detector_configs(self):
        names = {osp.basename(p) for p in DETECTORS}
        for family in ('retinanet_{}_fpn', 'faster-rcnn_{}_fpn',
                       'fcos_{}_fpn_gn-head', 'gfl_{}_fpn'):
            for depth in ('r50', 'r101'):
                for ds in ('voc0712', 'cityscapes'):
                    self.assertIn(f'{family.format(depth)}_1x_{ds}.py', names)
        for path in DETECTORS:
            cfg = Config.fromfile(path)
            voc = path.endswith('_voc0712.py')
            self.assertEqual(head_num_classes(cfg.model), 20 if voc else 8,
                             path)
            depth = 101 if '_r101_' in path else 50
            self.assertEqual(cfg.model.backbone.depth, depth, path)
            # ImageNet file of this depth (configs/_base_/models)
            self.assertEqual(cfg.model.backbone.init_cfg.checkpoint,
                             expected_imagenet_checkpoint(cfg.model.backbone),
                             path)
            self.assertEqual(cfg.train_dataloader.dataset.type,
                             'RepeatDataset')
            self.assertEqual(cfg.train_dataloader.dataset.times,
                             3 if voc else 8)
            self.assertEqual(cfg.train_cfg.max_epochs, 4 if voc else 8)
            self.assertEqual(cfg.param_scheduler[-1].milestones,
                             [3] if voc else [7])
            self.assertEqual(cfg.optim_wrapper.optimizer.lr, 0.01)
            self.assertEqual(cfg.optim_wrapper.optimizer.type, 'SGD')
            evaluator = cfg.val_evaluator.type
            self.assertEqual(evaluator, 'VOCMetric' if voc else 'CocoMetric')
            if '/fcos/' in path:
                self.assertEqual(cfg.optim_wrapper.clip_grad.max_norm, 35)
                self.assertEqual(
                    cfg.optim_wrapper.paramwise_cfg.bias_lr_mult, 2.)

    def test_config_contents(self):
        for path in CONFIGS:
            with self.subTest(config=osp.basename(path)):
                self._check_contents(path)

    def _check_contents(self, path):
        cfg = Config.fromfile(path)
        fields = parse_name(path)
        distiller = cfg.model.distiller
        levels = 3 if fields['ds'] == 'digits' else 5
        self.assertEqual(
            sorted(distiller.distill_losses),
            sorted([f'loss_lsfi_fpn{i}' for i in range(levels)] +
                   [f'loss_mdc_fpn{i}' for i in range(levels)]))
        self.assertEqual(sorted(distiller.connectors),
                         [f'adapter_fpn{i}' for i in range(levels)])
        for name, mapping in distiller.loss_forward_mappings.items():
            i = int(name[-1])
            self.assertEqual(mapping.preds_S.connector, f'adapter_fpn{i}')
            self.assertEqual(mapping.preds_S.data_idx, i)
            self.assertEqual(mapping.preds_T.data_idx, i)
            self.assertNotIn('connector', mapping.preds_T)
        lsfi = distiller.distill_losses.loss_lsfi_fpn0
        weights = LSFI_WEIGHTS[fields['t'] if fields['t'] == fields['s']
                               else fields['s']]
        self.assertEqual((lsfi.temperature, lsfi.alpha, lsfi.beta, lsfi.gamma),
                         weights)
        self.assertEqual(tuple(lsfi.pool_sizes), (1, 3, 5))
        mdc = distiller.distill_losses.loss_mdc_fpn0
        self.assertEqual((mdc.global_weight, mdc.local_weight), (6.0, 6.0))
        # teacher checkpoint = last epoch of the teacher config's work dir
        teacher_file = cfg.model.teacher.cfg_file
        teacher_cfg = Config.fromfile(osp.join(ROOT, teacher_file))
        stem = osp.splitext(osp.basename(teacher_file))[0]
        if fields['ds'] != 'digits':
            self.assertEqual(
                cfg.model.teacher_ckpt,
                f'work_dirs/{stem}/epoch_{teacher_cfg.train_cfg.max_epochs}'
                '.pth')
            epochs = dict(coco={'1x': 12, '2x': 24}, voc0712={'1x': 4},
                          cityscapes={'1x': 8})[fields['ds']]
            self.assertEqual(cfg.train_cfg.max_epochs,
                             epochs[fields['sched']])
            self.assertEqual(cfg.optim_wrapper.clip_grad.max_norm, 35)
        num_classes = NUM_CLASSES[fields['ds']]
        self.assertEqual(head_num_classes(cfg.model.architecture),
                         num_classes)
        self.assertEqual(head_num_classes(teacher_cfg.model), num_classes)


def _make_train_test(path):

    def test(self):
        cfg = Config.fromfile(path)
        fields = parse_name(path)
        model = build_model_from_cfg(cfg)
        self.assertEqual(type(model.student).__name__, TYPES[fields['s']])
        self.assertEqual(type(model.teacher).__name__, TYPES[fields['t']])
        teacher_backbone = model.teacher.backbone
        if fields['tb'] == 'x101':
            self.assertEqual(type(teacher_backbone).__name__, 'ResNeXt')
        elif fields['tb'] == 'r101':
            self.assertEqual(teacher_backbone.depth, 101)
        levels = len(model.distiller.connectors)
        for i in range(levels):
            self.assertIsInstance(
                model.distiller.connectors[f'adapter_fpn{i}'],
                FeatureAdapter)
            self.assertIsInstance(
                model.distiller.distill_losses[f'loss_lsfi_fpn{i}'],
                LSFILoss)
            self.assertIsInstance(
                model.distiller.distill_losses[f'loss_mdc_fpn{i}'], MDCLoss)
        history = run_dummy_train_steps(
            model, num_steps=2, input_shape=(64, 96),
            num_classes=NUM_CLASSES[fields['ds']], boxes_per_image=(3, 0))
        for step in history:
            for i in range(levels):
                self.assertGreater(step[f'distill.loss_lsfi_fpn{i}'], 0)
                self.assertGreater(step[f'distill.loss_mdc_fpn{i}'], 0)
            self.assertTrue(any(k.startswith('student.') for k in step))
        adapter = model.distiller.connectors['adapter_fpn0']
        self.assertIsNotNone(adapter.conv.weight.grad)
        self.assertTrue(all(p.grad is None
                            for p in model.teacher.parameters()))

    return test


class TestLSFIMDCConfigsTrain(unittest.TestCase):
    """Generated: ``test_train_<config stem with - as _>``."""


for _path in CONFIGS:
    _stem = osp.splitext(osp.basename(_path))[0].replace('-', '_')
    setattr(TestLSFIMDCConfigsTrain, f'test_train_{_stem}',
            _make_train_test(_path))

if __name__ == '__main__':
    unittest.main()
