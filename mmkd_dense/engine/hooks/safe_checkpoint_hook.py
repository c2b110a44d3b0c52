# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A CheckpointHook whose saves survive a kill at any moment."""
import os
import os.path as osp
from collections import deque
from typing import List

import torch
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper

from ...registry import HOOKS

__all__ = ['SafeCheckpointHook', 'NonFiniteCheckpointError']

#: suffix of a checkpoint while it is being written
PARTIAL_SUFFIX = '.partial'
#: message-hub key (saved in each checkpoint) of the steps that checkpoint
#: supersedes under ``max_keep_ckpts``, removed on resume if still there
OUTDATED_KEY = 'safe_ckpt_outdated'


class NonFiniteCheckpointError(RuntimeError):
    """The model to be saved has NaN/Inf parameters or buffers."""


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str, text: str) -> None:
    """Replace ``path`` by a file holding ``text`` (temporary file, fsync,
    rename), so readers see the old or the new content, never a partial
    one."""
    tmp = path + PARTIAL_SUFFIX
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(osp.dirname(osp.abspath(path)))


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` that never loses the last good
    checkpoint.

    mmengine 0.10.7 deletes the oldest checkpoint (``max_keep_ckpts``)
    *before* writing the new one, writes the new file in place, and points
    ``<work_dir>/last_checkpoint`` at it before it exists; a kill during a
    save can leave no loadable checkpoint and a ``last_checkpoint`` naming a
    deleted file. This hook saves in an order where every moment is safe:

    1. refuse (:class:`NonFiniteCheckpointError`) when any floating-point
       parameter or buffer of the model is NaN/Inf, before touching a file;
    2. write ``<name>.partial``, fsync, and rename it to ``<name>``
       (atomic on POSIX: the final name only ever holds a complete file);
    3. rewrite ``last_checkpoint`` the same way (temporary file + rename);
    4. only then delete checkpoints beyond ``max_keep_ckpts``.

    A kill before 2 completes leaves the previous checkpoints and
    ``last_checkpoint`` as they were (a stale ``*.partial`` is removed at the
    next start); a kill between 2 and 4 leaves one checkpoint more than
    ``max_keep_ckpts``, which ``--resume`` removes (each checkpoint records
    the steps it supersedes). ``save_best`` checkpoints go through the
    same write-then-rename path and the previous best is deleted only after
    the new one is complete. Non-local backends (``backend_args`` /
    ``file_client_args`` naming e.g. petrel) fall back to the parent's
    behaviour. All arguments are those of ``CheckpointHook``.
    """

    def _is_local(self) -> bool:
        """Whether checkpoints go to a local folder (set in
        :meth:`before_train`)."""
        return getattr(self, '_local', False)

    # ------------------------------------------------------------------
    def before_train(self, runner) -> None:
        """Set up as the parent, then remove stale ``*.partial`` files a
        killed save left in the checkpoint folder."""
        super().before_train(runner)
        self._local = isinstance(self.file_backend, LocalBackend)
        if not (self._is_local() and is_main_process()):
            return
        if not osp.isdir(self.out_dir):
            return
        # a run killed after its newest checkpoint was complete but before
        # the rotation: the resumed checkpoint lists what it superseded
        last = runner.message_hub.get_info('last_ckpt')
        for step in runner.message_hub.get_info(OUTDATED_KEY) or []:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(step))
            if path != last and osp.exists(path):
                self._remove(path)
                runner.logger.info(
                    f'Removed {path}: superseded by {last} (max_keep_ckpts='
                    f'{self.max_keep_ckpts}); an interrupted run had not '
                    'removed it yet.')
        for name in sorted(os.listdir(self.out_dir)):
            if name.endswith(PARTIAL_SUFFIX):
                path = osp.join(self.out_dir, name)
                if osp.isfile(path):
                    os.remove(path)
                    runner.logger.warning(
                        f'Removed {path}: an incomplete checkpoint left by '
                        'an interrupted save.')

    # ------------------------------------------------------------------
    @staticmethod
    def check_finite(runner, ckpt_path: str) -> None:
        """Raise :class:`NonFiniteCheckpointError` if the model has a
        NaN/Inf floating-point tensor in its ``state_dict``.

        Args:
            runner (Runner): the runner whose model is about to be saved.
            ckpt_path (str): the checkpoint that would be written (named in
                the message).
        """
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        state = model.state_dict()
        bad: List[str] = []
        total = 0
        for name, tensor in state.items():
            if not (isinstance(tensor, torch.Tensor)
                    and tensor.is_floating_point()):
                continue
            total += 1
            if not bool(torch.isfinite(tensor).all()):
                bad.append(name)
        if bad:
            last = runner.message_hub.get_info('last_ckpt')
            kept = (f'The last checkpoint written, {last}, is kept and '
                    'last_checkpoint still points at it.'
                    if last and last != ckpt_path else
                    'No earlier checkpoint of this run was written.')
            msg = (f'Refusing to save {ckpt_path}: {len(bad)} of {total} '
                   f'floating-point tensors of the model are NaN/Inf '
                   f'(first: {", ".join(bad[:5])}). Training diverged; '
                   f'{kept} Lower the learning rate or enable gradient '
                   'clipping (optim_wrapper.clip_grad), and keep '
                   "custom_hooks=[dict(type='mmkd_dense.NonFiniteGuardHook')"
                   '] so divergence stops the run at once.')
            runner.logger.error(msg)
            raise NonFiniteCheckpointError(msg)

    def _atomic_save(self, runner, filename: str, **kwargs) -> None:
        """``runner.save_checkpoint`` to ``filename + '.partial'``, then
        fsync and rename to ``filename`` (main process)."""
        runner = getattr(runner, '_wrapped_runner', runner)
        partial = filename + PARTIAL_SUFFIX
        runner.save_checkpoint(self.out_dir, partial, **kwargs)
        if not is_main_process():
            return
        tmp_path = osp.join(self.out_dir, partial)
        final_path = osp.join(self.out_dir, filename)
        _fsync_file(tmp_path)
        os.replace(tmp_path, final_path)
        _fsync_dir(self.out_dir)

    def _remove(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            self.file_backend.rmtree(path)

    # ------------------------------------------------------------------
    def _save_checkpoint_with_step(self, runner, step, meta):
        """Save ``filename_tmpl.format(step)`` crash-safely (see class
        docstring), then rotate."""
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        ckpt_filename = self.filename_tmpl.format(step)
        ckpt_path = self.file_backend.join_path(self.out_dir, ckpt_filename)
        self.check_finite(runner, ckpt_path)

        outdated: List[int] = []
        if self.max_keep_ckpts > 0 and not (
                len(self.keep_ckpt_ids) > 0
                and self.keep_ckpt_ids[-1] == step):
            ids = list(self.keep_ckpt_ids) + [step]
            outdated = [s for s in ids[:-self.max_keep_ckpts] if s != step]
            self.keep_ckpt_ids = deque(ids[-self.max_keep_ckpts:],
                                       self.max_keep_ckpts)
            # saved inside the checkpoint, so a resumed run knows which
            # files it owns
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        runner.message_hub.update_info(OUTDATED_KEY, outdated)
        self.last_ckpt = ckpt_path
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        self._atomic_save(
            runner, ckpt_filename,
            file_client_args=self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'),
                          self.last_ckpt)
        for old in outdated:
            self._remove(
                self.file_backend.join_path(self.out_dir,
                                            self.filename_tmpl.format(old)))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """The parent's best-checkpoint logic, with the best file written
        through :meth:`_atomic_save` and the previous best deleted only once
        the new one is complete."""
        if not self.save_best or not self._is_local():
            return super()._save_best_checkpoint(runner, metrics)
        self.check_finite(runner, 'the best checkpoint')
        deferred: List[str] = []
        backend = self.file_backend
        hook = self

        class _DeferRemoval:
            """File backend whose ``remove`` / ``rmtree`` wait until the
            new best checkpoint is on disk."""

            def __getattr__(self, name):
                return getattr(backend, name)

            def remove(self, path):
                deferred.append(path)

            def rmtree(self, path):
                deferred.append(path)

        class _AtomicRunner:
            """The runner, with ``save_checkpoint`` writing atomically."""
            _wrapped_runner = runner

            def __getattr__(self, name):
                return getattr(runner, name)

            def save_checkpoint(self, out_dir, filename, **kwargs):
                assert out_dir == hook.out_dir
                hook._atomic_save(runner, filename, **kwargs)

        self.file_backend = _DeferRemoval()
        try:
            super()._save_best_checkpoint(_AtomicRunner(), metrics)
        finally:
            self.file_backend = backend
        if is_main_process():
            for path in deferred:
                self._remove(path)
