"""Start-up check of nested config keys against the constructors they are passed to.

A misspelled nested key (``--cfg-options train_cfg.max_epoch=1``) would otherwise surface as a
bare ``TypeError`` from deep inside the runner after the whole start-up log; here it stops the
run before anything is built, with one message naming the key and the closest argument:

- ``train_cfg`` / ``val_cfg`` / ``test_cfg``: the loop's constructor (the declared ``type``,
  or mmengine's default loop);
- ``optim_wrapper.optimizer``: the optimizer's constructor (each optimizer of a multi-optimizer
  ``optim_wrapper``);
- ``train_dataloader`` / ``val_dataloader`` / ``test_dataloader``: torch's ``DataLoader`` plus
  the keys mmengine's ``Runner.build_dataloader`` consumes itself;
- ``model`` and every config dict nested in it whose ``type`` is a registered model class,
  except ``*_cfg`` layer configs (``norm_cfg``, ``init_cfg``...), which their builders read
  with extra keys of their own.

Classes whose constructor takes ``**kwargs`` are not checked (any key may be valid). Keys
starting with ``_`` (``_scope_``) are left alone.
"""
import inspect
from typing import Any, Iterator, Mapping, Optional, Set, Tuple

from mmengine.config import Config
from mmengine.registry import Registry
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, TestLoop, ValLoop
from torch.utils.data import DataLoader

from mmmoco.apis.config_checks import ConfigCheckError, _suggestion
from mmmoco.apis.transfer import DATALOADERS
from mmmoco.registry import LOOPS, MODELS, OPTIMIZERS

#: Loop arguments the runner passes itself.
LOOP_ARGS_FROM_RUNNER = frozenset({'runner', 'dataloader', 'evaluator'})

#: Keys of a dataloader config that mmengine's ``Runner.build_dataloader`` consumes (the
#: others go to torch's ``DataLoader``).
DATALOADER_RUNNER_KEYS = frozenset({'dataset', 'sampler', 'batch_sampler', 'collate_fn',
                                    'worker_init_fn', 'num_batch_per_epoch',
                                    'disable_subprocess_warning'})


def constructor_arguments(cls: type) -> Optional[Set[str]]:
    """The keyword arguments a class's constructor takes.

    Args:
        cls: The class.

    Returns:
        The argument names (``self`` excluded), or None if it takes ``**kwargs``.
    """
    parameters = inspect.signature(cls.__init__).parameters.values()
    if any(param.kind is param.VAR_KEYWORD for param in parameters):
        return None
    return {param.name for param in parameters
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)} - {'self'}


def registered_class(registry: Registry, type_: Any, scope: Optional[str]) -> Optional[type]:
    """The class a config's ``type`` names.

    Args:
        registry: The registry the type is built from.
        type_: The ``type`` value: a class or a registered name.
        scope: The config's ``default_scope`` (None: the current one).

    Returns:
        The class, or None if the type is neither a class nor registered (the builder
        reports that itself).
    """
    if inspect.isclass(type_):
        return type_
    if not isinstance(type_, str):
        return None
    with registry.switch_scope_and_registry(scope) as scoped:
        found = scoped.get(type_)
    return found if inspect.isclass(found) else None


def check_arguments(node: Mapping, cls: type, where: str,
                    also_accepted: frozenset = frozenset()) -> None:
    """Refuse a key of ``node`` that ``cls``'s constructor does not take.

    Args:
        node: The config dict passed to the constructor.
        cls: The class built from it.
        where: The dotted config key of ``node``, for the message.
        also_accepted: Further keys consumed before the constructor is called.

    Raises:
        ConfigCheckError: Naming the key and the closest argument.
    """
    accepted = constructor_arguments(cls)
    if accepted is None:
        return
    accepted |= also_accepted
    for key in node:
        if key != 'type' and key not in accepted and not str(key).startswith('_'):
            raise ConfigCheckError(f'{where}.{key}: {cls.__name__} has no argument '
                                   f"'{key}'{_suggestion(str(key), accepted)}")


def _loops(cfg: Config) -> Iterator[Tuple[str, Mapping, Any, frozenset]]:
    """``(key, loop config, type, keys consumed by the runner)`` of each configured loop."""
    for key, default in (('train_cfg', None), ('val_cfg', ValLoop), ('test_cfg', TestLoop)):
        node = cfg.get(key)
        if not isinstance(node, Mapping):
            continue
        if 'type' in node:
            yield key, node, node['type'], frozenset()
        else:  # mmengine's runner picks the loop and pops ``by_epoch`` itself
            by_epoch = node.get('by_epoch', True)
            train_loop = EpochBasedTrainLoop if by_epoch else IterBasedTrainLoop
            yield key, node, default or train_loop, frozenset({'by_epoch'})


def check_loop_keys(cfg: Config) -> None:
    """Check ``train_cfg``, ``val_cfg`` and ``test_cfg`` against their loops' constructors.

    Args:
        cfg: The config.

    Raises:
        ConfigCheckError: For a key the loop does not take, e.g. ``train_cfg.max_epoch``.
    """
    for key, node, type_, consumed in _loops(cfg):
        loop = registered_class(LOOPS, type_, cfg.get('default_scope'))
        if loop is not None:
            check_arguments(node, loop, key, consumed)


def _optimizers(optim_wrapper: Mapping) -> Iterator[Tuple[str, Any]]:
    """``(dotted key, optimizer config)`` of one wrapper, or of each of several."""
    if 'optimizer' in optim_wrapper:
        yield 'optim_wrapper.optimizer', optim_wrapper['optimizer']
        return
    for name, wrapper in optim_wrapper.items():
        if isinstance(wrapper, Mapping) and 'optimizer' in wrapper:
            yield f'optim_wrapper.{name}.optimizer', wrapper['optimizer']


def check_optimizer_keys(cfg: Config) -> None:
    """Check ``optim_wrapper.optimizer`` (or each wrapper's) against the optimizer's
    constructor.

    Args:
        cfg: The config.

    Raises:
        ConfigCheckError: For a key the optimizer does not take, e.g.
            ``optim_wrapper.optimizer.weight_decy``.
    """
    optim_wrapper = cfg.get('optim_wrapper')
    if not isinstance(optim_wrapper, Mapping):
        return
    for where, optimizer in _optimizers(optim_wrapper):
        if isinstance(optimizer, Mapping) and 'type' in optimizer:
            cls = registered_class(OPTIMIZERS, optimizer['type'], cfg.get('default_scope'))
            if cls is not None:
                check_arguments(optimizer, cls, where)


def check_dataloader_keys(cfg: Config) -> None:
    """Check the train, val and test dataloader configs against torch's ``DataLoader`` and
    the keys mmengine's runner consumes.

    Args:
        cfg: The config.

    Raises:
        ConfigCheckError: For an unknown key, e.g. ``train_dataloader.num_worker``.
    """
    for key in DATALOADERS:
        node = cfg.get(key)
        if isinstance(node, Mapping):
            check_arguments(node, DataLoader, key, DATALOADER_RUNNER_KEYS)


def _check_model_node(node: Any, where: str, scope: Optional[str]) -> None:
    if not isinstance(node, Mapping):
        return
    cls = registered_class(MODELS, node['type'], scope) if 'type' in node else None
    if cls is not None:
        check_arguments(node, cls, where)
    for key, value in node.items():
        if not str(key).endswith('_cfg'):
            _check_model_node(value, f'{where}.{key}', scope)


def check_model_keys(cfg: Config) -> None:
    """Check ``model`` and its nested module configs against the registered classes'
    constructors (``*_cfg`` layer configs and classes taking ``**kwargs`` excepted).

    Args:
        cfg: The config; the mmmoco modules must be registered.

    Raises:
        ConfigCheckError: For a key the class does not take, e.g. ``model.neck.hid_channels``.
    """
    _check_model_node(cfg.get('model'), 'model', cfg.get('default_scope'))


def check_constructor_keys(cfg: Config) -> None:
    """Run every check of this module.

    Args:
        cfg: The final config (after ``--cfg-options``); the mmmoco modules must be
            registered.

    Raises:
        ConfigCheckError: At the first key no constructor takes, naming it and the closest
            argument.
    """
    check_loop_keys(cfg)
    check_optimizer_keys(cfg)
    check_dataloader_keys(cfg)
    check_model_keys(cfg)
