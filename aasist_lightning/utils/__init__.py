"""Helpers of the training entry points: config validation, config printing, loggers, atomic writes."""

from aasist_lightning.utils.config_checks import ConfigError, check_config
from aasist_lightning.utils.io import atomic_write_json, atomic_write_text
from aasist_lightning.utils.loggers import (
    finish_wandb,
    instantiate_callbacks,
    instantiate_loggers,
    wandb_logger,
    wandb_mode,
)
from aasist_lightning.utils.rich_utils import print_config_tree

__all__ = [
    "ConfigError",
    "atomic_write_json",
    "atomic_write_text",
    "check_config",
    "finish_wandb",
    "instantiate_callbacks",
    "instantiate_loggers",
    "print_config_tree",
    "wandb_logger",
    "wandb_mode",
]
