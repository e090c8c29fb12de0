import pytest

from slim_dg.registry import Registry


def test_register_get_and_alias():
    reg = Registry("Thing", config_key="THING.NAME")

    @reg.register(aliases=("Old",))
    class New:
        pass

    assert reg.get("New") is New and reg.get("Old") is New
    assert "Old" in reg and reg.names() == ["New"]


def test_duplicate_registration_raises():
    reg = Registry("Thing")
    reg.register(name="a")(object)
    with pytest.raises(KeyError, match="already registered"):
        reg.register(name="a")(int)


def test_unknown_name_lists_valid_names_and_closest():
    reg = Registry("Adversary", config_key="ADV.NAME")
    for n in ("pgd", "advstyle"):
        reg.register(name=n)(object)
    with pytest.raises(KeyError) as e:
        reg.get("pdg")
    msg = str(e.value)
    assert "Unknown adversary 'pdg' (ADV.NAME)" in msg
    assert "did you mean 'pgd'" in msg
    assert "Available: advstyle, pgd" in msg
