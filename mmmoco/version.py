"""Version of mmmoco."""
__version__ = '0.1.0'
