"""On the CPU the early stages run channels-last (modeling/cpu_layout.py): which stages, that the
layout is what the rule says, and that it changes no result."""
import copy

import pytest
import torch

from slim_dg.config import get_cfg_defaults
from slim_dg.engine import TRAINER_REGISTRY
from slim_dg.modeling import Classifier, create_timm_backbone
from slim_dg.modeling.cpu_layout import MIN_MAP_SIDE, channels_last_taps, use_early_channels_last

from trainer_testutils import without_data

CL = torch.channels_last


@pytest.mark.parametrize("size,count", [((64, 64), 3), ((224, 224), 4), ((32, 32), 2), ((64, 16), 1)])
def test_channels_last_while_maps_are_large(size, count):
    # resnet18's taps shrink by 2, 4, 8, 16, 32: act1 .. layer4; the smaller side decides
    backbone = create_timm_backbone("resnet18").train()
    before = copy.deepcopy(backbone.state_dict())
    assert channels_last_taps(backbone, size) == count
    sides = [min(size) // r for r in (2, 4, 8, 16, 32)]
    assert all(s >= MIN_MAP_SIDE for s in sides[:count]) and (count == 5 or sides[count] < MIN_MAP_SIDE)
    assert backbone.training  # the probe left the mode ...
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())  # ... and BN statistics alone
    assert not any(m._forward_hooks for m in backbone.modules())  # and no hook behind


def test_no_channels_last_for_token_stages():
    backbone = create_timm_backbone("vit_tiny_patch16_224", img_size=(32, 32))
    assert channels_last_taps(backbone, (32, 32)) == 0
    assert use_early_channels_last(backbone, (32, 32)) is None and backbone.input_memory_format is None


def _pair(size):
    torch.manual_seed(0)
    plain = Classifier(create_timm_backbone("resnet18"), num_classes=7)
    mixed = copy.deepcopy(plain)
    assert use_early_channels_last(mixed.backbone, size) == "layer2"
    return plain, mixed


def test_layout_of_each_stage_and_the_same_logits():
    plain, mixed = _pair((64, 64))
    x = torch.randn(4, 3, 64, 64)
    plain.eval(), mixed.eval()
    seen = {}

    def record(name):
        def hook(_module, inputs):
            seen[name] = inputs[0].is_contiguous(memory_format=CL)
        return hook

    for name in ("layer2.1.conv2", "layer3.0.conv1"):  # the last convolution in channels-last, the first after
        mixed.backbone.model.get_submodule(name).register_forward_pre_hook(record(name))
    with torch.inference_mode():
        logits, taps = mixed(x, taps=range(5))
        want, want_taps = plain(x, taps=range(5))
    for i in (0, 1):  # act1, layer1: channels-last (and so not contiguous)
        assert taps[i].is_contiguous(memory_format=CL) and not taps[i].is_contiguous(), i
    for i in (2, 3, 4):  # layer2 ran channels-last and hands on contiguous maps
        assert taps[i].is_contiguous(), i
    assert seen == {"layer2.1.conv2": True, "layer3.0.conv1": False}
    assert all(torch.equal(taps[i], want_taps[i]) for i in range(5))
    assert torch.equal(logits, want)  # evaluation: bit for bit
    assert all(p.is_contiguous() for p in mixed.parameters())  # weights (and checkpoints) as they were


def test_a_training_step_is_the_same_step():
    plain, mixed = _pair((64, 64))
    x, y = torch.randn(8, 3, 64, 64), torch.randint(0, 7, (8,))
    losses = [torch.nn.functional.cross_entropy(m(x), y) for m in (plain, mixed)]
    for loss in losses:
        loss.backward()
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), mixed.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-4), name
    for (name, b), c in zip(plain.named_buffers(), mixed.buffers()):  # batch-norm statistics
        assert torch.allclose(b.float(), c.float(), atol=1e-5), name


def _trainer(*opts):
    cfg = get_cfg_defaults()
    cfg.merge_from_list(["USE_CUDA", "False", "INPUT.SIZE", "(64, 64)", *opts])
    make_model = lambda: Classifier(create_timm_backbone("resnet18"), num_classes=7)  # noqa: E731
    return without_data(TRAINER_REGISTRY.get("ERM"), make_model)(cfg)


def test_the_trainer_uses_it_on_the_cpu_unless_told_otherwise():
    assert _trainer().model.backbone.input_memory_format is CL
    for opts in (["TRAIN.CPU_EARLY_CHANNELS_LAST", "False"], ["TRAIN.CHANNELS_LAST", "True"]):
        backbone = _trainer(*opts).model.backbone
        assert backbone.input_memory_format is None
        assert not any(m._forward_hooks for m in backbone.modules()), opts
