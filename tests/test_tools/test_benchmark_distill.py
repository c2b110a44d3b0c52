# Copyright (c) mmkd_dense contributors. All rights reserved.
"""tools/analysis_tools/benchmark_distill.py: the timing probes, the
step-cost ratio, the method-specific options (``--with-head``,
``--interval``, ``--breakdown``, ``--reference-student``,
``--lightml-cost``), the suite and the before/after tools (``--repo``,
``--compare``)."""
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import unittest

import mmkd_dense  # noqa: F401
import torch
from torch import nn

from .tool_helpers import DEMO_KD, REPO_ROOT, load_tool

TOOL = 'tools/analysis_tools/benchmark_distill.py'
PLAIN = osp.join(REPO_ROOT, 'configs', 'demo',
                 'retinanet_r18c16_fpn_12e_digits.py')
DS2D2 = osp.join(REPO_ROOT, 'configs', 'ds2d2',
                 'ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py')
CID = osp.join(REPO_ROOT, 'configs', 'cid_lightml',
               'cid-lightml_head_retina-r18c32_retina-r18c16_12e_digits.py')
PHASES = ('student', 'teacher', 'distill')


class TestMeasure(unittest.TestCase):
    """The timing and CPU-memory probes measure what they claim."""

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool(TOOL)

    def test_time_covers_a_sleep(self):
        res = self.tool.measure(lambda: time.sleep(0.02), 'cpu', iters=3,
                                warmup=1, mem_iters=1)
        self.assertGreaterEqual(res['time_ms']['min'], 19.0)
        self.assertLess(res['time_ms']['median'], 1000.0)
        self.assertEqual(len(res['time_ms']['values']), 3)
        # sleeping uses no CPU: the CPU clock ignores waiting
        self.assertLess(res['cpu_time_ms']['median'], 10.0)
        self.assertEqual(res['memory_metric'], 'cpu_rss_peak_delta')

    def test_phases_are_interleaved_with_progress(self):
        order, seen = [], []
        steps = {k: (lambda k=k: order.append(k)) for k in 'abc'}
        res = self.tool.measure_phases(
            steps, 'cpu', iters=2, warmup=1, mem_iters=1,
            progress=lambda i, n, last: seen.append((i, n, sorted(last))))
        # 1 warm-up + 2 timed rounds of a, b, c, then one RSS pass each
        self.assertEqual(''.join(order), 'abc' * 3 + 'abc')
        self.assertEqual(set(res), set('abc'))
        self.assertEqual(seen, [(1, 2, ['a', 'b', 'c']),
                                (2, 2, ['a', 'b', 'c'])])

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


def _phase(cpu_median, wall_median):
    return dict(cpu_time_ms=dict(median=cpu_median),
                time_ms=dict(median=wall_median))


class TestStepCostRatio(unittest.TestCase):
    """One definition: median(c) / (median(a) + median(b)), CPU time on
    CPU, wall time on CUDA, optionally the with-head denominator."""

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool(TOOL)
        cls.phases = dict(student=_phase(300., 30.), teacher=_phase(100., 10.),
                          teacher_head=_phase(150., 20.),
                          distill=_phase(500., 60.))

    def test_cpu_uses_cpu_time(self):
        self.assertEqual(self.tool.ratio_clock('cpu'), 'cpu_time_ms')
        self.assertAlmostEqual(
            self.tool.step_cost_ratio(self.phases, 'cpu'), 500 / 400)

    def test_cuda_uses_wall_time(self):
        self.assertEqual(self.tool.ratio_clock('cuda:0'), 'time_ms')
        self.assertAlmostEqual(
            self.tool.step_cost_ratio(self.phases, 'cuda'), 60 / 40)

    def test_with_head_denominator(self):
        self.assertAlmostEqual(
            self.tool.step_cost_ratio(self.phases, 'cpu', 'teacher_head'),
            500 / 450)


class TestMacCounter(unittest.TestCase):

    def test_hand_counted_macs(self):
        tool = load_tool(TOOL)
        model = nn.Sequential(
            nn.Conv2d(4, 8, 3, padding=1),  # 8*5*5 outputs x 4*9
            nn.Conv2d(8, 8, 1, groups=2),  # 8*5*5 outputs x 4
            nn.Flatten(), nn.Linear(200, 3))  # 3 outputs x 200
        counter = tool.MacCounter(model)
        model(torch.zeros(1, 4, 5, 5))
        counter.remove()
        self.assertEqual(counter.macs, {'0': 7200, '1': 800, '3': 600})
        self.assertEqual(counter.total(), 8600)
        self.assertEqual(counter.total('1'), 800)
        model(torch.zeros(1, 4, 5, 5))  # hooks removed: nothing added
        self.assertEqual(counter.total(), 8600)


class TestBenchmarkDistill(unittest.TestCase):
    """A CPU run on the digits FGD demo with a plain reference student and
    the Light-ML cost of the CID demo student."""

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool(TOOL)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = osp.join(cls.tmp.name, 'bench.json')
        cls.result = cls.tool.main([
            DEMO_KD, PLAIN, '--input-size', '64', '96', '--batch-size', '2',
            '--iters', '2', '--warmup', '1', '--mem-iters', '1',
            '--reference-student', PLAIN, '--lightml-cost', CID,
            '--flops-size', '64', '96', '--out', cls.out
        ])
        with open(cls.out) as f:
            cls.data = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_json_keys_and_positive_numbers(self):
        data = self.data
        self.assertEqual(data['meta']['input_size'], [64, 96])
        self.assertEqual(data['meta']['memory_metric'], 'cpu_rss_peak_delta')
        self.assertIn('torch', data['meta']['env'])
        # one torch thread on CPU is part of the ratio definition
        self.assertEqual(data['meta']['env']['torch_threads'], 1)
        self.assertEqual(data['meta']['repo'], REPO_ROOT)
        kd = data['results'][0]
        self.assertEqual(kd['method'], 'fgd')
        self.assertEqual(kd['pair'], 'retina-r18c32_retina-r18c16')
        self.assertEqual(kd['teacher_forward'], 'feat')
        self.assertEqual(kd['num_classes'], 10)
        self.assertIsNone(kd['interval'])
        self.assertEqual(kd['iterations_per_round'], 1)
        for phase in PHASES + ('reference', ):
            for clock in ('time_ms', 'cpu_time_ms'):
                times = kd[phase][clock]
                self.assertGreater(times['mean'], 0)
                self.assertGreater(times['min'], 0)
                self.assertLessEqual(times['min'], times['median'])
                self.assertEqual(len(times['values']), 2)
            self.assertGreaterEqual(kd[phase]['peak_mem_mb'], 0)
        # the ratio: medians of the rounds, CPU time
        self.assertEqual(kd['ratio_clock'], 'cpu_time_ms')
        a, b, c = (kd[p]['cpu_time_ms']['median'] for p in PHASES)
        self.assertAlmostEqual(kd['ratio'], c / (a + b), places=6)
        self.assertAlmostEqual(kd['ratio_cpu_median'], c / (a + b),
                               places=6)
        self.assertAlmostEqual(kd['overhead_ms'], c - a - b, places=6)
        a, b, c = (kd[p]['time_ms']['mean'] for p in PHASES)
        self.assertAlmostEqual(kd['ratio_mean'], c / (a + b), places=6)
        self.assertAlmostEqual(kd['overhead_ms_mean'], c - a - b, places=6)
        a, b, c = (kd[p]['cpu_time_ms']['values'][1] for p in PHASES)
        self.assertAlmostEqual(kd['ratio_cpu_per_round'][1], c / (a + b))
        self.assertEqual(len(kd['ratio_per_round']), 2)
        self.assertGreater(kd['ratio'], 0)
        # (a') the plain student: the same detector as the KD student
        ref = kd['reference']['cpu_time_ms']['median']
        self.assertAlmostEqual(kd['student_vs_reference'],
                               kd['student']['cpu_time_ms']['median'] / ref
                               - 1)
        self.assertAlmostEqual(kd['ratio_vs_reference'],
                               kd['distill']['cpu_time_ms']['median'] / ref)
        # teacher R18-c32 is larger than the student R18-c16
        self.assertGreater(kd['params_m']['teacher'],
                           kd['params_m']['student'])
        self.assertGreater(kd['params_m']['distiller'], 0)  # FGD align/GC

    def test_lightml_cost_hand_computed(self):
        (row, ) = self.data['lightml']
        self.assertEqual(row['lightml_module'], 'bbox_head.light_ml')
        # C = 32 branch channels: grouped (G=2) 1x1 conv 2C -> 2C + bias
        self.assertEqual(row['lightml_channels'], 32)
        self.assertEqual(row['lightml_params'], 64 * 32 + 64)
        # P3-P5 of a 64 x 96 input: 8x12 + 4x6 + 2x3 = 126 locations, each
        # 64 outputs x 32 inputs per group
        self.assertAlmostEqual(row['lightml_gmacs'], 126 * 64 * 32 / 1e9)
        self.assertAlmostEqual(
            row['lightml_pct_of_head'],
            100 * row['lightml_gmacs'] / row['head_gmacs'])
        self.assertLess(row['head_gmacs'], row['student_gmacs'])

    def test_non_distill_config_is_reported_not_fatal(self):
        plain = self.result['results'][1]
        self.assertIn('error', plain)
        self.assertIn('not a distillation algorithm', plain['error'])

    def test_table_rows(self):
        lines = self.result['table'].split('\n\n')[0].splitlines()
        self.assertEqual(len(lines), 2 + 2)
        self.assertIn('ratio c/(a+b)', lines[0])
        self.assertIn("(a') reference", lines[0])
        row = lines[2]
        self.assertIn('fgd_fpn_retina-r18c32_retina-r18c16_12e_digits', row)
        self.assertEqual(row.count('|'), lines[0].count('|'))
        self.assertIn('ERROR', lines[3])
        self.assertEqual(lines[3].count('|'), lines[0].count('|'))
        self.assertIn('bbox_head.light_ml', self.result['table'])


class TestDS2D2Options(unittest.TestCase):
    """``--with-head``, ``--interval`` and ``--breakdown`` on the (tiny)
    DS2D2 demo config (what ``benchmark_ds2d2_step.py`` did)."""

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool(TOOL)
        with tempfile.TemporaryDirectory() as tmp:
            out = osp.join(tmp, 'res.json')
            cls.output = cls.tool.main([
                DS2D2, '--input-size', '64', '64', '--iters', '1',
                '--warmup', '0', '--mem-iters', '1', '--with-head',
                '--breakdown', '--interval', '1', '2', '--target', '1.35',
                '--quiet', '--out', out])
            with open(out) as f:
                cls.saved = json.load(f)

    def test_intervals_and_with_head(self):
        results = self.output['results']
        self.assertEqual([r['interval'] for r in self.saved['results']],
                         [1, 2])
        self.assertEqual([r['iterations_per_round'] for r in results],
                         [1, 2])
        for res in results:
            self.assertEqual(res['interval_losses'],
                             ['loss_ds2d2_ff', 'loss_ds2d2_hf'])
            med = {p: res[p]['cpu_time_ms']['median']
                   for p in PHASES + ('teacher_head', )}
            self.assertTrue(all(v > 0 for v in med.values()))
            self.assertAlmostEqual(
                res['ratio'], med['distill'] / (med['student'] +
                                                med['teacher']))
            self.assertAlmostEqual(
                res['ratio_with_head'],
                med['distill'] / (med['student'] + med['teacher_head']))
            self.assertEqual(res['meets_target'], res['ratio'] <= 1.35)
            # (c) is the mean over the cycle: one round of interval 2 ran
            # two distillation steps and counts as one value
            self.assertEqual(len(res['distill']['cpu_time_ms']['values']), 1)

    def test_breakdown_parts(self):
        for res in self.output['results']:
            bd = res['breakdown']
            parts = bd['parts_ms']
            for key in ('teacher_forward', 'student_forward', 'forward',
                        'backward_task', 'backward_task_kd', 'kd_total',
                        'loss:loss_ds2d2_explicit', 'loss:loss_ds2d2_ff',
                        'loss:loss_ds2d2_hf'):
                self.assertIn(key, parts)
                self.assertGreaterEqual(parts[key], 0)
            self.assertEqual(bd['clock'], 'cpu_time_ms')
            self.assertEqual(bd['kd_forward_ms'], parts['kd_total'])
            self.assertAlmostEqual(
                bd['kd_backward_ms'],
                parts['backward_task_kd'] - parts['backward_task'])
            self.assertAlmostEqual(bd['kd_ms'],
                                   bd['kd_forward_ms'] + bd['kd_backward_ms'])
            self.assertAlmostEqual(
                bd['kd_share_of_student'],
                bd['kd_ms'] / res['student']['cpu_time_ms']['median'])
            # the losses run inside compute_distill_losses
            self.assertLessEqual(
                sum(v for k, v in parts.items() if k.startswith('loss:')),
                parts['kd_total'] * 1.001 + 0.01)
        self.assertIn('KD total / (a) student step', self.output['table'])

    def test_interval_must_be_positive(self):
        with self.assertRaisesRegex(ValueError, '--interval'):
            self.tool.benchmark_config(DS2D2, input_size=(64, 64), iters=1,
                                       warmup=0, interval=0)

    def test_interval_needs_an_interval_loss(self):
        with self.assertRaisesRegex(self.tool.NoIntervalLoss,
                                    'no distill loss with an `interval`'):
            self.tool.benchmark_config(DEMO_KD, input_size=(64, 64),
                                       iters=1, warmup=0, interval=2)


class TestSuite(unittest.TestCase):

    def test_suite_finds_every_baseline_of_the_pair(self):
        utils = load_tool('tools/analysis_tools/analysis_utils.py')
        found = utils.find_suite_configs('retina-r101_retina-r50', 'coco')
        methods = [utils.method_of(p) for p in found]
        for method in ('fgd', 'pkd', 'cwd', 'mgd', 'crosskd'):
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

    def test_default_lightml_students_exist(self):
        tool = load_tool(TOOL)
        self.assertEqual(len(tool.LIGHTML_STUDENTS), 4)
        for path in tool.LIGHTML_STUDENTS:
            self.assertTrue(osp.isfile(osp.join(REPO_ROOT, path)), path)
            self.assertIn('-lightml_', path)

    def test_list_covers_ld_and_crosskd(self):
        tool = load_tool(TOOL)
        out = tool.main(['--suite', '--pair', 'gfl-r101_gfl-r50',
                         'retina-r101_retina-r50', '--list'])
        names = [osp.basename(p) for p in out['configs']]
        self.assertIn('ld_head_gfl-r101_gfl-r50_1x_coco.py', names)
        self.assertIn('crosskd_head_gfl-r101_gfl-r50_1x_coco.py', names)
        self.assertIn('crosskd_head_retina-r101_retina-r50_2x_coco.py',
                      names)
        self.assertEqual(len(names), len(set(names)))


class TestCompare(unittest.TestCase):
    """``--compare``: relative change per (method, pair, interval)."""

    @staticmethod
    def run_of(ratios, device='cpu', field='ratio_cpu_median'):
        return dict(meta=dict(env=dict(device=device)), results=[
            dict(config=f'configs/x/{m}_fpn_t-r101_s-r50_2x_coco.py',
                 **{field: r}) for m, r in ratios.items()])

    def test_worse_by_more_than_tolerance_is_flagged(self):
        tool = load_tool(TOOL)
        before = self.run_of(dict(fgd=1.00, pkd=2.00, cwd=1.00))
        after = self.run_of(dict(fgd=1.05, pkd=2.02, mgd=1.1))
        res = tool.compare_results(before, after, tolerance=0.02)
        changes = {r['method']: r['change'] for r in res['rows']}
        self.assertAlmostEqual(changes['fgd'], 0.05)
        self.assertAlmostEqual(changes['pkd'], 0.01)
        self.assertEqual([r['method'] for r in res['worse']], ['fgd'])
        self.assertEqual(len(res['unmatched']), 2)  # cwd and mgd
        self.assertIn('+5.0 % **worse**', res['table'])
        self.assertEqual(res['field'], 'ratio_cpu_median')

    def test_cuda_compares_wall_medians(self):
        tool = load_tool(TOOL)
        before = self.run_of(dict(fgd=1.0), 'cuda', 'ratio_median')
        after = self.run_of(dict(fgd=0.9), 'cuda', 'ratio_median')
        res = tool.compare_results(before, after)
        self.assertEqual(res['field'], 'ratio_median')
        self.assertAlmostEqual(res['rows'][0]['change'], -0.1)
        self.assertEqual(res['worse'], [])


class TestRepo(unittest.TestCase):
    """``--repo`` runs the tool on another checkout's package and
    configs."""

    def test_other_checkout_configs_are_used(self):
        with tempfile.TemporaryDirectory() as tmp:
            # a checkout whose configs hold only the LD baseline
            os.symlink(osp.join(REPO_ROOT, 'mmkd_dense'),
                       osp.join(tmp, 'mmkd_dense'))
            os.makedirs(osp.join(tmp, 'configs', 'baselines'))
            os.symlink(osp.join(REPO_ROOT, 'configs', 'baselines', 'ld'),
                       osp.join(tmp, 'configs', 'baselines', 'ld'))
            proc = subprocess.run(
                [sys.executable, osp.join(REPO_ROOT, TOOL), '--repo', tmp,
                 '--suite', '--pair', 'gfl-r101_gfl-r50', '--list'],
                capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        listed = [line for line in proc.stdout.splitlines()
                  if line.endswith('.py')]
        self.assertEqual(listed,
                         ['configs/baselines/ld/ld_head_gfl-r101_gfl-r50_'
                          '1x_coco.py'])

    def test_not_a_checkout(self):
        tool = load_tool(TOOL)
        with tempfile.TemporaryDirectory() as tmp, self.assertRaisesRegex(
                SystemExit, 'no mmkd_dense/ package'):
            tool.main(['--repo', tmp, DEMO_KD])


if __name__ == '__main__':
    unittest.main()
