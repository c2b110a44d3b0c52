# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Rules of configs/README.md that hold for every file: inheritance depth at
most 3, one naming scheme, pair configs are children of a method base, and
the before/after tools that proved the restructuring kept behaviour."""
import ast
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
import unittest

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/**/*.py'), recursive=True))
TOOLS = osp.join(ROOT, 'tools/analysis_tools')

DS = r'(coco|voc0712|cityscapes|dior|dota|visdrone|uavdt|digits)'
SCHED = r'(\d+x|\d+e)'
# a network: family (dash-joined words) - backbone [- neck width]
NET = r'[a-z]+(-[a-z]+)*-(r\d+(c\d+)?|x101)(-fpn\d+)?'
METHOD = r'[a-z0-9]+(-[a-z0-9]+)*'
LOCATION = r'(fpn|head|roi|head-fpn|hf-amplifier)'
#: configs/detectors and demo detectors: {model}_{backbone}_{neck}_{sched}_{ds}
DETECTOR = re.compile(rf'[a-z]+(-[a-z]+)*_(r\d+(c\d+)?|x101-64x4d)'
                      rf'_fpn(\d+)?(_gn-head)?_{SCHED}_{DS}\.py')
#: {method}_{location}_{teacher}_{student}_{schedule}_{dataset}
PAIR = re.compile(rf'{METHOD}_{LOCATION}_{NET}_{NET}_{SCHED}_{DS}\.py')
#: a stage of a method without a student (DS2D2's HF amplifier)
STAGE = re.compile(rf'{METHOD}_{LOCATION}_{NET}_{SCHED}_{DS}\.py')
#: method bases: {method}_{location}[_{family}] or, for one teacher,
#: {method}_{location}_{teacher}_{schedule}_{dataset}
METHOD_BASE = re.compile(
    rf'{METHOD}_{LOCATION}(_[a-z]+(-[a-z]+)*|_{NET}_{SCHED}_{DS})?\.py')


def bases(path):
    """The files ``path`` inherits (its ``_base_``, resolved)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign)
                and getattr(node.targets[0], 'id', None) == '_base_'):
            value = ast.literal_eval(node.value)
            value = [value] if isinstance(value, str) else value
            return [osp.normpath(osp.join(osp.dirname(path), b))
                    for b in value]
    return []


def depth(path, memo={}):  # noqa: B006  (cache across calls on purpose)
    """Inheritance levels above ``path`` (0: inherits nothing)."""
    if path not in memo:
        memo[path] = 1 + max((depth(b) for b in bases(path)), default=-1)
    return memo[path]


class TestConfigStructure(unittest.TestCase):

    def test_inheritance_depth_at_most_three(self):
        self.assertGreater(len(CONFIGS), 150)
        too_deep = {osp.relpath(p, ROOT): depth(p) for p in CONFIGS
                    if depth(p) > 3}
        self.assertEqual(too_deep, {})
        # the counting itself: a pair with an R18 student is 3 levels deep
        # (pair -> R18 detector -> R50 detector -> _base_ files)
        self.assertEqual(depth(osp.join(
            ROOT, 'configs/ds2d2/'
            'ds2d2_fpn_retina-r101_retina-r18_2x_dior.py')), 3)
        self.assertEqual(depth(osp.join(
            ROOT, 'configs/_base_/datasets/coco_detection.py')), 0)

    def test_every_file_follows_the_naming_scheme(self):
        bad = []
        for path in CONFIGS:
            rel = osp.relpath(path, ROOT).split(osp.sep)
            name = rel[-1]
            if rel[1] == '_base_':  # mmdet's own base names
                continue
            if '_base_' in rel:
                ok = METHOD_BASE.fullmatch(name) or \
                    name == 'digits_runtime.py'
            elif rel[1] == 'detectors' or (rel[1] == 'demo'
                                           and not PAIR.fullmatch(name)):
                ok = DETECTOR.fullmatch(name)
            else:
                ok = PAIR.fullmatch(name) or STAGE.fullmatch(name)
            if not ok:
                bad.append('/'.join(rel))
        self.assertEqual(bad, [])
        # the spellings this scheme replaced do not match
        self.assertIsNone(DETECTOR.fullmatch('retinanet_r18-c16_fpn_12e_'
                                             'digits.py'))
        self.assertIsNotNone(DETECTOR.fullmatch('retinanet_r18c16_fpn64_'
                                                '12e_digits.py'))

    def test_pair_configs_are_children_of_a_method_base(self):
        """Each LSFI+MDC, FGD, PKD, DS2D2 and CID pair config inherits a
        student detector config and a method base, nothing else."""
        folders = ('lsfi_mdc', 'baselines/fgd', 'baselines/pkd', 'ds2d2',
                   'cid_lightml')
        checked = 0
        for folder in folders:
            for path in glob.glob(osp.join(ROOT, 'configs', folder, '*.py')):
                if '_digits' in path and 'lsfi' in path:
                    continue  # the 3-level, 32->64 ch demo: own distiller
                if 'hf-amplifier' in path:
                    continue  # a stage config, not a pair
                with self.subTest(config=osp.relpath(path, ROOT)):
                    student, method = bases(path)
                    self.assertIn('/_base_/', method)
                    self.assertTrue(
                        '/detectors/' in student or '/demo/' in student,
                        student)
                    checked += 1
        self.assertEqual(checked, 14 + 5 + 4 + 18 + 11)

    def test_schedule_2x_is_1x_with_24_epochs(self):
        one = Config.fromfile(
            osp.join(ROOT, 'configs/_base_/schedules/schedule_1x.py'))
        two = Config.fromfile(
            osp.join(ROOT, 'configs/_base_/schedules/schedule_2x.py'))
        self.assertEqual(two.train_cfg.max_epochs, 24)
        self.assertEqual(two.param_scheduler[1].milestones, [16, 22])
        self.assertEqual(two.param_scheduler[1].end, 24)
        for cfg in (one, two):
            cfg.train_cfg.max_epochs = cfg.param_scheduler[1].end = 0
            cfg.param_scheduler[1].milestones = []
        self.assertEqual(one.to_dict(), two.to_dict())


class TestMergedConfigTools(unittest.TestCase):
    """tools/analysis_tools/{dump,compare}_merged_configs.py."""

    def _run(self, tool, *args):
        return subprocess.run(
            [sys.executable, osp.join(TOOLS, tool), *args],
            capture_output=True, text=True, cwd=ROOT, timeout=300)

    def test_dump_expands_teacher_and_amplifier(self):
        with tempfile.TemporaryDirectory() as tmp:
            rel = ('configs/ds2d2/'
                   'ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py')
            proc = self._run('dump_merged_configs.py', '--out', tmp, rel)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(osp.join(tmp, rel[len('configs/'):-3] + '.json')) as f:
                data = json.load(f)
        teacher = data['model']['teacher']
        self.assertNotIn('cfg_file', teacher)
        self.assertEqual(teacher['backbone']['base_channels'], 32)
        amp = data['model']['distiller']['distill_losses']['loss_ds2d2_hf']
        self.assertEqual(amp['amplifier_cfg']['type'],
                         'mmkd_dense.HFAmplifierDetector')
        self.assertNotIn('filename', data)

    def test_compare_follows_renames_and_reports_differences(self):
        with tempfile.TemporaryDirectory() as tmp:
            before, after = osp.join(tmp, 'b'), osp.join(tmp, 'a')
            for root, name, lr, helper in (
                    (before, 'x/old_1x_coco', 0.01, 1),
                    (after, 'x/new_1x_coco', 0.01, 2)):
                path = osp.join(root, name + '.json')
                os.makedirs(osp.dirname(path))
                with open(path, 'w') as f:
                    json.dump(dict(optim_wrapper=dict(lr=lr),
                                   load_from=f'work_dirs/{name[2:]}/e.pth',
                                   some_helper=helper), f)
            renames = osp.join(tmp, 'renames.txt')
            with open(renames, 'w') as f:
                f.write('configs/x/old_1x_coco.py  x/new_1x_coco  # moved\n')
            proc = self._run('compare_merged_configs.py', before, after,
                             '--renames', renames)
            self.assertEqual(proc.returncode, 0, proc.stdout)
            self.assertIn('helper   x/old_1x_coco -> x/new_1x_coco: '
                          'some_helper: 1 -> 2', proc.stdout)
            self.assertIn('0 failing difference(s)', proc.stdout)
            # a runner key that differs fails; --allow marks it intended
            with open(osp.join(after, 'x/new_1x_coco.json'), 'w') as f:
                json.dump(dict(optim_wrapper=dict(lr=0.02),
                               load_from='work_dirs/new_1x_coco/e.pth',
                               some_helper=1), f)
            proc = self._run('compare_merged_configs.py', before, after,
                             '--renames', renames)
            self.assertEqual(proc.returncode, 1)
            self.assertIn('DIFF     x/old_1x_coco -> x/new_1x_coco: '
                          'optim_wrapper.lr: 0.01 -> 0.02', proc.stdout)
            proc = self._run('compare_merged_configs.py', before, after,
                             '--renames', renames, '--allow',
                             'x/*:optim_wrapper.lr')
            self.assertEqual(proc.returncode, 0, proc.stdout)
            self.assertIn('intended', proc.stdout)
            # without the rename the config is missing
            proc = self._run('compare_merged_configs.py', before, after)
            self.assertEqual(proc.returncode, 1)
            self.assertIn('MISSING x/old_1x_coco -> x/old_1x_coco',
                          proc.stdout)


if __name__ == '__main__':
    unittest.main()
