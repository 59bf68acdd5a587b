"""Guest images: the minimal initramfs guest, the Debian image, pinned source tarballs."""
