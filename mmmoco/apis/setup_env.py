"""Import every mmmoco module so that its registries are filled."""
from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register all mmmoco modules and, optionally, make 'mmmoco' the default scope.

    Args:
        init_default_scope: Create (or switch to) the ``mmmoco`` default scope so that
            registries resolve types in mmmoco first.
    """
    import mmmoco.datasets  # noqa: F401
    import mmmoco.engine  # noqa: F401
    import mmmoco.evaluation  # noqa: F401
    import mmmoco.models  # noqa: F401
    if init_default_scope and DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('mmmoco', scope_name='mmmoco')
