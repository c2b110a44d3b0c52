# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import os
import os.path as osp
import tempfile
import unittest

import numpy as np

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import BadInputError
from mmkd_dense.datasets.converters.cityscapes import instances_from_id_map

from .official_format import file_digest, write_cityscapes

try:
    import cityscapesscripts  # noqa: F401
    HAS_CSS = True
except ImportError:  # pragma: no cover
    HAS_CSS = False

BASE = 'aachen_000000_000019'


class TestInstancesFromIdMap(unittest.TestCase):
    """The json-writing core; needs no cityscapesscripts."""

    def test_instances_groups_and_stuff(self):
        ids = np.full((20, 30), 7, dtype=np.int64)  # road (stuff)
        ids[2:6, 3:10] = 26000  # car instance 0
        ids[10:15, 20:22] = 26001  # car instance 1
        ids[0:2, 0:2] = 26  # cargroup: no instance
        ids[15:20, 0:5] = 24003  # person
        ids[6:8, 25:30] = 20000  # traffic sign-like id, not kept
        out = instances_from_id_map(ids, {24: 'person', 26: 'car'})
        self.assertEqual(out['groups'], 1)
        got = [(i['name'], i['label_id'], i['bbox'], i['area'])
               for i in out['instances']]
        self.assertEqual(got, [('person', 24, [0., 15., 5., 5.], 25.),
                               ('car', 26, [3., 2., 7., 4.], 28.),
                               ('car', 26, [20., 10., 2., 5.], 10.)])
        from pycocotools import mask as mask_util
        rle = dict(out['instances'][1]['segmentation'])
        rle['counts'] = rle['counts'].encode()
        np.testing.assert_array_equal(mask_util.decode(rle),
                                      (ids == 26000).astype(np.uint8))


@unittest.skipUnless(HAS_CSS, 'cityscapesscripts not installed')
class TestCityscapesConverter(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = osp.join(self.tmp.name, 'cityscapes')
        # drawn in order: road, car, person occluding the car's right
        # part, a car group, a sky region
        write_cityscapes(self.root, 'val', 'aachen', {BASE: [
            ('road', [[0, 0], [127, 0], [127, 63], [0, 63]]),
            ('car', [[10, 20], [40, 20], [40, 50], [10, 50]]),
            ('person', [[25, 15], [45, 15], [45, 55], [25, 55]]),
            ('cargroup', [[70, 40], [100, 40], [100, 60], [70, 60]]),
            ('bicycle', [[100, 5], [110, 5], [110, 12], [100, 12]]),
        ]})

    def tearDown(self):
        self.tmp.cleanup()

    def _convert(self, **kwargs):
        from mmkd_dense.datasets.converters.cityscapes import \
            convert_cityscapes_split
        return convert_cityscapes_split(
            self.root, osp.join(self.root, 'annotations'), 'val',
            progress_every=None, **kwargs)

    def test_polygons_to_visible_boxes_and_load(self):
        before = file_digest(osp.join(self.root, 'gtFine'))
        stats = self._convert()
        self.assertEqual(file_digest(osp.join(self.root, 'gtFine')), before)
        self.assertEqual(stats['groups'], 1)
        with open(stats['out_file']) as f:
            data = json.load(f)
        self.assertEqual([c['name'] for c in data['categories']],
                         ['person', 'rider', 'car', 'truck', 'bus', 'train',
                          'motorcycle', 'bicycle'])
        self.assertEqual(data['images'][0]['file_name'],
                         f'aachen/{BASE}_leftImg8bit.png')
        got = sorted((a['category_id'], a['bbox'])
                     for a in data['annotations'])
        # car x 10..40 minus person x 25..45 -> visible x 10..24
        self.assertEqual(got, [(24, [25., 15., 21., 41.]),
                               (26, [10., 20., 15., 31.]),
                               (33, [100., 5., 11., 8.])])
        from mmdet.datasets import CityscapesDataset
        ds = CityscapesDataset(
            data_root=self.root,
            ann_file='annotations/instancesonly_filtered_gtFine_val.json',
            data_prefix=dict(img='leftImg8bit/val/'), test_mode=True,
            pipeline=[])
        info = ds.get_data_info(0)
        self.assertTrue(osp.isfile(info['img_path']))
        self.assertEqual(sorted((i['bbox_label'], i['bbox'])
                                for i in info['instances']),
                         [(0, [25., 15., 46., 56.]),
                          (2, [10., 20., 25., 51.]),
                          (7, [100., 5., 111., 13.])])

    def test_bad_input(self):
        img = osp.join(self.root, 'leftImg8bit', 'val', 'aachen',
                       f'{BASE}_leftImg8bit.png')
        os.remove(img)
        with self.assertRaisesRegex(BadInputError,
                                    f'{img}: missing image file'):
            self._convert()
        stats = self._convert(on_bad_input='skip', overwrite=True)
        self.assertEqual((stats['images'], stats['skipped']),
                         (0, {'missing image file': 1}))
        poly = osp.join(self.root, 'gtFine', 'val', 'aachen',
                        f'{BASE}_gtFine_polygons.json')
        with open(poly, 'w') as f:
            f.write('{\n "imgHeight": 64,\n "imgWidth": \n}')
        with self.assertRaisesRegex(BadInputError,
                                    f'{poly}, line 4: malformed json'):
            self._convert(overwrite=True)


if __name__ == '__main__':
    unittest.main()
