from setuptools import find_packages, setup

setup(
    name="slim_dg",
    version="0.1.0",
    description="Domain generalization with adversarial augmentation and SLIM (Stochastic Loss Integration Method)",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["slim_dg", "slim_dg.*"]),
    install_requires=[
        "torch>=2.1,<=2.14.1",
        "torchvision>=0.16,<=0.29.1",
        "timm>=1.0.3",  # forward_intermediates on ResNet/ViT/ConvNeXt
        "yacs>=0.1.8",
        "pyyaml",
        "numpy",
        "pillow",
        "scikit-learn",  # the embedded digits_dg dataset is built from its bundled data
        "wilds>=2.0",
        "tensorboard",
        "tqdm",
        "matplotlib",
        "submitit>=1.5",  # tools/sweep.py --launcher slurm: Slurm job arrays
    ],
    extras_require={
        # tools/analyze.py attack and tools/robustness.py (FGSM, PGD, AA-lite). An extra, not a requirement:
        # torchattacks 3.5 pins requests~=2.25 and would downgrade it in every environment that installs SLIM-DG.
        # The autoattack column needs the reference AutoAttack, which is not on PyPI and cannot be listed here:
        #   pip install git+https://github.com/fra31/auto-attack
        "analysis": ["torchattacks>=3.5"],
        "test": ["pytest>=7", "torchattacks>=3.5"],
        # slim_dg.integrations.dassl: what Dassl.pytorch imports at run time, and what building it needs.
        # Dassl itself is not on PyPI and cannot be listed here: it must be installed with --no-deps
        # (its requirements pin wilds==1.2.2, which conflicts with ours) and --no-build-isolation (its
        # setup.py imports numpy); see README "Using SLIM-DG inside Dassl".
        "dassl": ["gdown", "tabulate", "ftfy", "regex", "scipy", "scikit-learn", "tqdm", "tensorboard", "yacs",
                  "numpy", "setuptools", "wheel"],
    },
    entry_points={"console_scripts": ["slim-dg-train=slim_dg.engine.launch:main"]},
)
