# Copyright (c) mmkd_dense contributors. All rights reserved.
import os.path as osp
import unittest

from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.testing import shrink_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


class TestShrinkConfig(unittest.TestCase):

    def test_num_classes_reaches_cfg_file_teacher(self):
        path = osp.join(ROOT, 'configs/lsfi_mdc/lsfi-mdc_fpn_retina-r18c32_'
                        'retina-r18c16_12e_digits.py')
        cfg = Config.fromfile(path)
        self.assertIn('cfg_file', cfg.model.teacher)
        small = shrink_config(cfg, '/tmp/data', '/tmp/work', num_classes=3)
        self.assertEqual(small.model.teacher.bbox_head.num_classes, 3)
        self.assertEqual(small.model.architecture.bbox_head.num_classes, 3)
        # the teacher detector config itself, not a reference to it
        self.assertEqual(small.model.teacher.neck.out_channels, 64)
        # the input config is not modified
        self.assertIn('cfg_file', cfg.model.teacher)
        self.assertEqual(cfg.model.architecture.bbox_head.num_classes, 10)
        # without num_classes the reference is kept
        kept = shrink_config(cfg, '/tmp/data', '/tmp/work')
        self.assertIn('cfg_file', kept.model.teacher)


if __name__ == '__main__':
    unittest.main()
