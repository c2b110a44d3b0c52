# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401
import numpy as np

from .tool_helpers import DEMO_KD, load_tool


def _read_png(path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.image as mpimg
    return mpimg.imread(path)


class TestVisFeatures(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tool = load_tool('tools/analysis_tools/vis_features.py')
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = osp.join(cls.tmp.name, 'synthetic')
        cls.result = cls.tool.main([DEMO_KD, '--out-dir', cls.out,
                                    '--input-size', '96', '128'])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_pngs_written_and_not_blank(self):
        files = self.result['files']
        names = {osp.basename(f) for f in files}
        self.assertIn('overview.png', names)
        for level in ('P3', 'P4', 'P5'):
            for kind in ('teacher', 'student', 'diff', 'fgd_fg', 'fgd_bg'):
                self.assertIn(f'{kind}_{level}.png', names)
        for path in files:
            self.assertTrue(osp.isfile(path))
            img = _read_png(path)
            self.assertGreater(img.shape[0], 50)
            self.assertGreater(float(np.std(img[..., :3])), 0.02, path)

    def test_maps_follow_the_boxes(self):
        maps, boxes = self.result['maps'], self.result['boxes']
        self.assertEqual(self.result['levels'], ['P3', 'P4', 'P5'])
        self.assertGreater(len(boxes), 0)
        fg, bg = maps['fgd_fg'][0], maps['fgd_bg'][0]  # P3, stride 8
        self.assertEqual(fg.shape, (96 // 8, 128 // 8))
        # background mask sums to 1 and is zero exactly where fg > 0
        self.assertAlmostEqual(float(bg.sum()), 1.0, places=5)
        np.testing.assert_array_equal(bg > 0, fg <= 0)
        # every box centre cell is foreground
        for x1, y1, x2, y2 in boxes:
            cy, cx = int((y1 + y2) / 2 // 8), int((x1 + x2) / 2 // 8)
            self.assertGreater(fg[cy, cx], 0)
        # mean_c|F| maps are non-negative and not constant
        for kind in ('teacher', 'student', 'diff'):
            for arr in maps[kind]:
                self.assertGreaterEqual(float(arr.min()), 0.0)
                self.assertGreater(float(arr.std()), 0.0)
        if 'disw' in maps:  # DS2D2: 1 + one unit of mass per object
            disw = maps['disw'][0]
            self.assertAlmostEqual(float((disw - 1).sum()), len(boxes),
                                   places=3)
        if 'cid' in maps:  # CID: instance-normalised, mass 1 per object
            self.assertAlmostEqual(float(maps['cid'][0].sum()), len(boxes),
                                   places=3)

    def test_image_with_coco_annotation(self):
        from mmkd_dense.demo.digits import generate_digits_dataset
        root = osp.join(self.tmp.name, 'digits')
        anns = generate_digits_dataset(root, num_train=1, num_val=2,
                                       image_size=96)
        with open(anns['val']) as f:
            coco = json.load(f)
        first = coco['images'][0]
        expected = [a for a in coco['annotations']
                    if a['image_id'] == first['id']]
        out = osp.join(self.tmp.name, 'digits_vis')
        result = self.tool.main([
            DEMO_KD, '--img', osp.join(root, 'val', first['file_name']),
            '--ann', anns['val'], '--out-dir', out
        ])
        self.assertEqual(len(result['boxes']), len(expected))
        x, y, w, h = expected[0]['bbox']
        np.testing.assert_allclose(result['boxes'][0], [x, y, x + w, y + h],
                                   atol=1e-4)
        self.assertTrue(osp.isfile(osp.join(out, 'overview.png')))

    def test_checkpoint_weights_are_used(self):
        import cv2
        import torch
        from mmengine.config import Config

        from mmkd_dense.testing import build_model_from_cfg
        img_path = osp.join(self.tmp.name, 'img.png')
        img, _ = self.tool.synthetic_image((64, 96), seed=3)
        cv2.imwrite(img_path, img)
        torch.manual_seed(7)
        model = build_model_from_cfg(Config.fromfile(DEMO_KD))
        ckpt = osp.join(self.tmp.name, 'kd.pth')
        torch.save(dict(meta={}, state_dict=model.state_dict()), ckpt)

        def maps(seed, checkpoint=None):
            args = [DEMO_KD, '--img', img_path, '--boxes', '10', '10', '40',
                    '50', '--seed', str(seed), '--out-dir',
                    osp.join(self.tmp.name, f'ck{seed}{bool(checkpoint)}')]
            if checkpoint:
                args += ['--checkpoint', checkpoint]
            else:  # not the demo teacher of a previous demo run either
                args += ['--cfg-options', 'model.teacher_ckpt=None']
            return self.tool.main(args)

        a, b = maps(0, ckpt), maps(1, ckpt)
        self.assertEqual(a['weights'], f'checkpoint {ckpt}')
        for kind in ('teacher', 'student'):
            np.testing.assert_array_equal(a['maps'][kind][0],
                                          b['maps'][kind][0])
        c = maps(1)  # random initialisation with another seed differs
        self.assertEqual(c['weights'], 'random initialisation')
        self.assertFalse(np.array_equal(a['maps']['teacher'][0],
                                        c['maps']['teacher'][0]))
        # the teacher map is mean_c |F| of the saved teacher's P3
        model.eval()
        inputs, _, _ = self.tool.prepare_batch(
            model, img, np.array([[10, 10, 40, 50]], np.float32), None,
            'cpu')
        with torch.no_grad():
            p3 = model.teacher.extract_feat(inputs)[0]
        np.testing.assert_allclose(a['maps']['teacher'][0],
                                   p3.abs().mean(1)[0].numpy(), rtol=1e-5,
                                   atol=1e-6)


if __name__ == '__main__':
    unittest.main()
