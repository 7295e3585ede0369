# Sources of lib/block (appended to VDEV_SOURCES). One file per line.
list(APPEND VDEV_SOURCES
  lib/block/blk.c
  lib/block/blk_validate.c
  lib/block/blk_inline.c
  lib/block/blk_loop.c
  lib/block/blk_memory.c
  lib/block/blk_null.c
  lib/block/blk_file.c
  lib/block/blk_file_io.c
  lib/block/blk_fault.c
  lib/block/blk_sg.c
  lib/block/blk_sg_io.c
  lib/block/blk_threads.c
  lib/block/blk_uring.c
)
