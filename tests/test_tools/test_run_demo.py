# Copyright (c) mmkd_dense contributors. All rights reserved.
"""tools/demo/run_demo.py: the stage plan of each method (the training
itself is exercised by the config tests)."""
import os.path as osp
import unittest

import mmkd_dense  # noqa: F401

from .tool_helpers import REPO_ROOT, load_tool


class TestRunDemoStages(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool('tools/demo/run_demo.py')

    def test_stage_plans(self):
        for method, names in (
                ('fgd', ['teacher', 'student', 'fgd']),
                ('ds2d2', ['teacher', 'ds2d2_hf_amplifier', 'student_fpn64',
                           'ds2d2'])):
            with self.subTest(method=method):
                stages = self.tool.stage_runs('out_x', method)
                self.assertEqual([s[0] for s in stages], names)
                for _, _, config, _ in stages:
                    self.assertTrue(osp.isfile(osp.join(REPO_ROOT, config)))
        stages = dict((s[0], s[3]) for s in self.tool.stage_runs('out_x',
                                                                 'ds2d2'))
        teacher = osp.join('out_x', 'teacher', 'epoch_12.pth')
        # every stage reads the checkpoints of this --out, not the defaults
        self.assertEqual(stages['ds2d2_hf_amplifier'],
                         [f'load_from={teacher}'])
        self.assertIn(f'model.teacher_ckpt={teacher}', stages['ds2d2'])
        self.assertIn(
            'model.distiller.distill_losses.loss_ds2d2_hf.amplifier_ckpt=' +
            osp.join('out_x', 'ds2d2_hf_amplifier', 'epoch_12.pth'),
            stages['ds2d2'])
        with self.assertRaisesRegex(ValueError, 'method'):
            self.tool.stage_runs('out_x', 'nope')

    def test_student_params_without_amplifier_checkpoint(self):
        # counts the student only; needs no trained amplifier on disk
        params = self.tool.count_params(self.tool.DS2D2_CFG)
        self.assertAlmostEqual(params, 1.05, places=2)
        self.assertLess(self.tool.count_params(self.tool.STUDENT_CFG),
                        params)


if __name__ == '__main__':
    unittest.main()

    def test_data_option_reaches_every_split_and_evaluator(self):
        """``--data`` must move train, val and test data and both
        evaluators (it used to move only the train split, so training died
        at the first validation on the default annotation file)."""
        from mmengine.config import Config, DictAction
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument('--cfg-options', nargs='+', action=DictAction)
        opts = parser.parse_args(
            ['--cfg-options', *self.tool.data_options('/tmp/my_digits')])
        for _, _, config, _ in self.tool.stage_runs('out_x', 'fgd'):
            cfg = Config.fromfile(osp.join(REPO_ROOT, config))
            cfg.merge_from_dict(opts.cfg_options)
            for split in ('train', 'val', 'test'):
                self.assertEqual(
                    cfg[f'{split}_dataloader'].dataset.data_root,
                    '/tmp/my_digits/')
            for key in ('val_evaluator', 'test_evaluator'):
                self.assertEqual(
                    cfg[key].ann_file,
                    '/tmp/my_digits/annotations/instances_val.json')
