"""Class folders as users have them: hidden and non-image files, upper-case extensions, empty class
folders, symbolic links, and a domain folder without class folders."""
from __future__ import annotations

import logging
import os

import pytest
from dg_fakes import write_image

from slim_dg.data import DatasetMissingError
from slim_dg.data.datasets.digits_dg_dassl import DigitsDGDassl
from slim_dg.data.datasets.folder import read_domain_folder, scan_domain
from slim_dg.data.datasets.image_folder import ImageFolderDG


def messy_domain(domain_dir, outside) -> dict[str, list[str]]:
    """A domain as copied off a Mac (one image links to ``outside``): the images that count, per class."""
    good = {"cat": [write_image(os.path.join(domain_dir, "cat", "a.png")),
                    write_image(os.path.join(domain_dir, "cat", "B.JPG"))],  # upper-case extension
            "dog": [write_image(os.path.join(domain_dir, "dog", "c.jpeg"))]}
    open(os.path.join(domain_dir, ".DS_Store"), "w").write("finder")
    open(os.path.join(domain_dir, "cat", "._a.png"), "w").write("AppleDouble")  # an image extension, no image
    open(os.path.join(domain_dir, "dog", "notes.txt"), "w").write("to do")
    os.makedirs(os.path.join(domain_dir, "cat", "not_an_image.jpg"))  # a folder with an image name
    os.makedirs(os.path.join(domain_dir, "empty"))
    os.makedirs(os.path.join(domain_dir, ".hidden_class"))
    os.symlink(write_image(os.path.join(outside, "d.png")), os.path.join(domain_dir, "dog", "linked.png"))
    good["dog"].append(os.path.join(domain_dir, "dog", "linked.png"))
    os.symlink(os.path.join(domain_dir, "missing.png"), os.path.join(domain_dir, "dog", "broken.png"))
    write_image(os.path.join(outside, "birds", "e.png"))
    os.symlink(os.path.join(outside, "birds"), os.path.join(domain_dir, "bird"))  # a linked class folder
    good["bird"] = [os.path.join(domain_dir, "bird", "e.png")]
    return {c: sorted(v) for c, v in good.items()}


def test_only_visible_images_count_and_one_line_says_what_was_left_out(tmp_path, data_log):
    good = messy_domain(str(tmp_path / "photo"), str(tmp_path / "elsewhere"))
    scan = scan_domain(str(tmp_path / "photo"))
    assert scan.images == good and scan.empty == ["empty"]
    assert sorted(scan.ignored) == [".DS_Store", ".hidden_class", os.path.join("cat", "._a.png"),
                                    os.path.join("cat", "not_an_image.jpg"), os.path.join("dog", "broken.png"),
                                    os.path.join("dog", "notes.txt")]
    lines = [r.getMessage() for r in data_log.records]
    assert len(lines) == 1 and "ignored 6 hidden or non-image entries" in lines[0]
    assert "1 empty class folder(s) (empty)" in lines[0]


def test_image_folder_reads_the_messy_domain(tmp_path):
    good = messy_domain(str(tmp_path / "toy" / "photo"), str(tmp_path / "elsewhere"))
    for c in ("bird", "cat", "dog"):
        write_image(str(tmp_path / "toy" / "sketch" / c / "0.png"))
    ds = ImageFolderDG(str(tmp_path), ["photo"], ["sketch"], val_ratio=0.0, folder="toy")
    assert ds.classnames == ["bird", "cat", "dog"]  # the empty and the hidden class folders are no classes
    assert sorted((x.impath, ds.classnames[x.label]) for x in ds.train_x) == \
        sorted((p, c) for c, paths in good.items() for p in paths)


def test_fixed_class_datasets_skip_the_same_files(tmp_path):
    good = messy_domain(str(tmp_path / "photo"), str(tmp_path / "elsewhere"))
    splits = read_domain_folder(str(tmp_path), "photo", ["bird", "cat", "dog"], val_ratio=0.0)
    assert sorted(x.impath for x in splits.all) == sorted(p for paths in good.values() for p in paths)
    # the loaders of datasets with train/val class folders (here Dassl's Digits-DG) too
    base = tmp_path / "digits_dg_dassl" / "mnist"
    for split in ("train", "val"):
        for c in range(10):
            write_image(str(base / split / str(c) / "0.JPG"))
    open(base / "train" / "3" / "._0.JPG", "w").write("AppleDouble")
    data = DigitsDGDassl.open(str(tmp_path)).read_class_folders(str(base / "train"), [str(c) for c in range(10)],
                                                                 "mnist")
    assert len(data) == 10 and all(os.path.basename(x.impath) == "0.JPG" for x in data)


def test_a_domain_folder_without_class_folders_is_an_error_naming_it(tmp_path):
    for d in ("photo", "sketch"):
        write_image(str(tmp_path / "toy" / d / "cat" / "0.png"))
    write_image(str(tmp_path / "toy" / "loose" / "0.png"))  # images straight in the domain folder
    with pytest.raises(DatasetMissingError, match=r"toy/loose has no class folders .*holds 1 image\(s\) directly"):
        ImageFolderDG(str(tmp_path), [], ["sketch"], folder="toy")  # leave-one-domain-out: loose is a source
    os.makedirs(tmp_path / "digits" / "mono")
    with pytest.raises(DatasetMissingError, match="digits/mono has no class folders"):
        read_domain_folder(str(tmp_path / "digits"), "mono", ["0"], 0.1)


def test_fixed_class_datasets_take_a_class_map(tmp_path, data_log):
    for folder in ("0", "1", "zwei", "Two", "junk"):
        write_image(str(tmp_path / "mono" / folder / "a.png"))
    splits = read_domain_folder(str(tmp_path), "mono", ["0", "1", "2"], 0.0, {"zwei": "2", "Two": "2"})
    assert sorted((x.label, x.impath.split(os.sep)[-2]) for x in splits.all) == \
        [(0, "0"), (1, "1"), (2, "Two"), (2, "zwei")]  # two folders merged into class 2
    assert [r.getMessage() for r in data_log.records if r.levelno == logging.WARNING] == \
        [f"{tmp_path / 'mono'}: class folder(s) junk are not classes of this dataset and are left out; rename them "
         "with DATASET.CLASS_MAP if they are (classes: 0, 1, 2)"]
