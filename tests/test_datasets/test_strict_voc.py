# Copyright (c) mmkd_dense contributors. All rights reserved.
"""StrictVOCDataset (configs/_base_/datasets/voc0712.py): what mmdet's
VOCDataset drops or trains on silently is an error naming file and line."""
import os
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import BadInputError

from .official_format import write_voc

DOG = 11  # index of 'dog' in the 20 VOC classes


class TestStrictVOCDataset(unittest.TestCase):

    def setUp(self):
        from mmengine.registry import init_default_scope
        init_default_scope('mmdet')
        self.tmp = tempfile.TemporaryDirectory()
        self.root = osp.join(self.tmp.name, 'VOCdevkit')
        self.xml = osp.join(self.root, 'VOC2007', 'Annotations',
                            '000001.xml')
        self.jpg = osp.join(self.root, 'VOC2007', 'JPEGImages',
                            '000001.jpg')

    def tearDown(self):
        self.tmp.cleanup()

    def _build(self, objects, **kwargs):
        write_voc(self.root, '2007', 'test', [('000001', objects)])
        return self._build_only(**kwargs)

    def _build_only(self, **kwargs):
        from mmengine.registry import DATASETS
        return DATASETS.build(dict(
            type='mmkd_dense.StrictVOCDataset', data_root=self.root,
            ann_file='VOC2007/ImageSets/Main/test.txt',
            data_prefix=dict(sub_data_root='VOC2007/'), test_mode=True,
            pipeline=[], **kwargs))

    def test_clean_as_mmdet(self):
        ds = self._build([('dog', 10, 10, 100, 90),
                          ('person', 5, 5, 60, 70, 1)])
        info = ds.get_data_info(0)
        self.assertEqual(ds.metainfo['dataset_type'], 'VOC2007')
        self.assertEqual(
            [(i['bbox'], i['bbox_label'], i['ignore_flag'])
             for i in info['instances']],
            [([9, 9, 99, 89], DOG, 0), ([4, 4, 59, 69], 14, 1)])
        self.assertEqual((info['width'], info['height']), (160, 128))

    def test_unknown_class(self):
        # <name> of the first object is on line 13 of the written XML
        with self.assertRaisesRegex(
                BadInputError, f"{self.xml}, line 13: unknown class "
                r"\('dragon' is not one of the 20 classes"):
            self._build([('dragon', 10, 10, 100, 90)])

    def test_non_positive_box(self):
        # second object: <object> on line 23, <bndbox> on line 27
        with self.assertRaisesRegex(
                BadInputError, f'{self.xml}, line 27: non-positive box size '
                r'\(box \(50, 40, 20, 80\)'):
            self._build([('dog', 10, 10, 100, 90), ('cat', 50, 40, 20, 80)])

    def test_skip_with_count(self):
        ds = self._build([('dragon', 10, 10, 100, 90),
                          ('cat', 50, 40, 20, 80), ('dog', 10, 10, 100, 90)],
                         on_bad_input='skip')
        self.assertEqual(ds.bad_input_counts, {'unknown class': 1,
                                               'non-positive box size': 1})
        self.assertEqual(
            [i['bbox_label'] for i in ds.get_data_info(0)['instances']],
            [DOG])

    def test_malformed_xml(self):
        write_voc(self.root, '2007', 'test',
                  [('000001', [('dog', 10, 10, 100, 90)])])
        with open(self.xml) as f:
            text = f.read()
        with open(self.xml, 'w') as f:
            f.write(text.replace('</xmax>', '</xmx>'))  # on line 19
        with self.assertRaisesRegex(BadInputError,
                                    f'{self.xml}, line 19: malformed XML'):
            self._build_only()

    def test_missing_image_and_xml(self):
        write_voc(self.root, '2007', 'test',
                  [('000001', [('dog', 10, 10, 100, 90)]),
                   ('000002', [('dog', 10, 10, 100, 90)])])
        os.remove(self.jpg)
        with self.assertRaisesRegex(BadInputError,
                                    f'{self.jpg}: missing image file'):
            self._build_only()
        ds = self._build_only(on_bad_input='skip')
        self.assertEqual([ds.get_data_info(i)['img_id']
                          for i in range(len(ds))], ['000002'])
        xml2 = self.xml.replace('000001', '000002')
        os.remove(xml2)
        with self.assertRaisesRegex(BadInputError,
                                    f'{xml2}: missing annotation file'):
            self._build_only(check_images=False)


if __name__ == '__main__':
    unittest.main()
