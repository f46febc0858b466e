"""Application layer: command-line plumbing, module registration and the transfer launch.

Imports flow one way: ``tools -> apis -> engine/evaluation -> models/datasets -> utils``.
"""
from .setup_env import register_all_modules

__all__ = ['register_all_modules']
