"""Application layer: command-line plumbing, module registration, the transfer launch, and the
inference API (:func:`get_model`, :func:`embed`, :func:`list_models`).

Imports flow one way: ``tools -> apis -> engine/evaluation -> models/datasets -> utils``.
"""
from .inference import embed, get_model, list_models
from .setup_env import register_all_modules

__all__ = ['embed', 'get_model', 'list_models', 'register_all_modules']
