"""Gradient caching: the exact gradient of a large-batch embedding loss, computed in chunks.

``cached_embedding(embed, images, chunk_size)`` returns ``embed(images)`` computed chunk by chunk
without keeping any activation graph, yet differentiable: when the loss on the embeddings is
backpropagated, the gradient with respect to the embeddings arrives here (with any loss scale
and accumulation factor already applied), and each chunk is embedded again, this time with a
graph, and backpropagated with its slice of that gradient. Peak activation memory is that of
one chunk, and the parameter gradients equal those of the un-chunked batch, provided
``embed`` treats samples independently (LayerNorm, no BN: BN statistics are per chunk) and
deterministically: the random state of each chunk's first pass is restored for its second, so
dropout or drop-path draw the same masks (Gao et al. 2021, "Scaling Deep Contrastive Learning
Batch Size under Memory Limited Setup").
"""
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, Tuple

import torch
from torch import nn

Embed = Callable[[torch.Tensor], torch.Tensor]


def _rng_state(device: torch.device) -> Tuple[torch.Tensor, ...]:
    """The CPU random state and, for a CUDA tensor, that of its device."""
    if device.type == 'cuda':
        return torch.get_rng_state(), torch.cuda.get_rng_state(device)
    return (torch.get_rng_state(), )


@contextmanager
def _replayed_rng(device: torch.device, state: Tuple[torch.Tensor, ...]) -> Iterator[None]:
    """Run the block with ``state`` as random state, then restore the random state outside."""
    devices = [device] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        torch.set_rng_state(state[0])
        if devices:
            torch.cuda.set_rng_state(state[1], device)
        yield


@contextmanager
def _kept_buffers(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Restore the modules' buffers (BN running statistics) after the block."""
    buffers = [b for m in modules for b in m.buffers()]
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved):
                buffer.copy_(value)


class _CachedEmbedding(torch.autograd.Function):
    """Embed without a graph in the forward pass; re-embed chunk by chunk in the backward."""

    @staticmethod
    def forward(ctx, embed: Embed, modules: Sequence[nn.Module], chunk_size: int,
                images: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        device = images.device
        ctx.embed, ctx.modules, ctx.chunk_size = embed, modules, chunk_size
        ctx.autocast = dict(device_type=device.type,
                            enabled=torch.is_autocast_enabled(device.type),
                            dtype=torch.get_autocast_dtype(device.type))
        ctx.rng_states = []
        ctx.save_for_backward(images)
        outputs = []
        for chunk in images.split(chunk_size):
            ctx.rng_states.append(_rng_state(device))
            outputs.append(embed(chunk))
        return torch.cat(outputs)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        images, = ctx.saved_tensors
        chunks = zip(images.split(ctx.chunk_size), grad_output.split(ctx.chunk_size),
                     ctx.rng_states)
        with torch.enable_grad(), torch.autocast(**ctx.autocast), _kept_buffers(ctx.modules):
            for chunk, grad, state in chunks:
                with _replayed_rng(images.device, state):
                    output = ctx.embed(chunk.detach())
                torch.autograd.backward(output, grad.to(output.dtype))
        return None, None, None, None, None


def cached_embedding(embed: Embed, images: torch.Tensor, chunk_size: int,
                     modules: Sequence[nn.Module] = ()) -> torch.Tensor:
    """``embed(images)``, computed in chunks with gradient caching (see the module docstring).

    The parameter gradients are accumulated into ``.grad`` during the backward pass of the
    loss; the returned tensor is the only link between the loss and ``embed``.

    Args:
        embed: The differentiable embedding (e.g. backbone + projector + predictor).
        images: The batch (N, ...).
        chunk_size: Samples per chunk (the last chunk may be smaller).
        modules: Modules run by ``embed`` whose buffers (BN running statistics) the second pass
            must leave unchanged, so they are updated once per chunk, not twice.

    Returns:
        The embeddings (N, D), requiring gradient.
    """
    anchor = torch.empty(0, requires_grad=True)
    return _CachedEmbedding.apply(embed, modules, chunk_size, images, anchor)
