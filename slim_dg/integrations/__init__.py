"""Integrations of SLIM-DG into other frameworks. Each submodule imports its framework, which is an
optional dependency, so nothing here is imported by ``import slim_dg``:

- ``slim_dg.integrations.dassl``: our trainers and timm backbones registered into Dassl.pytorch.
"""
