"""qemu-system-x86_64 (TCG) PXE clients whose serial console goes to a file.

BIOS guests boot the iPXE ROM that Debian's ipxe-qemu gives qemu's virtio-net device
(it identifies itself with user-class "iPXE"); UEFI guests boot OVMF with the NIC's option
ROM removed, so OVMF's own PXE stack (arch 00:07, no user-class) does the work.
"""

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

QEMU = "qemu-system-x86_64"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
# Secure Boot: the SMM build, and variables with Microsoft's KEK and db (UEFI CA 2011) enrolled and
# Secure Boot on. Its flash is writable only from SMM, so the machine is q35 with SMM.
OVMF_CODE_SECURE = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
OVMF_VARS_MS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
# TCG on two busy cores: a BIOS boot takes ~10 s, a UEFI one up to ~25 s when idle.
BOOT_TIMEOUT = float(os.environ.get("NETBOOT_PXE_BOOT_TIMEOUT", "150"))
# uefi-http: OVMF with its PXE boot options switched off (fw_cfg knobs of Debian's OVMF), so the
# NIC's first boot option is UEFI HTTP Boot over IPv4.
# uefi-secure-boot: OVMF_CODE_SECURE with a copy of OVMF_VARS_MS, Secure Boot enforced.
FIRMWARES = ("bios", "uefi", "uefi-http", "uefi-secure-boot")
_PR_SET_PDEATHSIG = 1


class BootError(RuntimeError):
    """The guest did not reach the expected console output in time (the message has the console tail)."""


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def missing_tools():
    """Host files the PXE tests need that are not installed (empty when all are there)."""
    missing = [] if shutil.which(QEMU) else [QEMU + " (qemu-system-x86)"]
    needed = [
        (OVMF_CODE, "ovmf"),
        (OVMF_VARS, "ovmf"),
        (OVMF_CODE_SECURE, "ovmf"),
        (OVMF_VARS_MS, "ovmf"),
        ("/usr/lib/ipxe/qemu/efi-virtio.rom", "ipxe-qemu"),
        # The boot loaders the pxe role copies from Debian packages (render.yml runs it here).
        ("/usr/lib/ipxe/undionly.kpxe", "ipxe"),
        ("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grub-efi-amd64-signed"),
        ("/usr/lib/shim/shimx64.efi.signed", "shim-signed"),
        ("/usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
        ("/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"),
    ]
    # pxe_secure_boot's checks, run by the role's task files on the controller here.
    for program, package in (("sbverify", "sbsigntool"), ("sbattach", "sbsigntool"), ("openssl", "openssl")):
        if not shutil.which(program):
            missing.append("%s (%s)" % (program, package))
    for path, package in needed:
        if not os.path.exists(path):
            missing.append("%s (%s)" % (path, package))
    return missing


class Guest:
    """One qemu guest PXE booting from a tap device; close() kills it (by its PID)."""

    def __init__(self, name, workdir, tap, mac, *, firmware="bios", memory=384):
        secure = firmware == "uefi-secure-boot"
        if firmware not in FIRMWARES:
            raise ValueError("firmware=%r is invalid: expected one of %s" % (firmware, ", ".join(FIRMWARES)))
        self.name = name
        self.mac = mac.lower()
        self.firmware = firmware
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console = self.workdir / ("%s-console.log" % name)
        self.console.write_bytes(b"")
        argv = [
            QEMU,
            "-name", name,
            "-machine", "q35,smm=on,accel=tcg" if secure else "pc,accel=tcg",
            "-m", str(memory),
            "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
            "-serial", "file:%s" % self.console,
            "-no-reboot",
            "-netdev", "tap,id=net0,ifname=%s,script=no,downscript=no" % tap,
        ]  # fmt: skip
        if firmware == "bios":
            # SeaBIOS copies its (and iPXE's) text console to this I/O port: 0x3f8, COM1.
            sercon = self.workdir / "sercon-port"
            sercon.write_bytes(b"\xf8\x03")
            argv += [
                "-fw_cfg", "name=etc/sercon-port,file=%s" % sercon,
                "-device", "virtio-net-pci,netdev=net0,mac=%s,bootindex=1" % self.mac,
            ]  # fmt: skip
        else:
            variables = self.workdir / ("%s-OVMF_VARS.fd" % name)
            shutil.copyfile(OVMF_VARS_MS if secure else OVMF_VARS, variables)
            code = OVMF_CODE_SECURE if secure else OVMF_CODE
            if secure:
                argv += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
            argv += [
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=%s" % code,
                "-drive", "if=pflash,format=raw,unit=1,file=%s" % variables,
                # romfile= (empty) drops iPXE: OVMF's own virtio driver and PXE stack boot it.
                "-device", "virtio-net-pci,netdev=net0,mac=%s,romfile=,bootindex=1" % self.mac,
            ]  # fmt: skip
            if firmware == "uefi-http":
                argv += [
                    "-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
                    "-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n",
                ]  # fmt: skip
        self.argv = argv
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / ("%s-qemu.err" % name), "wb"),  # noqa: SIM115 - lives as long as qemu
            preexec_fn=preexec,  # noqa: PLW1509 - only set from the main thread
        )

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        return self.console.read_bytes().decode("utf-8", errors="replace")

    def tail(self, lines=40):
        text = self.output().replace("\r", "")
        # iPXE redraws progress with escape sequences: keep the log readable.
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
        return "\n".join(text.splitlines()[-lines:])

    def wait_for(self, pattern, timeout=BOOT_TIMEOUT):
        """Wait until the console matches the regex; return the match. Fails on timeout or guest exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output())
            if match:
                return match
            if self.proc.poll() is not None:
                # The last lines may land just before exit.
                match = regex.search(self.output())
                if match:
                    return match
                raise BootError(
                    "guest %s (%s) exited (rc=%s) before %r; console tail:\n%s"
                    % (self.name, self.firmware, self.proc.returncode, pattern, self.tail())
                )
            if time.monotonic() > deadline:
                raise BootError(
                    "guest %s (%s) did not print %r within %.0f s; console tail:\n%s"
                    % (self.name, self.firmware, pattern, timeout, self.tail())
                )
            time.sleep(0.2)

    def wait_exit(self, timeout=30):
        """The test initramfs powers off after its marker: qemu then exits by itself."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BootError("guest %s still running %.0f s after its marker" % (self.name, timeout)) from None

    def elapsed(self):
        return time.monotonic() - self.started

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def boot_all(guests, pattern, wait_exit=False, timeout=BOOT_TIMEOUT):
    """Wait for ``pattern`` on every guest's console at once: {guest name: match group 1}.

    Guests boot concurrently, so they are awaited in parallel; the first failure is re-raised.
    """
    results, errors = {}, []

    def wait(guest):
        try:
            results[guest.name] = guest.wait_for(pattern, timeout).group(1)
            if wait_exit:
                guest.wait_exit()
        except BootError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wait, args=(guest,)) for guest in guests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
