# Copyright (c) mmkd_dense contributors. All rights reserved.
"""tools/analysis_tools/benchmark_latency.py: timing statistics, the
teacher/student/distilled-student rows, params/FLOPs, markdown + JSON
(CPU path, tiny input)."""
import contextlib
import io
import json
import os.path as osp
import tempfile
import unittest
from unittest import mock

import mmkd_dense  # noqa: F401

from .tool_helpers import REPO_ROOT, load_tool

TEACHER = osp.join(REPO_ROOT,
                   'configs/demo/retinanet_r18c32_fpn_12e_digits.py')
STUDENT = osp.join(REPO_ROOT,
                   'configs/demo/retinanet_r18c16_fpn_12e_digits.py')
KD = osp.join(REPO_ROOT, 'configs/demo/'
              'fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py')


class TestTimeFn(unittest.TestCase):

    def test_median_and_p90_of_the_timed_runs_only(self):
        tool = load_tool('tools/analysis_tools/benchmark_latency.py')
        calls = []
        # perf_counter pairs (start, end): durations 5, 1, 3, 2, 4 ms
        clock = iter([0, .005, 1, 1.001, 2, 2.003, 3, 3.002, 4, 4.004])
        with mock.patch.object(tool.time, 'perf_counter',
                               lambda: next(clock)):
            stats = tool.time_fn(lambda: calls.append(1), runs=5, warmup=2)
        self.assertEqual(len(calls), 7)  # 2 warm-up + 5 timed
        self.assertEqual(stats['times_ms'], [5.0, 1.0, 3.0, 2.0, 4.0])
        self.assertAlmostEqual(stats['median_ms'], 3.0)
        # numpy's linear percentile of [1..5] at 90 %: 4 + 0.6 * 1
        self.assertAlmostEqual(stats['p90_ms'], 4.6)


class TestBenchmarkLatencyCLI(unittest.TestCase):

    def test_demo_pair_cpu(self):
        tool = load_tool('tools/analysis_tools/benchmark_latency.py')
        from analysis_utils import (build_model, count_params, get_student,
                                    load_config)
        with tempfile.TemporaryDirectory() as tmp:
            md, js = osp.join(tmp, 'lat.md'), osp.join(tmp, 'lat.json')
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                result = tool.main([
                    '--student', STUDENT, '--distilled', KD,
                    '--input-size', '64', '64', '--runs', '2', '--warmup',
                    '1', '--threads', '1', '--backends', 'torch-cpu',
                    'ort-cpu', '--out-md', md, '--out-json', js])
            with open(js) as f:
                saved = json.load(f)
            with open(md) as f:
                table = f.read()
        log = out.getvalue()
        self.assertIn('[benchmark_latency] [1/3] teacher', log)
        self.assertIn('exporting ONNX', log)
        rows = saved['rows']
        # no --teacher: the distillation config's teacher comes first
        self.assertEqual([r['role'] for r in rows],
                         ['teacher', 'student', 'distilled student'])
        kd = build_model(load_config(KD))
        self.assertEqual(rows[0]['params'], count_params(kd.teacher))
        self.assertEqual(rows[2]['params'], count_params(get_student(kd)))
        # the FGD student is the plain student: same size and FLOPs
        self.assertEqual(rows[1]['params'], rows[2]['params'])
        self.assertEqual(rows[1]['flops'], rows[2]['flops'])
        self.assertGreater(rows[0]['flops'], 2 * rows[1]['flops'])
        for row in rows:
            for backend in ('torch-cpu', 'ort-cpu'):
                stats = row[backend]
                self.assertEqual(len(stats['times_ms']), 2)
                self.assertGreaterEqual(stats['p90_ms'], stats['median_ms'])
                self.assertGreater(stats['median_ms'], 0)
        self.assertEqual(saved['threads'], 1)
        self.assertEqual(saved['input_size'], [64, 64])
        self.assertIn('load_average', saved['env'])
        lines = table.strip().splitlines()
        self.assertEqual(len(lines), 2 + 3)
        self.assertIn('ort-cpu median (ms)', lines[0])
        self.assertIn('FLOPs (G) @64x64', lines[0])
        self.assertIn('| teacher |', lines[2])
        self.assertIn('1.00x', lines[2])  # the teacher against itself
        self.assertEqual(result['table'], table.strip())

    def test_bad_role_and_missing_models(self):
        tool = load_tool('tools/analysis_tools/benchmark_latency.py')
        with self.assertRaises(SystemExit) as ctx, \
                contextlib.redirect_stderr(io.StringIO()):
            tool.main(['--runs', '1'])
        self.assertEqual(ctx.exception.code, 2)
        with self.assertRaisesRegex(SystemExit, 'pass it with --distilled'):
            tool.collect_models(None, [KD], [])
        with self.assertRaisesRegex(SystemExit, 'not a distillation config'):
            tool.collect_models(None, [], [STUDENT])


if __name__ == '__main__':
    unittest.main()
