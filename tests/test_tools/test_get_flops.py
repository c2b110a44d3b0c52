# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401

from .tool_helpers import DEMO_KD, load_tool


class TestGetFlops(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool('tools/analysis_tools/get_flops.py')
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = osp.join(cls.tmp.name, 'flops.json')
        cls.small = cls.tool.main([DEMO_KD, '--input-size', '64', '64',
                                   '--out', cls.out])
        cls.big = cls.tool.main([DEMO_KD, '--input-size', '128', '128'])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @staticmethod
    def _rows(result):
        return {r['module']: r for r in result['rows']}

    def test_rows_and_positive_numbers(self):
        rows = self._rows(self.small)
        for name in ('teacher', 'student', 'teacher.backbone',
                     'student.backbone', 'student.neck', 'student.bbox_head'):
            self.assertIn(name, rows)
            self.assertGreater(rows[name]['params'], 0)
            self.assertGreater(rows[name]['flops'], 0)
        self.assertTrue(rows['student']['inference'])
        self.assertFalse(rows['teacher']['inference'])
        # the demo student has half the teacher's channels (~1/4 FLOPs)
        ratio = rows['student']['flops'] / rows['teacher']['flops']
        self.assertGreater(ratio, 0.15)
        self.assertLess(ratio, 0.5)
        # FGD losses own an align conv and two context blocks per level
        fgd = [r for n, r in rows.items()
               if n.startswith('distiller.distill_losses.loss_fgd_fpn')]
        self.assertEqual(len(fgd), 3)
        for r in fgd:
            self.assertFalse(r['inference'])
            self.assertGreater(r['params'], 32 * 64)  # align conv weights
            self.assertGreater(r['flops'], 0)
        with open(self.out) as f:
            self.assertEqual(json.load(f)['rows'], self.small['rows'])

    def test_parts_add_up_and_params_match_modules(self):
        from mmengine.config import Config

        from mmkd_dense.testing import build_model_from_cfg
        rows = self._rows(self.small)
        for det in ('teacher', 'student'):
            parts = sum(rows[f'{det}.{p}']['flops']
                        for p in ('backbone', 'neck', 'bbox_head'))
            self.assertAlmostEqual(parts / rows[det]['flops'], 1.0, places=2)
        model = build_model_from_cfg(Config.fromfile(DEMO_KD))
        self.assertEqual(rows['student']['params'],
                         sum(p.numel() for p in model.student.parameters()))
        self.assertEqual(rows['teacher.backbone']['params'],
                         sum(p.numel()
                             for p in model.teacher.backbone.parameters()))

    def test_backbone_flops_scale_with_input_area(self):
        # every backbone output map doubles in both sides from 64 to 128:
        # conv/BN FLOPs scale exactly with the area.
        small, big = self._rows(self.small), self._rows(self.big)
        for det in ('teacher', 'student'):
            self.assertEqual(big[f'{det}.backbone']['flops'],
                             4 * small[f'{det}.backbone']['flops'])
            self.assertEqual(big[det]['params'], small[det]['params'])

    def test_light_ml_inside_the_student_head(self):
        from mmengine.config import Config

        try:
            from mmkd_dense.models.heads import LightMLRetinaHead  # noqa
        except ImportError:
            self.skipTest('Light-ML heads are not available')
        cfg = Config.fromfile(DEMO_KD)
        cfg.model.architecture.bbox_head.type = 'mmkd_dense.LightMLRetinaHead'
        path = osp.join(self.tmp.name, 'light_ml.py')
        cfg.dump(path)
        rows = self._rows(self.tool.main([path, '--input-size', '64', '64']))
        row = rows['student.bbox_head.light_ml']
        self.assertTrue(row['inference'])
        self.assertNotIn('student.bbox_head', [
            n for n in rows if n.endswith('light_ml')])
        # 1x1 conv 2C -> 2C in 2 groups (C = 32 head channels), with bias
        c = 32
        self.assertEqual(row['params'], 2 * c * c + 2 * c)
        # applied on P3-P5 of a 64x64 input: 8x8 + 4x4 + 2x2 positions,
        # 2C outputs x C inputs multiply-adds each
        self.assertEqual(row['flops'], 2 * c * c * (64 + 16 + 4))

    def test_table(self):
        lines = self.small['table'].splitlines()
        self.assertIn('FLOPs (G) @64x64', lines[0])
        self.assertEqual(len(lines), 2 + len(self.small['rows']))
        self.assertTrue(lines[2].startswith('| teacher |'))


if __name__ == '__main__':
    unittest.main()
