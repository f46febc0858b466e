"""The tiny transform base class of mmmoco (no mmcv dependency)."""
from abc import ABCMeta, abstractmethod


class BaseTransform(metaclass=ABCMeta):
    """A data transform: a callable that maps a results dict to a results dict.

    Subclasses implement :meth:`transform`; their public attributes make up ``repr``.
    Randomness must come from ``np.random`` or ``random``, never from torch's RNG.
    """

    def __call__(self, results: dict) -> dict:
        """Apply the transform.

        Args:
            results: The sample being processed (``img`` is an RGB uint8 HWC array).

        Returns:
            The transformed sample.
        """
        return self.transform(results)

    @abstractmethod
    def transform(self, results: dict) -> dict:
        """Transform one sample.

        Args:
            results: The sample being processed.

        Returns:
            The transformed sample.
        """

    def __repr__(self) -> str:
        """Return the class name and the public attributes.

        Returns:
            A string such as ``RandomFlip(prob=0.5, direction='horizontal')``.
        """
        args = ', '.join(f'{key}={value!r}' for key, value in vars(self).items()
                         if not key.startswith('_'))
        return f'{type(self).__name__}({args})'
