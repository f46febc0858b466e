"""Data structures passed between the pipeline, the model and the evaluators."""
from .data_sample import DataSample

__all__ = ['DataSample']
