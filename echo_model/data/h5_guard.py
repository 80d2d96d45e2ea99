"""What an HDF5 dataset file may not do to its reader: point elsewhere, or promise more than it holds.

An HDF5 file can hold an external link (its "fields" would show another file's values), a soft link
that dangles or loops back into its own parent, a dataset whose raw data lives in external files or
is a virtual view of other files, and a dataset that declares 1e9 elements in a 64 KB file (reading
it allocates gigabytes of fill values). ECHO datasets (echo_model/data/store.py) hold none of these,
so the store refuses them before reading, with the file, the object and the fix in the message.
"""
from __future__ import annotations

import math
import os
from typing import Iterable

from ..errors import EchoUserError
from ..memory import format_bytes

_FIX = "ECHO datasets hold plain groups and datasets only: re-create the file with `echopv import` or `echopv generate`"


def _link_name(group, name: str) -> str:
    return f"{group.name.rstrip('/')}/{name}"


def _resolve_soft(group, name: str, target: str, file: os.PathLike) -> None:
    """A soft link must lead, through plain (hard) links only, to an object that is not its own ancestor."""
    import h5py

    here = _link_name(group, name)
    absolute = target if target.startswith("/") else f"{group.name.rstrip('/')}/{target}"
    parts = [p for p in absolute.split("/") if p not in ("", ".")]
    node = group.file
    for k, part in enumerate(parts):
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
        if link is None:
            raise EchoUserError(f"{file}: soft link {here} points to {target!r}, which does not exist in the file; {_FIX}")
        if not isinstance(link, h5py.HardLink):
            raise EchoUserError(f"{file}: soft link {here} points through another link ({'/' + '/'.join(parts[:k + 1])}), "
                                f"a chain that may loop or leave the file; {_FIX}")
        node = node[part]
    resolved = "/" + "/".join(parts)
    if resolved == "/" or here == resolved or here.startswith(resolved + "/"):
        raise EchoUserError(f"{file}: soft link {here} points to {target!r}, which contains the link itself "
                            f"(a cycle); {_FIX}")


def check_links(group, file: os.PathLike, names: Iterable[str] | None = None) -> None:
    """Refuse external links, and soft links that dangle, chain or loop, among a group's members.

    Parameters
    ----------
    group : h5py.Group
        The group whose links are checked (not recursively: the store checks what it reads).
    file : os.PathLike
        The dataset file, for the message.
    names : iterable of str, optional
        Only these members (absent ones are skipped); default all.

    Raises
    ------
    EchoUserError
        Naming the file, the link and where it points.
    """
    import h5py

    for name in (group.keys() if names is None else names):
        link = group.get(name, getlink=True)
        if link is None or isinstance(link, h5py.HardLink):
            continue
        if isinstance(link, h5py.ExternalLink):
            raise EchoUserError(f"{file}: {_link_name(group, name)} is an external link to {link.filename}:{link.path}; "
                                f"a dataset may not read other files; {_FIX}")
        if isinstance(link, h5py.SoftLink):
            _resolve_soft(group, name, link.path, file)
        else:  # a user-defined link class
            raise EchoUserError(f"{file}: {_link_name(group, name)} is a {type(link).__name__}; {_FIX}")


def check_all_links(f, file: os.PathLike) -> None:
    """`check_links` on every group of an open file, reached through plain links only (so no cycle).

    For files of other layouts (The Well), read in full by their readers; the message's fix says
    to write the file again without links.

    Parameters
    ----------
    f : h5py.File
        The open file.
    file : os.PathLike
        Its path, for the message.

    Raises
    ------
    EchoUserError
        Naming the file and the first external, dangling, chained or looping link.
    """
    import h5py

    groups, seen = [f], {f.id}
    while groups:
        g = groups.pop()
        try:
            check_links(g, file)
        except EchoUserError as exc:
            raise EchoUserError(str(exc).replace(_FIX, "write the file again without links")) from None
        hard = [n for n in g if isinstance(g.get(n, getlink=True), h5py.HardLink)]  # checked: safe to open
        # a hard link back to an ancestor would loop: visit each group object once
        for n in hard:
            obj = g[n]
            if isinstance(obj, h5py.Group) and obj.id not in seen:
                seen.add(obj.id)
                groups.append(obj)


def _expected_chunks(shape: tuple[int, ...], chunks: tuple[int, ...]) -> int:
    return math.prod(math.ceil(s / c) for s, c in zip(shape, chunks))


def require_stored(ds, file: os.PathLike) -> None:
    """Refuse a dataset whose data is not all in this file: external raw files, virtual, or missing chunks.

    Parameters
    ----------
    ds : h5py.Dataset
        The dataset about to be read.
    file : os.PathLike
        The dataset file, for the message.

    Raises
    ------
    EchoUserError
        Naming the file, the dataset, its declared shape and what the file actually stores.
    """
    if ds.is_virtual or ds.external:
        kind = "a virtual dataset (a view of other files)" if ds.is_virtual else "stored in external raw files"
        raise EchoUserError(f"{file}: {ds.name} is {kind}; a dataset may not read other files; {_FIX}")
    declared = ds.size * ds.dtype.itemsize
    if ds.chunks is not None:
        have, want = ds.id.get_num_chunks(), _expected_chunks(ds.shape, ds.chunks)
        if have < want:
            raise EchoUserError(f"{file}: {ds.name} declares shape {ds.shape} ({format_bytes(declared)}) but the file "
                                f"stores only {have} of its {want} chunks (truncated, damaged or crafted); {_FIX}")
    elif ds.id.get_storage_size() < declared:
        raise EchoUserError(f"{file}: {ds.name} declares shape {ds.shape} ({format_bytes(declared)}) but the file "
                            f"stores {format_bytes(ds.id.get_storage_size())} of it (truncated, damaged or crafted); {_FIX}")


__all__ = ["check_all_links", "check_links", "require_stored"]
