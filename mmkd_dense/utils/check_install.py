# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Check that the KD stack is usable: ``python -m mmkd_dense.utils.check_install``.

Each check prints OK or FAIL with the reason; the exit status is the number
of failed checks (0 = ready).
"""
import argparse
import sys
import traceback
from typing import Callable, List, Tuple

__all__ = ['run_checks', 'main']

EXPECTED = {'mmcv': '2.1.0', 'mmengine': '0.10.7', 'mmdet': '3.3.0',
            'mmrazor': '1.0.0'}


def _versions() -> str:
    import importlib
    found = []
    for name, want in EXPECTED.items():
        mod = importlib.import_module(name)
        if mod.__version__ != want:
            raise RuntimeError(f'{name} {mod.__version__} installed, '
                               f'{want} required')
        found.append(f'{name} {mod.__version__}')
    import setuptools
    major = int(setuptools.__version__.split('.')[0])
    if major >= 82:
        raise RuntimeError(f'setuptools {setuptools.__version__} has no '
                           'pkg_resources (mmengine needs it): install '
                           '"setuptools<82"')
    return ', '.join(found)


def _torch() -> str:
    import torch
    return f'torch {torch.__version__}, CUDA {torch.version.cuda or "none"}'


def _nms() -> str:
    import torch
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    if keep.tolist() != [0, 2]:
        raise RuntimeError(f'nms kept {keep.tolist()}, expected [0, 2]')
    return 'mmcv.ops.nms compiled op OK'


def _roi_align() -> str:
    import torch
    from mmcv.ops import RoIAlign
    feat = torch.arange(16.).reshape(1, 1, 4, 4).requires_grad_()
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2,
                   aligned=True)(feat, rois)
    out.sum().backward()
    if out.shape != (1, 1, 2, 2) or feat.grad is None:
        raise RuntimeError('RoIAlign forward/backward failed')
    return 'mmcv.ops.RoIAlign forward/backward OK'


def _mmdet_models() -> str:
    import mmdet.models  # noqa: F401
    return 'import mmdet.models OK'


def _mmrazor_models() -> str:
    import mmkd_dense  # noqa: F401  (applies the compat shims first)
    import mmrazor.models  # noqa: F401
    return 'import mmrazor.models OK (with mmkd_dense.compat)'


def _mmkd_dense() -> str:
    import mmkd_dense
    from mmkd_dense.registry import MODELS
    if MODELS.get('GTAwareDistill') is None:
        raise RuntimeError('mmkd_dense models are not registered')
    return f'mmkd_dense {mmkd_dense.__version__} registered'


CHECKS: List[Tuple[str, Callable[[], str]]] = [
    ('torch', _torch),
    ('versions', _versions),
    ('mmcv.ops.nms', _nms),
    ('mmcv.ops.RoIAlign', _roi_align),
    ('mmdet.models', _mmdet_models),
    ('mmrazor.models', _mmrazor_models),
    ('mmkd_dense', _mmkd_dense),
]


def run_checks(quiet: bool = False) -> int:
    """Run every check; return the number of failures."""
    failures = 0
    for name, check in CHECKS:
        try:
            msg = check()
            if not quiet:
                print(f'  OK    {name:18s} {msg}')
        except Exception as err:  # report every failure, keep going
            failures += 1
            print(f'  FAIL  {name:18s} {type(err).__name__}: {err}')
            if not quiet:
                traceback.print_exc(limit=2, file=sys.stdout)
    if not quiet:
        print('mmkd_dense environment: ' +
              ('ready' if failures == 0 else f'{failures} check(s) failed'))
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args()
    sys.exit(run_checks(quiet=args.quiet))


if __name__ == '__main__':
    main()
