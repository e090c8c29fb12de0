"""Analyses of trained runs (tools/analyze.py): feature perturbation per depth, adversarial gradient
diversity, Hessian trace, weight-noise robustness, white-box attacks."""
