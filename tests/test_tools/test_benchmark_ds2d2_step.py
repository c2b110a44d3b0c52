# Copyright (c) mmkd_dense contributors. All rights reserved.
"""tools/analysis_tools/benchmark_ds2d2_step.py on the (tiny) DS2D2 demo
config: phases, ratios and the ``--interval`` averaging."""
import json
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401

from .tool_helpers import REPO_ROOT, load_tool

CONFIG = osp.join(REPO_ROOT, 'configs', 'ds2d2',
                  'ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py')


class TestBenchmarkDS2D2Step(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool('tools/analysis_tools/benchmark_ds2d2_step.py')

    def test_intervals_breakdown_and_json(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = osp.join(tmp, 'res.json')
            results = self.tool.main([
                CONFIG, '--input-size', '64', '64', '--rounds', '1',
                '--warmup', '0', '--threads', '1', '--breakdown',
                '--interval', '1', '2', '--out', out])
            with open(out) as f:
                saved = json.load(f)
        self.assertEqual(len(results), 2)
        self.assertEqual([r['interval'] for r in saved], [1, 2])
        self.assertEqual([r['iterations_per_round'] for r in saved], [1, 2])
        for res in results:
            med = res['median_ms']
            self.assertEqual(
                set(med), {'student', 'teacher', 'teacher_full', 'distill',
                           'kd:loss_ds2d2_explicit', 'kd:loss_ds2d2_ff',
                           'kd:loss_ds2d2_hf'})
            self.assertTrue(all(v > 0 for v in med.values()))
            self.assertAlmostEqual(
                res['ratio'], med['distill'] / (med['student'] +
                                                med['teacher']))
            self.assertAlmostEqual(
                res['ratio_full_teacher'],
                med['distill'] / (med['student'] + med['teacher_full']))
            self.assertEqual(res['meets_target'], res['ratio'] <= 1.35)
            # (c) is the mean over the cycle: one round of interval 2 ran
            # two distillation steps
            self.assertEqual(len(res['all_ms']['distill']), 1)

    def test_interval_must_be_positive(self):
        with self.assertRaisesRegex(ValueError, '--interval'):
            self.tool.benchmark_step(CONFIG, (64, 64), rounds=1, warmup=0,
                                     interval=0)


if __name__ == '__main__':
    unittest.main()
