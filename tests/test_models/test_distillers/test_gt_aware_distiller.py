# Copyright (c) mmkd_dense contributors. All rights reserved.
"""GTAwareDistiller: config errors that name the key (recorders, mappings,
connectors, loss arguments) and a loss's own error in a training step."""
import copy
import os.path as osp
import unittest

from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.distillers import DistillConfigError
from mmkd_dense.testing import build_model_from_cfg
from mmkd_dense.utils.dummy_batch import make_dummy_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEMO_KD = osp.join(REPO, 'configs/demo/'
                   'fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py')


def demo_cfg():
    return Config.fromfile(DEMO_KD)


class TestDistillerConfigErrors(unittest.TestCase):

    def assert_config_error(self, cfg, *fragments):
        with self.assertRaises(DistillConfigError) as err:
            build_model_from_cfg(cfg)
        for fragment in fragments:
            self.assertIn(fragment, str(err.exception))

    def test_recorder_source_names_no_module(self):
        cfg = demo_cfg()
        cfg.model.distiller.student_recorders.fpn.source = 'nek'
        self.assert_config_error(
            cfg, 'model.distiller.student_recorders.fpn.source="nek"',
            "'neck'")

    def test_mapping_names_unknown_recorder(self):
        cfg = demo_cfg()
        mapping = cfg.model.distiller.loss_forward_mappings.loss_fgd_fpn1
        mapping.preds_T.recorder = 'fpn_t'
        self.assert_config_error(
            cfg, 'loss_forward_mappings.loss_fgd_fpn1.preds_T.recorder='
            '"fpn_t"', 'teacher_recorders')

    def test_unknown_connector(self):
        cfg = demo_cfg()
        mapping = cfg.model.distiller.loss_forward_mappings.loss_fgd_fpn0
        mapping.preds_S.connector = 'adapter'
        self.assert_config_error(cfg, 'preds_S.connector="adapter"')

    def test_unmapped_required_argument(self):
        cfg = demo_cfg()
        del cfg.model.distiller.loss_forward_mappings.loss_fgd_fpn2.preds_T
        self.assert_config_error(cfg, 'loss_fgd_fpn2', "['preds_T']")

    def test_unknown_forward_argument(self):
        cfg = demo_cfg()
        mapping = cfg.model.distiller.loss_forward_mappings.loss_fgd_fpn2
        mapping.feats = copy.deepcopy(mapping.preds_T)
        self.assert_config_error(cfg, 'loss_fgd_fpn2.feats',
                                 'has no argument')

    def test_channel_mismatch_names_loss_and_connector(self):
        cfg = demo_cfg()
        for loss in cfg.model.distiller.distill_losses.values():
            loss.student_channels = 64  # the demo student has 32
        model = build_model_from_cfg(cfg)
        # in a training step the loss's own error propagates (issue 11.6)
        with self.assertRaisesRegex(ValueError, 'student has 32 channels'):
            model.loss(*make_dummy_batch(num_classes=10))
        # the preflight dry run turns it into a config hint
        model.distiller.explain_errors = True
        with self.assertRaises(DistillConfigError) as err:
            model.loss(*make_dummy_batch(num_classes=10))
        msg = str(err.exception)
        self.assertIn('model.distiller.distill_losses.loss_fgd_fpn0', msg)
        self.assertIn('connector', msg)


if __name__ == '__main__':
    unittest.main()
