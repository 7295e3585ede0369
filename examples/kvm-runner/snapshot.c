/* SPDX-License-Identifier: MIT */
/*
 * Whole-VM snapshots with libvdev's state codec (vdev/state.h):
 *
 *   section VRUN (v1, required)
 *     CONF  ram size, BIOS size, device count (must match the loading VM)
 *     REGS SREG FPU_ XSAV XCRS MSRS LAPI EVNT MPST   vCPU (KVM structs)
 *     PICM PICS IOAP PIT2 CLCK VCLK                  irqchip, PIT, clocks
 *     CMOS UART FWCF PCIH P92_                       the runner's platform devices
 *     RAMC* (u64 offset + up to 64 MiB each)         guest RAM
 *   section DEVS: every libvdev device (vdev_device_save), command-line order
 *
 * KVM structs are saved as they are: a state file is for the same runner
 * build on the same host. Loading runs before the vCPU and I/O threads
 * start; every runner record is checked (presence, exact sizes, RAM ranges,
 * configuration match) before anything is applied, and each libvdev device
 * validates its own state before touching itself. Any failure ends the run
 * before the guest executes an instruction, so nothing half-loaded ever runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner.h"

#define T(a, b, c, d) VDEV_STATE_TAG(a, b, c, d)
#define TAG_VRUN T('V', 'R', 'U', 'N')
#define TAG_DEVS T('D', 'E', 'V', 'S')
#define TAG_RAMC T('R', 'A', 'M', 'C')
#define RAM_CHUNK (64ull << 20)
#define MAX_MSRS 64

struct conf {
	uint64_t ram_size, bios_size;
	uint32_t n_devices, version;
};

/* MSRs worth carrying (if the host's KVM lists them). */
static const uint32_t msr_wanted[] = {
	0x10, 0x174, 0x175, 0x176, 0x1a0, 0x277, 0x2ff, 0x250, 0x258, 0x259,
	0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,
	0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102,
	0x4b564d00, 0x4b564d01, 0x4b564d02, 0x4b564d03, 0x4b564d04,
};

static struct kvm_msrs *msrs_alloc(void)
{
	return calloc(1, sizeof(struct kvm_msrs) + MAX_MSRS * sizeof(struct kvm_msr_entry));
}

/* A vCPU/VM ioctl record: @get reads into a buffer of @len bytes. */
struct kvm_rec {
	uint32_t tag;
	unsigned long get, set;
	size_t len;
	int vm_level; /* 1: VM fd, 0: vCPU fd */
	int optional_cap; /* KVM_CAP_* that must be present, or 0 */
};

static const struct kvm_rec kvm_recs[] = {
	{ T('R', 'E', 'G', 'S'), KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs), 0, 0 },
	{ T('F', 'P', 'U', '_'), KVM_GET_FPU, KVM_SET_FPU, sizeof(struct kvm_fpu), 0, 0 },
	{ T('X', 'S', 'A', 'V'), KVM_GET_XSAVE, KVM_SET_XSAVE, sizeof(struct kvm_xsave), 0,
	  KVM_CAP_XSAVE },
	{ T('X', 'C', 'R', 'S'), KVM_GET_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs), 0,
	  KVM_CAP_XCRS },
	{ T('L', 'A', 'P', 'I'), KVM_GET_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state), 0,
	  0 },
	{ T('M', 'P', 'S', 'T'), KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state),
	  0, 0 },
	{ T('P', 'I', 'T', '2'), KVM_GET_PIT2, KVM_SET_PIT2, sizeof(struct kvm_pit_state2), 1, 0 },
};

static int kvm_fd_for(struct vm *vm, const struct kvm_rec *k)
{
	return k->vm_level ? vm->vm_fd : vcpu_fd(vm);
}

static int has_cap(struct vm *vm, int cap)
{
	return !cap || ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static int put_ioctl(struct vm *vm, vdev_state_writer *w, uint32_t tag, int fd,
		     unsigned long req, void *buf, size_t len)
{
	if (ioctl(fd, req, buf) < 0) {
		fprintf(stderr, "vdev-run: save: ioctl for record %.4s: %s\n", (char *)&tag,
			strerror(errno));
		return -errno;
	}
	(void)vm;
	return vdev_state_put_bytes(w, tag, buf, len);
}

static int msr_list(struct vm *vm, struct kvm_msrs *m)
{
	struct kvm_msr_list *l;
	unsigned int i, j, n = 0;

	l = calloc(1, sizeof(*l) + 1024 * sizeof(uint32_t));
	if (!l)
		return -ENOMEM;
	l->nmsrs = 1024;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return -errno;
	}
	for (i = 0; i < sizeof(msr_wanted) / sizeof(msr_wanted[0]); i++)
		for (j = 0; j < l->nmsrs; j++)
			if (l->indices[j] == msr_wanted[i] && n < MAX_MSRS)
				m->entries[n++].index = msr_wanted[i];
	free(l);
	m->nmsrs = n;
	return 0;
}

static int save_vm(struct vm *vm, vdev_state_writer *w)
{
	union {
		struct kvm_sregs sregs;
		struct kvm_vcpu_events ev;
		struct kvm_irqchip chip;
		struct kvm_clock_data clock;
		struct kvm_regs regs;
		struct kvm_fpu fpu;
		struct kvm_xsave xsave;
		struct kvm_xcrs xcrs;
		struct kvm_lapic_state lapic;
		struct kvm_mp_state mp;
		struct kvm_pit_state2 pit;
	} *u;
	struct kvm_msrs *msrs = msrs_alloc();
	struct conf conf = { vm->ram_size, vm->bios_size, devices_count(vm), 1 };
	unsigned int i;
	uint64_t off, vclock;
	int rc;

	u = calloc(1, sizeof(*u));
	if (!u || !msrs) {
		free(u);
		free(msrs);
		return -ENOMEM;
	}
	rc = vdev_state_begin(w, TAG_VRUN, 1, VDEV_STATE_F_REQUIRED);
	rc = rc ? rc : vdev_state_put_bytes(w, T('C', 'O', 'N', 'F'), &conf, sizeof(conf));
	for (i = 0; !rc && i < sizeof(kvm_recs) / sizeof(kvm_recs[0]); i++) {
		const struct kvm_rec *k = &kvm_recs[i];

		if (!has_cap(vm, k->optional_cap))
			continue;
		memset(u, 0, sizeof(*u));
		rc = put_ioctl(vm, w, k->tag, kvm_fd_for(vm, k), k->get, u, k->len);
	}
	if (!rc) {
		memset(u, 0, sizeof(*u));
		rc = put_ioctl(vm, w, T('S', 'R', 'E', 'G'), vcpu_fd(vm), KVM_GET_SREGS, u,
			       sizeof(u->sregs));
	}
	if (!rc) {
		memset(u, 0, sizeof(*u));
		rc = put_ioctl(vm, w, T('E', 'V', 'N', 'T'), vcpu_fd(vm), KVM_GET_VCPU_EVENTS, u,
			       sizeof(u->ev));
	}
	for (i = 0; !rc && i < 3; i++) {
		static const uint32_t tags[3] = { T('P', 'I', 'C', 'M'), T('P', 'I', 'C', 'S'),
						  T('I', 'O', 'A', 'P') };

		memset(u, 0, sizeof(*u));
		u->chip.chip_id = i;
		rc = put_ioctl(vm, w, tags[i], vm->vm_fd, KVM_GET_IRQCHIP, u, sizeof(u->chip));
	}
	if (!rc) {
		memset(u, 0, sizeof(*u));
		rc = put_ioctl(vm, w, T('C', 'L', 'C', 'K'), vm->vm_fd, KVM_GET_CLOCK, u,
			       sizeof(u->clock));
	}
	if (!rc)
		rc = msr_list(vm, msrs);
	if (!rc) {
		int n = ioctl(vcpu_fd(vm), KVM_GET_MSRS, msrs);

		if (n < 0 || (uint32_t)n != msrs->nmsrs)
			rc = -EIO;
		else
			rc = vdev_state_put_bytes(w, T('M', 'S', 'R', 'S'), msrs->entries,
						  msrs->nmsrs * sizeof(msrs->entries[0]));
	}
	vclock = vm_clock_ns(vm);
	rc = rc ? rc : vdev_state_put_u64(w, T('V', 'C', 'L', 'K'), vclock);
	rc = rc ? rc : cmos_save(vm, w);
	rc = rc ? rc : serial_save(vm, w);
	rc = rc ? rc : fw_cfg_save(vm, w);
	rc = rc ? rc : pci_host_save(vm, w);
	rc = rc ? rc : vdev_state_put_u8(w, T('P', '9', '2', '_'), vm->port92);
	for (off = 0; !rc && off < vm->ram_size; off += RAM_CHUNK) {
		uint64_t n = vm->ram_size - off < RAM_CHUNK ? vm->ram_size - off : RAM_CHUNK;
		uint8_t *rec = malloc(8 + n);

		if (!rec) {
			rc = -ENOMEM;
			break;
		}
		memcpy(rec, &off, 8);
		memcpy(rec + 8, vm->ram + off, n);
		rc = vdev_state_put_bytes(w, TAG_RAMC, rec, 8 + n);
		free(rec);
	}
	rc = rc ? rc : vdev_state_end(w);
	rc = rc ? rc : vdev_state_begin(w, TAG_DEVS, 1, VDEV_STATE_F_REQUIRED);
	rc = rc ? rc : devices_save(vm, w);
	rc = rc ? rc : vdev_state_end(w);
	free(u);
	free(msrs);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The caller paused the vCPU. Writes PATH.tmp, then renames it: a reader never sees half a file. */
int snapshot_save(struct vm *vm, const char *path)
{
	vdev_state_writer *w = NULL;
	const void *blob;
	size_t len;
	char tmp[4096];
	int fd, rc;

	rc = vdev_state_writer_new(&w);
	if (rc)
		return rc;
	pthread_mutex_lock(&vm->lock);
	rc = save_vm(vm, w);
	pthread_mutex_unlock(&vm->lock);
	if (!rc)
		rc = vdev_state_writer_finish(w, &blob, &len);
	if (!rc) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = -errno;
		} else {
			rc = write_all(fd, blob, len);
			if (!rc && fsync(fd) < 0)
				rc = -errno;
			close(fd);
			if (!rc && rename(tmp, path) < 0)
				rc = -errno;
			if (rc)
				unlink(tmp);
		}
	}
	if (rc)
		fprintf(stderr, "vdev-run: --save-state %s: %s\n", path, vdev_strerror(rc));
	vdev_state_writer_free(w);
	return rc;
}

/* ---- load ---------------------------------------------------------------- */

struct staged {
	const void *kvm[sizeof(kvm_recs) / sizeof(kvm_recs[0])];
	const void *sregs, *events, *chip[3], *clock, *msrs;
	uint32_t msrs_len;
	uint64_t vclock;
	int have_vclock;
	struct vdev_state_record cmos, uart, fwcf, pcih;
	int have_cmos, have_uart, have_fwcf, have_pcih, have_p92, have_conf;
	uint8_t p92;
	uint64_t ram_covered;
};

static int fail(const char *path, const char *why)
{
	fprintf(stderr, "vdev-run: --load-state %s: %s; nothing was loaded\n", path, why);
	return -EBADMSG;
}

/* Walk the VRUN section: check every record, apply nothing except RAM staging checks. */
static int stage(struct vm *vm, vdev_state_reader *r, struct staged *s, const char *path,
		 int apply_ram)
{
	struct vdev_state_record rec;
	unsigned int i;
	char why[128];
	int rc;

	while ((rc = vdev_state_next(r, &rec)) == 1) {
		const uint8_t *p = rec.data;
		int known = 0;

		for (i = 0; i < sizeof(kvm_recs) / sizeof(kvm_recs[0]); i++) {
			if (rec.tag != kvm_recs[i].tag)
				continue;
			if (rec.type != VDEV_STATE_BYTES || rec.len != kvm_recs[i].len)
				return fail(path, "a KVM record has the wrong size");
			s->kvm[i] = rec.data;
			known = 1;
		}
		if (known)
			continue;
		switch (rec.tag) {
		case T('C', 'O', 'N', 'F'): {
			struct conf c;

			if (rec.len != sizeof(c))
				return fail(path, "bad CONF record");
			memcpy(&c, p, sizeof(c));
			if (c.version != 1 || c.ram_size != vm->ram_size ||
			    c.bios_size != vm->bios_size || c.n_devices != devices_count(vm)) {
				snprintf(why, sizeof(why), "saved with other options (RAM %llu MiB, "
					 "%u devices)", (unsigned long long)(c.ram_size >> 20),
					 c.n_devices);
				return fail(path, why);
			}
			s->have_conf = 1;
			break;
		}
		case T('S', 'R', 'E', 'G'):
			if (rec.len != sizeof(struct kvm_sregs))
				return fail(path, "bad SREG record");
			s->sregs = p;
			break;
		case T('E', 'V', 'N', 'T'):
			if (rec.len != sizeof(struct kvm_vcpu_events))
				return fail(path, "bad EVNT record");
			s->events = p;
			break;
		case T('P', 'I', 'C', 'M'):
		case T('P', 'I', 'C', 'S'):
		case T('I', 'O', 'A', 'P'): {
			unsigned int id = rec.tag == T('P', 'I', 'C', 'M') ? 0 :
					  rec.tag == T('P', 'I', 'C', 'S') ? 1 : 2;
			uint32_t chip_id;

			/* Records are not aligned in the blob: copy, never cast. */
			memcpy(&chip_id, p + offsetof(struct kvm_irqchip, chip_id), sizeof(chip_id));
			if (rec.len != sizeof(struct kvm_irqchip) || chip_id != id)
				return fail(path, "bad irqchip record");
			s->chip[id] = p;
			break;
		}
		case T('C', 'L', 'C', 'K'):
			if (rec.len != sizeof(struct kvm_clock_data))
				return fail(path, "bad CLCK record");
			s->clock = p;
			break;
		case T('M', 'S', 'R', 'S'):
			if (rec.len % sizeof(struct kvm_msr_entry) ||
			    rec.len / sizeof(struct kvm_msr_entry) > MAX_MSRS)
				return fail(path, "bad MSRS record");
			s->msrs = p;
			s->msrs_len = rec.len;
			break;
		case T('V', 'C', 'L', 'K'):
			if (vdev_state_record_uint(&rec, &s->vclock))
				return fail(path, "bad VCLK record");
			s->have_vclock = 1;
			break;
		case T('C', 'M', 'O', 'S'):
			s->cmos = rec;
			s->have_cmos = rec.len == 129;
			break;
		case T('U', 'A', 'R', 'T'):
			s->uart = rec;
			s->have_uart = rec.len == 8;
			break;
		case T('F', 'W', 'C', 'F'):
			s->fwcf = rec;
			s->have_fwcf = rec.len == 6;
			break;
		case T('P', 'C', 'I', 'H'):
			s->pcih = rec;
			s->have_pcih = rec.len == 518;
			break;
		case T('P', '9', '2', '_'):
			if (rec.type != VDEV_STATE_U8)
				return fail(path, "bad P92_ record");
			s->p92 = p[0];
			s->have_p92 = 1;
			break;
		case TAG_RAMC: {
			uint64_t off;

			if (rec.len < 8)
				return fail(path, "bad RAM record");
			memcpy(&off, p, 8);
			/* Chunks come in order and cover RAM exactly. */
			if (off != s->ram_covered || rec.len - 8 > vm->ram_size - off ||
			    (rec.len - 8 != RAM_CHUNK && off + rec.len - 8 != vm->ram_size))
				return fail(path, "RAM records do not cover guest RAM");
			if (apply_ram)
				memcpy(vm->ram + off, p + 8, rec.len - 8);
			s->ram_covered += rec.len - 8;
			break;
		}
		default:
			if (rec.flags & VDEV_STATE_F_REQUIRED)
				return fail(path, "unknown required record");
			break;
		}
	}
	if (rc < 0)
		return fail(path, vdev_state_reader_error(r));
	if (!s->have_conf || !s->sregs || !s->events || !s->chip[0] || !s->chip[1] ||
	    !s->chip[2] || !s->clock || !s->msrs || !s->have_vclock || !s->have_cmos ||
	    !s->have_uart || !s->have_fwcf || !s->have_pcih || !s->have_p92 ||
	    s->ram_covered != vm->ram_size)
		return fail(path, "records are missing or malformed");
	for (i = 0; i < sizeof(kvm_recs) / sizeof(kvm_recs[0]); i++)
		if (!s->kvm[i] && has_cap(vm, kvm_recs[i].optional_cap))
			return fail(path, "a vCPU record is missing");
	return 0;
}

static int set_kvm(struct vm *vm, const struct staged *s)
{
	struct kvm_msrs *msrs;
	unsigned int i;
	int n;

	for (i = 0; i < 3; i++)
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, s->chip[i]) < 0)
			return -errno;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, s->clock) < 0)
		return -errno;
	if (ioctl(vcpu_fd(vm), KVM_SET_SREGS, s->sregs) < 0)
		return -errno;
	for (i = 0; i < sizeof(kvm_recs) / sizeof(kvm_recs[0]); i++) {
		const struct kvm_rec *k = &kvm_recs[i];

		if (s->kvm[i] && ioctl(kvm_fd_for(vm, k), k->set, s->kvm[i]) < 0)
			return -errno;
	}
	msrs = msrs_alloc();
	if (!msrs)
		return -ENOMEM;
	msrs->nmsrs = s->msrs_len / sizeof(msrs->entries[0]);
	memcpy(msrs->entries, s->msrs, s->msrs_len);
	n = ioctl(vcpu_fd(vm), KVM_SET_MSRS, msrs);
	i = msrs->nmsrs;
	free(msrs);
	if (n < 0 || (uint32_t)n != i)
		return -EIO;
	if (ioctl(vcpu_fd(vm), KVM_SET_VCPU_EVENTS, s->events) < 0)
		return -errno;
	return 0;
}

static int read_whole(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	*buf = NULL;
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < *len) {
		n = read(fd, *buf + got, *len - got);
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int snapshot_load(struct vm *vm, const char *path)
{
	vdev_state_reader *r = NULL;
	struct vdev_state_record rec;
	struct staged s;
	uint8_t *blob = NULL;
	size_t len = 0;
	char why[256];
	int rc;

	rc = read_whole(path, &blob, &len);
	if (rc) {
		fprintf(stderr, "vdev-run: --load-state %s: %s\n", path, strerror(-rc));
		goto out;
	}
	rc = vdev_state_validate(blob, len, why, sizeof(why));
	if (rc) {
		rc = fail(path, why[0] ? why : vdev_strerror(rc));
		goto out;
	}
	/* Pass 1: check everything. Pass 2: apply. */
	for (int pass = 0; pass < 2; pass++) {
		vdev_state_reader_free(r);
		r = NULL;
		rc = vdev_state_reader_new(blob, len, &r);
		if (rc)
			goto out;
		rc = vdev_state_next(r, &rec);
		if (rc != 1 || rec.tag != TAG_VRUN || rec.type != VDEV_STATE_SECTION ||
		    rec.version != 1 || vdev_state_enter(r)) {
			rc = fail(path, "not a vdev-run state file (no VRUN section)");
			goto out;
		}
		memset(&s, 0, sizeof(s));
		rc = stage(vm, r, &s, path, pass == 1);
		if (rc)
			goto out;
		vdev_state_leave(r);
		rc = vdev_state_next(r, &rec);
		if (rc != 1 || rec.tag != TAG_DEVS || rec.type != VDEV_STATE_SECTION) {
			rc = fail(path, "no device section");
			goto out;
		}
	}
	/* Apply: RAM is in (pass 2); platform devices; libvdev devices; KVM state. */
	rc = cmos_load(vm, &s.cmos);
	rc = rc ? rc : serial_load(vm, &s.uart);
	rc = rc ? rc : fw_cfg_load(vm, &s.fwcf);
	rc = rc ? rc : pci_host_load(vm, &s.pcih);
	if (rc) {
		rc = fail(path, "a platform device record is invalid");
		goto out;
	}
	vm->port92 = s.p92;
	vm->clock_base_ns += vm_clock_ns(vm) - s.vclock;
	rc = vdev_state_enter(r);
	if (!rc)
		rc = devices_load(vm, r);
	if (rc) {
		fprintf(stderr, "vdev-run: --load-state %s: device state refused; not starting\n",
			path);
		goto out;
	}
	rc = set_kvm(vm, &s);
	if (rc)
		fprintf(stderr, "vdev-run: --load-state %s: restoring KVM state: %s\n", path,
			strerror(-rc));
out:
	vdev_state_reader_free(r);
	free(blob);
	return rc;
}
