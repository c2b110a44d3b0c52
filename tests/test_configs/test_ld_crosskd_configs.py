# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The LD and CrossKD configs (COCO and digits demo) build, wire their
heads once without duplicating parameters and train 2 CPU iterations; the
distiller's ``record_idx='all'`` and ``prepare_from_*`` errors name the
config key."""
import copy
import glob
import os.path as osp
import unittest

from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.distillers.gt_aware_distiller import \
    DistillConfigError
from mmkd_dense.testing import build_model_from_cfg, run_dummy_train_steps

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LD = sorted(glob.glob(osp.join(ROOT, 'configs/baselines/ld/*.py')))
CROSSKD = sorted(glob.glob(osp.join(ROOT, 'configs/baselines/crosskd/*.py')))
DEMO_CROSSKD = osp.join(
    ROOT, 'configs/baselines/crosskd/'
    'crosskd_head_retina-r18c32_retina-r18c16-fpn64_12e_digits.py')


def _num_classes(path: str) -> int:
    return 10 if path.endswith('_digits.py') else 80


class TestConfigSet(unittest.TestCase):

    def test_files_and_settings(self):
        self.assertEqual([osp.basename(p) for p in LD], [
            'ld_head_gfl-r101_gfl-r50_1x_coco.py',
            'ld_head_gfl-r18c32_gfl-r18c16_12e_digits.py'
        ])
        self.assertEqual([osp.basename(p) for p in CROSSKD], [
            'crosskd_head_fcos-r101_fcos-r50_2x_coco.py',
            'crosskd_head_gfl-r101_gfl-r50_1x_coco.py',
            'crosskd_head_retina-r101_retina-r50_2x_coco.py',
            'crosskd_head_retina-r18c32_retina-r18c16-fpn64_12e_digits.py'
        ])
        # the CrossKD configs' k and KD losses per detector
        expected = dict(fcos=(2, 0.4, 'mmdet.IoULoss', 0.75),
                        gfl=(3, 1.0, 'mmkd_dense.KDKLDivLoss', 4.0),
                        retina=(3, 1.0, 'mmdet.GIoULoss', 1.0))
        for path in CROSSKD:
            cfg = Config.fromfile(path)
            loss = cfg.model.distiller.distill_losses.loss_crosskd
            kind = osp.basename(path).split('_')[2].split('-')[0]
            k = 1 if path.endswith('_digits.py') else expected[kind][0]
            self.assertEqual(
                (loss.reused_teacher_head_idx, loss.loss_cls_kd.loss_weight,
                 loss.loss_reg_kd.type, loss.loss_reg_kd.loss_weight),
                (k, ) + expected[kind][1:], path)
            recorders = cfg.model.distiller.student_recorders
            self.assertEqual(recorders.cls_tower.source,
                             f'bbox_head.cls_convs.{k - 1}')
            self.assertEqual(cfg.model.teacher_forward, 'tensor')
        for path in LD:
            loss = Config.fromfile(path).model.distiller.distill_losses
            self.assertEqual((loss.loss_ld.loss_ld.temperature,
                              loss.loss_ld.loss_ld.loss_weight), (10, 0.25))


def _make_train_test(path: str):

    def test(self) -> None:
        cfg = Config.fromfile(path)
        model = build_model_from_cfg(cfg)
        loss_name = next(iter(cfg.model.distiller.distill_losses))
        loss = model.distiller.distill_losses[loss_name]
        # heads wired once, by handle: no parameter counted twice
        self.assertIs(loss._handles['student_head'], model.student.bbox_head)
        if 'teacher_head' in loss._handles:
            self.assertIs(loss._handles['teacher_head'],
                          model.teacher.bbox_head)
        self.assertEqual(list(loss.parameters()), [])
        own = sum(p.numel() for p in model.parameters())
        parts = sum(p.numel() for m in (model.student, model.teacher)
                    for p in m.parameters())
        self.assertEqual(own, parts)
        history = run_dummy_train_steps(
            model, num_steps=2, input_shape=(64, 96),
            num_classes=_num_classes(path))
        for step in history:
            value = step[f'distill.{loss_name}']
            self.assertTrue(0.0 < value < 1e4, (path, value))
        self.assertTrue(
            all(not p.requires_grad for p in model.teacher.parameters()))

    return test


class TestConfigsTrain(unittest.TestCase):
    """One test per config (select one with ``-k <config stem>``)."""


for _path in LD + CROSSKD:
    _stem = osp.splitext(osp.basename(_path))[0].replace('-', '_')
    setattr(TestConfigsTrain, f'test_train_2_iters_{_stem}',
            _make_train_test(_path))


class TestDistillerWiring(unittest.TestCase):
    """``record_idx='all'`` and ``prepare_from_*`` errors of
    GTAwareDistiller, on the small CrossKD demo config."""

    def _cfg(self):
        return Config.fromfile(DEMO_CROSSKD)

    def test_all_records_one_per_level(self):
        from mmkd_dense.utils.dummy_batch import make_dummy_batch
        model = build_model_from_cfg(self._cfg())
        inputs, samples = make_dummy_batch(num_classes=10)
        with model.distiller.student_recorders:
            model.student(inputs, samples, mode='loss')
        records = model.distiller.get_record(
            'cls_tower', from_student=True, record_idx='all')
        self.assertEqual(len(records), 3)  # P3-P5
        self.assertEqual([tuple(r.shape[-2:]) for r in records],
                         [(16, 20), (8, 10), (4, 5)])
        one = model.distiller.get_record('cls_tower', True, record_idx=1)
        self.assertIs(one, records[1])

    def test_bad_record_idx(self):
        cfg = self._cfg()
        mapping = cfg.model.distiller.loss_forward_mappings.loss_crosskd
        mapping.student_cls_feats.record_idx = 'every'
        with self.assertRaisesRegex(
                DistillConfigError,
                r'loss_forward_mappings\.loss_crosskd\.student_cls_feats\.'
                r"record_idx must be an int .* or \"all\" .* got 'every'"):
            build_model_from_cfg(cfg)

    def test_prepare_error_names_the_loss(self):
        cfg = self._cfg()
        cfg.model.distiller.distill_losses.loss_crosskd.\
            reused_teacher_head_idx = 3
        cfg.model.distiller.student_recorders.cls_tower.source = \
            'bbox_head.cls_convs.1'
        with self.assertRaisesRegex(
                DistillConfigError,
                r'model\.distiller\.distill_losses\.loss_crosskd '
                r'\(CrossKDLoss\)\.prepare_from_student: ValueError: '
                r'CrossKDLoss\.reused_teacher_head_idx=3, but the student '
                r'head has 2 tower convs'):
            build_model_from_cfg(cfg)

    def test_all_records_of_a_module_that_did_not_run(self):
        cfg = self._cfg()
        cfg.model.teacher_forward = 'feat'  # the teacher head never runs
        model = build_model_from_cfg(cfg)
        from mmkd_dense.utils.dummy_batch import make_dummy_batch
        inputs, samples = make_dummy_batch(num_classes=10)
        with self.assertRaisesRegex(
                DistillConfigError,
                r'loss_crosskd\.teacher_cls_feats: record_idx=all, but '
                r'.*teacher_recorders\.cls_tower .*did not run'):
            model.loss(inputs, copy.deepcopy(samples))


if __name__ == '__main__':
    unittest.main()
