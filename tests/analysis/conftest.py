"""A small classifier trained in memory on scikit-learn's digits (white on black, 32x32 RGB),
shared by the analysis tests that need a model that has learnt something."""
import pytest
import torch
import torch.nn.functional as F

from slim_dg.modeling.backbone import create_timm_backbone
from slim_dg.modeling.classifier import Classifier

MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


def digits_tensors(n: int = 256):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images[:n], dtype=torch.float32).div(16).unsqueeze(1)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1).clamp(0, 1)
    return (x - 0.5) / 0.5, torch.tensor(d.target[:n])


@pytest.fixture(scope="session")
def trained_digits_model():
    """``(model, x, y)``: ``test_resnet`` fitted to 256 digits (near 100% on them), in eval mode."""
    torch.manual_seed(0)
    x, y = digits_tensors()
    model = Classifier(create_timm_backbone("test_resnet", img_size=(32, 32)), 10)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(120):
        idx = torch.randint(len(x), (64,))
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9, f"the fixture model did not learn the digits ({acc:.2f})"
    return model, x, y


def pytest_collection_modifyitems(items):
    for item in items:  # the model above takes about a minute of CPU to fit: its tests are not the fast loop
        if "trained_digits_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
