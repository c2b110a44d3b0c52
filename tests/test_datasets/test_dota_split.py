# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import os
import os.path as osp
import tempfile
import unittest

import numpy as np

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import (DOTA_V10_CLASSES, DOTA_V15_CLASSES,
                                 BadInputError, BadInputHandler,
                                 DOTAPatchDataset, read_dota_labels)
from mmkd_dense.datasets.converters.dota_split import (assign_objects,
                                                       compute_windows,
                                                       split_dota)
from mmkd_dense.evaluation import merge_patch_detections, parse_patch_name

from .official_format import dota_line, file_digest, write_dota

L = {c: i for i, c in enumerate(DOTA_V15_CLASSES)}


class TestDOTALabels(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def _write(self, text):
        path = osp.join(self.tmp.name, 'P0001.txt')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_header_fields_difficult_case(self):
        path = self._write(
            'imagesource:GoogleEarth\ngsd:null\n'
            '10 20 50 20 50 60 10 60 plane 0\n'
            '\n'
            '100 100 120 90 130 110 110 120 Small-Vehicle 1\n'
            '5 5 9 5 9 9 5 9 ship\n')
        out = read_dota_labels(path, DOTA_V10_CLASSES)
        self.assertEqual(out['meta'], dict(imagesource='GoogleEarth',
                                           gsd='null'))
        np.testing.assert_array_equal(out['polys'][0],
                                      [10, 20, 50, 20, 50, 60, 10, 60])
        self.assertEqual(out['labels'].tolist(),
                         [L['plane'], L['small-vehicle'], L['ship']])
        self.assertEqual(out['difficult'].tolist(), [False, True, False])
        self.assertEqual(out['lines'].tolist(), [3, 5, 6])
        # without header lines too
        path = self._write('10 20 50 20 50 60 10 60 plane 0\n')
        self.assertEqual(read_dota_labels(path, DOTA_V10_CLASSES)
                         ['labels'].tolist(), [L['plane']])

    def test_bad_lines_name_file_and_line(self):
        cases = [
            ('gsd:0.1\n1 2 3 4 5 6 7 plane 0\n', 'line 2: wrong field count'),
            ('1 1 9 1 9 9 1 9 plane 0\n1 1 9 1 9 9 1 9 car 0\n',
             "line 2: unknown class ('car'"),
            ('1 1 9 1 9 9 1 9 plane 0\n5 5 5 5 5 5 5 5 plane 0\n',
             'line 2: negative size'),
            ('1 1 9 1 9 9 1 9 plane 0\n1 1 1 9 1 5 1 2 ship 0\n',
             'line 2: negative size'),
            ('1 x 9 1 9 9 1 9 plane 0\n', 'line 1: malformed value'),
            ('imagesource:GoogleEarth\ngsd:0.1\n', ': empty annotation file'),
        ]
        for text, expected in cases:
            path = self._write(text)
            with self.subTest(expected=expected):
                with self.assertRaises(BadInputError) as cm:
                    read_dota_labels(path, DOTA_V10_CLASSES)
                self.assertIn(path + ('' if expected[0] == ':' else ', ')
                              + expected, str(cm.exception))
        # container-crane is v1.5 only
        path = self._write('1 1 9 1 9 9 1 9 container-crane 0\n')
        with self.assertRaisesRegex(BadInputError, 'unknown class'):
            read_dota_labels(path, DOTA_V10_CLASSES)
        self.assertEqual(read_dota_labels(path, DOTA_V15_CLASSES)
                         ['labels'].tolist(), [15])

    def test_skip_counts(self):
        path = self._write('1 2 3 plane 0\n1 1 9 1 9 9 1 9 plane 0\n'
                           '1 1 9 1 9 9 1 9 truck 0\n')
        handler = BadInputHandler('skip')
        out = read_dota_labels(path, DOTA_V10_CLASSES, handler)
        self.assertEqual(out['labels'].tolist(), [0])
        self.assertEqual(dict(handler.counts), {'wrong field count': 1,
                                                'unknown class': 1})
        self.assertIn('skipped 2 bad input entries', handler.summary())
        path = self._write('gsd:1\n')
        out = read_dota_labels(path, DOTA_V10_CLASSES, allow_empty=True)
        self.assertTrue(out['empty'])
        self.assertEqual(out['polys'].shape, (0, 8))


class TestWindowsAndAssignment(unittest.TestCase):

    def test_windows(self):
        wins = compute_windows(4000, 4000, 1024, 200)
        starts = [0, 824, 1648, 2472, 2976]
        self.assertEqual(len(wins), 25)
        self.assertEqual(sorted(set(wins[:, 0].tolist())), starts)
        self.assertTrue(((wins[:, 2] - wins[:, 0]) == 1024).all())
        self.assertEqual(compute_windows(1024, 1024).tolist(),
                         [[0, 0, 1024, 1024]])
        # smaller than a window: one padded window
        self.assertEqual(compute_windows(700, 500).tolist(),
                         [[0, 0, 1024, 1024]])
        wins = compute_windows(1500, 800)
        self.assertEqual(wins.tolist(), [[0, 0, 1024, 1024],
                                         [476, 0, 1500, 1024]])

    def test_iof_threshold_and_clipping(self):
        def diamond(cx, cy, r):
            return [cx - r, cy, cx, cy - r, cx + r, cy, cx, cy + r]

        # diamond |x-cx| + |y-cy| <= 100 (area 20000) crossing x = 1024:
        # outside part is a triangle of area (cx + 100 - 1024)^2
        polys = np.array([
            [10, 10, 60, 10, 60, 40, 10, 40],  # inside window 0 only
            diamond(990, 500, 100),  # IoF 1 - 34^2... kept in both
            diamond(1010, 500, 100),  # IoF (w0) = 1 - 86^2/20000 = 0.6302
        ], dtype=np.float64)
        wins = np.array([[0, 0, 1024, 1024], [824, 0, 1848, 1024]])
        obj, win, boxes = assign_objects(polys, wins, 1848, 1024, 0.7)
        got = {(o, w): b.tolist() for o, w, b in zip(obj, win, boxes)}
        self.assertEqual(set(got), {(0, 0), (1, 0), (1, 1), (2, 1)})
        self.assertEqual(got[(0, 0)], [10, 10, 60, 40])
        # clipped at x = 1024, y extent of the clipped diamond is full
        np.testing.assert_allclose(got[(1, 0)], [890, 400, 1024, 600])
        np.testing.assert_allclose(got[(1, 1)], [890, 400, 1090, 600])
        np.testing.assert_allclose(got[(2, 1)], [910, 400, 1110, 600])
        # at threshold 0.6 the 0.6302 part is kept too
        obj, win, _ = assign_objects(polys, wins, 1848, 1024, 0.6)
        self.assertIn((2, 0), set(zip(obj.tolist(), win.tolist())))


class TestSplitDOTA(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.src = osp.join(self.tmp.name, 'DOTA', 'train')
        self.out = osp.join(self.tmp.name, 'split')
        # P0001: 1500 x 1100 -> windows x in {0, 476}, y in {0, 76}
        self.objects = [
            (30, 40, 90, 80, 'plane', 0),  # only in x0/y0 windows
            (1400, 1000, 1480, 1090, 'ship', 1),  # difficult, corner
            (700, 500, 760, 560, 'harbor', 0),  # in all 4 windows
            (980, 300, 1070, 330, 'large-vehicle', 0),  # crosses x=1024
        ]
        write_dota(self.src, {
            'P0001': (1500, 1100, [dota_line(*o) for o in self.objects]),
            'P0002': (600, 400, [dota_line(10, 10, 50, 30, 'bridge')]),
        })

    def tearDown(self):
        self.tmp.cleanup()

    def _split(self, **kwargs):
        kwargs.setdefault('verbose', False)
        return split_dota(self.src, self.out, 'train', **kwargs)

    def test_outputs_inputs_untouched(self):
        before = file_digest(self.src)
        stats = self._split()
        self.assertEqual(file_digest(self.src), before)
        self.assertEqual((stats['images'], stats['patches']), (2, 5))
        with open(stats['ann_file']) as f:
            patches = json.load(f)
        names = sorted(i['file_name'] for i in patches['images'])
        self.assertEqual(names, [
            'P0001__1024__0___0.png', 'P0001__1024__0___76.png',
            'P0001__1024__476___0.png', 'P0001__1024__476___76.png',
            'P0002__1024__0___0.png'])
        for name in names:
            self.assertTrue(osp.isfile(osp.join(self.out, 'train', 'images',
                                                name)))
        import cv2
        small = cv2.imread(osp.join(self.out, 'train', 'images',
                                    'P0002__1024__0___0.png'))
        self.assertEqual(small.shape, (1024, 1024, 3))
        self.assertEqual(small[500, 700].tolist(), [104, 116, 124])
        by_name = {i['file_name']: i for i in patches['images']}
        anns = {}
        for a in patches['annotations']:
            anns.setdefault(a['image_id'], []).append(
                (a['category_id'] - 1, a['bbox'], a['iscrowd']))
        p00 = anns[by_name['P0001__1024__0___0.png']['id']]
        self.assertEqual(sorted(p00), sorted([
            (L['plane'], [30, 40, 60, 40], 0),
            (L['harbor'], [700, 500, 60, 60], 0),
            # 44 of 90 px inside x < 1024: IoF 0.49 -> not in window 0
        ]))
        p476_76 = anns[by_name['P0001__1024__476___76.png']['id']]
        self.assertEqual(sorted(p476_76), sorted([
            (L['ship'], [924, 924, 80, 90], 1),
            (L['harbor'], [224, 424, 60, 60], 0),
            (L['large-vehicle'], [504, 224, 90, 30], 0)]))
        info = by_name['P0001__1024__476___76.png']
        self.assertEqual((info['ori_file_name'], info['x_start'],
                          info['y_start'], info['ori_width'],
                          info['ori_height']), ('P0001.png', 476, 76, 1500,
                                                1100))
        with open(stats['full_ann_file']) as f:
            full = json.load(f)
        self.assertEqual([i['file_name'] for i in full['images']],
                         ['P0001.png', 'P0002.png'])
        self.assertEqual(len(full['annotations']), 5)

    def test_patch_dataset_loads_ignore_flags(self):
        stats = self._split()
        ds = DOTAPatchDataset(
            data_root=self.out, ann_file='annotations/train.json',
            data_prefix=dict(img='train/images/'), pipeline=[])
        self.assertEqual(len(ds), 5)
        infos = {osp.basename(ds.get_data_info(i)['img_path']):
                 ds.get_data_info(i) for i in range(len(ds))}
        inst = infos['P0001__1024__476___76.png']['instances']
        got = sorted((i['bbox_label'], i['bbox'], i['ignore_flag'])
                     for i in inst)
        self.assertEqual(got, sorted([
            (L['ship'], [924, 924, 1004, 1014], 1),
            (L['harbor'], [224, 424, 284, 484], 0),
            (L['large-vehicle'], [504, 224, 594, 254], 0)]))
        self.assertEqual(infos['P0001__1024__476___76.png']['patch_info'],
                         dict(ori_file_name='P0001.png', x_start=476,
                              y_start=76, ori_width=1500, ori_height=1100))
        self.assertIsNotNone(stats)
        # a v1.0 class list on v1.5 data is an error, not a silent drop
        with open(osp.join(self.out, 'annotations', 'train.json')) as f:
            data = json.load(f)
        data['categories'] = [dict(id=i + 1, name=c)
                              for i, c in enumerate(DOTA_V15_CLASSES)]
        data['annotations'][0]['category_id'] = 16
        with open(osp.join(self.out, 'annotations', 'v15.json'), 'w') as f:
            json.dump(data, f)
        with self.assertRaisesRegex(ValueError, r'\{16: 1\}'):
            DOTAPatchDataset(data_root=self.out,
                             ann_file='annotations/v15.json',
                             data_prefix=dict(img='train/images/'),
                             pipeline=[])
        ds = DOTAPatchDataset(data_root=self.out,
                              ann_file='annotations/v15.json',
                              data_prefix=dict(img='train/images/'),
                              pipeline=[], version='v1.5')
        self.assertEqual(len(ds.metainfo['classes']), 16)

    def test_round_trip_restores_full_image_boxes(self):
        stats = self._split()
        with open(stats['ann_file']) as f:
            patches = json.load(f)
        by_img = {}
        for a in patches['annotations']:
            by_img.setdefault(a['image_id'], []).append(a)
        dets = []
        for img in patches['images']:
            anns = by_img.get(img['id'], [])
            boxes = np.array([[a['bbox'][0], a['bbox'][1],
                               a['bbox'][0] + a['bbox'][2],
                               a['bbox'][1] + a['bbox'][3]] for a in anns],
                             dtype=np.float32).reshape(-1, 4)
            # larger (unclipped) copies score higher
            scores = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            labels = np.array([a['category_id'] - 1 for a in anns])
            stem, x, y = parse_patch_name(img['file_name'], strict=True)
            self.assertEqual((x, y), (img['x_start'], img['y_start']))
            dets.append((stem, x, y, boxes, scores, labels))
        merged = merge_patch_detections(dets, nms_iou_thr=0.3)
        expected = sorted((L[o[4]], [float(v) for v in o[:4]])
                          for o in self.objects)
        got = sorted(zip(merged['P0001']['labels'].tolist(),
                         merged['P0001']['bboxes'].tolist()))
        self.assertEqual(got, expected)
        self.assertEqual(merged['P0002']['bboxes'].tolist(),
                         [[10, 10, 50, 30]])

    def test_never_overwrites_and_bad_input(self):
        with self.assertRaisesRegex(ValueError, 'never write over'):
            split_dota(self.src, self.src, 'images', verbose=False,
                       img_subdir='images')
        self._split()
        with self.assertRaisesRegex(FileExistsError, '--overwrite'):
            self._split()
        self._split(overwrite=True)
        # label file without image
        os.remove(osp.join(self.src, 'images', 'P0002.png'))
        with self.assertRaises(BadInputError) as cm:
            self._split(overwrite=True)
        self.assertIn(osp.join(self.src, 'images', 'P0002.png') +
                      ': missing image file', str(cm.exception))
        stats = self._split(overwrite=True, on_bad_input='skip')
        self.assertEqual(stats['images'], 1)
        self.assertEqual(stats['skipped'], {'missing image file': 1})
        # a malformed line names the label file and the line (header = 2)
        with open(osp.join(self.src, 'labelTxt', 'P0001.txt'), 'a') as f:
            f.write('1 2 3 4 plane 0\n')
        with self.assertRaisesRegex(BadInputError,
                                    r'P0001\.txt, line 7: wrong field'):
            self._split(overwrite=True, on_bad_input='raise')


if __name__ == '__main__':
    unittest.main()
