from slim_dg.data.splits import is_val_split, val_split_name


def test_a_validation_split_is_named_and_recognised_by_one_rule():
    assert val_split_name("mnist") == "mnist (val)" and is_val_split(val_split_name("mnist"))
    assert not is_val_split("mnist") and not is_val_split("val")  # a bare name is a target domain
