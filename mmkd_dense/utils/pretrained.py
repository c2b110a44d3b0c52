# Copyright (c) mmkd_dense contributors. All rights reserved.
"""ImageNet-pretrained backbones: which file, where it is cached, and a
preflight check that fails before anything is written.

Paper-scale configs initialise their backbones the way mmdet's do, with
mmengine's ``Pretrained`` init, but name the weight file by its plain URL
(the file mmengine maps ``torchvision://resnet50`` / ``open-mmlab://
resnext101_64x4d`` to in ``mmengine/hub/*.json``), so torchvision is never
imported. mmengine loads such a URL with ``load_from_http``, i.e. torch's
``load_state_dict_from_url``: the file is looked up, and downloaded if
missing, in the torch hub cache ``<torch.hub.get_dir()>/checkpoints``
(``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/
checkpoints``).

:func:`check_pretrained_weights` (called first by
:func:`~mmkd_dense.utils.preflight.preflight_check`) makes sure each file the
run will load is in that cache, downloading it once when the machine is
online, and otherwise stops with the config key, the file name, the cache
folder and the two fixes. :func:`disable_imagenet_init` switches a config to
random initialisation (tests, the embedded demo, the accuracy benchmark).
"""
import os
import os.path as osp
import socket
import sys
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlparse

__all__ = [
    'IMAGENET_CHECKPOINTS', 'PretrainedInitEntry', 'hub_checkpoint_dir',
    'checkpoint_url', 'expected_imagenet_checkpoint',
    'find_pretrained_inits', 'check_pretrained_weights',
    'disable_imagenet_init'
]

#: The ImageNet weights of mmdet's configs, as the plain URLs mmengine 0.10.7
#: maps their short names to (``mmengine/hub/torchvision_0.12.json`` for
#: ``torchvision://resnet*``, ``mmengine/hub/openmmlab.json`` for
#: ``open-mmlab://resnext101_64x4d``).
IMAGENET_CHECKPOINTS: Dict[str, str] = {
    'resnet18': 'https://download.pytorch.org/models/resnet18-f37072fd.pth',
    'resnet34': 'https://download.pytorch.org/models/resnet34-b627a593.pth',
    'resnet50': 'https://download.pytorch.org/models/resnet50-0676ba61.pth',
    'resnet101':
    'https://download.pytorch.org/models/resnet101-63fe2227.pth',
    'resnext101_64x4d': 'https://download.openmmlab.com/pretrain/'
    'third_party/resnext101_64x4d-ee2c6f71.pth',
}

#: Set to 1 to never download: a missing file is reported at once.
OFFLINE_ENV = 'MMKD_OFFLINE'
_REMOTE_SCHEMES = ('http://', 'https://', 'torchvision://', 'modelzoo://',
                   'open-mmlab://', 'openmmlab://')
_DOWNLOAD_TIMEOUT_S = 30


class PretrainedInitEntry:
    """One ``Pretrained`` init with a remote checkpoint found in a config.

    Attributes:
        key (str): config key of the checkpoint, e.g.
            ``'model.architecture.backbone.init_cfg.checkpoint'``.
        module_key (str): config key of the module that owns the init,
            e.g. ``'model.architecture.backbone'``.
        checkpoint (str): the checkpoint as written in the config.
        url (str): the URL mmengine downloads it from.
        module_cfg (dict): the module's config (type, depth, ...).
        source (str, optional): the ``cfg_file`` the module comes from, if
            it is not written in the config itself.
        rel_path (tuple): path of the module below the ``cfg_file``
            reference (or the walked root).
    """

    def __init__(self, key: str, module_key: str, checkpoint: str, url: str,
                 module_cfg: dict, source: Optional[str],
                 rel_path: Tuple) -> None:
        self.key = key
        self.module_key = module_key
        self.checkpoint = checkpoint
        self.url = url
        self.module_cfg = module_cfg
        self.source = source
        self.rel_path = rel_path

    @property
    def file_name(self) -> str:
        """Name of the file in the torch hub cache."""
        return osp.basename(urlparse(self.url).path)

    @property
    def cache_path(self) -> str:
        """Where mmengine (torch hub) looks for the file."""
        return osp.join(hub_checkpoint_dir(), self.file_name)

    def __repr__(self) -> str:
        return f'PretrainedInitEntry({self.key}={self.file_name})'


def hub_checkpoint_dir() -> str:
    """The torch hub checkpoint cache, as ``load_state_dict_from_url`` uses
    it: ``<torch.hub.get_dir()>/checkpoints`` (follows ``$TORCH_HOME``)."""
    import torch.hub
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def _mmengine_hub_table(name: str) -> Dict[str, str]:
    """A url table shipped with mmengine (read as json; for
    ``torchvision_0.12.json`` this avoids importing torchvision)."""
    import json

    import mmengine
    path = osp.join(osp.dirname(mmengine.__file__), 'hub', name)
    with open(path) as f:
        return json.load(f)


def checkpoint_url(checkpoint: Any) -> Optional[str]:
    """The download URL of a remote checkpoint, or None for a local path.

    ``torchvision://NAME`` / ``modelzoo://NAME`` and ``open-mmlab://NAME``
    are resolved with mmengine's own tables (torchvision 0.12 table, as
    mmengine uses for current torchvision).
    """
    if not isinstance(checkpoint, str) or \
            not checkpoint.startswith(_REMOTE_SCHEMES):
        return None
    if checkpoint.startswith(('http://', 'https://')):
        return checkpoint
    scheme, name = checkpoint.split('://', 1)
    table = _mmengine_hub_table('torchvision_0.12.json' if scheme in (
        'torchvision', 'modelzoo') else 'openmmlab.json')
    url = table.get(name)
    if not url:
        raise KeyError(f'{checkpoint}: "{name}" is not in mmengine\'s '
                       f'{scheme} model table.')
    return url


def expected_imagenet_checkpoint(backbone_cfg: dict) -> Optional[str]:
    """The ImageNet file mmdet uses for a backbone config, or None.

    ResNet-18/34/50/101 -> torchvision's ``resnet{depth}``; ResNeXt-101
    64x4d -> OpenMMLab's ``resnext101_64x4d``.
    """
    if not isinstance(backbone_cfg, dict):
        return None
    kind = str(backbone_cfg.get('type', '')).split('.')[-1]
    depth = backbone_cfg.get('depth')
    if backbone_cfg.get('base_channels', 64) != 64:
        return None
    if kind == 'ResNet':
        return IMAGENET_CHECKPOINTS.get(f'resnet{depth}')
    if kind == 'ResNeXt' and backbone_cfg.get('groups') == 64 and \
            backbone_cfg.get('base_width') == 4:
        return IMAGENET_CHECKPOINTS.get(f'resnext{depth}_64x4d')
    return None


def _format_key(root: str, path: Tuple) -> str:
    key = root
    for part in path:
        key += f'[{part}]' if isinstance(part, int) else f'.{part}'
    return key


def _pretrained_items(init_cfg) -> List[Tuple[Optional[int], dict]]:
    """``(index or None, cfg)`` of each remote ``Pretrained`` init."""
    items = [(None, init_cfg)] if isinstance(init_cfg, dict) else \
        list(enumerate(init_cfg)) if isinstance(init_cfg, (list, tuple)) \
        else []
    return [(i, c) for i, c in items
            if isinstance(c, dict) and str(c.get('type', '')).split('.')[-1]
            in ('Pretrained', 'PretrainedInit')
            and checkpoint_url(c.get('checkpoint')) is not None]


def _resolve(node: dict, key: str) -> dict:
    from mmkd_dense.utils.detector_cfg import resolve_detector_cfg
    return resolve_detector_cfg(node, key)


def find_pretrained_inits(model_cfg: dict,
                          root: str = 'model',
                          include_teacher: bool = False
                          ) -> List[PretrainedInitEntry]:
    """Every ``Pretrained`` init with a remote checkpoint in a model config.

    Sub-models given as ``dict(cfg_file=..., cfg_options=...)`` are
    resolved. A teacher whose weights come from ``teacher_ckpt`` (or
    ``teacher_restored_from``) is skipped unless ``include_teacher``:
    :class:`~mmkd_dense.models.GTAwareDistill` (like mmrazor's
    ``SingleTeacherDistill``) loads the checkpoint when it builds the model
    and marks the teacher initialised (``_is_init``), so ``init_weights``
    never loads the teacher's ImageNet file.

    Args:
        model_cfg (dict): ``cfg.model``.
        root (str): config key of ``model_cfg``. Defaults to ``'model'``.
        include_teacher (bool): also list the inits of a teacher that has a
            ``teacher_ckpt``. Defaults to False.

    Returns:
        list[PretrainedInitEntry]: in config order.
    """
    found: List[PretrainedInitEntry] = []

    def walk(node, path: Tuple, source: Optional[str], rel: Tuple) -> None:
        if isinstance(node, dict):
            if isinstance(node.get('cfg_file'), str):
                walk(_resolve(node, _format_key(root, path)), path,
                     node['cfg_file'], ())
                return
            # weights of the teacher from its checkpoint (or, resuming /
            # testing, from the full checkpoint): init_cfg not used
            skip_teacher = not include_teacher and bool(
                node.get('teacher_ckpt') or node.get('teacher_restored_from'))
            for name, value in node.items():
                if name == 'init_cfg':
                    for index, init in _pretrained_items(value):
                        init_path = path + (('init_cfg', ) if index is None
                                            else ('init_cfg', index))
                        found.append(PretrainedInitEntry(
                            key=_format_key(root, init_path + (
                                'checkpoint', )),
                            module_key=_format_key(root, path),
                            checkpoint=init['checkpoint'],
                            url=checkpoint_url(init['checkpoint']),
                            module_cfg=node, source=source, rel_path=rel))
                elif name == 'teacher' and skip_teacher:
                    continue
                else:
                    walk(value, path + (name, ), source, rel + (name, ))
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, path + (i, ), source, rel + (i, ))

    walk(model_cfg, (), None, ())
    return found


def disable_imagenet_init(model_cfg: dict,
                          root: str = 'model') -> List[str]:
    """Switch every remote ``Pretrained`` init to random initialisation,
    in place (the teacher's too).

    Inline module dicts get ``init_cfg=None`` (for a list, the remote
    ``Pretrained`` entries are dropped); a ``dict(cfg_file=...)`` reference
    keeps pointing at its file and gets the same override in its
    ``cfg_options``. Local ``Pretrained`` checkpoints (e.g. MGD's student
    neck from the teacher checkpoint) are kept.

    Args:
        model_cfg (dict): ``cfg.model``.
        root (str): config key of ``model_cfg``.

    Returns:
        list[str]: config keys of the modules switched to random init.
    """
    changed: List[str] = []

    def new_init(init_cfg):
        if isinstance(init_cfg, (list, tuple)):
            remote = {i for i, _ in _pretrained_items(init_cfg)}
            kept = [c for i, c in enumerate(init_cfg) if i not in remote]
            return kept or None
        return None

    def walk(node, path: Tuple) -> None:
        if isinstance(node, dict):
            if isinstance(node.get('cfg_file'), str):
                resolved = _resolve(node, _format_key(root, path))
                options = dict(node.get('cfg_options') or {})
                for entry in find_pretrained_inits(
                        resolved, root='', include_teacher=True):
                    rel = _format_key('', entry.rel_path).lstrip('.')
                    options[f'{rel}.init_cfg'] = new_init(
                        entry.module_cfg['init_cfg'])
                    changed.append(_format_key(root, path + entry.rel_path))
                if options:
                    node['cfg_options'] = options
                return
            for name, value in list(node.items()):
                if name == 'init_cfg' and _pretrained_items(value):
                    node['init_cfg'] = new_init(value)
                    changed.append(_format_key(root, path))
                elif name != 'init_cfg':
                    walk(value, path + (name, ))
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, path + (i, ))

    walk(model_cfg, ())
    return changed


def _checkpoint_supersedes(cfg) -> Optional[str]:
    """The checkpoint that replaces every weight after ``init_weights``
    (``load_from``, ``--resume CKPT``, or ``--resume`` with a checkpoint in
    the work dir), or None."""
    load_from = cfg.get('load_from')
    if load_from:
        return str(load_from)
    if cfg.get('resume') and cfg.get('work_dir'):
        from mmengine.runner import find_latest_checkpoint
        return find_latest_checkpoint(cfg.work_dir)
    return None


def _scratch_fix(entry: PretrainedInitEntry) -> str:
    if entry.source is None:
        return (f'set {entry.module_key}.init_cfg=None, e.g. --cfg-options '
                f'{entry.module_key}.init_cfg=None')
    rel = _format_key('', entry.rel_path).lstrip('.')
    if entry.module_key.startswith('model.teacher'):
        return ('give the trained teacher instead: --cfg-options '
                'model.teacher_ckpt=<teacher .pth> (its ImageNet file is '
                'then not needed)')
    return (f'set init_cfg=None for "{rel}" in {entry.source} (or add '
            f"cfg_options={{'{rel}.init_cfg': None}} next to its cfg_file)")


def _check_depth(entry: PretrainedInitEntry) -> None:
    from .preflight import PreflightError
    if entry.url not in IMAGENET_CHECKPOINTS.values():
        return
    expected = expected_imagenet_checkpoint(entry.module_cfg)
    if expected is None or expected == entry.url:
        return
    cfg = entry.module_cfg
    desc = f'{cfg.get("type")} depth={cfg.get("depth")}'
    if cfg.get('groups'):
        desc += f' groups={cfg.get("groups")} ' \
            f'base_width={cfg.get("base_width")}'
    where = f' (in {entry.source})' if entry.source else ''
    raise PreflightError(
        f'{entry.key}{where}: "{entry.file_name}" does not match the '
        f'backbone ({desc}); its ImageNet weights are '
        f'"{osp.basename(expected)}": set {entry.key}="{expected}" where '
        'the depth is changed.')


def _download(url: str, dst: str) -> None:
    """Download to ``dst`` like torch hub (temp file, then rename), with a
    socket timeout so a firewalled machine fails instead of hanging; cache
    folders it had to create are removed again if the download fails."""
    from torch.hub import download_url_to_file
    created, folder = [], osp.dirname(dst)
    while folder and not osp.isdir(folder):
        created.append(folder)
        folder = osp.dirname(folder)
    os.makedirs(osp.dirname(dst), exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        download_url_to_file(url, dst, None, progress=sys.stderr.isatty())
    except BaseException:
        for folder in created:  # leave no empty cache folders behind
            if osp.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
        raise
    finally:
        socket.setdefaulttimeout(old)


def check_pretrained_weights(cfg, download: Optional[bool] = None
                             ) -> List[PretrainedInitEntry]:
    """Make sure every ImageNet file the run will load is in the torch hub
    cache; called by the train preflight before anything is written.

    - A run that starts from a checkpoint (``load_from``, ``--resume CKPT``,
      ``--resume`` with a checkpoint in the work dir) needs no ImageNet
      file: the checkpoint replaces every weight after ``init_weights``, so
      the remote ``Pretrained`` inits are switched off in ``cfg.model``
      (nothing is downloaded; the HF-amplifier stage of DS2D2 starts so).
    - A teacher with ``teacher_ckpt`` is skipped (see
      :func:`find_pretrained_inits`).
    - A checkpoint that names another ResNet depth than its backbone fails.
    - A file missing from the cache is downloaded once (on local rank 0;
      the other ranks load it after rank 0 as mmengine does) unless
      ``download`` is False or ``$MMKD_OFFLINE=1``; if that is impossible
      the error names the config key, the file, the cache folder and the
      two fixes.

    Args:
        cfg (Config): the full training config (``model``, ``load_from``,
            ``resume``, ``work_dir``); ``cfg.model`` may be modified.
        download (bool, optional): try to download missing files. Defaults
            to None: yes unless ``$MMKD_OFFLINE`` is set to 1.

    Returns:
        list[PretrainedInitEntry]: the inits that will load ImageNet files
        (empty when a checkpoint supersedes them).

    Raises:
        PreflightError: a file is missing and cannot be downloaded, or it
            does not match the backbone depth.
    """
    from mmengine.logging import print_log

    from .preflight import PreflightError
    model_cfg = cfg.get('model')
    if not isinstance(model_cfg, dict):
        return []
    start = _checkpoint_supersedes(cfg)
    if start is not None:
        dropped = disable_imagenet_init(model_cfg)
        if dropped:
            print_log(
                f'ImageNet init not used by {", ".join(dropped)}: the run '
                f'starts from the checkpoint "{start}".', logger='current')
        return []
    entries = find_pretrained_inits(model_cfg)
    offline = os.environ.get(OFFLINE_ENV, '0') not in ('', '0')
    if download is None:
        download = not offline
    # rank 0 of each machine downloads (or reports); the others load the
    # file after it at runtime, as mmengine's load_from_http does
    local_rank0 = int(os.environ.get('LOCAL_RANK', 0)) == 0
    for entry in entries:
        _check_depth(entry)
        path = entry.cache_path
        if osp.isfile(path):
            print_log(f'{entry.module_key}: ImageNet weights {path} '
                      '(cached)', logger='current')
            continue
        if not local_rank0:
            continue
        if download:
            print_log(f'{entry.module_key}: downloading {entry.url} to '
                      f'{path}', logger='current')
            try:
                _download(entry.url, path)
                reason = 'the download left no file'
            except Exception as err:  # no network, proxy, HTTP error, ...
                reason = f'download failed: {type(err).__name__}: {err}'
            if osp.isfile(path):
                continue
        else:
            reason = f'downloads are off: ${OFFLINE_ENV}=1' if offline \
                else 'downloads are off'
        where = f' (in {entry.source})' if entry.source else ''
        raise PreflightError(
            f'{entry.key}{where}: the ImageNet-pretrained backbone weights '
            f'"{entry.file_name}" are not in the torch hub cache '
            f'{hub_checkpoint_dir()} ({reason}).\n'
            'Fix one of:\n'
            f'  1. place the file there: {path}\n'
            f'     (download {entry.url} on a machine with network access; '
            'the cache follows $TORCH_HOME: <TORCH_HOME>/hub/checkpoints, '
            'default ~/.cache/torch/hub/checkpoints);\n'
            f'  2. train from scratch on purpose: {_scratch_fix(entry)}.')
    return entries
