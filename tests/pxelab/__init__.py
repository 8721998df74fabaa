"""Real PXE clients for the tests: qemu (TCG) guests, their boot artefacts and the lab plumbing.

- artifacts: a test kernel and a busybox initramfs built from Debian packages into a
  git-ignored cache (lab/.cache/pxe), keyed by a hash of every input.
- qemu: BIOS (SeaBIOS + the iPXE ROM of ipxe-qemu) and UEFI (OVMF, native PXE) guests
  on a tap device, their serial console read from a file.
- net: tap devices, the IPv6 router advertisement iPXE waits for, and a log of DHCPACKs and
  TFTP/HTTP requests that shows which server a client fetched its files from.
- render (+ render.yml): the pxe role's own task files run on the controller for a netns pair.
- servers: in.tftpd and an HTTP server inside a dhcplab server namespace.
- tftp: a small TFTP client for comparing what the nodes serve.
"""
