# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Moving a distillation config to a new dataset is ONE edit in ONE place:
``dataset_override`` in a child config (mmkd_dense/utils/dataset_override.py,
configs/README.md "Another dataset: one edit").

Tried as a new user would: a 5-class COCO-format dataset, a child of a
shipped distillation config with one assignment; the built student head,
teacher head, datasets and metric all have the 5 classes."""
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401  (compat shims before mmrazor imports)
from mmengine.config import Config

from mmkd_dense.testing import (build_model_from_cfg, make_tiny_coco,
                                run_dummy_train_steps)
from mmkd_dense.utils.dataset_override import apply_dataset_override
from mmkd_dense.utils.detector_cfg import resolve_detector_cfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLASSES = ('car', 'truck', 'bus', 'van', 'person')


def _child(tmp, base, override):
    """A user's child config: the shipped config + one assignment."""
    path = osp.join(tmp, 'my5.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{osp.join(ROOT, base)!r}]\n'
                f'dataset_override = {override}\n')
    return Config.fromfile(path)


class TestDatasetOverride(unittest.TestCase):

    def test_five_class_dataset_reaches_student_teacher_and_metric(self):
        from mmdet.registry import DATASETS, METRICS
        from mmengine.registry import init_default_scope
        with tempfile.TemporaryDirectory() as tmp:
            data = osp.join(tmp, 'my5') + '/'
            make_tiny_coco(data, num_images=2, class_names=CLASSES,
                           categories=[(c, i + 1)
                                       for i, c in enumerate(CLASSES)])
            cfg = _child(
                tmp, 'configs/lsfi_mdc/'
                'lsfi-mdc_fpn_retina-r18c32_retina-r18c16_12e_digits.py',
                dict(classes=CLASSES, data_root=data))
            # without the call nothing changed: the demo has 10 classes
            self.assertEqual(cfg.model.architecture.bbox_head.num_classes, 10)
            self.assertTrue(apply_dataset_override(cfg))

            model = build_model_from_cfg(cfg)
            self.assertEqual(model.student.bbox_head.num_classes, 5)
            self.assertEqual(model.teacher.bbox_head.num_classes, 5)
            # sigmoid RetinaNet head: one output channel per class and anchor
            anchors = model.student.bbox_head.num_base_priors
            self.assertEqual(model.student.bbox_head.retina_cls.out_channels,
                             5 * anchors)
            self.assertEqual(model.teacher.bbox_head.retina_cls.out_channels,
                             5 * anchors)
            losses = run_dummy_train_steps(model, num_steps=1, num_classes=5,
                                           input_shape=(64, 64))
            self.assertTrue(any(k.startswith('distill.') or 'lsfi' in k
                                for k in losses[0]))

            init_default_scope('mmdet')
            for split in ('train', 'val', 'test'):
                ds = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
                self.assertEqual(tuple(ds.metainfo['classes']), CLASSES)
                self.assertTrue(ds.data_root.startswith(data))
            self.assertEqual(cfg.val_evaluator.ann_file,
                             osp.join(data, 'annotations/instances_val.json'))
            metric = METRICS.build(cfg.val_evaluator)
            self.assertEqual(
                sorted(c['name'] for c in metric._coco_api.cats.values()),
                sorted(CLASSES))

    def test_teacher_reference_and_amplifier_get_cfg_options(self):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = _child(
                tmp, 'configs/ds2d2/'
                'ds2d2_fpn_faster-rcnn-r101_faster-rcnn-r18_2x_dior.py',
                dict(classes=CLASSES))
            apply_dataset_override(cfg)
            teacher = cfg.model.teacher
            self.assertEqual(teacher.cfg_options,
                             {'roi_head.bbox_head.num_classes': 5})
            self.assertEqual(
                resolve_detector_cfg(teacher, 'model.teacher')
                .roi_head.bbox_head.num_classes, 5)
            self.assertEqual(
                cfg.model.architecture.roi_head.bbox_head.num_classes, 5)
            amp = cfg.model.distiller.distill_losses.loss_ds2d2_hf
            self.assertEqual(
                amp.amplifier_cfg.cfg_options,
                {'detector.roi_head.bbox_head.num_classes': 5})
            for split in ('train', 'val', 'test'):
                self.assertEqual(
                    cfg[f'{split}_dataloader'].dataset.metainfo.classes,
                    CLASSES)
            # idempotent: applying twice gives the same config
            before = cfg.to_dict()
            apply_dataset_override(cfg)
            self.assertEqual(cfg.to_dict(), before)

    def test_coco_evaluator_follows_the_root_through_wrappers(self):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = _child(
                tmp, 'configs/cid_lightml/'
                'cid-lightml_head_gfl-r101_gfl-r18_15e_visdrone.py',
                dict(classes=CLASSES, data_root='data/my5/',
                     ann_file=dict(val='ann/val.json', test='ann/val.json')))
            apply_dataset_override(cfg)
            # VisDrone trains on a RepeatDataset: the wrapped dataset changes
            inner = cfg.train_dataloader.dataset.dataset
            self.assertEqual(inner.data_root, 'data/my5/')
            self.assertEqual(inner.metainfo.classes, CLASSES)
            self.assertEqual(cfg.val_evaluator.ann_file,
                             'data/my5/ann/val.json')
            self.assertEqual(cfg.val_dataloader.dataset.ann_file,
                             'ann/val.json')

    def test_bad_overrides_name_the_key(self):
        cases = [
            (dict(classes=()), 'dataset_override.classes'),
            (dict(classes=('a', 'a')), 'repeat'),
            (dict(classes=('a', ), root='x'), "unknown keys ['root']"),
            (dict(classes=('a', ), ann_file=dict(trian='x')),
             'dataset_override.ann_file'),
        ]
        for override, message in cases:
            cfg = Config(dict(dataset_override=override,
                              model=dict(bbox_head=dict(num_classes=3))))
            with self.assertRaises((ValueError, KeyError, TypeError)) as ctx:
                apply_dataset_override(cfg)
            self.assertIn(message, str(ctx.exception))
            self.assertEqual(cfg.model.bbox_head.num_classes, 3)

    def test_no_override_changes_nothing(self):
        cfg = Config(dict(model=dict(bbox_head=dict(num_classes=3))))
        self.assertFalse(apply_dataset_override(cfg))
        self.assertEqual(cfg.model.bbox_head.num_classes, 3)


if __name__ == '__main__':
    unittest.main()
