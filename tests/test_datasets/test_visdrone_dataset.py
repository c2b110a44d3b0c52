# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import os
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import (BadInputError, BadInputHandler,
                                 VisDroneDataset, read_visdrone_annotations)
from mmkd_dense.datasets.converters.visdrone import convert_visdrone_split

from .official_format import file_digest, write_visdrone

# left,top,width,height,score,category,truncation,occlusion
LINES_A = [
    '684,8,273,116,0,0,0,0',  # ignored region (class-agnostic)
    '406,119,265,70,1,4,0,0',  # car -> label 3
    '255,22,119,128,1,1,0,1,',  # pedestrian, trailing comma -> label 0
    '1,2,30,40,1,11,0,0',  # others (class-agnostic ignore)
    '50,60,10,20,0,6,1,2',  # truck with score 0 -> ignored for truck
]
LINES_B = ['10,10,20,20,1,10,0,0']  # motor -> label 9


class TestVisDrone(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = osp.join(self.tmp.name, 'VisDrone')
        self.split = osp.join(self.root, 'VisDrone2019-DET-val')
        self.out = osp.join(self.root, 'annotations', 'val.json')

    def tearDown(self):
        self.tmp.cleanup()

    def _convert(self, **kwargs):
        kwargs.setdefault('progress_every', None)
        return convert_visdrone_split(self.split, self.out, **kwargs)

    def _dataset(self, **kwargs):
        return VisDroneDataset(
            data_root=self.root, ann_file='annotations/val.json',
            data_prefix=dict(img='VisDrone2019-DET-val/images/'),
            pipeline=[], **kwargs)

    def test_reader(self):
        write_visdrone(self.split, {'0000001_00000_d_0000001':
                                    (1000, 600, LINES_A)})
        out = read_visdrone_annotations(osp.join(
            self.split, 'annotations', '0000001_00000_d_0000001.txt'))
        self.assertEqual(out['categories'].tolist(), [0, 4, 1, 11, 6])
        self.assertEqual(out['scores'].tolist(), [0, 1, 1, 1, 0])
        self.assertEqual(out['boxes'][2].tolist(), [255, 22, 119, 128])
        self.assertEqual(out['occlusion'].tolist(), [0, 0, 1, 0, 2])
        self.assertEqual(out['lines'].tolist(), [1, 2, 3, 4, 5])

    def test_convert_and_load_exact_instances(self):
        write_visdrone(self.split, {'a': (1000, 600, LINES_A),
                                    'b': (640, 480, LINES_B)})
        before = file_digest(self.split)
        stats = self._convert()
        self.assertEqual(file_digest(self.split), before)
        self.assertEqual((stats['images'], stats['objects'],
                          stats['ignore_regions'], stats['class_ignored']),
                         (2, 3, 2, 1))
        with open(self.out) as f:
            data = json.load(f)
        self.assertEqual([c['name'] for c in data['categories']][:2],
                         ['pedestrian', 'people'])
        self.assertEqual(data['images'][0],
                         dict(id=1, file_name='a.jpg', width=1000,
                              height=600))
        ds = self._dataset()
        self.assertEqual(len(ds), 2)
        a = ds.get_data_info(0)
        got = [(i['bbox'], i['bbox_label'], i['ignore_flag'])
               for i in a['instances']]
        region1 = [([684, 8, 957, 124], c, 1) for c in range(10)]
        region2 = [([1, 2, 31, 42], c, 1) for c in range(10)]
        expected = region1 + [([406, 119, 671, 189], 3, 0),
                              ([255, 22, 374, 150], 0, 0)] + region2 + [
                                  ([50, 60, 60, 80], 5, 1)]
        self.assertEqual(got, expected)
        b = ds.get_data_info(1)
        self.assertEqual([(i['bbox'], i['bbox_label'], i['ignore_flag'])
                          for i in b['instances']],
                         [([10, 10, 30, 30], 9, 0)])
        merged = self._dataset(merge_ignore_regions=True).get_data_info(0)
        self.assertEqual(
            [(i['bbox'], i['bbox_label'], i['ignore_flag'])
             for i in merged['instances']],
            [([684, 8, 957, 124], 0, 1), ([406, 119, 671, 189], 3, 0),
             ([255, 22, 374, 150], 0, 0), ([1, 2, 31, 42], 0, 1),
             ([50, 60, 60, 80], 5, 1)])

    def test_pipeline_puts_regions_in_ignored_instances(self):
        import mmdet.datasets.transforms  # noqa: F401  (registers them)
        from mmengine.registry import init_default_scope
        init_default_scope('mmdet')
        write_visdrone(self.split, {'a': (320, 240, [
            '0,0,50,40,0,0,0,0', '100,100,20,30,1,4,0,0'])})
        self._convert()
        ds = self._dataset(merge_ignore_regions=True, test_mode=True)
        ds.pipeline = ds.pipeline.__class__([
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs')])
        sample = ds[0]['data_samples']
        self.assertEqual(sample.gt_instances.bboxes.tensor.tolist(),
                         [[100, 100, 120, 130]])
        self.assertEqual(sample.ignored_instances.bboxes.tensor.tolist(),
                         [[0, 0, 50, 40]])

    def test_bad_input_names_file_and_line(self):
        ann = osp.join(self.split, 'annotations', 'a.txt')
        cases = [
            (['1,2,3,4,1,4,0,0', '1,2,3,4,1,4,0'],
             f'{ann}, line 2: wrong field count'),
            (['1,2,3,-4,1,4,0,0'], f'{ann}, line 1: negative size'),
            (['1,2,3,4,1,4,0,0', '', '1,2,3,4,1,12,0,0'],
             f'{ann}, line 3: unknown class'),
            (['1,2,3,x,1,4,0,0'], f'{ann}, line 1: malformed value'),
            ([], f'{ann}: empty annotation file'),
        ]
        for lines, expected in cases:
            with self.subTest(expected=expected):
                write_visdrone(self.split, {'a': (64, 48, lines)})
                with self.assertRaises(BadInputError) as cm:
                    self._convert(overwrite=True)
                self.assertIn(expected, str(cm.exception))
        # skip with counts
        write_visdrone(self.split, {'a': (64, 48, ['1,2,3,4,1,4,0',
                                                   '5,5,3,4,1,4,0,0']),
                                    'b': (64, 48, [])})
        stats = self._convert(overwrite=True, on_bad_input='skip')
        self.assertEqual(stats['skipped'], {'wrong field count': 1,
                                            'empty annotation file': 1})
        self.assertEqual((stats['images'], stats['objects']), (1, 1))
        # allow_empty: an empty file is a negative image, kept
        write_visdrone(self.split, {'a': (64, 48, ['5,5,3,4,1,4,0,0']),
                                    'b': (64, 48, [])})
        stats = self._convert(overwrite=True, allow_empty=True)
        self.assertEqual((stats['images'], stats['objects']), (2, 1))
        ds = self._dataset(test_mode=True)
        self.assertEqual(ds.get_data_info(1)['instances'], [])

    def test_missing_image_and_output_safety(self):
        write_visdrone(self.split, {'a': (64, 48, LINES_B),
                                    'b': (64, 48, LINES_B)},
                       missing_images=['b'])
        with self.assertRaises(BadInputError) as cm:
            self._convert()
        self.assertIn(osp.join(self.split, 'images', 'b.jpg') +
                      ': missing image file', str(cm.exception))
        stats = self._convert(on_bad_input='skip')
        self.assertEqual((stats['images'], stats['skipped']),
                         (1, {'missing image file': 1}))
        with self.assertRaisesRegex(FileExistsError, '--overwrite'):
            self._convert()
        with self.assertRaisesRegex(ValueError, 'never write over'):
            convert_visdrone_split(self.split, osp.join(
                self.split, 'annotations', 'out.json'))
        os.remove(osp.join(self.split, 'annotations', 'a.txt'))
        with self.assertRaisesRegex(BadInputError,
                                    'a.txt: missing annotation file'):
            self._convert(overwrite=True, on_bad_input='raise')

    def test_handler_modes(self):
        with self.assertRaisesRegex(ValueError, 'on_bad_input'):
            BadInputHandler('ignore')


if __name__ == '__main__':
    unittest.main()
