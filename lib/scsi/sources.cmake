# Sources of lib/scsi (appended to VDEV_SOURCES). One file per line.
list(APPEND VDEV_SOURCES
  lib/scsi/scsi_bus.c
  lib/scsi/scsi_cdb.c
  lib/scsi/scsi_inquiry.c
  lib/scsi/scsi_iov.c
  lib/scsi/scsi_lun_str.c
  lib/scsi/scsi_mmc.c
  lib/scsi/scsi_mode.c
  lib/scsi/scsi_passthrough.c
  lib/scsi/scsi_pr.c
  lib/scsi/scsi_pt_policy.c
  lib/scsi/scsi_req.c
  lib/scsi/scsi_sbc.c
  lib/scsi/scsi_sbc_ext.c
  lib/scsi/scsi_sense.c
  lib/scsi/scsi_spc.c
  lib/scsi/scsi_state.c
  lib/scsi/scsi_tmf.c
  lib/scsi/scsi_ua.c
)
