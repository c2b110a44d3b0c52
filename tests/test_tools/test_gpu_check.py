# Copyright (c) mmkd_dense contributors. All rights reserved.
"""tools/analysis_tools/gpu_check.py: its CPU path (bfloat16 autocast, tiny
inputs) end to end, the failure reporting and the AMP step logic."""
import json
import os.path as osp
import tempfile
import unittest
from unittest import mock

import mmkd_dense  # noqa: F401
import torch
from torch import nn

from .tool_helpers import load_tool


class _ToyDetector(nn.Module):
    """``loss(inputs, samples)`` of a linear model; records the dtype the
    forward ran in."""

    def __init__(self, nan_grad: bool = False):
        super().__init__()
        self.fc = nn.Linear(4, 1)
        self.nan_grad = nan_grad
        self.dtypes = []

    def loss(self, inputs, samples):
        out = self.fc(inputs)
        self.dtypes.append(out.dtype)
        loss = out.float().pow(2).mean()
        if self.nan_grad:  # finite value (0), NaN gradient (inf * 0)
            w = self.fc.weight.sum()
            loss = loss + torch.sqrt((w - w).float())
        return dict(loss=loss)


class TestAmpTrainSteps(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool('tools/analysis_tools/gpu_check.py')

    def test_cpu_bfloat16_autocast_and_counts(self):
        from mmengine.config import Config
        model = _ToyDetector()
        cfg = Config(dict(optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.0,
                           weight_decay=0.0))))
        before = model.fc.weight.detach().clone()
        out = self.tool.amp_train_steps(model, cfg, 'cpu', torch.ones(3, 4),
                                        None, iters=2, warmup=1)
        self.assertEqual(model.dtypes, [torch.bfloat16] * 3)
        self.assertEqual(out['amp_dtype'], 'bfloat16')
        self.assertEqual(len(out['losses']), 3)
        self.assertEqual(len(out['iter_ms_values']), 2)
        self.assertTrue(out['loss_finite'])
        self.assertEqual(out['nonfinite_grad_steps'], 0)
        self.assertEqual(out['skipped_steps'], 0)
        # the optimiser stepped: weights moved, loss went down
        self.assertFalse(torch.equal(before, model.fc.weight))
        self.assertLess(out['losses'][-1], out['losses'][0])

    def test_nonfinite_gradients_are_counted(self):
        from mmengine.config import Config
        model = _ToyDetector(nan_grad=True)
        out = self.tool.amp_train_steps(model, Config(), 'cpu',
                                        torch.ones(3, 4), None, iters=2,
                                        warmup=0)
        self.assertEqual(out['nonfinite_grad_steps'], 2)
        # the first loss was finite; the NaN step then poisoned the weights
        self.assertTrue(torch.isfinite(torch.tensor(out['losses'][0])))
        self.assertFalse(out['loss_finite'])


class TestGpuCheckCLI(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool('tools/analysis_tools/gpu_check.py')

    def test_cpu_tiny_run_writes_json_and_table(self):
        with tempfile.TemporaryDirectory() as tmp:
            # the smallest run (CPU bfloat16 is slow): 1 training iteration.
            # Not 64 x 64: a 1 x 1 P6 map hits a torch CPU bug (bfloat16
            # 3x3 stride-2 conv on a 1 x 1 input: garbage weight gradient)
            status = self.tool.main(['--device', 'cpu', '--tiny', '--methods',
                                     'lsfi_mdc', '--threads', '1', '--iters',
                                     '1', '--warmup', '0', '--out-dir', tmp])
            with open(osp.join(tmp, 'gpu_check.json')) as f:
                data = json.load(f)
            with open(osp.join(tmp, 'gpu_check.md')) as f:
                table = f.read()
        self.assertEqual(status, 0, data['results'])
        meta = data['meta']
        self.assertEqual((meta['device'], meta['amp_dtype'],
                          meta['input_size'], meta['batch_size']),
                         ('cpu', 'bfloat16', [64, 96], 2))
        (record, ) = data['results']
        self.assertEqual(record['method'], 'lsfi_mdc')
        self.assertEqual(record['config'], self.tool.METHOD_CONFIGS[
            'lsfi_mdc'])
        self.assertEqual(record['status'], 'ok')
        train = record['train']
        self.assertEqual(len(train['losses']), 1)
        self.assertTrue(all(torch.isfinite(torch.tensor(train['losses']))))
        self.assertEqual(train['nonfinite_grad_steps'], 0)
        self.assertGreater(train['iter_ms'], 0)
        over = record['overhead']
        for key in ('student_ms', 'teacher_ms', 'distill_ms'):
            self.assertGreater(over[key], 0)
        self.assertAlmostEqual(
            over['ratio'],
            over['distill_ms'] / (over['student_ms'] + over['teacher_ms']))
        # the paper pair: RetinaNet R101 teacher, R50 student
        self.assertGreater(record['params_m']['teacher'],
                           record['params_m']['student'])
        # the report names the device and has the method's row
        first = table.splitlines()[0]
        self.assertEqual(first, '### GPU check: ' + meta['env']['cpu'])
        row = [line for line in table.splitlines()
               if line.startswith('| lsfi_mdc |')]
        self.assertEqual(len(row), 1)
        self.assertIn('| ok |', row[0])

    def test_failures_are_reported_with_exit_status(self):
        with tempfile.TemporaryDirectory() as tmp, mock.patch.object(
                self.tool, 'build_random_model',
                side_effect=RuntimeError('boom')):
            status = self.tool.main(['--device', 'cpu', '--tiny', '--methods',
                                     'fgd', 'pkd', '--out-dir', tmp])
            with open(osp.join(tmp, 'gpu_check.json')) as f:
                data = json.load(f)
            with open(osp.join(tmp, 'gpu_check.md')) as f:
                table = f.read()
        self.assertEqual(status, 1)
        self.assertEqual([r['method'] for r in data['results']],
                         ['fgd', 'pkd'])
        for record in data['results']:
            self.assertEqual(record['error'], 'RuntimeError: boom')
            self.assertEqual(record['status'], 'FAIL: exception')
        self.assertIn('| fgd | fgd_fpn_retina-r101_retina-r50_2x_coco | '
                      'ERROR: RuntimeError: boom |', table)

    @unittest.skipIf(torch.cuda.is_available(), 'CUDA machine')
    def test_cuda_requested_without_cuda(self):
        with tempfile.TemporaryDirectory() as tmp:
            out_dir = osp.join(tmp, 'out')
            with mock.patch('sys.stderr') as err:
                status = self.tool.main(['--methods', 'fgd', '--out-dir',
                                         out_dir])
            self.assertEqual(status, 2)
            self.assertFalse(osp.exists(out_dir))  # nothing written
        message = ''.join(c.args[0] for c in err.write.call_args_list)
        self.assertIn('--device cpu --tiny', message)

    def test_every_method_config_exists(self):
        root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        for method, config in self.tool.METHOD_CONFIGS.items():
            self.assertTrue(osp.isfile(osp.join(root, config)), method)
        self.assertIn('ds2d2', self.tool.METHOD_CONFIGS)
        self.assertIn('cid_lightml', self.tool.METHOD_CONFIGS)
        with self.assertRaises(SystemExit):
            self.tool.parse_args(['--methods', 'nope'])


if __name__ == '__main__':
    unittest.main()
