"""What a planned run (`logitrepro plan`, plan_data.py) needs to know of a dataset this machine
may not have: the size of its canonical download, and the stand-in it probes with instead. Each
registry entry carries its own (Dataset.download, Dataset.stand_in); plan_data.py makes the
stand-in of each kind below and knows no dataset by name.

A stand-in has the real dataset's on-disk layout and shapes, not its values: a job then builds at
its real shapes, and its step time is the real step time (a step's cost depends on the shapes).

Descriptions only, so that nothing here decides what a prepared folder holds: the registry does
not count this module among a dataset's source files (registry.source_files), and a change here
reruns no prepare stage.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Download:
    """The canonical download's size, where someone publishes it."""

    bytes: int
    what: str  # the archive and where its size is published, as the plan's report shows it


@dataclass(frozen=True)
class SameLayout:
    """Another dataset of the same layout, prepared in this one's place: the training step and
    the evaluation read the same shapes (the series collections; Atari frames and returns)."""

    dataset: str
    # Series collections the real dataset holds and the other lacks (a corpus' training
    # collections beside its evaluation ones), each written as a copy of the other's collection
    # `copied_from`: a training step reads context windows of one series, whichever it is.
    training_collections: tuple[str, ...] = ()
    copied_from: str = ""


@dataclass(frozen=True)
class RandomSparse:
    """Random sparse features and binary labels of the real shapes (the LIBSVM layout)."""

    rows: dict[str, int]  # rows per split, as the real files have them ("all", or "train" and "test")
    features: int
    nnz_per_row: int  # the real set's mean non-zeros per row


@dataclass(frozen=True)
class RandomActor:
    """A random expert actor of the real one's shapes (the layout of experts.write_actor)."""

    obs: int  # the environment's observation size
    act: int  # its action size
    hidden: int  # the width of the actor's two hidden layers


StandIn = SameLayout | RandomSparse | RandomActor
