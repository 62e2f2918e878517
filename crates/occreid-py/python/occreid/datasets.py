"""The dataset readers of ``occreid data`` (Market-1501, DukeMTMC-reID, MSMT17, CUHK01, Occluded-Duke,
Occluded-REID, Partial-REID, Partial-iLIDS, P-DukeMTMC-reID, custom CSV lists): the same lists the
training engine reads, in torchreid's tuple order."""
import json
import os

from . import _occreid

__all__ = ["read", "check"]


def read(name, root):
    """``(train, query, gallery)``: lists of ``(img_path, pid, camid)`` (train pids relabelled to
    0..N-1, cameras 0-based, junk images dropped) as torchreid's ``ImageDataset`` holds them. Raises
    ValueError naming what is wrong with ``root`` (``check`` lists every problem)."""
    return _occreid.read_dataset(str(name), os.fspath(root))


def check(name, root, decode_images=True):
    """``occreid data check``'s report as a dict: ``ok``, ``problems`` (each with ``severity``, ``path``
    and ``message``), the train / query / gallery counts against the canonical ones. Never raises for
    a problem in the data: it is in the report."""
    return json.loads(_occreid.check_dataset(str(name), os.fspath(root), bool(decode_images)))
