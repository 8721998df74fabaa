"""The pxe role owns <pxe_root>/images: an image dropped from pxe_images stops being served.

Runs the role's task files on this machine (tests/pxelab/render.yml, connection local) twice
into the same trees, as two deployments of a changed definition would.
"""

import hashlib

from pxelab import render

SERVERS = {"s1": "198.18.100.1", "s2": "198.18.100.2"}


def image(path, name, content):
    path.write_bytes(content)
    return {"name": name, "src": str(path), "checksum": "sha256:" + hashlib.sha256(content).hexdigest()}


def definition(images, kernel):
    entries = [{"name": "only", "title": "Only", "kernel": kernel, "initrd": [], "cmdline": "console=ttyS0"}]
    return {"pxe_images": images, "pxe_entries": entries, "pxe_default_entry": "only"}


def test_images_dropped_from_the_definition_are_removed_and_nothing_else(tmp_path):
    old = image(tmp_path / "old.bin", "old-kernel", b"old kernel")
    new = image(tmp_path / "new.bin", "new-kernel", b"new kernel")
    workdir = tmp_path / "render"
    first = render.render(workdir, SERVERS, definition([old, new], "old-kernel"))
    for root, _statements in first.values():
        assert sorted(p.name for p in (root / "images").iterdir()) == ["new-kernel", "old-kernel"]
        # Outside images/ the tree is shared with other tools (the role checks both nodes match).
        (root / "site-notes.txt").write_text("not the role's")
    (first["s1"][0] / "images" / "stray.img").write_bytes(b"left by hand")

    second = render.render(workdir, SERVERS, definition([new], "new-kernel"))

    for name, (root, _statements) in second.items():
        assert sorted(p.name for p in (root / "images").iterdir()) == ["new-kernel"], name
        assert (root / "images" / "new-kernel").read_bytes() == b"new kernel"
        assert (root / "boot.ipxe").exists()
        assert (root / "site-notes.txt").read_text() == "not the role's"
