"""Problems, step pairs and labels."""

from .problems import NAMED, DatasetError, Problem, load_file, load_problems

__all__ = ["NAMED", "DatasetError", "Problem", "load_file", "load_problems"]
