# Copyright (c) mmkd_dense contributors. All rights reserved.
"""``build_runner``: two Runners built in one process within one second
each keep their own logger (their own log file) and experiment name."""
import glob
import os.path as osp
import tempfile
import time
import unittest
from unittest import mock

from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.testing import make_tiny_coco, shrink_config
from mmkd_dense.utils.run_log import build_runner

from ..test_runtime._helpers import DEMO_STUDENT


class TestBuildRunner(unittest.TestCase):

    def test_runners_in_one_second_log_to_their_own_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = osp.join(tmp, 'data')
            make_tiny_coco(data, num_images=2)
            runners = []
            now = time.time()  # both Runners get the same timestamp
            with mock.patch('mmengine.runner.runner.time.time',
                            return_value=now):
                for name in ('first', 'second'):
                    cfg = shrink_config(Config.fromfile(DEMO_STUDENT), data,
                                        osp.join(tmp, name))
                    # as the shipped runtimes (shrink_config drops it)
                    cfg.visualizer.name = 'visualizer'
                    runners.append(build_runner(cfg))
            self.assertEqual(runners[0].timestamp, runners[1].timestamp)
            first, second = runners
            self.assertNotEqual(first.experiment_name, second.experiment_name)
            self.assertIsNot(first.logger, second.logger)
            # the config names its visualizer ('visualizer'): each Runner
            # still saves into its own work dir
            self.assertIsNot(first.visualizer, second.visualizer)
            for runner, name in ((first, 'first'), (second, 'second')):
                saved = glob.glob(osp.join(tmp, name, '*', 'vis_data',
                                           'config.py'))
                self.assertEqual(len(saved), 1, name)
            second.logger.info('only in the second log')
            logs = {name: glob.glob(osp.join(tmp, name, '*', '*.log'))
                    for name in ('first', 'second')}
            self.assertEqual(len(logs['second']), 1, logs)
            self.assertIn('only in the second log',
                          open(logs['second'][0]).read())
            for path in logs['first']:
                self.assertNotIn('only in the second log', open(path).read())
            # an experiment_name given in the config is kept
            cfg = shrink_config(Config.fromfile(DEMO_STUDENT), data,
                                osp.join(tmp, 'named'))
            cfg.experiment_name = 'my_exp'
            self.assertTrue(
                build_runner(cfg).experiment_name.startswith('my_exp_'))
