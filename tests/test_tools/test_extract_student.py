# Copyright (c) mmkd_dense contributors. All rights reserved.
import hashlib
import json
import os
import os.path as osp
import pickle
import runpy
import sys
import tempfile
import unittest
from unittest import mock

import mmkd_dense  # noqa: F401
import torch

from .tool_helpers import REPO_ROOT, load_tool, make_small_demo_configs


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _run_script(rel_path, args, env=None):
    load_tool('tools/analysis_tools/benchmark_accuracy.py').reset_visualizers()
    argv = sys.argv
    sys.argv = [rel_path] + list(args)
    try:
        with mock.patch.dict(os.environ, env or {}):
            runpy.run_path(osp.join(REPO_ROOT, rel_path), run_name='__main__')
    finally:
        sys.argv = argv


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned',))


class TestExtractStudent(unittest.TestCase):
    """A KD checkpoint trained by tools/train.py -> plain student that
    tools/test.py scores exactly like the KD checkpoint."""

    @classmethod
    def setUpClass(cls):
        from mmengine.config import Config

        from mmkd_dense.testing import build_model_from_cfg
        cls.tool = load_tool('tools/model_converters/extract_student.py')
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        cls.paths = make_small_demo_configs(tmp)
        teacher = build_model_from_cfg(Config.fromfile(cls.paths['teacher']))
        cls.teacher_ckpt = osp.join(tmp, 'teacher.pth')
        torch.save(dict(state_dict=teacher.state_dict()), cls.teacher_ckpt)
        cls.work = osp.join(tmp, 'kd_work')
        _run_script('tools/train.py', [
            cls.paths['kd'], '--work-dir', cls.work, '--cfg-options',
            f'model.teacher_ckpt={cls.teacher_ckpt}'
        ])
        cls.kd_ckpt = osp.join(cls.work, 'epoch_1.pth')
        cls.kd_sha = _sha(cls.kd_ckpt)
        cls.out = osp.join(tmp, 'export', 'student.pth')
        cls.result = cls.tool.main([cls.paths['kd'], cls.kd_ckpt, cls.out])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_no_teacher_keys_and_same_student_weights(self):
        exported = torch.load(self.out, map_location='cpu',
                              weights_only=True)
        self.assertEqual(set(exported), {'meta', 'state_dict'})
        sd = exported['state_dict']
        for key in sd:
            self.assertFalse(key.startswith(
                ('teacher.', 'distiller.', 'architecture.')), key)
        full = self.tool.load_distill_checkpoint(self.kd_ckpt)['state_dict']
        student = {k[len('architecture.'):]: v for k, v in full.items()
                   if k.startswith('architecture.')}
        self.assertEqual(set(sd), set(student))
        for key, value in student.items():
            self.assertTrue(torch.equal(sd[key], value), key)
        self.assertEqual(self.result['dropped']['teacher'],
                         sum(k.startswith('teacher.') for k in full))
        self.assertGreater(self.result['dropped']['distiller'], 0)  # FGD
        self.assertEqual(exported['meta']['dataset_meta']['classes'][0], '0')

    def test_input_checkpoint_untouched_and_never_overwritten(self):
        self.assertEqual(_sha(self.kd_ckpt), self.kd_sha)
        with self.assertRaises(ValueError):
            self.tool.extract_student(self.paths['kd'], self.kd_ckpt,
                                      self.kd_ckpt)
        self.assertEqual(_sha(self.kd_ckpt), self.kd_sha)

    def test_dumped_config_is_a_plain_detector(self):
        from mmengine.config import Config
        cfg = Config.fromfile(self.result['config'])
        self.assertEqual(cfg.model.type, 'RetinaNet')
        self.assertNotIn('teacher', cfg.model)
        self.assertEqual(cfg.val_cfg.type, 'ValLoop')
        self.assertEqual(cfg.model.backbone.base_channels, 16)
        kd_cfg = Config.fromfile(self.paths['kd'])
        self.assertEqual(cfg.train_dataloader, kd_cfg.train_dataloader)
        self.assertEqual(cfg.optim_wrapper, kd_cfg.optim_wrapper)

    def test_identical_predictions_to_the_distillation_student(self):
        from mmengine.config import Config
        from mmengine.runner import load_checkpoint

        from mmkd_dense.testing import build_model_from_cfg
        from mmkd_dense.utils.dummy_batch import make_dummy_batch
        kd = build_model_from_cfg(Config.fromfile(self.paths['kd']))
        load_checkpoint(kd, self.kd_ckpt, map_location='cpu', strict=True,
                        logger='silent')
        plain = build_model_from_cfg(Config.fromfile(self.result['config']))
        state = torch.load(self.out, map_location='cpu', weights_only=True)
        plain.load_state_dict(state['state_dict'], strict=True)
        kd.eval()
        plain.eval()
        inputs, samples = make_dummy_batch(input_shape=(64, 96),
                                           num_classes=10)
        with torch.no_grad():
            ref = kd(inputs, samples, mode='tensor')
            out = plain(inputs, samples, mode='tensor')
            for ref_level, out_level in zip(ref, out):
                for a, b in zip(ref_level, out_level):
                    self.assertTrue(torch.equal(a, b))
            kd.architecture.test_cfg['score_thr'] = 0.0
            plain.test_cfg['score_thr'] = 0.0
            ref = kd(inputs, [s.clone() for s in samples], mode='predict')
            out = plain(inputs, [s.clone() for s in samples], mode='predict')
        for r, o in zip(ref, out):
            self.assertGreater(len(r.pred_instances), 0)
            self.assertTrue(torch.equal(r.pred_instances.bboxes,
                                        o.pred_instances.bboxes))
            self.assertTrue(torch.equal(r.pred_instances.scores,
                                        o.pred_instances.scores))

    def test_tools_test_gives_the_same_map(self):
        tmp = self.tmp.name
        runs = {}
        for name, cfg, ckpt, thr_key in (
                ('kd', self.paths['kd'], self.kd_ckpt,
                 'model.architecture.test_cfg.score_thr'),
                ('plain', self.result['config'], self.out,
                 'model.test_cfg.score_thr')):
            metrics = osp.join(tmp, f'{name}_metrics.json')
            preds = osp.join(tmp, f'{name}_preds.pkl')
            _run_script('tools/test.py', [
                cfg, ckpt, '--work-dir', osp.join(tmp, f'test_{name}'),
                '--metrics-out', metrics, '--out', preds, '--cfg-options',
                f'{thr_key}=0.0'
            ])
            with open(metrics) as f, open(preds, 'rb') as g:
                runs[name] = (json.load(f), pickle.load(g))
        (m_kd, p_kd), (m_plain, p_plain) = runs['kd'], runs['plain']
        self.assertIn('coco/bbox_mAP', m_kd)
        self.assertEqual(m_kd, m_plain)
        self.assertEqual(len(p_kd), len(p_plain))
        for a, b in zip(p_kd, p_plain):
            self.assertGreater(len(a['pred_instances']['scores']), 0)
            self.assertTrue(torch.equal(a['pred_instances']['bboxes'],
                                        b['pred_instances']['bboxes']))
            self.assertTrue(torch.equal(a['pred_instances']['scores'],
                                        b['pred_instances']['scores']))

    def test_restricted_loader_refuses_foreign_globals(self):
        bad = osp.join(self.tmp.name, 'evil.pth')
        torch.save(dict(state_dict={}, payload=_Evil()), bad)
        with self.assertRaises(pickle.UnpicklingError):
            self.tool.load_distill_checkpoint(bad)


if __name__ == '__main__':
    unittest.main()
