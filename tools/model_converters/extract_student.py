# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Turn a distillation checkpoint into a plain mmdet student checkpoint.

A distillation checkpoint holds the whole algorithm: ``architecture.*``
(the student), ``teacher.*``, ``distiller.*`` (connectors, KD-loss modules
such as adapters, context blocks, amplifier heads) and the optimiser state.
This script keeps only the student, renames ``architecture.x`` to ``x`` and
writes

- ``OUT``: ``dict(meta=..., state_dict=...)`` loadable by mmdet's
  ``tools/test.py`` / ``load_from`` / ``init_cfg=Pretrained``;
- ``OUT_CONFIG`` (default: ``OUT`` with ``.py``): the distillation config
  with ``model`` replaced by ``model.architecture`` (resolved if it was given
  as ``cfg_file``), ``val_cfg``/``test_cfg`` reset to the plain loops,
  distillation hooks removed and ``architecture.``-prefixed optimiser keys
  renamed. Everything else (data, schedule, runtime) is kept, so

      python tools/test.py OUT_CONFIG OUT

  reports the same mAP as ``python tools/test.py CONFIG CHECKPOINT``.

Usage::

    python tools/model_converters/extract_student.py CONFIG CHECKPOINT OUT \
        [--out-config OUT_CONFIG]
"""
import argparse
import datetime
import os
import os.path as osp
import sys
from typing import Dict, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmkd_dense  # noqa: E402,F401  (compat shims before mmrazor imports)
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

# the student-extraction logic lives in the package (shared with
# tools/deployment); re-exported here for the scripts that import it
from mmkd_dense.deployment.checkpoint import (  # noqa: E402
    STUDENT_PREFIX, extract_student_state_dict, load_distill_checkpoint,
    student_config)

__all__ = [
    'STUDENT_PREFIX', 'extract_student_state_dict', 'student_config',
    'extract_student', 'load_distill_checkpoint', 'main'
]

#: Top-level checkpoint entries that refer to the distillation model's
#: parameters or training state and are dropped.
_DROPPED_ENTRIES = ('optimizer', 'param_schedulers', 'message_hub',
                    'amp_loss_scaler')


def extract_student(config: str,
                    checkpoint: str,
                    out: str,
                    out_config: Optional[str] = None,
                    cfg_options: Optional[Dict] = None) -> Dict:
    """Write the student checkpoint and config.

    Returns:
        dict: ``checkpoint``, ``config`` (paths written), ``num_student``
        (entries kept) and ``dropped`` (entries dropped per prefix).
    """
    if osp.realpath(out) == osp.realpath(checkpoint):
        raise ValueError(
            f'output "{out}" is the input checkpoint; choose another path '
            '(the distillation checkpoint is never overwritten).')
    out_config = out_config or osp.splitext(out)[0] + '.py'
    if osp.realpath(out_config) == osp.realpath(config):
        raise ValueError(f'--out-config "{out_config}" is the input config.')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    plain_cfg = student_config(cfg)

    ckpt = load_distill_checkpoint(checkpoint)
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt,
                                                            dict) else ckpt
    student_sd, dropped = extract_student_state_dict(state_dict)
    meta = dict(ckpt.get('meta', {})) if 'state_dict' in ckpt else {}
    meta.update(
        extracted_from=osp.abspath(checkpoint),
        extracted_by='tools/model_converters/extract_student.py',
        extracted_at=datetime.datetime.now().isoformat(timespec='seconds'))
    meta['cfg'] = plain_cfg.pretty_text  # was the distillation config
    os.makedirs(osp.dirname(osp.abspath(out)) or '.', exist_ok=True)
    torch.save(dict(meta=meta, state_dict=student_sd), out)
    os.makedirs(osp.dirname(osp.abspath(out_config)) or '.', exist_ok=True)
    plain_cfg.dump(out_config)
    return dict(checkpoint=out, config=out_config,
                num_student=len(student_sd), dropped=dropped)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Extract the student of a distillation checkpoint into '
        'a plain mmdet checkpoint + config')
    parser.add_argument('config', help='the distillation config')
    parser.add_argument('checkpoint', help='the distillation checkpoint')
    parser.add_argument('out', help='output student checkpoint (.pth)')
    parser.add_argument('--out-config',
                        help='output student config (default: OUT with .py)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to the config first')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    result = extract_student(args.config, args.checkpoint, args.out,
                             args.out_config, args.cfg_options)
    dropped = ', '.join(f'{k}: {v}' for k, v in sorted(
        result['dropped'].items())) or 'nothing'
    print(f'kept {result["num_student"]} student entries; dropped {dropped}')
    print(f'checkpoint: {result["checkpoint"]}\nconfig:     '
          f'{result["config"]}\nevaluate:   python tools/test.py '
          f'{result["config"]} {result["checkpoint"]}')
    return result


if __name__ == '__main__':
    main()
