# Copyright (c) mmkd_dense contributors. All rights reserved.
"""ONNX export of the (distilled) student and its onnxruntime parity:
tools/deployment/export_onnx.py and tools/deployment/test_onnx.py.

Tolerances (float32, onnxruntime CPU vs PyTorch eager CPU):
raw head outputs ``|ort - torch| <= 1e-4 + 1e-4 |torch|``; final
detections: same number and labels per image, boxes within 1e-2 px,
scores within 1e-4; COCO mAP within 0.002 (the issue's bound; equal in
practice).
"""
import contextlib
import copy
import hashlib
import io
import json
import os
import os.path as osp
import runpy
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import mmkd_dense  # noqa: F401
import torch

from .tool_helpers import REPO_ROOT, load_tool, make_small_demo_configs

RAW_ATOL = RAW_RTOL = 1e-4
BOX_ATOL = 1e-2
SCORE_ATOL = 1e-4
MAP_ATOL = 0.002


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _run_main(tool, argv):
    """Run ``tool.main(argv)`` as the CLI does: (exit code, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        try:
            tool.main(argv)
        except SystemExit as exc:
            code = exc.code
            if isinstance(code, str):
                return 1, code
            return code or 0, err.getvalue()
    return 0, err.getvalue()


def _loader(cfg):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope('mmdet')
    return Runner.build_dataloader(copy.deepcopy(cfg.test_dataloader))


def _overfit(model, batches, steps, lr=2e-3):
    """AdamW steps on fixed batches (the tiny val set): gives a student
    with nonzero mAP in a few seconds."""
    torch.manual_seed(0)
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.)
    for step in range(steps):
        data = batches[step % len(batches)]
        batch = model.data_preprocessor(copy.deepcopy(data), True)
        losses = model.loss(batch['inputs'], batch['data_samples'])
        total = sum(v if not isinstance(v, (list, tuple)) else sum(v)
                    for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10)
        optim.step()
    model.eval()


def assert_raw_close(case, ref, out):
    """Per group and level: same shape, elementwise within tolerance."""
    case.assertEqual(len(ref), len(out))
    for ref_group, out_group in zip(ref, out):
        case.assertEqual(len(ref_group), len(out_group))
        for a, b in zip(ref_group, out_group):
            case.assertEqual(tuple(a.shape), tuple(b.shape))
            torch.testing.assert_close(b, a, atol=RAW_ATOL, rtol=RAW_RTOL)


def assert_detections_match(case, ref, out):
    for a, b in zip(ref, out):
        a, b = a.pred_instances, b.pred_instances
        case.assertEqual(len(a), len(b))
        case.assertTrue(torch.equal(a.labels, b.labels))
        if len(a):
            case.assertLessEqual(float((a.bboxes - b.bboxes).abs().max()),
                                 BOX_ATOL)
            case.assertLessEqual(float((a.scores - b.scores).abs().max()),
                                 SCORE_ATOL)


class TestDemoStudentDeployment(unittest.TestCase):
    """Demo FGD config + a distillation checkpoint (student overfit on the
    tiny val set, random teacher): export, parity, mAP, bad input."""

    @classmethod
    def setUpClass(cls):
        from mmengine.config import Config

        from mmkd_dense.testing import build_model_from_cfg
        torch.manual_seed(0)
        cls.export_tool = load_tool('tools/deployment/export_onnx.py')
        cls.test_tool = load_tool('tools/deployment/test_onnx.py')
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        cls.paths = make_small_demo_configs(tmp, num_train=4, num_val=4,
                                            image_size=64)
        cls.kd_cfg = Config.fromfile(cls.paths['kd'])
        kd = build_model_from_cfg(cls.kd_cfg)
        batches = list(_loader(cls.kd_cfg))
        _overfit(kd.architecture, batches, steps=60)
        cls.batches = batches
        cls.kd_ckpt = osp.join(tmp, 'kd_epoch_1.pth')
        torch.save(dict(meta=dict(note='distillation checkpoint'),
                        state_dict=kd.state_dict()), cls.kd_ckpt)
        cls.kd_sha = _sha(cls.kd_ckpt)
        cls.student = kd.architecture.eval()
        cls.onnx = osp.join(tmp, 'export', 'student.onnx')
        cls.export = cls.export_tool.main(
            [cls.paths['kd'], cls.kd_ckpt, '--out', cls.onnx])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _ort(self, path=None):
        from mmkd_dense.deployment import ORTDetector, load_student
        skeleton, _ = load_student(self.paths['kd'])
        return ORTDetector(path or self.onnx, skeleton,
                           providers=['CPUExecutionProvider'], threads=1)

    def test_file_is_valid_onnx_with_the_head_outputs(self):
        import onnx

        from mmkd_dense.deployment import read_onnx_metadata
        onnx.checker.check_model(self.onnx, full_check=True)
        model = onnx.load(self.onnx)
        names = [o.name for o in model.graph.output]
        self.assertEqual(names, [f'{g}_{lvl}' for g in ('cls_score',
                                                       'bbox_pred')
                                 for lvl in range(3)])
        self.assertEqual([d.dim_value for d in model.graph.input[0].type
                          .tensor_type.shape.dim], [1, 3, 64, 64])
        meta = read_onnx_metadata(self.onnx)
        self.assertEqual(meta['head'], 'RetinaHead')
        self.assertEqual(meta['groups'], ['cls_score', 'bbox_pred'])
        self.assertEqual(meta['num_classes'], 10)
        # default size: the test pipeline's Resize (64, 64), divisor 32
        self.assertEqual(meta['input_size'], [64, 64])
        for diff in self.export['max_abs_diff'].values():
            self.assertLess(diff, 1e-3)
        self.assertEqual(_sha(self.kd_ckpt), self.kd_sha)

    def test_raw_outputs_and_detections_match_pytorch(self):
        runner = self._ort()
        for data in self.batches:
            with torch.no_grad():
                batch = self.student.data_preprocessor(copy.deepcopy(data),
                                                       False)
                ref = self.student(batch['inputs'], mode='tensor')
                # 9 anchors x 10 classes on P3 of a 64x64 input
                self.assertEqual(tuple(ref[0][0].shape[1:]), (90, 8, 8))
                ref_dets = self.student.predict(
                    batch['inputs'], copy.deepcopy(batch['data_samples']))
            assert_raw_close(self, ref, runner.raw_outputs(batch['inputs']))
            out_dets = runner.test_step(copy.deepcopy(data))
            self.assertGreater(sum(len(d.pred_instances)
                                   for d in ref_dets), 0)
            assert_detections_match(self, ref_dets, out_dets)

    def test_map_equals_pytorch_and_tools_test(self):
        tmp = self.tmp.name
        metrics_out = osp.join(tmp, 'onnx_metrics.json')
        preds = osp.join(tmp, 'onnx_preds.pkl')
        code, err = _run_main(self.test_tool, [
            self.paths['kd'], self.onnx, '--checkpoint', self.kd_ckpt,
            '--metrics-out', metrics_out, '--out', preds, '--threads', '1'])
        self.assertEqual(code, 0, err)
        with open(metrics_out) as f:
            report = json.load(f)
        onnx_map = report['onnx']['coco/bbox_mAP']
        self.assertGreater(onnx_map, 0.0)  # a trained student
        self.assertLessEqual(
            abs(onnx_map - report['torch']['coco/bbox_mAP']), MAP_ATOL)
        parity = report['parity']
        self.assertEqual(parity['images'], 4)
        self.assertEqual(parity['images_same_count'], 4)
        self.assertEqual(parity['images_same_labels'], 4)
        self.assertLessEqual(parity['max_box_diff'], BOX_ATOL)
        self.assertLess(parity['raw_max_abs_diff'], 1e-3)
        self.assertTrue(osp.isfile(preds))
        # the reference: tools/test.py on the distillation checkpoint
        test_metrics = osp.join(tmp, 'torch_metrics.json')
        load_tool('tools/analysis_tools/benchmark_accuracy.py'
                  ).reset_visualizers()
        argv = sys.argv
        sys.argv = ['tools/test.py', self.paths['kd'], self.kd_ckpt,
                    '--work-dir', osp.join(tmp, 'test_work'),
                    '--metrics-out', test_metrics]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                runpy.run_path(osp.join(REPO_ROOT, 'tools/test.py'),
                               run_name='__main__')
        finally:
            sys.argv = argv
        with open(test_metrics) as f:
            ref_map = json.load(f)['coco/bbox_mAP']
        self.assertLessEqual(abs(onnx_map - ref_map), MAP_ATOL)

    def test_dynamic_export_runs_other_sizes(self):
        out = osp.join(self.tmp.name, 'dynamic.onnx')
        result = self.export_tool.main(
            [self.paths['kd'], self.kd_ckpt, '--out', out, '--dynamic',
             '--no-verify'])
        self.assertTrue(result['dynamic'])
        runner = self._ort(out)
        self.assertIsNone(runner.static_shape)
        inputs = torch.randn(2, 3, 96, 64,
                             generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            ref = self.student(inputs, mode='tensor')
        assert_raw_close(self, ref, runner.raw_outputs(inputs))

    def test_static_model_refuses_a_larger_input(self):
        runner = self._ort()
        with self.assertRaisesRegex(ValueError, '--dynamic'):
            runner.raw_outputs(torch.zeros(1, 3, 96, 64))

    # ------------------------------------------------------------ bad input
    def _refused(self, argv, out, pattern):
        existed = osp.exists(out)
        before = _sha(out) if existed else None
        code, err = _run_main(self.export_tool, argv)
        self.assertNotEqual(code, 0)
        self.assertRegex(err, pattern)
        self.assertEqual(osp.exists(out), existed)
        if existed:
            self.assertEqual(_sha(out), before)
        self.assertEqual(_sha(self.kd_ckpt), self.kd_sha)
        self.assertEqual(
            [f for f in os.listdir(osp.dirname(out)) if f.startswith('tmp')],
            [])  # no half-written temporary file left
        return err

    def test_out_equal_to_checkpoint_is_refused_by_the_cli(self):
        env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
        proc = subprocess.run(
            [sys.executable, 'tools/deployment/export_onnx.py',
             self.paths['kd'], self.kd_ckpt, '--out', self.kd_ckpt],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=300)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn('is the input CHECKPOINT', proc.stderr)
        self.assertIn('choose another path', proc.stderr)
        self.assertEqual(_sha(self.kd_ckpt), self.kd_sha)

    def test_existing_non_onnx_files_are_never_overwritten(self):
        folder = osp.join(self.tmp.name, 'keep')
        os.makedirs(folder, exist_ok=True)
        notes = osp.join(folder, 'notes.onnx')
        with open(notes, 'w') as f:
            f.write('not a model\n')
        self._refused([self.paths['kd'], self.kd_ckpt, '--out', notes],
                      notes, 'exists and is not an ONNX model')
        pkl = osp.join(folder, 'preds.pkl')
        with open(pkl, 'wb') as f:
            f.write(b'\x80\x04N.')
        self._refused([self.paths['kd'], self.kd_ckpt, '--out', pkl], pkl,
                      'does not end with .onnx')

    def test_checkpoint_of_another_config_is_refused(self):
        # the demo teacher's config: same RetinaNet type, twice the width
        out = osp.join(self.tmp.name, 'wrong', 'teacher_cfg.onnx')
        os.makedirs(osp.dirname(out), exist_ok=True)
        err = self._refused(
            [self.paths['teacher'], self.kd_ckpt, '--out', out], out,
            'does not fit the student of config')
        self.assertIn('shape mismatch', err)
        self.assertIn('Pass the config the checkpoint was trained with', err)

    def test_unsupported_two_stage_detector_is_refused(self):
        out = osp.join(self.tmp.name, 'frcnn', 'faster.onnx')
        os.makedirs(osp.dirname(out), exist_ok=True)
        cfg = osp.join(REPO_ROOT, 'configs/detectors/faster_rcnn/'
                       'faster-rcnn_r18_fpn_2x_coco.py')
        err = self._refused([cfg, 'none', '--out', out], out,
                            'not a single-stage detector')
        self.assertIn('docs/deployment.md', err)

    def test_onnx_of_another_student_is_refused_by_test_onnx(self):
        from mmkd_dense.deployment import ORTDetector, load_student
        teacher, _ = load_student(self.paths['teacher'])
        with self.assertRaisesRegex(ValueError, 'class channels|pass the '
                                    'config of the exported student'):
            # same head type; the channel check catches a different K
            with mock.patch.object(teacher.bbox_head, 'num_classes', 3), \
                    mock.patch.object(teacher.bbox_head, 'cls_out_channels',
                                      3):
                ORTDetector(self.onnx, teacher)


class TestLightMLStudentDeployment(unittest.TestCase):
    """Light-ML students (random weights, Light-ML perturbed so it is not
    the identity): GFL end to end through both tools, FCOS and RetinaNet
    raw outputs and detections."""

    @classmethod
    def setUpClass(cls):
        from mmengine.config import Config

        from mmkd_dense.testing import make_tiny_coco, shrink_config
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        cls.data_root = osp.join(tmp, 'coco') + '/'
        make_tiny_coco(cls.data_root, num_images=2, image_size=(96, 128))
        cls.export_tool = load_tool('tools/deployment/export_onnx.py')
        cls.test_tool = load_tool('tools/deployment/test_onnx.py')
        cls.cfgs = {}
        for name, path in (
                ('gfl', 'configs/detectors/gfl/'
                 'gfl-lightml_r18_fpn_15e_visdrone.py'),
                ('fcos', 'configs/detectors/fcos/'
                 'fcos-lightml_r18_fpn_gn-head_15e_visdrone.py'),
                ('retina', 'configs/detectors/retinanet/'
                 'retinanet-lightml_r18_fpn_15e_visdrone.py')):
            cfg = shrink_config(Config.fromfile(osp.join(REPO_ROOT, path)),
                                cls.data_root, osp.join(tmp, name),
                                image_scale=(128, 96), num_classes=3)
            for key in ('train_dataloader', 'val_dataloader',
                        'test_dataloader'):
                # plain COCO loading of the tiny set (3 of its classes)
                cfg[key].dataset.type = 'CocoDataset'
                cfg[key].dataset.metainfo = dict(
                    classes=('person', 'bicycle', 'car'))
            # a quarter-width R18 keeps export and runtime small
            cfg.model.backbone.base_channels = 16
            cfg.model.neck.in_channels = [16, 32, 64, 128]
            cfg.model.neck.out_channels = 64
            cfg.model.bbox_head.in_channels = 64
            cfg.model.bbox_head.feat_channels = 64
            cfg.model.bbox_head.stacked_convs = 2
            cfg.model.test_cfg.score_thr = 0.0  # random weights
            cfg.model.test_cfg.max_per_img = 50
            cls.cfgs[name] = osp.join(tmp, f'{name}.py')
            cfg.dump(cls.cfgs[name])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _student_checkpoint(self, name):
        from mmkd_dense.deployment import load_student
        model, _ = load_student(self.cfgs[name])
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in model.bbox_head.light_ml.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
        ckpt = osp.join(self.tmp.name, f'{name}.pth')
        torch.save(dict(state_dict=model.state_dict()), ckpt)
        return model, ckpt

    def _export_and_compare(self, name, head_type):
        from mmkd_dense.deployment import ORTDetector, load_student
        from mmkd_dense.utils.dummy_batch import make_dummy_batch
        model, ckpt = self._student_checkpoint(name)
        self.assertEqual(type(model.bbox_head).__name__, head_type)
        out = osp.join(self.tmp.name, f'{name}.onnx')
        self.export_tool.main([self.cfgs[name], ckpt, '--out', out,
                               '--no-verify'])
        skeleton, _ = load_student(self.cfgs[name])
        runner = ORTDetector(out, skeleton, threads=1,
                             providers=['CPUExecutionProvider'])
        inputs, samples = make_dummy_batch(num_images=2,
                                           input_shape=(96, 128),
                                           num_classes=3)
        with torch.no_grad():
            ref = model(inputs, mode='tensor')
            ref_dets = model.predict(inputs, copy.deepcopy(samples))
        assert_raw_close(self, ref, runner.raw_outputs(inputs))
        out_dets = runner.predict(inputs, copy.deepcopy(samples))
        for dets in ref_dets:  # score_thr 0: up to max_per_img after NMS
            self.assertGreater(len(dets.pred_instances), 0)
            self.assertLessEqual(len(dets.pred_instances), 50)
        assert_detections_match(self, ref_dets, out_dets)
        return out, ckpt, ref

    def test_gfl_lightml_end_to_end(self):
        out, ckpt, ref = self._export_and_compare('gfl', 'LightMLGFLHead')
        # GFL: 4 * (reg_max + 1) = 68 distribution bins per position
        self.assertEqual(ref[1][0].shape[1], 68)
        metrics_out = osp.join(self.tmp.name, 'gfl_metrics.json')
        code, err = _run_main(self.test_tool, [
            self.cfgs['gfl'], out, '--checkpoint', ckpt, '--metrics-out',
            metrics_out, '--threads', '1'])
        self.assertEqual(code, 0, err)
        with open(metrics_out) as f:
            report = json.load(f)
        self.assertLessEqual(abs(report['onnx']['coco/bbox_mAP'] -
                                 report['torch']['coco/bbox_mAP']), MAP_ATOL)
        self.assertEqual(report['parity']['images_same_count'], 2)
        self.assertEqual(report['parity']['images_same_labels'], 2)
        # without --checkpoint: onnxruntime only, the same metrics
        alone = osp.join(self.tmp.name, 'gfl_alone.json')
        code, err = _run_main(self.test_tool, [
            self.cfgs['gfl'], out, '--metrics-out', alone, '--threads', '1'])
        self.assertEqual(code, 0, err)
        with open(alone) as f:
            only = json.load(f)
        self.assertNotIn('torch', only)
        self.assertEqual(only['onnx'], report['onnx'])

    def test_fcos_lightml(self):
        _, _, ref = self._export_and_compare('fcos', 'LightMLFCOSHead')
        self.assertEqual(len(ref), 3)  # cls, bbox, centerness

    def test_retina_lightml(self):
        self._export_and_compare('retina', 'LightMLRetinaHead')


if __name__ == '__main__':
    unittest.main()
