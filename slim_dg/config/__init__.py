from .defaults import get_cfg_defaults
from .load import ConfigError, load_yaml_with_base, merge_from_file, merge_from_list
from .validate import validate_cfg

__all__ = ["ConfigError", "get_cfg_defaults", "load_yaml_with_base", "merge_from_file", "merge_from_list",
           "validate_cfg"]
