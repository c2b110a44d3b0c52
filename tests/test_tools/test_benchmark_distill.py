# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import os.path as osp
import tempfile
import time
import unittest

import mmkd_dense  # noqa: F401
import torch

from .tool_helpers import DEMO_KD, REPO_ROOT, load_tool


class TestMeasure(unittest.TestCase):
    """The timing and CPU-memory probes measure what they claim."""

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool('tools/analysis_tools/benchmark_distill.py')

    def test_time_covers_a_sleep(self):
        res = self.tool.measure(lambda: time.sleep(0.02), 'cpu', iters=3,
                                warmup=1, mem_iters=1)
        self.assertGreaterEqual(res['time_ms']['min'], 19.0)
        self.assertLess(res['time_ms']['median'], 1000.0)
        self.assertEqual(len(res['time_ms']['values']), 3)
        # sleeping uses no CPU: the CPU clock ignores waiting
        self.assertLess(res['cpu_time_ms']['median'], 10.0)
        self.assertEqual(res['memory_metric'], 'cpu_rss_peak_delta')

    def test_phases_are_interleaved(self):
        order = []
        steps = {k: (lambda k=k: order.append(k)) for k in 'abc'}
        res = self.tool.measure_phases(steps, 'cpu', iters=2, warmup=1,
                                       mem_iters=1)
        # 1 warm-up + 2 timed rounds of a, b, c, then one RSS pass each
        self.assertEqual(''.join(order), 'abc' * 3 + 'abc')
        self.assertEqual(set(res), set('abc'))

    def test_rss_peak_sees_a_64mb_tensor(self):
        mib = 64

        def step():
            x = torch.ones(mib * 2**20 // 4)  # touched pages count in RSS
            time.sleep(0.05)  # let the sampler see the peak
            del x

        res = self.tool.measure(step, 'cpu', iters=1, warmup=0,
                                mem_iters=1)
        self.assertGreater(res['peak_mem_mb'], 0.8 * mib)
        self.assertLess(res['peak_mem_mb'], 4 * mib)


class TestBenchmarkDistill(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool('tools/analysis_tools/benchmark_distill.py')
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = osp.join(cls.tmp.name, 'bench.json')
        plain = osp.join(REPO_ROOT, 'configs', 'demo',
                         'retinanet_r18c16_fpn_12e_digits.py')
        cls.result = cls.tool.main([
            DEMO_KD, plain, '--input-size', '64', '96', '--batch-size', '2',
            '--iters', '2', '--warmup', '1', '--mem-iters', '1', '--out',
            cls.out
        ])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_json_keys_and_positive_numbers(self):
        with open(self.out) as f:
            data = json.load(f)
        self.assertEqual(data['meta']['input_size'], [64, 96])
        self.assertEqual(data['meta']['memory_metric'], 'cpu_rss_peak_delta')
        self.assertIn('torch', data['meta']['env'])
        kd = data['results'][0]
        self.assertEqual(kd['method'], 'fgd')
        self.assertEqual(kd['teacher_forward'], 'feat')
        self.assertEqual(kd['num_classes'], 10)
        phases = ('student', 'teacher', 'distill')
        for phase in phases:
            for clock in ('time_ms', 'cpu_time_ms'):
                times = kd[phase][clock]
                self.assertGreater(times['mean'], 0)
                self.assertGreater(times['min'], 0)
                self.assertLessEqual(times['min'], times['median'])
                self.assertEqual(len(times['values']), 2)
            self.assertGreaterEqual(kd[phase]['peak_mem_mb'], 0)
        a, b, c = (kd[p]['time_ms']['mean'] for p in phases)
        self.assertAlmostEqual(kd['ratio'], c / (a + b), places=6)
        self.assertAlmostEqual(kd['overhead_ms'], c - a - b, places=6)
        a, b, c = (kd[p]['cpu_time_ms']['mean'] for p in phases)
        self.assertAlmostEqual(kd['ratio_cpu'], c / (a + b), places=6)
        self.assertEqual(len(kd['ratio_per_round']), 2)
        self.assertGreater(kd['ratio'], 0)
        # teacher R18-c32 is larger than the student R18-c16
        self.assertGreater(kd['params_m']['teacher'],
                           kd['params_m']['student'])
        self.assertGreater(kd['params_m']['distiller'], 0)  # FGD align/GC

    def test_non_distill_config_is_reported_not_fatal(self):
        plain = self.result['results'][1]
        self.assertIn('error', plain)
        self.assertIn('not a distillation algorithm', plain['error'])

    def test_table_rows(self):
        lines = self.result['table'].splitlines()
        self.assertEqual(len(lines), 2 + 2)
        self.assertIn('ratio c/(a+b)', lines[0])
        row = lines[2]
        self.assertIn('fgd_fpn_retina-r18c32_retina-r18c16_12e_digits', row)
        self.assertEqual(row.count('|'), lines[0].count('|'))
        self.assertIn('ERROR', lines[3])

    def test_suite_finds_every_baseline_of_the_pair(self):
        utils = load_tool('tools/analysis_tools/analysis_utils.py')
        found = utils.find_suite_configs('retina-r101_retina-r50', 'coco')
        methods = [utils.method_of(p) for p in found]
        for method in ('fgd', 'pkd', 'cwd', 'mgd'):
            self.assertIn(method, methods)
        self.assertEqual(len(methods), len(set(methods)))  # one per method
        for path in found:
            self.assertIn('_retina-r101_retina-r50_', path)
            method = utils.method_of(path)
            coco = [p for p in utils.find_suite_configs(
                'retina-r101_retina-r50', '') if utils.method_of(p) == method
                and p.endswith('_coco.py')]
            # the COCO config whenever the method has one for this pair
            if coco:
                self.assertTrue(path.endswith('_coco.py'), path)


if __name__ == '__main__':
    unittest.main()
