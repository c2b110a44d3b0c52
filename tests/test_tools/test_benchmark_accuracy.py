# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import math
import os
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401
import torch

from .tool_helpers import load_tool, make_small_demo_configs


def _write_result(run_dir, row, kind, seed, ckpt, map_, map50):
    os.makedirs(run_dir, exist_ok=True)
    with open(osp.join(run_dir, 'result.json'), 'w') as f:
        json.dump(dict(row=row, kind=kind, source='test', seed=seed,
                       checkpoint=ckpt, metrics={
                           'coco/bbox_mAP': map_,
                           'coco/bbox_mAP_50': map50
                       }), f)


class TestSummary(unittest.TestCase):
    """Mean ± sample std, Δ vs the no-KD student, empty metrics = 0."""

    def test_hand_computed(self):
        tool = load_tool('tools/analysis_tools/benchmark_accuracy.py')
        rows = [dict(name='student', kind='student', source='s',
                     runs={0: '', 1: '', 2: ''}),
                dict(name='m', kind='kd', source='m', runs={0: '', 1: ''})]
        metrics = {('student', 0): 0.30, ('student', 1): 0.32,
                   ('student', 2): 0.34, ('m', 0): 0.35}
        records = {k: dict(seed=k[1], metrics={'coco/bbox_mAP': v,
                                               'coco/bbox_mAP_50': 2 * v})
                   for k, v in metrics.items()}
        records[('m', 1)] = dict(seed=1, metrics={})  # no detection at all
        summary = tool.summarize(rows, records)
        student, method = summary
        self.assertAlmostEqual(student['mean'], 32.0)
        self.assertAlmostEqual(student['std'], 2.0)  # sample std
        self.assertAlmostEqual(student['mean_50'], 64.0)
        self.assertEqual(method['values'], [35.0, 0.0])
        self.assertAlmostEqual(method['std'], math.sqrt(2 * 17.5**2))
        self.assertAlmostEqual(method['delta'], 17.5 - 32.0)
        table = tool.format_table(summary).splitlines()
        self.assertIn('| student | student | 3 | 32.00 ± 2.00 | '
                      '64.00 ± 4.00 |', table[2])
        self.assertIn('-14.50 (vs student)', table[3])

    def test_delta_uses_the_methods_own_student(self):
        """A method whose student differs (e.g. CID's Light-ML student) is
        compared with that student's no-KD row, not the first one."""
        tool = load_tool('tools/analysis_tools/benchmark_accuracy.py')
        rows = [dict(name='student', kind='student', source='s',
                     runs={0: ''}),
                dict(name='student1', kind='student', source='s1',
                     runs={0: ''}),
                dict(name='fgd', kind='kd', source='f', runs={0: ''},
                     student='student'),
                dict(name='cid', kind='kd', source='c', runs={0: ''},
                     student='student1')]
        metrics = {'student': 0.20, 'student1': 0.25, 'fgd': 0.23,
                   'cid': 0.26}
        records = {(k, 0): dict(seed=0, metrics={'coco/bbox_mAP': v,
                                                 'coco/bbox_mAP_50': v})
                   for k, v in metrics.items()}
        summary = {s['name']: s for s in tool.summarize(rows, records)}
        self.assertAlmostEqual(summary['fgd']['delta'], 3.0)
        self.assertAlmostEqual(summary['cid']['delta'], 1.0)
        self.assertEqual(summary['cid']['baseline'], 'student1')
        table = tool.format_table(list(summary.values()))
        self.assertIn('+1.00 (vs student1)', table)


class TestPlan(unittest.TestCase):
    """Rows derived from a distillation config, and run overrides."""

    def test_rows_of_the_demo_config(self):
        from .tool_helpers import DEMO_KD
        tool = load_tool('tools/analysis_tools/benchmark_accuracy.py')
        rows = tool.plan_runs([DEMO_KD], [0, 3], '/w')
        self.assertEqual([r['kind'] for r in rows],
                         ['teacher', 'student', 'kd'])
        teacher, student, kd = rows
        self.assertEqual(teacher['source'],
                         'configs/demo/retinanet_r18c32_fpn_12e_digits.py')
        self.assertEqual(teacher['cfg'].model.backbone.base_channels, 32)
        self.assertEqual(student['cfg'].model.backbone.base_channels, 16)
        self.assertEqual(student['cfg'].model.type, 'RetinaNet')
        self.assertEqual(student['cfg'].val_cfg.type, 'ValLoop')
        self.assertEqual(kd['teacher'], 'teacher')
        self.assertEqual(kd['runs'], {0: osp.join('/w', kd['name'], 'seed0'),
                                      3: osp.join('/w', kd['name'], 'seed3')})

    def test_dry_run_cli_exits_zero(self):
        """``--dry-run`` prints the plan and exits 0 (it used to crash with
        ``KeyError: 'failures'``), writing nothing."""
        import subprocess
        import sys

        from .tool_helpers import DEMO_KD, REPO_ROOT
        with tempfile.TemporaryDirectory() as tmp:
            work = osp.join(tmp, 'w')
            proc = subprocess.run(
                [sys.executable,
                 osp.join(REPO_ROOT, 'tools/analysis_tools/'
                          'benchmark_accuracy.py'),
                 DEMO_KD, '--dry-run', '--work-dir', work],
                cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
            self.assertIn('plan:', proc.stdout)
            self.assertFalse(osp.exists(work))

    def test_overrides(self):
        from .tool_helpers import DEMO_KD
        tool = load_tool('tools/analysis_tools/benchmark_accuracy.py')
        cfg = tool.load_config(DEMO_KD)
        out = tool.apply_overrides(cfg, data_root='/data/x', max_epochs=2,
                                   cfg_options={'randomness.seed': 5})
        self.assertEqual(out.train_dataloader.dataset.data_root, '/data/x/')
        self.assertEqual(out.test_dataloader.dataset.data_root, '/data/x/')
        self.assertEqual(out.val_evaluator.ann_file,
                         '/data/x/annotations/instances_val.json')
        self.assertEqual(out.train_cfg.max_epochs, 2)
        self.assertEqual(out.default_hooks.checkpoint.interval, 2)
        self.assertEqual(out.randomness.seed, 5)
        self.assertEqual(cfg.train_cfg.max_epochs, 12)  # input untouched


class TestBenchmarkAccuracy(unittest.TestCase):
    """One real run (the KD student, seed 0) and resumption: finished runs
    are read from their result.json, nothing is trained twice."""

    @classmethod
    def setUpClass(cls):
        from mmengine.config import Config

        from mmkd_dense.testing import build_model_from_cfg
        cls.tool = load_tool('tools/analysis_tools/benchmark_accuracy.py')
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        cls.paths = make_small_demo_configs(tmp)
        cls.work = osp.join(tmp, 'acc')
        teacher = build_model_from_cfg(Config.fromfile(cls.paths['teacher']))
        cls.teacher_ckpt = osp.join(tmp, 'teacher_seed0.pth')
        torch.save(dict(state_dict=teacher.state_dict()), cls.teacher_ckpt)
        kd_row = osp.splitext(osp.basename(cls.paths['kd']))[0]
        cls.kd_row = kd_row
        # finished runs (as if done by an earlier, interrupted invocation)
        for seed, (t, s) in enumerate(((0.40, 0.30), (0.44, 0.32))):
            _write_result(osp.join(cls.work, 'teacher', f'seed{seed}'),
                          'teacher', 'teacher', seed, cls.teacher_ckpt, t,
                          t + 0.2)
            _write_result(osp.join(cls.work, 'student', f'seed{seed}'),
                          'student', 'student', seed, 'unused', s, s + 0.2)
        _write_result(osp.join(cls.work, kd_row, 'seed1'), kd_row, 'kd', 1,
                      'unused', 0.36, 0.56)
        argv = [cls.paths['kd'], '--seeds', '0', '1', '--work-dir', cls.work,
                '--launcher', 'inprocess']
        cls.first = cls.tool.main(argv)
        cls.mtimes = {p: os.stat(p).st_mtime for p in cls._results(cls.work)}
        cls.second = cls.tool.main(argv)

    @staticmethod
    def _results(work):
        out = []
        for root, _, files in os.walk(work):
            out += [osp.join(root, f) for f in files if f == 'result.json']
        return sorted(out)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_only_the_missing_run_was_trained(self):
        self.assertEqual(self.first['failures'], [])
        skipped = {k: r['skipped'] for k, r in self.first['records'].items()}
        self.assertEqual(skipped, {('teacher', 0): True,
                                   ('teacher', 1): True,
                                   ('student', 0): True,
                                   ('student', 1): True,
                                   (self.kd_row, 0): False,
                                   (self.kd_row, 1): True})
        run_dir = osp.join(self.work, self.kd_row, 'seed0')
        with open(osp.join(run_dir, 'result.json')) as f:
            rec = json.load(f)
        self.assertTrue(osp.isfile(rec['checkpoint']))
        self.assertEqual(rec['seed'], 0)
        self.assertIsInstance(rec['metrics'], dict)
        # the KD run distilled from the seed-0 teacher's checkpoint
        with open(osp.join(run_dir, 'config.py')) as f:
            self.assertIn(f"teacher_ckpt='{self.teacher_ckpt}'", f.read())

    def test_second_call_resumes_without_training(self):
        self.assertTrue(all(r['skipped']
                            for r in self.second['records'].values()))
        self.assertEqual(
            {p: os.stat(p).st_mtime for p in self._results(self.work)},
            self.mtimes)
        self.assertEqual(self.first['table'], self.second['table'])

    def test_teacher_once_trains_no_other_teacher_seed(self):
        """With ``--teacher-once`` the teacher row runs only at the
        teacher seed: a missing seed-1 teacher is not trained."""
        with tempfile.TemporaryDirectory() as work:
            for seed in (0, 1):
                for row, kind in (('student', 'student'),
                                  (self.kd_row, 'kd')):
                    _write_result(osp.join(work, row, f'seed{seed}'), row,
                                  kind, seed, 'unused', 0.3, 0.5)
            _write_result(osp.join(work, 'teacher', 'seed0'), 'teacher',
                          'teacher', 0, self.teacher_ckpt, 0.4, 0.6)
            result = self.tool.main([
                self.paths['kd'], '--seeds', '0', '1', '--work-dir', work,
                '--launcher', 'inprocess', '--teacher-once'])
            self.assertEqual(result['failures'], [])
            self.assertNotIn(('teacher', 1), result['records'])
            self.assertTrue(all(r['skipped']
                                for r in result['records'].values()))
            self.assertFalse(osp.exists(osp.join(work, 'teacher', 'seed1')))

    def test_markdown_table(self):
        lines = self.second['table'].splitlines()
        self.assertEqual(len(lines), 2 + 3)
        teacher, student, kd = lines[2:]
        self.assertIn('| teacher | teacher | 2 | 42.00 ± 2.83 | '
                      '62.00 ± 2.83 |', teacher)
        self.assertIn('| student | student | 2 | 31.00 ± 1.41 |', student)
        self.assertIn(f'| {self.kd_row} | kd | 2 |', kd)
        with open(osp.join(self.work, 'accuracy.md')) as f:
            text = f.read()
        self.assertIn(self.second['table'], text)
        with open(osp.join(self.work, 'summary.json')) as f:
            summary = json.load(f)['summary']
        self.assertEqual([s['name'] for s in summary],
                         ['teacher', 'student', self.kd_row])


if __name__ == '__main__':
    unittest.main()
