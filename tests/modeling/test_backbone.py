import pytest
import timm
import torch

from slim_dg.modeling import Classifier, create_timm_backbone

FAMILIES = [
    ("resnet18", ["act1", "layer1", "layer2", "layer3", "layer4"]),
    ("convnext_atto", ["stages.0", "stages.1", "stages.2", "stages.3"]),
    ("vit_tiny_patch16_224", [f"blocks.{i}" for i in range(12)]),
]


@pytest.mark.parametrize("name,taps", FAMILIES)
def test_taps_match_feature_info(name, taps):
    torch.manual_seed(0)
    backbone = create_timm_backbone(name, img_size=(32, 32))
    model = Classifier(backbone, num_classes=7).eval()
    assert backbone.tap_names == taps
    x = torch.randn(2, 3, 32, 32)
    logits, feats = model(x, taps=list(range(len(taps))))
    assert logits.shape == (2, 7)
    for i, info in enumerate(backbone.feature_info):
        f = feats[i]
        assert f.shape[0] == 2 and f.shape[1] == info["num_chs"], (i, f.shape, info)
        if "vit" not in name:  # a ViT's tokens keep the patch grid; CNN taps shrink by their reduction
            assert f.shape[-1] == 32 // info["reduction"]
        assert torch.isfinite(f).all()
    # taps do not change the logits: same features reach the head with and without them
    assert torch.equal(logits, model(x))


def test_tap_lookup_by_name_and_index():
    b = create_timm_backbone("resnet18")
    assert b.tap_index("layer3") == 3 and b.tap_index(-1) == 4 and b.tap_index("2") == 2
    with pytest.raises(IndexError, match=r"0\.\.4"):
        b.tap_index(5)
    with pytest.raises(KeyError, match="layer1, layer2"):
        b.tap_index("layer5")


def test_edit_stage_output_is_seen_downstream_and_removed():
    torch.manual_seed(0)
    model = Classifier(create_timm_backbone("resnet18"), 3).eval()
    x = torch.randn(2, 3, 32, 32)
    clean = model(x)
    with model.backbone.edit_stage_output(2, lambda h: h * 0):
        _, feats = model(x, taps=[2])
        assert feats[2].abs().sum() == 0
        assert not torch.equal(model(x), clean)
    assert torch.equal(model(x), clean)


def test_local_weights_file_is_loaded(tmp_path):
    torch.manual_seed(1)
    src = timm.create_model("resnet18", num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(src.state_dict(), path)
    b = create_timm_backbone("resnet18", weights=str(path))
    assert torch.equal(b.model.conv1.weight, src.conv1.weight)
    assert torch.equal(b.model.layer4[1].bn2.running_var, src.layer4[1].bn2.running_var)


def test_unavailable_pretrained_weights_name_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on a machine without the model hub: fail fast
    with pytest.raises(RuntimeError) as e:
        create_timm_backbone("resnet18", weights=str(tmp_path / "missing.pth"))
    assert "MODEL.BACKBONE.PRETRAINED False" in str(e.value) and "MODEL.BACKBONE.WEIGHTS" in str(e.value)


def test_pretrained_without_hub_access_names_the_fixes(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError) as e:
        create_timm_backbone("resnet18", pretrained=True)
    assert "from the model hub" in str(e.value) and "MODEL.BACKBONE.PRETRAINED False" in str(e.value)
