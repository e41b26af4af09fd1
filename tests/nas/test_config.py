"""RunConfig's per-data-set defaults (for_data) and the checks on the keys they fill."""
import pytest

from nas.config import RunConfig
from nas.errors import ConfigError

SCHEDULE = ("resolutions", "width_mults", "epochs", "generations", "finalist_epochs", "finetune_epochs", "qat_epochs")


def _schedule(cfg):
    return tuple(getattr(cfg, k) for k in SCHEDULE)


def test_defaults_follow_the_data_set():
    cfg = RunConfig()
    assert _schedule(cfg.for_data(1168, 8)) == ((16,), (0.5, 1.0), 60, 20, 3, 80, 10)        # digits
    assert _schedule(cfg.for_data(51000, 28)) == ((28,), (1.0, 2.0), 3, 10, 3, 20, 3)        # Fashion-MNIST
    assert _schedule(cfg.for_data(5000, 32)) == ((32,), (1.0, 2.0), 30, 10, 3, 80, 10)       # a small folder
    cfg.for_data(51000, 28).validate()


def test_given_values_are_kept():
    cfg = RunConfig(resolutions=(20,), width_mults=(0.5,), epochs=7, generations=2, finalist_epochs=0,
                    finetune_epochs=5, qat_epochs=0)
    assert _schedule(cfg.for_data(51000, 28)) == ((20,), (0.5,), 7, 2, 0, 5, 0)


@pytest.mark.parametrize("key, value, message", [
    ("label_smoothing", 1.0, "label_smoothing must be in"),
    ("prune_ramp", 1.5, "prune_ramp must be in"),
    ("finalist_density", 0.0, "finalist_density must be in"),
    ("finalist_dw_density", 1.5, "finalist_dw_density must be in"),
    ("val_limit", 0, "val_limit must be a positive integer"),
    ("flip", 1, "flip must be true or false or null"),
    ("finetune_epochs", 0, "finetune_epochs must be a positive integer"),
])
def test_bad_values_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict({key: value})
