"""A test kernel and a busybox initramfs from Debian packages, built once into a cache.

Nothing binary is committed: `apt-get download` fetches the packages, `dpkg -x` unpacks
them, and the cache directory is named by a hash of the package versions and of the init
script, so a new kernel or a changed script builds a new set and an unchanged one costs a
stat.  The initramfs is written here (newc cpio, gzip) so no cpio binary is needed.
"""

import contextlib
import fcntl
import glob
import gzip
import hashlib
import io
import itertools
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("NETBOOT_PXE_CACHE", REPO / "lab" / ".cache" / "pxe"))
KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
TFTPD_PACKAGES = ("tftpd-hpa", "libwrap0")
# Printed on the serial console by the initramfs, followed by the kernel command line:
# the tests look for it to know the whole chain (firmware, loader, kernel, initrd) worked.
MARKER = "NETBOOT-PXE-TEST-BOOTED"
# The marker line with the kernel command line as group 1 (it names the boot entry).
MARKER_RE = re.escape(MARKER) + r" cmdline=\[([^\]]*)\]"
INIT_SCRIPT = (
    """#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "%s cmdline=[$(/bin/busybox cat /proc/cmdline)]"
/bin/busybox poweroff -f
"""
    % MARKER
)


class ArtifactError(RuntimeError):
    """A package could not be found, downloaded or unpacked."""


@dataclass(frozen=True)
class BootFiles:
    kernel: Path
    initrd: Path
    key: str

    def sha256(self, which):
        return hashlib.sha256(getattr(self, which).read_bytes()).hexdigest()


def _run(*argv, cwd=None):
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ArtifactError("%s failed (rc=%d): %s%s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


def _candidate(package):
    out = _run("apt-cache", "policy", package)
    match = re.search(r"^\s*Candidate:\s*(\S+)", out, re.MULTILINE)
    if not match or match.group(1) == "(none)":
        raise ArtifactError(
            "apt has no candidate for %s (run apt-get update; Debian's main repository is needed)" % package
        )
    return match.group(1)


def _kernel_package():
    """The versioned linux-image package behind the metapackage (apt-get download does not follow depends)."""
    out = _run("apt-cache", "depends", KERNEL_PACKAGE)
    match = re.search(r"Depends:\s*(linux-image-\S+)", out)
    if not match:
        raise ArtifactError("%s has no linux-image dependency in apt-cache depends:\n%s" % (KERNEL_PACKAGE, out))
    return match.group(1)


def inputs():
    """(name, version) of every package used, plus the init script: what the cache key hashes."""
    kernel = _kernel_package()
    return [(kernel, _candidate(kernel)), (BUSYBOX_PACKAGE, _candidate(BUSYBOX_PACKAGE))]


def cache_key(packages):
    digest = hashlib.sha256()
    for name, version in packages:
        digest.update(("%s=%s\n" % (name, version)).encode())
    # The builder itself is an input too: a changed archive layout must not reuse old files.
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _cpio_entry(out, inode, name, mode, *, data=b"", rdev=(0, 0)):
    fields = [inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08x" % value for value in fields)
    out.write(header + name.encode() + b"\0")
    out.write(b"\0" * (-(len(header) + len(name) + 1) % 4))
    out.write(data)
    out.write(b"\0" * (-len(data) % 4))


def make_initramfs(busybox_binary):
    """A gzip'ed newc archive: /init, /bin/busybox, /dev/console, /proc (bytes)."""
    raw = io.BytesIO()
    # Distinct inode numbers: the kernel's unpacker hard-links entries that share one.
    inodes = itertools.count(1)
    for directory in ("bin", "dev", "proc"):
        _cpio_entry(raw, next(inodes), directory, stat.S_IFDIR | 0o755)
    # The kernel opens /dev/console for init's stdout before any devtmpfs exists.
    _cpio_entry(raw, next(inodes), "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    _cpio_entry(raw, next(inodes), "bin/busybox", stat.S_IFREG | 0o755, data=Path(busybox_binary).read_bytes())
    _cpio_entry(raw, next(inodes), "init", stat.S_IFREG | 0o755, data=INIT_SCRIPT.encode())
    _cpio_entry(raw, next(inodes), "TRAILER!!!", 0)
    raw.write(b"\0" * (-raw.tell() % 512))
    # mtime=0: the same inputs give the same bytes.
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def publish(files, cache=CACHE):
    """Point <cache>/current at this build: molecule's group variables name files by that path."""
    link = Path(cache) / "current"
    if link.is_symlink() and os.readlink(link) == files.key:
        return link
    temporary = Path(cache) / (".current-%d" % os.getpid())
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(files.key)
    # rename() replaces the old link in one step: a reader sees the old or the new build.
    temporary.rename(link)
    return link


@dataclass(frozen=True)
class Tftpd:
    """in.tftpd unpacked from tftpd-hpa, with the library it needs beside it."""

    binary: Path
    library_path: Path

    def argv(self, *args):
        # env(1) instead of a changed environment: `ip netns exec` passes argv through unchanged.
        return ["env", "LD_LIBRARY_PATH=%s" % self.library_path, str(self.binary), *args]


def tftpd(cache=CACHE):
    """tftpd-hpa's in.tftpd and libwrap0, unpacked into the cache: installing the package would
    also install (and on a systemd host, enable) a TFTP service on the host itself."""
    packages = [(name, _candidate(name)) for name in TFTPD_PACKAGES]
    target = Path(cache) / ("tftpd-" + cache_key(packages))
    files = Tftpd(binary=target / "usr" / "sbin" / "in.tftpd", library_path=target / "usr" / "lib" / "x86_64-linux-gnu")
    if files.binary.is_file():
        return files
    Path(cache).mkdir(parents=True, exist_ok=True)
    with open(Path(cache) / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if files.binary.is_file():
            return files
        work = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
        try:
            _unpack(packages, work)
            (work / "root").rename(target)
            for old in Path(cache).glob("tftpd-*"):
                if old != target:
                    shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return files


def _unpack(packages, work):
    """Download the exact (name, version) packages into work and unpack them all into work/root."""
    for name, version in packages:
        _run("apt-get", "download", "-q", "%s=%s" % (name, version), cwd=work)
    for deb in sorted(work.glob("*.deb")):
        _run("dpkg-deb", "-x", str(deb), str(work / "root"))


def build(cache=CACHE):
    """Return the BootFiles for the current Debian packages, building them on a cache miss."""
    packages = inputs()
    key = cache_key(packages)
    target = Path(cache) / key
    files = BootFiles(kernel=target / "vmlinuz", initrd=target / "initrd.img", key=key)
    if (target / "initrd.img.sha256").is_file():
        return files
    Path(cache).mkdir(parents=True, exist_ok=True)
    # Parallel test processes must not build into the same directory at once.
    with open(Path(cache) / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "initrd.img.sha256").is_file():
            return files
        work = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
        try:
            _unpack(packages, work)
            kernels = glob.glob(str(work / "root" / "boot" / "vmlinuz-*"))
            busybox = work / "root" / "bin" / "busybox"
            if len(kernels) != 1 or not busybox.is_file():
                raise ArtifactError("unexpected package content: kernels %s, busybox %s" % (kernels, busybox))
            staging = work / "out"
            staging.mkdir()
            shutil.copyfile(kernels[0], staging / "vmlinuz")
            (staging / "initrd.img").write_bytes(make_initramfs(busybox))
            for name in ("vmlinuz", "initrd.img"):
                digest = hashlib.sha256((staging / name).read_bytes()).hexdigest()
                (staging / (name + ".sha256")).write_text(digest + "\n")
            (staging / "inputs.txt").write_text("".join("%s=%s\n" % p for p in packages))
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(target)
            staging.rename(target)
            # Older builds are never used again (their inputs are gone from apt or this file).
            for old in Path(cache).iterdir():
                if old.is_dir() and re.fullmatch(r"[0-9a-f]{16}", old.name) and old.name != key:
                    shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return files


if __name__ == "__main__":
    # Used by the molecule pxe scenario before its hosts are created.
    print(publish(build()))
