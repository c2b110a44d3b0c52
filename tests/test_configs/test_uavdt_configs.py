# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The UAVDT configs: drone protocol (1024x540, x5, 6e), 3 classes, the
same distillers as their VisDrone / COCO counterparts, 2 training
iterations each, and one end to end run: generated UAVDT folder ->
uavdt2coco -> train 2 iterations -> evaluate with the shipped config.

The two CID + Light-ML UAVDT configs also train 2 iterations in
test_cid_lightml_configs.py (it runs every config of configs/cid_lightml/).
"""
import ast
import contextlib
import functools
import io
import os.path as osp
import tempfile
import unittest

from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets.converters.uavdt import (UAVDT_CLASSES,
                                                  UAVDT_TEST_SEQUENCES,
                                                  UAVDT_TRAIN_SEQUENCES)
from mmkd_dense.testing import (build_model_from_cfg, run_dummy_train_steps,
                                shrink_config)

from ..test_datasets.test_converter_cli import _tool
from ..test_datasets.uavdt_format import gt_line, ignore_line, write_uavdt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET = 'configs/detectors/gfl/'
CID = 'configs/cid_lightml/'
DETECTORS = [DET + 'gfl_r18_fpn_6e_uavdt.py',
             DET + 'gfl_r101_fpn_6e_uavdt.py',
             DET + 'gfl-lightml_r18_fpn_6e_uavdt.py']
FGD = 'configs/baselines/fgd/fgd_fpn_gfl-r101_gfl-r18_6e_uavdt.py'
DISTILL = {
    CID + 'cid-lightml_head_gfl-r101_gfl-r18_6e_uavdt.py':
    CID + 'cid-lightml_head_gfl-r101_gfl-r18_15e_visdrone.py',
    CID + 'cid-lightml-fgd_head-fpn_gfl-r101_gfl-r18_6e_uavdt.py':
    CID + 'cid-lightml-fgd_head-fpn_gfl-r101_gfl-r18_15e_visdrone.py',
    FGD: 'configs/baselines/fgd/fgd_fpn_gfl-r101_gfl-r50_1x_coco.py',
}
RESNET = {18: 'resnet18-f37072fd.pth', 101: 'resnet101-63fe2227.pth'}


@functools.lru_cache(maxsize=None)
def _cfg(path):
    """The parsed config (cached: callers must not modify it)."""
    return Config.fromfile(osp.join(ROOT, path))


def _student(cfg):
    return cfg.model.get('architecture', cfg.model)


def _levels(path):
    """Config files above ``path`` in its ``_base_`` chain (longest chain,
    ``configs/_base_/`` primitives not counted)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    bases = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else list(value)
    depth = 0
    for base in bases:
        base = osp.normpath(osp.join(osp.dirname(path), base))
        if '/_base_/' not in base:
            depth = max(depth, 1 + _levels(base))
    return depth


class TestUAVDTConfigs(unittest.TestCase):

    def test_protocol(self):
        for path in DETECTORS + list(DISTILL):
            with self.subTest(config=osp.basename(path)):
                cfg = _cfg(path)
                self.assertLessEqual(_levels(osp.join(ROOT, path)), 3)
                model = _student(cfg)
                self.assertEqual(model.bbox_head.num_classes, 3)
                self.assertEqual(model.test_cfg.max_per_img, 500)
                depth = model.backbone.depth
                self.assertTrue(
                    model.backbone.init_cfg.checkpoint.endswith(
                        RESNET[depth]))
                train = cfg.train_dataloader
                self.assertEqual(train.batch_size, 4)
                self.assertEqual(
                    (train.dataset.type, train.dataset.times),
                    ('RepeatDataset', 5))
                for loader in (train.dataset, cfg.val_dataloader,
                               cfg.test_dataloader):
                    ds = loader.get('dataset', loader)
                    self.assertEqual(ds.type, 'mmkd_dense.VisDroneDataset')
                    self.assertEqual(tuple(ds.metainfo.classes),
                                     UAVDT_CLASSES)
                    resize = [s for s in ds.pipeline if s.type == 'Resize']
                    self.assertEqual(tuple(resize[0].scale), (1024, 540))
                self.assertEqual(cfg.train_cfg.max_epochs, 6)
                self.assertEqual(cfg.param_scheduler[1].milestones, [4, 5])
                self.assertEqual(cfg.optim_wrapper.optimizer.lr, 0.01)
                self.assertEqual(cfg.optim_wrapper.clip_grad.max_norm, 10)
                for ev in (cfg.val_evaluator, cfg.test_evaluator):
                    self.assertEqual(ev.type, 'mmkd_dense.UAVDTMetric')
                    self.assertEqual(ev.ann_file,
                                     'data/UAVDT/annotations/UAVDT_test.json')

    def test_distillers_match_their_counterparts(self):
        for path, other in DISTILL.items():
            with self.subTest(config=osp.basename(path)):
                cfg, ref = _cfg(path), _cfg(other)
                self.assertEqual(cfg.model.distiller.to_dict(),
                                 ref.model.distiller.to_dict())
                for key in ('type', 'teacher_forward'):
                    self.assertEqual(cfg.model[key], ref.model[key])
                self.assertEqual(cfg.model.teacher.cfg_file,
                                 DET + 'gfl_r101_fpn_6e_uavdt.py')
                self.assertEqual(cfg.val_cfg.type,
                                 'mmrazor.SingleTeacherDistillValLoop')
                teacher = _cfg(cfg.model.teacher.cfg_file)
                self.assertEqual(teacher.model.bbox_head.num_classes, 3)
                self.assertEqual(teacher.model.backbone.depth, 101)
        lightml = _cfg(CID + 'cid-lightml_head_gfl-r101_gfl-r18_6e_uavdt.py')
        self.assertEqual(_student(lightml).bbox_head.type,
                         'mmkd_dense.LightMLGFLHead')
        fgd = _cfg(FGD)
        self.assertEqual(_student(fgd).bbox_head.type, 'GFLHead')


def _make_train_test(path):

    def test(self):
        model = build_model_from_cfg(_cfg(path))
        history = run_dummy_train_steps(model, num_steps=2, num_classes=3)
        self.assertEqual(len(history), 2)
        if 'distill' in path or 'fgd' in path:
            self.assertTrue(any(k.startswith('distill.') for k in history[0]))
            self.assertTrue(
                all(not p.requires_grad for p in model.teacher.parameters()))
        else:
            self.assertEqual(model.bbox_head.num_classes, 3)

    return test


class TestUAVDTConfigsTrain(unittest.TestCase):
    """Detector and FGD configs (the CID ones: test_cid_lightml_configs)."""


for _path in DETECTORS + [FGD]:
    _stem = osp.splitext(osp.basename(_path))[0].replace('-', '_')
    setattr(TestUAVDTConfigsTrain, f'test_train_2_iters_{_stem}',
            _make_train_test(_path))


class TestUAVDTEndToEnd(unittest.TestCase):

    def test_convert_train_evaluate(self):
        from mmkd_dense.utils.run_log import build_runner

        from ..test_runtime._helpers import low_score_thr, read_scalars
        with tempfile.TemporaryDirectory() as tmp:
            root = osp.join(tmp, 'UAVDT')
            # 2 of the 30 train and 2 of the 20 test sequences, 2 frames
            # each: the default split with --on-bad-input skip (the other
            # 46 sequences are counted as missing)
            seqs = {}
            for i, s in enumerate(UAVDT_TRAIN_SEQUENCES[:2] +
                                  UAVDT_TEST_SEQUENCES[:2]):
                seqs[s] = (2, [gt_line(f, 1, 10 + i, 20, 60, 40,
                                       category=1 + i % 3)
                               for f in (1, 2)] +
                           [gt_line(2, 2, 120, 50, 40, 30, category=3)],
                           [ignore_line(1, 180, 0, 36, 30)])
            write_uavdt(root, seqs, size=(216, 108))
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                _tool('uavdt2coco').main([root, '--quiet',
                                          '--on-bad-input', 'skip'])
            self.assertIn('test: 2 sequences, 4 frames (step 1), 6 objects',
                          buf.getvalue())
            self.assertIn('missing sequence folder: 18', buf.getvalue())

            path = CID + 'cid-lightml_head_gfl-r101_gfl-r18_6e_uavdt.py'
            shipped = _cfg(path)
            cfg = shrink_config(shipped, root, osp.join(tmp, 'work'),
                                image_scale=(128, 64))
            # shrink_config points at tiny-COCO files: back to the shipped
            # UAVDT paths under the generated root
            for key in ('train_dataloader', 'val_dataloader',
                        'test_dataloader'):
                ds, ref = cfg[key].dataset, shipped[key].dataset
                ds, ref = ds.get('dataset', ds), ref.get('dataset', ref)
                ds.ann_file, ds.data_prefix = ref.ann_file, ref.data_prefix
            for key in ('val_evaluator', 'test_evaluator'):
                cfg[key].ann_file = shipped[key].ann_file.replace(
                    'data/UAVDT', root)
            cfg = low_score_thr(cfg)
            cfg.model.teacher_ckpt = None
            cfg.model.allow_random_teacher = True
            cfg.model.architecture.backbone.init_cfg = None
            cfg.model.teacher.cfg_options = dict(
                cfg.model.teacher.get('cfg_options') or {},
                **{'backbone.init_cfg': None})
            # saving R101 + R18 takes seconds and is tested elsewhere
            cfg.default_hooks.checkpoint = dict(
                type='CheckpointHook', interval=100, by_epoch=False,
                save_last=False)
            runner = build_runner(cfg)
            self.assertEqual(len(runner.train_dataloader.dataset), 20)
            runner.train()
            # validation after training: student and teacher
            keys = set().union(*[r.keys() for r in read_scalars(tmp)])
            for key in ('uavdt/AP70', 'teacher.uavdt/AP70',
                        'distill.loss_cid'):
                self.assertIn(key, keys)
            # test loop with the shipped evaluator (the student)
            metrics = runner.test()
            self.assertEqual(
                sorted(metrics),
                sorted(f'uavdt/{k}' for k in (
                    'AP', 'AP50', 'AP70', 'AP75', 'AR1', 'AR10', 'AR100',
                    'AR500')))
            for value in metrics.values():
                self.assertGreaterEqual(value, 0.)
                self.assertLessEqual(value, 1.)


if __name__ == '__main__':
    unittest.main()
