"""A CheckpointHook that never deletes an old checkpoint before the new one is complete."""
import os.path as osp
from contextlib import nullcontext
from typing import ContextManager

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import MMLogger

from mmmoco.registry import HOOKS
from mmmoco.utils.atomic_write import write_text_atomic
from mmmoco.utils.logging_filters import dropped_messages

#: mmengine 0.10.7's warnings when a ``FileClient`` is built. Its CheckpointHook.before_train
#: and its checkpoint writer build one on every run, also without ``file_client_args``, and then
#: do not use it: no config can avoid them, so they say nothing to the user.
UNUSED_FILE_CLIENT_WARNINGS = ('"FileClient" will be deprecated',
                               '"HardDiskBackend" is the alias of "LocalBackend"')


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's CheckpointHook with crash-safe rotation.

    mmengine 0.10.7 deletes the oldest checkpoint *before* writing the new one and rewrites
    ``last_checkpoint`` in place, so a kill or a full disk during a save can leave no usable
    checkpoint at all. Here the new checkpoint is written first (atomically, by
    :meth:`mmmoco.engine.runner.MoCoRunner.save_checkpoint`), then ``last_checkpoint`` is
    replaced atomically, and only then is the oldest checkpoint beyond ``max_keep_ckpts``
    deleted. If the save fails, nothing is deleted and the error stops training.

    Without ``file_client_args`` (the default: mmengine's deprecated file client is not used),
    mmengine's warnings about the file client it builds anyway are dropped.

    Takes the same arguments as :class:`mmengine.hooks.CheckpointHook`.
    """

    def _unused_file_client_quiet(self) -> ContextManager[None]:
        """A context that drops mmengine's file-client deprecation warnings when this hook
        uses no file client (``file_client_args`` unset); otherwise it changes nothing."""
        if self.file_client_args is not None:
            return nullcontext()
        return dropped_messages(MMLogger.get_current_instance(), UNUSED_FILE_CLIENT_WARNINGS)

    def before_train(self, runner) -> None:
        """Set up the output folder and the kept checkpoints (mmengine's), quietly.

        Args:
            runner: The mmengine runner.
        """
        with self._unused_file_client_quiet():
            super().before_train(runner)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save the checkpoint of ``step``, record it, then rotate old ones out.

        Args:
            runner: The mmengine runner.
            step: Epoch or iteration number in the checkpoint's name.
            meta: Meta information stored in the checkpoint.
        """
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            # recorded before saving, so the checkpoint lists itself among the kept ones
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        with self._unused_file_client_quiet():
            runner.save_checkpoint(
                self.out_dir, ckpt_filename, self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta,
                by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if outdated is not None:
            self._remove(self.file_backend.join_path(self.out_dir,
                                                     self.filename_tmpl.format(outdated)))

    def _remove(self, path: str) -> None:
        """Delete an outdated checkpoint (a file, or a folder for DeepSpeed checkpoints).

        Args:
            path: The checkpoint's path.
        """
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            self.file_backend.rmtree(path)
