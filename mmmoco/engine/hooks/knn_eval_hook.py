"""Weighted kNN accuracy of the query backbone, measured every few epochs during pretraining."""
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
from mmengine.hooks import Hook
from torch import nn
from torch.utils.data import DataLoader

from mmmoco.evaluation.features import extract_features
from mmmoco.evaluation.knn import knn_class_scores, topk_accuracy
from mmmoco.registry import HOOKS
from mmmoco.utils.distributed import bare_model
from .random_state import capture_random_state, restore_random_state

Features = Tuple[torch.Tensor, torch.Tensor]


@contextmanager
def preserved_random_state() -> Iterator[None]:
    """Restore python's, numpy's and torch's random generators when the block ends.

    Iterating a data loader draws its base seed from torch's generator; without this, an
    evaluation would shift every later random draw of training and break exact resume.

    Yields:
        Nothing; the block runs with the generators as they were.
    """
    state = capture_random_state()
    try:
        yield
    finally:
        restore_random_state(state)


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Put a module in eval mode for the block, then give every submodule its own mode back.

    Restoring each submodule's flag (rather than calling ``train()``) keeps modules that were
    deliberately in eval mode, such as frozen stages or ``norm_eval`` BN layers, as they were.

    Args:
        module: The module.

    Yields:
        Nothing.
    """
    modes = [(sub, sub.training) for sub in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for sub, training in modes:
            sub.training = training


def is_due(done: int, interval: int, total: int) -> bool:
    """Whether an evaluation is due after ``done`` epochs (or iterations).

    Args:
        done: Epochs (or iterations) completed, counting the one that just ended.
        interval: Evaluate every ``interval`` of them.
        total: Length of training; the end of training is always due.

    Returns:
        True if the evaluation should run now.
    """
    return done % interval == 0 or done == total


def to_device(features: Features, device: torch.device) -> Features:
    """Move features and labels to a device.

    Args:
        features: Features and labels.
        device: The target device.

    Returns:
        The moved features and labels.
    """
    return features[0].to(device), features[1].to(device)


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """Weighted kNN top-1/top-5 of the query backbone's frozen features (Wu et al. 2018).

    When due, the backbone (only it: the key encoder and the rest of the model are untouched)
    is put in eval mode, the features of ``bank_dataloader`` and ``query_dataloader`` are
    extracted without gradients on every rank (and gathered; a progress bar on rank 0), and
    each query is classified by its k most similar bank features for every k. The accuracies,
    ``knn/top1_k{k}`` and ``knn/top5_k{k}``, go to the message hub, into the log, and through
    ``runner.visualizer`` to every vis backend (``vis_data/scalars.json``, TensorBoard) at the
    training step (iteration count) of the evaluation, with the epoch when ``by_epoch``. Random
    generators are restored afterwards, so training with this hook resumes exactly.

    Args:
        bank_dataloader: Dataloader config of the labelled bank (e.g. the train split) with a
            single-view evaluation pipeline.
        query_dataloader: Dataloader config of the labelled queries (e.g. the val split).
        interval: Evaluate every ``interval`` epochs (iterations if ``by_epoch`` is False) and
            after the last one.
        k: Numbers of neighbours; each gives its own accuracies.
        temperature: Temperature of the neighbours' ``exp(similarity / T)`` votes.
        by_epoch: Count ``interval`` in epochs (True) or in iterations (False).
    """

    def __init__(self, bank_dataloader: dict, query_dataloader: dict, interval: int = 10,
                 k: Sequence[int] = (20, 200), temperature: float = 0.07,
                 by_epoch: bool = True) -> None:
        if interval < 1:
            raise ValueError(f'KNNEvalHook interval must be >= 1, got {interval}')
        if len(k) == 0 or min(k) < 1:
            raise ValueError(f'KNNEvalHook k must be a non-empty list of values >= 1, got {k}')
        if temperature <= 0:
            raise ValueError(f'KNNEvalHook temperature must be > 0, got {temperature}')
        self.bank_dataloader = bank_dataloader
        self.query_dataloader = query_dataloader
        self.interval = interval
        self.k = tuple(k)
        self.temperature = temperature
        self.by_epoch = by_epoch
        self._loaders: Optional[Tuple[DataLoader, DataLoader]] = None

    def after_train_epoch(self, runner) -> None:
        """Evaluate if an epoch-based evaluation is due.

        Args:
            runner: The mmengine runner.
        """
        if self.by_epoch and is_due(runner.epoch + 1, self.interval, runner.max_epochs):
            self.evaluate(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Evaluate if an iteration-based evaluation is due.

        Args:
            runner: The mmengine runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: Unused.
            outputs: Unused.
        """
        if not self.by_epoch and is_due(runner.iter + 1, self.interval, runner.max_iters):
            self.evaluate(runner)

    def evaluate(self, runner) -> Dict[str, float]:
        """Extract features, classify the queries, record and log the accuracies.

        Every rank must call this (feature extraction gathers across ranks).

        Args:
            runner: The mmengine runner.

        Returns:
            ``{'knn/top1_k20': ..., 'knn/top5_k20': ..., ...}`` in percent.
        """
        model = bare_model(runner.model)
        with preserved_random_state(), torch.no_grad(), eval_mode(model.backbone):
            bank_loader, query_loader = self._get_loaders(runner)
            bank = extract_features(model.backbone, model.data_preprocessor, bank_loader,
                                    progress='kNN bank')
            query = extract_features(model.backbone, model.data_preprocessor, query_loader,
                                     progress='kNN queries')
        device = next(model.backbone.parameters()).device
        results = self.accuracies(to_device(bank, device), to_device(query, device))
        for name, value in results.items():
            runner.message_hub.update_scalar(name, value)
        self._visualize(runner, results)
        point = f'epoch {runner.epoch + 1}' if self.by_epoch else f'iter {runner.iter + 1}'
        runner.logger.info(self._summary(results, point, len(bank[1]), len(query[1])))
        return results

    def _visualize(self, runner, results: Dict[str, float]) -> None:
        """Send the accuracies to the runner's visualizer (scalars.json, TensorBoard, ...).

        The step is the number of training iterations done, the x axis of the loss curves.

        Args:
            runner: The mmengine runner.
            results: The output of :meth:`accuracies`.
        """
        if self.by_epoch:
            scalars = dict(results, epoch=runner.epoch + 1)
            step = runner.iter  # after_train_epoch: the epoch's iterations are counted
        else:
            scalars = dict(results)
            step = runner.iter + 1  # after_train_iter: this iteration is not counted yet
        runner.visualizer.add_scalars(scalars, step=step)

    def accuracies(self, bank: Features, query: Features) -> Dict[str, float]:
        """Top-1 and top-5 accuracy of the weighted kNN classifier for every k.

        Args:
            bank: Bank features (M, D) and labels (M,).
            query: Query features (N, D) and labels (N,).

        Returns:
            ``{'knn/top1_k{k}': ..., 'knn/top5_k{k}': ...}`` in percent.
        """
        num_classes = int(max(bank[1].max(), query[1].max())) + 1
        results = {}
        for k in self.k:
            scores = knn_class_scores(query[0], bank[0], bank[1], num_classes, k=k,
                                      temperature=self.temperature)
            for name, value in topk_accuracy(scores, query[1], topk=(1, 5)).items():
                results[f'knn/{name}_k{k}'] = value
        return results

    def _get_loaders(self, runner) -> Tuple[DataLoader, DataLoader]:
        """The bank and query loaders, built on first use.

        Args:
            runner: The mmengine runner.

        Returns:
            The bank loader and the query loader.
        """
        if self._loaders is None:
            self._loaders = (runner.build_dataloader(self.bank_dataloader, seed=runner.seed),
                             runner.build_dataloader(self.query_dataloader, seed=runner.seed))
        return self._loaders

    def _summary(self, results: Dict[str, float], point: str, bank_size: int,
                 query_size: int) -> str:
        """One log line with every accuracy.

        Args:
            results: The output of :meth:`accuracies`.
            point: When the evaluation ran (``'epoch 10'``, ``'iter 500'``).
            bank_size: Number of bank samples.
            query_size: Number of queries.

        Returns:
            The line.
        """
        parts = [f'k={k} top-1 {results[f"knn/top1_k{k}"]:.2f} '
                 f'top-5 {results[f"knn/top5_k{k}"]:.2f}' for k in self.k]
        return (f'kNN after {point} ({bank_size} bank, {query_size} queries, '
                f'T={self.temperature}): '
                + ', '.join(parts))

