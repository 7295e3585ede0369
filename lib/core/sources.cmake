list(APPEND VDEV_SOURCES
  lib/core/builtin.c
  lib/core/ctx.c
  lib/core/error.c
  lib/core/irq.c
  lib/core/log.c
  lib/core/mem_map.c
  lib/core/mem_remote.c
  lib/core/msg_sock.c
  lib/core/kv.c
  lib/core/registry.c
  lib/core/state_reader.c
  lib/core/state_writer.c
  lib/core/state_fields.c
  lib/core/timer.c
  lib/core/version.c)
