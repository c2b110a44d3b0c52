# Copyright (c) mmkd_dense contributors. All rights reserved.
"""tools/train.py and tools/dist_train.sh from the command line: bad input
fails before anything is written; 2-process CPU DDP; a new detector pair
added by config alone (the recipe in docs/new_detector_pair.md)."""
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.testing import (build_model_from_cfg, make_tiny_coco,
                                shrink_config)
from mmkd_dense.utils.run_log import build_runner
from ._helpers import (REPO, DemoDataCase, low_score_thr, read_scalars,
                       run_main, run_tool)


class TestBadInputFailsBeforeTraining(DemoDataCase):

    def assert_fails_cleanly(self, config, *fragments, options=()):
        # tools/train.py's main in this process (test_cli_errors.py runs the
        # command itself in a subprocess)
        work_dir = osp.join(self.tmp.name, 'work_' + osp.basename(config))
        code, err = run_main(
            'train', [config, '--work-dir', work_dir] +
            (['--cfg-options', *options] if options else []))
        self.assertEqual(code, 1, err[-3000:])
        for fragment in fragments:
            self.assertIn(fragment, err)
        self.assertIn('nothing was written', err)
        self.assertFalse(osp.exists(work_dir))

    def test_missing_teacher_ckpt(self):
        self.assert_fails_cleanly(
            self.kd_config('missing_ckpt'), 'model.teacher_ckpt',
            '/nowhere/teacher.pth',
            options=['model.teacher_ckpt=/nowhere/teacher.pth'])

    def test_channel_mismatch_without_connector(self):
        # PKD has no adapter: student FPN 32 ch vs teacher 64 ch
        config = self.kd_config('mismatch')
        cfg = Config.fromfile(config)
        cfg.model.distiller.distill_losses = {
            name: dict(type='PKDLoss', loss_weight=6)
            for name in cfg.model.distiller.distill_losses
        }
        cfg.dump(config)
        self.assert_fails_cleanly(
            config, 'model.distiller.distill_losses.loss_fgd_fpn0',
            'PKDLoss', 'connector')

    def test_recorder_source_names_no_module(self):
        self.assert_fails_cleanly(
            self.kd_config('bad_source'),
            'model.distiller.student_recorders.fpn.source="necks"',
            options=['model.distiller.student_recorders.fpn.source=necks'])

    def test_mapping_names_unknown_recorder(self):
        self.assert_fails_cleanly(
            self.kd_config('bad_recorder'),
            'loss_forward_mappings.loss_fgd_fpn0.preds_S.recorder="fpn_x"',
            options=['model.distiller.loss_forward_mappings.loss_fgd_fpn0.'
                     'preds_S.recorder=fpn_x'])

    def test_missing_annotation_file(self):
        self.assert_fails_cleanly(
            self.kd_config('bad_data'),
            'train_dataloader.dataset.ann_file', 'data_root',
            options=['train_dataloader.dataset.data_root=/no/such/data/'])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class TestDistTrain(DemoDataCase):

    def test_two_process_cpu_ddp(self):
        config = self.kd_config('ddp')
        work_dir = osp.join(self.tmp.name, 'ddp_work')
        # A free port from the OS; a rendezvous can still lose its port to
        # another process between our check and torchrun's bind, so the
        # launch is tried twice, on a new port each time.
        for attempt in range(2):
            shutil.rmtree(work_dir, ignore_errors=True)
            env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1',
                       PYTHON=sys.executable, PORT=str(free_port()))
            proc = subprocess.run(
                ['bash', 'tools/dist_train.sh', config, '2', '--work-dir',
                 work_dir], cwd=REPO, env=env, capture_output=True,
                text=True, timeout=900)
            if proc.returncode == 0:
                break
        self.assertEqual(proc.returncode, 0, proc.stderr[-4000:])
        self.assertTrue(osp.isfile(osp.join(work_dir, 'iter_2.pth')))
        log = open(next(
            osp.join(r, f) for r, _, fs in os.walk(work_dir) for f in fs
            if f.endswith('.log'))).read()
        self.assertRegex(log, r'world_size: 2|Distributed launcher: pytorch')
        self.assertIn('distill.loss_fgd_fpn0', log)


class TestTestDistilledCheckpointOnly(DemoDataCase):
    """tools/test.py needs only the distillation checkpoint: the teacher
    and DS2D2's HF amplifier are inside it, so their own checkpoints may be
    missing (another machine)."""

    def test_ds2d2_checkpoint_without_stage_checkpoints(self):
        ds2d2 = osp.join(REPO, 'configs/ds2d2/ds2d2_fpn_retina-r18c32_'
                         'retina-r18c16-fpn64_12e_digits.py')
        amplifier_cfg = osp.join(REPO, 'configs/ds2d2/ds2d2_hf-amplifier_'
                                 'retina-r18c32_12e_digits.py')
        amplifier = build_model_from_cfg(Config.fromfile(amplifier_cfg))
        amp_ckpt = osp.join(self.tmp.name, 'amp.pth')
        torch.save(dict(state_dict=amplifier.state_dict(), meta={}),
                   amp_ckpt)
        cfg = Config.fromfile(ds2d2)
        losses = cfg.model.distiller.distill_losses
        losses.loss_ds2d2_hf.amplifier_ckpt = amp_ckpt
        model = build_model_from_cfg(cfg)
        ckpt = osp.join(self.tmp.name, 'ds2d2.pth')
        torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)

        cfg = low_score_thr(shrink_config(
            Config.fromfile(ds2d2), self.data,
            osp.join(self.tmp.name, 'ds2d2_unused'), image_scale=(128, 128)))
        cfg.model.teacher_ckpt = osp.join(self.tmp.name, 'gone_t.pth')
        cfg.model.distiller.distill_losses.loss_ds2d2_hf.amplifier_ckpt = \
            osp.join(self.tmp.name, 'gone_amp.pth')
        config = osp.join(self.tmp.name, 'ds2d2_test.py')
        cfg.dump(config)
        metrics = osp.join(self.tmp.name, 'ds2d2_metrics.json')
        proc = run_tool(['tools/test.py', config, ckpt, '--work-dir',
                         osp.join(self.tmp.name, 'ds2d2_test_work'),
                         '--metrics-out', metrics])
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertIn('coco/bbox_mAP', open(metrics).read())


class TestNewDetectorPairByConfig(unittest.TestCase):
    """The README/docs recipe, verbatim, trains a pair no config ships."""

    def test_new_pair_recipe(self):
        doc = open(osp.join(REPO, 'docs/new_detector_pair.md')).read()
        block = re.search(
            r'new-pair-example:start -->\n```python\n(.*?)```', doc,
            re.S).group(1)
        shipped = [p for p in os.listdir(osp.join(REPO, 'configs/baselines',
                                                  'fgd'))]
        self.assertFalse(any('fcos-r50_gfl-r18' in p for p in shipped))
        with tempfile.TemporaryDirectory() as tmp:
            configs = osp.join(tmp, 'configs')
            os.makedirs(osp.join(configs, 'my_experiments'))
            for sub in ('_base_', 'baselines', 'detectors'):
                os.symlink(osp.join(REPO, 'configs', sub),
                           osp.join(configs, sub))
            path = osp.join(configs, 'my_experiments', 'new_pair.py')
            with open(path, 'w') as f:
                f.write(block)
            data = osp.join(tmp, 'coco')
            make_tiny_coco(data, num_images=3)
            cfg = low_score_thr(shrink_config(
                Config.fromfile(path), data, osp.join(tmp, 'work')))
            cfg.model.teacher_ckpt = None
            cfg.model.allow_random_teacher = True
            runner = build_runner(cfg)
            self.assertEqual(type(runner.model.student).__name__, 'GFL')
            self.assertEqual(type(runner.model.teacher).__name__, 'FCOS')
            self.assertEqual(runner.model.student.backbone.depth, 18)
            runner.train()
            keys = set().union(*[r.keys() for r in read_scalars(tmp)])
            self.assertIn('distill.loss_fgd_fpn4', keys)
            self.assertIn('teacher.coco/bbox_mAP', keys)


if __name__ == '__main__':
    unittest.main()
