"""without_idle_persistent_workers: the one rule for persistent workers without workers."""
from mmmoco.utils import without_idle_persistent_workers


def test_only_a_loader_without_workers_changes_and_the_input_is_kept():
    for loader in (dict(num_workers=0, persistent_workers=True),
                   dict(persistent_workers=True)):  # torch's default num_workers is 0
        fixed = without_idle_persistent_workers(loader)
        assert fixed['persistent_workers'] is False and loader['persistent_workers'] is True
    for loader in (dict(num_workers=2, persistent_workers=True),
                   dict(num_workers=0, persistent_workers=False), dict(num_workers=0)):
        assert without_idle_persistent_workers(loader) is loader
