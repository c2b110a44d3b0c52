# Copyright (c) mmkd_dense contributors. All rights reserved.
"""ImageNet-pretrained backbones: config resolution, the offline preflight
error, a locally placed file loaded into the backbone, and the teacher /
checkpoint cases that must not ask for ImageNet files."""
import glob
import os
import os.path as osp
import re
import tempfile
import unittest
from unittest import mock
from urllib.error import URLError

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.algorithms.gt_aware_distill import \
    resolve_detector_cfg
from mmkd_dense.testing import (build_model_from_cfg,
                                make_torchvision_resnet_state_dict,
                                shrink_config)
from mmkd_dense.utils.preflight import PreflightError
from mmkd_dense.utils.pretrained import (IMAGENET_CHECKPOINTS,
                                         check_pretrained_weights,
                                         checkpoint_url,
                                         disable_imagenet_init,
                                         expected_imagenet_checkpoint,
                                         find_pretrained_inits)
from ..test_runtime._helpers import REPO, run_tool

R18_URL = 'https://download.pytorch.org/models/resnet18-f37072fd.pth'
R18_FILE = 'resnet18-f37072fd.pth'
RETINA_R18 = osp.join(REPO, 'configs/detectors/retinanet/'
                      'retinanet_r18_fpn_2x_coco.py')
# paper distillation config: R101 teacher from teacher_ckpt, R50 student
LSFI_R50 = osp.join(REPO, 'configs/lsfi_mdc/'
                    'lsfi-mdc_fpn_retina-r101_retina-r50_2x_coco.py')
# R18 student, R101 teacher given as cfg_file
CID_R18 = osp.join(REPO, 'configs/cid_lightml/'
                   'cid-lightml_head_retina-r101_retina-r18_15e_visdrone.py')
AMPLIFIER = osp.join(REPO, 'configs/ds2d2/'
                     'ds2d2_hf-amplifier_retina-r101_2x_dior.py')


def _all_configs():
    paths = sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                             recursive=True))
    return [p for p in paths if '/_base_/' not in p]


def _is_demo(path):
    return '/configs/demo/' in path or path.endswith('_digits.py')


def torchvision_resnet18_keys():
    """torchvision ``resnet18().state_dict()`` names (BasicBlock x [2, 2,
    2, 2], a downsample in the first block of layers 2-4), without the
    ``num_batches_tracked`` counters."""

    def bn(name):
        return [f'{name}.{p}' for p in ('weight', 'bias', 'running_mean',
                                         'running_var')]

    keys = ['conv1.weight'] + bn('bn1')
    for layer in range(1, 5):
        for block in range(2):
            p = f'layer{layer}.{block}.'
            keys += [p + 'conv1.weight'] + bn(p + 'bn1')
            keys += [p + 'conv2.weight'] + bn(p + 'bn2')
            if layer > 1 and block == 0:
                keys += [p + 'downsample.0.weight'] + bn(p + 'downsample.1')
    return keys + ['fc.weight', 'fc.bias']


class TestImageNetTable(unittest.TestCase):

    def test_same_files_as_mmengine_maps_mmdet_names_to(self):
        # mmdet's configs say torchvision://resnetN / open-mmlab://...;
        # mmengine's own tables give the URLs we use
        for name in ('resnet18', 'resnet34', 'resnet50', 'resnet101'):
            self.assertEqual(checkpoint_url(f'torchvision://{name}'),
                             IMAGENET_CHECKPOINTS[name])
        self.assertEqual(checkpoint_url('open-mmlab://resnext101_64x4d'),
                         IMAGENET_CHECKPOINTS['resnext101_64x4d'])
        self.assertEqual(IMAGENET_CHECKPOINTS['resnet50'].rsplit('/', 1)[1],
                         'resnet50-0676ba61.pth')
        self.assertIsNone(checkpoint_url('work_dirs/teacher/epoch_24.pth'))

    def test_expected_file_per_backbone(self):
        self.assertEqual(
            expected_imagenet_checkpoint(dict(type='ResNet', depth=34)),
            IMAGENET_CHECKPOINTS['resnet34'])
        self.assertEqual(
            expected_imagenet_checkpoint(
                dict(type='ResNeXt', depth=101, groups=64, base_width=4)),
            IMAGENET_CHECKPOINTS['resnext101_64x4d'])
        # no ImageNet file for a 32-channel ResNet or a 32x4d ResNeXt
        self.assertIsNone(expected_imagenet_checkpoint(
            dict(type='ResNet', depth=18, base_channels=32)))
        self.assertIsNone(expected_imagenet_checkpoint(
            dict(type='ResNeXt', depth=101, groups=32, base_width=4)))


class TestConfigs(unittest.TestCase):
    """Pure config checks over every config of the repository."""

    def test_paper_configs_load_the_file_of_their_depth(self):
        paper = [p for p in _all_configs() if not _is_demo(p)]
        names = {osp.relpath(p, REPO) for p in paper}
        self.assertGreater(len(paper), 90)
        for path in paper:
            name = osp.relpath(path, REPO)
            with self.subTest(config=name):
                cfg = Config.fromfile(path)
                model = cfg.model
                teacher = model.get('teacher')
                # a cfg_file teacher is one of the configs checked here;
                # an inline one is checked with the student
                entries = find_pretrained_inits(
                    model, include_teacher=isinstance(teacher, dict)
                    and 'cfg_file' not in teacher)
                self.assertTrue(entries, 'no ImageNet init')
                for entry in entries:
                    self.assertTrue(entry.module_key.endswith('.backbone'),
                                    entry.key)
                    self.assertIn(entry.url, IMAGENET_CHECKPOINTS.values())
                    self.assertEqual(
                        entry.url,
                        expected_imagenet_checkpoint(entry.module_cfg),
                        f'{entry.key}: {entry.file_name} for depth '
                        f'{entry.module_cfg.get("depth")}')
                keys = {e.module_key for e in entries}
                if 'architecture' in model:
                    self.assertIn('model.architecture.backbone', keys)
                    self.assertTrue(model.teacher_ckpt)
                    if 'cfg_file' in teacher:
                        self.assertIn(teacher.cfg_file, names)
                        # the teacher comes from teacher_ckpt: not asked for
                        self.assertEqual(keys,
                                         {'model.architecture.backbone'})
                elif 'detector' in model:  # DS2D2 HF amplifier stage
                    self.assertEqual(keys, {'model.detector.backbone'})
                    self.assertTrue(cfg.load_from)
                else:
                    self.assertEqual(keys, {'model.backbone'})
                    # the depth is in the config name: check the file again
                    depth = re.findall(r'_r(\d+)', osp.basename(path))
                    self.assertIn(f'resnet{depth[0]}-' if depth else
                                  'resnext101_64x4d-', entries[0].url)

    def test_demo_and_digits_configs_are_random_init(self):
        demo = [p for p in _all_configs() if _is_demo(p)]
        self.assertGreaterEqual(len(demo), 10)
        for path in demo:
            with self.subTest(config=osp.relpath(path, REPO)):
                cfg = Config.fromfile(path)
                self.assertEqual(
                    find_pretrained_inits(cfg.model, include_teacher=True),
                    [])
                model = cfg.model
                for part in ('architecture', 'detector'):
                    model = model.get(part, model)
                self.assertIsNone(model.backbone.init_cfg)


class TestPreflight(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.torch_home = osp.join(self.tmp.name, 'torch_home')
        self.cache = osp.join(self.torch_home, 'hub', 'checkpoints')
        env = mock.patch.dict(os.environ, {'TORCH_HOME': self.torch_home,
                                           'MMKD_OFFLINE': '1'})
        env.start()
        self.addCleanup(env.stop)

    def tearDown(self):
        self.tmp.cleanup()

    def place_r18(self):
        state = make_torchvision_resnet_state_dict(depth=18)
        os.makedirs(self.cache, exist_ok=True)
        torch.save(state, osp.join(self.cache, R18_FILE))
        return state

    def test_offline_error_names_key_file_folder_and_fixes(self):
        cfg = Config.fromfile(RETINA_R18)
        with self.assertRaises(PreflightError) as ctx:
            check_pretrained_weights(cfg)
        msg = str(ctx.exception)
        self.assertIn('model.backbone.init_cfg.checkpoint', msg)
        self.assertIn(f'"{R18_FILE}"', msg)
        self.assertIn(f'torch hub cache {self.cache} ', msg)
        self.assertIn(f'place the file there: {self.cache}/{R18_FILE}', msg)
        self.assertIn('--cfg-options model.backbone.init_cfg=None', msg)
        self.assertIn('MMKD_OFFLINE=1', msg)
        self.assertFalse(osp.exists(self.cache))

    def test_failed_download_is_reported(self):
        cfg = Config.fromfile(RETINA_R18)
        with mock.patch('torch.hub.download_url_to_file',
                        side_effect=URLError('no route to host')) \
                as download, self.assertRaises(PreflightError) as ctx:
            check_pretrained_weights(cfg, download=True)
        self.assertEqual(download.call_args[0][:2],
                         (R18_URL, osp.join(self.cache, R18_FILE)))
        self.assertIn('(download failed: URLError: <urlopen error no route '
                      'to host>)', str(ctx.exception))
        # the cache folders made for the download are removed again
        self.assertFalse(osp.exists(self.torch_home))

    def test_placed_file_is_found_and_loaded_into_the_backbone(self):
        state = self.place_r18()
        self.assertEqual(sorted(state), sorted(torchvision_resnet18_keys()))
        cfg = Config.fromfile(RETINA_R18)
        entries = check_pretrained_weights(cfg)
        self.assertEqual([e.cache_path for e in entries],
                         [osp.join(self.cache, R18_FILE)])
        model = build_model_from_cfg(cfg, imagenet_init=True)
        before = model.backbone.conv1.weight.detach().clone()
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        with self.assertLogs(logger, level='INFO') as logs:
            model.init_weights()
        self.assertTrue(any(f'load model from: {R18_URL}' in line
                            for line in logs.output), logs.output)
        backbone = model.backbone
        self.assertFalse(torch.equal(before, state['conv1.weight']))
        self.assertTrue(torch.equal(backbone.conv1.weight, state[
            'conv1.weight']))
        self.assertTrue(torch.equal(backbone.layer4[1].bn2.running_var,
                                    state['layer4.1.bn2.running_var']))
        self.assertTrue(torch.equal(
            backbone.layer3[0].downsample[0].weight,
            state['layer3.0.downsample.0.weight']))

    def test_depth_mismatch_names_both_files(self):
        cfg = Config.fromfile(RETINA_R18)
        cfg.model.backbone.init_cfg.checkpoint = \
            IMAGENET_CHECKPOINTS['resnet50']
        with self.assertRaises(PreflightError) as ctx:
            check_pretrained_weights(cfg)
        msg = str(ctx.exception)
        self.assertIn('model.backbone.init_cfg.checkpoint', msg)
        self.assertIn('"resnet50-0676ba61.pth" does not match', msg)
        self.assertIn('ResNet depth=18', msg)
        self.assertIn(R18_URL, msg)

    def test_teacher_from_teacher_ckpt_is_not_loaded(self):
        """The R18 student loads its file; the teacher (cfg_file, its
        init_cfg naming resnet101, absent here) is never initialised: mmrazor
        marks it ``_is_init`` after loading teacher_ckpt."""
        student_state = self.place_r18()
        cfg = Config.fromfile(CID_R18)
        # a small teacher keeps the test fast; its init_cfg still names
        # resnet101-63fe2227.pth, which is not in the cache
        cfg.model.teacher.cfg_options = {
            'backbone.depth': 18, 'neck.in_channels': [64, 128, 256, 512]}
        entries = check_pretrained_weights(cfg)
        self.assertEqual([e.module_key for e in entries],
                         ['model.architecture.backbone'])
        self.assertIn('resnet101-63fe2227.pth', str(
            find_pretrained_inits(cfg.model, include_teacher=True)))
        teacher = build_model_from_cfg(Config(dict(
            model=resolve_detector_cfg(cfg.model.teacher, 'model.teacher'),
            default_scope='mmdet')))
        teacher_ckpt = osp.join(self.tmp.name, 'teacher.pth')
        torch.save(dict(state_dict=teacher.state_dict(), meta={}),
                   teacher_ckpt)
        cfg.model.teacher_ckpt = teacher_ckpt
        model = build_model_from_cfg(cfg, drop_teacher_ckpt=False,
                                     imagenet_init=True)
        self.assertTrue(model.teacher.is_init)
        with mock.patch('torch.hub.download_url_to_file',
                        side_effect=AssertionError('download attempted')):
            model.init_weights()
        self.assertTrue(torch.equal(
            model.teacher.backbone.conv1.weight,
            teacher.backbone.conv1.weight))
        self.assertTrue(torch.equal(model.student.backbone.conv1.weight,
                                    student_state['conv1.weight']))
        self.assertEqual(os.listdir(self.cache), [R18_FILE])

    def test_load_from_and_resume_need_no_imagenet_file(self):
        # DS2D2 stage 2 starts from the teacher checkpoint (load_from)
        cfg = Config.fromfile(AMPLIFIER)
        self.assertTrue(cfg.load_from)
        self.assertEqual(check_pretrained_weights(cfg), [])
        self.assertIsNone(cfg.model.detector.backbone.init_cfg)
        # --resume with a checkpoint in the work dir: not needed either
        work = osp.join(self.tmp.name, 'work')
        cfg = Config.fromfile(RETINA_R18)
        cfg.work_dir, cfg.resume, cfg.load_from = work, True, None
        with self.assertRaises(PreflightError):  # nothing to resume yet
            check_pretrained_weights(cfg)
        os.makedirs(work)
        with open(osp.join(work, 'last_checkpoint'), 'w') as f:
            f.write(osp.join(work, 'iter_2.pth'))
        self.assertEqual(check_pretrained_weights(cfg), [])
        self.assertIsNone(cfg.model.backbone.init_cfg)


class TestRandomInitHelpers(unittest.TestCase):

    def test_disable_keeps_cfg_file_reference_and_local_inits(self):
        cfg = Config.fromfile(CID_R18)
        cfg.model.architecture.neck.init_cfg = dict(
            type='Pretrained', prefix='neck.', checkpoint='t.pth')
        changed = disable_imagenet_init(cfg.model)
        self.assertEqual(changed, ['model.architecture.backbone',
                                   'model.teacher.backbone'])
        self.assertIsNone(cfg.model.architecture.backbone.init_cfg)
        self.assertEqual(cfg.model.architecture.neck.init_cfg.checkpoint,
                         't.pth')  # MGD-style init from the teacher: kept
        self.assertIn('cfg_file', cfg.model.teacher)
        self.assertEqual(cfg.model.teacher.cfg_options,
                         {'backbone.init_cfg': None})
        self.assertEqual(
            find_pretrained_inits(cfg.model, include_teacher=True), [])

    def test_build_model_from_cfg_is_random_init_by_default(self):
        with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(
                os.environ, {'TORCH_HOME': tmp}), mock.patch(
                    'torch.hub.download_url_to_file',
                    side_effect=AssertionError('download attempted')):
            model = build_model_from_cfg(Config.fromfile(RETINA_R18))
            model.init_weights()  # no ImageNet file read or fetched
            self.assertEqual(os.listdir(tmp), [])

    def test_shrink_config_and_benchmark_use_random_init(self):
        for path in (LSFI_R50, CID_R18, AMPLIFIER):
            small = shrink_config(Config.fromfile(path), '/tmp/data',
                                  '/tmp/work')
            self.assertEqual(
                find_pretrained_inits(small.model, include_teacher=True),
                [], path)
        import sys
        sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
        try:
            from benchmark_accuracy import apply_overrides
        finally:
            sys.path.pop(0)
        out = apply_overrides(Config.fromfile(LSFI_R50))
        self.assertEqual(
            find_pretrained_inits(out.model, include_teacher=True), [])


class TestTrainCLI(unittest.TestCase):
    """tools/train.py on a paper config with an empty torch hub cache."""

    def _train(self, config, tmp):
        env = {'TORCH_HOME': osp.join(tmp, 'torch_home'),
               'MMKD_OFFLINE': '1'}
        work_dir = osp.join(tmp, 'work')
        with mock.patch.dict(os.environ, env):
            proc = run_tool(['tools/train.py', config, '--work-dir',
                             work_dir], timeout=300)
        self.assertEqual(proc.returncode, 1, proc.stderr[-3000:])
        self.assertIn('nothing was written', proc.stderr)
        self.assertFalse(osp.exists(work_dir))
        return proc.stderr, osp.join(env['TORCH_HOME'], 'hub', 'checkpoints')

    def test_offline_distillation_config(self):
        """The student's file is asked for, with the distillation key; the
        R101 teacher's is not (teacher_ckpt); nothing is written."""
        with tempfile.TemporaryDirectory() as tmp:
            err, cache = self._train(LSFI_R50, tmp)
            self.assertIn('model.architecture.backbone.init_cfg.checkpoint: '
                          'the ImageNet-pretrained backbone weights '
                          f'"resnet50-0676ba61.pth" are not in the torch hub '
                          f'cache {cache}', err)
            self.assertIn(f'place the file there: {cache}/'
                          'resnet50-0676ba61.pth', err)
            self.assertIn('--cfg-options model.architecture.backbone.'
                          'init_cfg=None', err)
            self.assertNotIn('resnet101', err)  # teacher: teacher_ckpt
            self.assertFalse(osp.exists(cache))


if __name__ == '__main__':
    unittest.main()
