"""Which weights each shipped config loads (``name.tag`` resolution, no download), and that
configs/README.md documents exactly that."""
import glob
import os
import re

import pytest
import timm
from timm.models import split_model_name_tag

from slim_dg.config import ConfigError, get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg
from slim_dg.modeling import build_backbone
from slim_dg.modeling.build import check_backbone_name
from slim_dg.modeling.weights import RANDOM_INIT, backbone_weights, resolve_weights_tag

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(REPO, "configs")
TORCHVISION_HOST = "https://download.pytorch.org/models/"

# dataset config -> the weights of the protocol its comment cites (Dassl and DomainBed, WILDS for iWildCam,
# fine-tune torchvision's original ImageNet weights; the rest train from scratch)
EXPECTED = {
    "pacs": "resnet18.tv_in1k",
    "officehome": "resnet18.tv_in1k",
    "vlcs": "resnet18.tv_in1k",
    "mini_domainnet": "resnet18.tv_in1k",
    "domainnet": "resnet50.tv_in1k",
    "wilds_iwildcam": "resnet50.tv_in1k",
    "wilds_camelyon17": RANDOM_INIT,
    "digits_dg": RANDOM_INIT,
    "digits_dg_dassl": RANDOM_INIT,
    "cifar10": RANDOM_INIT,
    "cifar100": RANDOM_INIT,
}


def _load(path: str, *opts):
    cfg = get_cfg_defaults()
    merge_from_file(cfg, path)
    merge_from_list(cfg, list(opts))
    return cfg


def _shipped() -> list[str]:
    """Every config a user runs: the dataset configs and the experiments (trainers/ are fragments)."""
    paths = glob.glob(os.path.join(CONFIGS, "*.yaml")) + glob.glob(os.path.join(CONFIGS, "datasets", "*.yaml"))
    return sorted(os.path.relpath(p, CONFIGS) for p in paths)


def _documented() -> dict[str, str]:
    """configs/README.md's weights table: dataset config name -> its "weights" cell."""
    rows = {}
    for line in open(os.path.join(CONFIGS, "README.md")):
        m = re.match(r"\| `datasets/(\w+)\.yaml` \|[^|]*\| ([^|]+?) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip("`")
    return rows


def test_every_dataset_config_is_in_the_table():
    on_disk = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(CONFIGS, "datasets", "*.yaml"))}
    assert set(EXPECTED) == on_disk


def test_the_readme_documents_the_weights_each_config_loads():
    assert _documented() == EXPECTED


@pytest.mark.parametrize("config", _shipped())
def test_shipped_config_loads_the_documented_weights(config):
    cfg = _load(os.path.join(CONFIGS, config))
    expected = EXPECTED[cfg.DATASET.NAME]
    assert backbone_weights(cfg) == expected, config
    if expected != RANDOM_INIT:
        # named explicitly: timm's default tag for a bare name is not the protocol's weights
        assert cfg.MODEL.BACKBONE.NAME == expected
        assert split_model_name_tag(cfg.MODEL.BACKBONE.NAME)[1] == "tv_in1k"


@pytest.mark.parametrize("name", sorted({w for w in EXPECTED.values() if w != RANDOM_INIT}))
def test_documented_tags_are_what_timm_builds_and_torchvisions_files(name):
    model = timm.create_model(name, pretrained=False, num_classes=0)  # resolves the config, downloads nothing
    assert f"{model.pretrained_cfg['architecture']}.{model.pretrained_cfg['tag']}" == name
    assert model.pretrained_cfg["url"].startswith(TORCHVISION_HOST)  # torchvision's own weight files


def test_a_bare_name_resolves_to_timms_default_tag_as_create_model_does():
    model = timm.create_model("resnet18", pretrained=False, num_classes=0)
    assert resolve_weights_tag("resnet18") == f"resnet18.{model.pretrained_cfg['tag']}" == "resnet18.a1_in1k"


def test_other_weights_are_one_override_away():
    cfg = _load(os.path.join(CONFIGS, "pacs_erm.yaml"), "MODEL.BACKBONE.NAME", "resnet18.a1_in1k")
    assert backbone_weights(cfg) == "resnet18.a1_in1k"
    cfg = _load(os.path.join(CONFIGS, "pacs_erm.yaml"), "MODEL.BACKBONE.PRETRAINED", "False")
    assert backbone_weights(cfg) == RANDOM_INIT
    cfg = _load(os.path.join(CONFIGS, "pacs_erm.yaml"), "MODEL.BACKBONE.WEIGHTS", "/w/r18.pth")
    assert backbone_weights(cfg) == "resnet18.tv_in1k (from file /w/r18.pth)"


def test_a_tagged_name_builds_without_download():
    cfg = _load(os.path.join(CONFIGS, "digits_dg_erm.yaml"), "MODEL.BACKBONE.NAME", "resnet18.tv_in1k",
                "DATASET.TARGET_DOMAINS", "['texture']")
    validate_cfg(cfg)
    backbone = build_backbone(cfg)
    assert backbone.model.pretrained_cfg["tag"] == "tv_in1k" and backbone.num_taps == 5


def test_an_unknown_tag_is_refused_with_the_valid_ones():
    with pytest.raises(KeyError, match=r"did you mean 'resnet18\.tv_in1k'\?.*resnet18\.a1_in1k"):
        check_backbone_name("resnet18.tv_in1kk")  # timm itself would only warn and use a default config
    cfg = _load(os.path.join(CONFIGS, "pacs_erm.yaml"), "MODEL.BACKBONE.NAME", "resnet50.nope")
    with pytest.raises((KeyError, ConfigError), match="Unknown weights tag 'nope' for resnet50"):
        validate_cfg(cfg)
