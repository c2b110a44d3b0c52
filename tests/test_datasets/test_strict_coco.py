# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Strict COCO-json loading (the default of every shipped COCO-format
config): bad records, empty / truncated files and missing images are errors
naming the file, found while the dataset is built."""
import json
import os
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import BadInputError
from mmkd_dense.datasets.strict_coco import find_missing_files
from mmkd_dense.testing import make_tiny_coco

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _cfg(rel):
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO, rel))


def _innermost(dataset_cfg):
    while 'dataset' in dataset_cfg or 'datasets' in dataset_cfg:
        dataset_cfg = dataset_cfg.get('dataset') or dataset_cfg.datasets[0]
    return dataset_cfg


class TestShippedConfigsAreStrict(unittest.TestCase):

    def test_dataset_types(self):
        expected = {
            'configs/_base_/datasets/coco_detection.py':
            'mmkd_dense.StrictCocoDataset',
            'configs/_base_/datasets/cityscapes_detection.py':
            'mmkd_dense.StrictCityscapesDataset',
            'configs/_base_/datasets/voc0712.py':
            'mmkd_dense.StrictVOCDataset',
            'configs/demo/_base_/digits_runtime.py':
            'mmkd_dense.StrictCocoDataset',
            'configs/_base_/datasets/dior.py': 'mmkd_dense.DIORDataset',
            'configs/_base_/datasets/dota_hbb.py':
            'mmkd_dense.DOTAPatchDataset',
            'configs/_base_/datasets/visdrone.py':
            'mmkd_dense.VisDroneDataset',
        }
        for rel, dataset_type in expected.items():
            cfg = _cfg(rel)
            for key in ('train_dataloader', 'val_dataloader',
                        'test_dataloader'):
                with self.subTest(config=rel, loader=key):
                    ds = _innermost(cfg[key].dataset)
                    self.assertEqual(ds.type, dataset_type)
                    self.assertNotIn('on_bad_input', ds)  # default: raise


class TestStrictCocoDataset(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        from mmengine.registry import init_default_scope
        init_default_scope('mmdet')
        cls.tmp = tempfile.TemporaryDirectory()
        cls.clean = osp.join(cls.tmp.name, 'clean')
        make_tiny_coco(cls.clean, num_images=4, splits=('train2017', ))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        import shutil
        self.root = tempfile.mkdtemp(dir=self.tmp.name)
        shutil.copytree(self.clean, self.root, dirs_exist_ok=True)
        self.ann_file = osp.join(self.root, 'annotations',
                                 'instances_train2017.json')
        with open(self.ann_file) as f:
            self.data = json.load(f)

    def _write(self, text=None):
        with open(self.ann_file, 'w') as f:
            f.write(text if text is not None else json.dumps(self.data))

    def _build(self, **kwargs):
        """The train dataset of the shipped COCO config, on this data."""
        from mmengine.registry import DATASETS
        cfg = _cfg('configs/_base_/datasets/coco_detection.py')
        ds = cfg.train_dataloader.dataset
        ds.update(data_root=self.root + '/', pipeline=[], **kwargs)
        return DATASETS.build(ds)

    def _first_ann(self):
        ann = self.data['annotations'][0]
        img = next(i for i in self.data['images']
                   if i['id'] == ann['image_id'])
        return ann, img

    def _num_instances(self, ds):
        return sum(len(ds.get_data_info(i)['instances'])
                   for i in range(len(ds)))

    def test_clean_data_loads(self):
        ds = self._build()
        self.assertEqual(len(ds), 3)  # the 4th image has no box
        self.assertEqual(self._num_instances(ds),
                         len(self.data['annotations']))
        self.assertEqual(ds.bad_input_counts, {})

    def _assert_bad(self, kind, detail):
        ann, img = self._first_ann()
        self._write()
        with self.assertRaises(BadInputError) as cm:
            self._build()
        msg = str(cm.exception)
        self.assertIn(f'{self.ann_file}: {kind}', msg)
        self.assertIn(f"annotation id {ann['id']} of image "
                      f"'{img['file_name']}'", msg)
        self.assertIn(detail, msg)
        self.assertIn("on_bad_input='skip'", msg)

    def test_unknown_category(self):
        # all unknown ids are counted; the first record is named
        self.data['annotations'][0]['category_id'] = 999
        self.data['annotations'][1]['category_id'] = 999
        self.data['annotations'][2]['category_id'] = 500
        self._assert_bad('unknown category',
                         '3 annotations have category ids that are not '
                         'json categories of the 80 metainfo classes')
        self._assert_bad('unknown category', 'id: count = {500: 1, 999: 2}')

    def test_negative_width(self):
        self.data['annotations'][0]['bbox'][2] = -5
        self._assert_bad('non-positive box size', 'width -5')

    def test_box_outside_image(self):
        ann, img = self._first_ann()
        ann['bbox'][0] = img['width'] + 10
        self._assert_bad('box outside the image', 'does not overlap')

    def test_malformed_box(self):
        self.data['annotations'][0]['bbox'] = [1, 2, 'nan', 4]
        self._assert_bad('malformed annotation', "found bbox=[1, 2, 'nan'")

    def test_skip_with_count(self):
        n = len(self.data['annotations'])
        self.data['annotations'][0]['category_id'] = 999
        self.data['annotations'][1]['bbox'][3] = 0
        self._write()
        ds = self._build(on_bad_input='skip')
        self.assertEqual(ds.bad_input_counts, {'unknown category': 1,
                                               'non-positive box size': 1})
        self.assertEqual(self._num_instances(ds), n - 2)

    def test_tiny_box_is_dropped_as_in_mmdet(self):
        # 0 < w < 1 is valid COCO (a few exist in train2017): dropped with
        # a counted warning, not an error
        n = len(self.data['annotations'])
        self.data['annotations'][0]['bbox'][2] = 0.5
        self._write()
        ds = self._build()
        self.assertEqual(self._num_instances(ds), n - 1)
        self.assertEqual(ds.bad_input_counts, {})

    def test_empty_annotations(self):
        self.data['annotations'] = []
        self._write()
        with self.assertRaisesRegex(
                ValueError, f'{self.ann_file} has no annotation for any of '
                'its 4 images'):
            self._build()
        ds = self._build(allow_no_annotations=True, filter_cfg=None)
        self.assertEqual(len(ds), 4)

    def test_no_images(self):
        self.data['images'] = []
        self.data['annotations'] = []
        self._write()
        with self.assertRaisesRegex(ValueError,
                                    f'{self.ann_file} lists no image'):
            self._build()

    def test_truncated_json(self):
        text = json.dumps(self.data, indent=1)
        self._write(text[:len(text) // 2])
        line = text[:len(text) // 2].count('\n') + 1
        with self.assertRaisesRegex(
                ValueError, f'{self.ann_file}, line {line}, column \\d+: '
                'malformed JSON'):
            self._build()

    def test_missing_annotation_file(self):
        os.remove(self.ann_file)
        with self.assertRaisesRegex(FileNotFoundError,
                                    f'annotation file {self.ann_file}'):
            self._build()

    def test_missing_image(self):
        img = osp.join(self.root, 'train2017', 'train2017_0001.jpg')
        os.remove(img)
        with self.assertRaisesRegex(BadInputError,
                                    f'{img}: missing image file'):
            self._build()
        ds = self._build(on_bad_input='skip')
        self.assertEqual(ds.bad_input_counts, {'missing image file': 1})
        paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
        self.assertNotIn(img, paths)
        self.assertEqual(len(paths), 2)

    def test_missing_image_folder(self):
        import shutil
        shutil.rmtree(osp.join(self.root, 'train2017'))
        with self.assertRaisesRegex(
                FileNotFoundError,
                f'image folder {self.root}/train2017 .*data_prefix'):
            self._build()

    def test_cityscapes_dataset_is_strict_too(self):
        from mmkd_dense.datasets import StrictCityscapesDataset
        self.data['annotations'][0]['bbox'][2] = -1
        self._write()
        with self.assertRaisesRegex(BadInputError, 'non-positive box size'):
            StrictCityscapesDataset(
                data_root=self.root, ann_file=self.ann_file,
                data_prefix=dict(img='train2017/'), pipeline=[],
                metainfo=dict(classes=('person', 'bicycle', 'car')))


class TestFindMissingFiles(unittest.TestCase):

    def test_per_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            for rel in ('a/x.jpg', 'b/y.jpg'):
                os.makedirs(osp.join(tmp, osp.dirname(rel)), exist_ok=True)
                open(osp.join(tmp, rel), 'w').close()
            os.makedirs(osp.join(tmp, 'a', 'dir.jpg'))  # not a file
            paths = [osp.join(tmp, p) for p in (
                'a/x.jpg', 'a/y.jpg',  # y.jpg exists only in b/
                'b/y.jpg', 'a/dir.jpg', 'c/z.jpg')]
            self.assertEqual(find_missing_files(paths),
                             [paths[1], paths[3], paths[4]])


if __name__ == '__main__':
    unittest.main()
