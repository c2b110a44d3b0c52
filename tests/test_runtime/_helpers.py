# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Shared pieces of the runtime tests."""
import json
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable


def set_key(obj, key, value):
    """Set every (nested) ``key`` of a config dict to ``value``."""
    if isinstance(obj, dict):
        for k in list(obj):
            if k == key:
                obj[k] = value
            else:
                set_key(obj[k], key, value)
    elif isinstance(obj, list):
        for v in obj:
            set_key(v, key, value)


def low_score_thr(cfg):
    """Random-init nets score below 0.05: keep every box so CocoMetric has
    results. Applies to the student and (through cfg_options) the teacher."""
    model = cfg.model
    set_key(model.get('architecture', model), 'score_thr', 0.0)
    teacher = model.get('teacher')
    if isinstance(teacher, dict) and 'cfg_file' in teacher:
        is_two_stage = 'faster' in teacher.cfg_file
        key = 'test_cfg.rcnn.score_thr' if is_two_stage else \
            'test_cfg.score_thr'
        teacher.cfg_options = dict(teacher.get('cfg_options') or {},
                                   **{key: 0.0})
    elif isinstance(teacher, dict):
        set_key(teacher, 'score_thr', 0.0)
    return cfg


def run_tool(args, timeout=900, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return subprocess.run([PY] + args, capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def read_scalars(work_dir):
    """All records of ``<work_dir>/<timestamp>/vis_data/scalars.json``."""
    records = []
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                records += [json.loads(line) for line in f if line.strip()]
    return records
