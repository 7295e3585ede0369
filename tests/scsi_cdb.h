/* SPDX-License-Identifier: MIT */
/*
 * CDBs the transport tests build (header-only: one program per test file).
 */
#ifndef VDEV_TESTS_SCSI_CDB_H
#define VDEV_TESTS_SCSI_CDB_H

#include <stdint.h>
#include <string.h>

/* READ(10) / WRITE(10) (SBC-3 §5.11, §5.35) into @cdb's first 10 bytes. */
static inline void scsi_cdb_rw10(uint8_t *cdb, int write, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 10);
	cdb[0] = write ? 0x2a : 0x28;
	cdb[2] = (uint8_t)(lba >> 24);
	cdb[3] = (uint8_t)(lba >> 16);
	cdb[4] = (uint8_t)(lba >> 8);
	cdb[5] = (uint8_t)lba;
	cdb[7] = (uint8_t)(blocks >> 8);
	cdb[8] = (uint8_t)blocks;
}

#endif
