from .evaluator import evaluate_domain, evaluate_domains
from .results import RESULTS_FILE, format_table, make_results, read_results, validate_results, write_results

__all__ = ["RESULTS_FILE", "evaluate_domain", "evaluate_domains", "format_table", "make_results",
           "read_results", "validate_results", "write_results"]
