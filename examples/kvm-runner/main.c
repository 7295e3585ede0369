/* SPDX-License-Identifier: MIT */
/*
 * vdev-run: boot SeaBIOS (or a Linux bzImage) in KVM with libvdev devices.
 *
 *   vdev-run [--bios FILE] [--device SPEC]... [--serial stdio|none|FILE]
 *            [--debugcon FILE] [-m SIZE] [--kernel FILE [--append STR]
 *            [--initrd FILE]] [--save-state FILE] [--load-state FILE]
 *            [--timeout SEC] [--sercon] [--cpu MODEL[,+f,-f]] [-v]
 *
 * Exit status: odd = the guest wrote v to port 0x501 ((v << 1) | 1);
 * 2 bad command line; 4 guest reset/shutdown; 6 --timeout; 70 failure.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "bzimage.h"
#include "runner.h"

#define DEFAULT_BIOS "/usr/share/seabios/bios.bin"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vdev-run [options]\n"
		"  --bios FILE         firmware image (default " DEFAULT_BIOS ")\n"
		"  --device SPEC       a libvdev device, e.g.\n"
		"                      virtio-scsi-pci,lun0=disk.img,lun1=cdrom:boot.iso,boot=lun1\n"
		"  -m, --memory SIZE   guest RAM (MiB, or with a K/M/G suffix; default 128M)\n"
		"  --serial DEST       COM1 output: stdio (default), none or a file\n"
		"  --debugcon FILE     port 0x402 (SeaBIOS log) to FILE\n"
		"  --sercon            ask SeaBIOS to mirror its screen on COM1\n"
		"  --kernel FILE       boot a Linux bzImage (64-bit boot protocol) instead\n"
		"  --append STR        kernel command line\n"
		"  --initrd FILE       initial ramdisk\n"
		"  --save-state FILE   on SIGUSR1, save the whole VM to FILE (and keep running)\n"
		"  --load-state FILE   start from a state saved with --save-state\n"
		"  --timeout SEC       end the run after SEC seconds (exit status 6)\n"
		"  --cpu MODEL[,+feat,-feat]  a libvdev CPU model, masked against the host\n"
		"                      (default: the host's KVM_GET_SUPPORTED_CPUID)\n"
		"  -v, --verbose       more log (twice: debug)\n"
		"  -h, --help          this text\n"
		"exit status: (v << 1) | 1 when the guest writes v to port 0x501; 2 usage;\n"
		"4 guest reset; 6 timeout; 70 failure\n");
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vdev-run: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vdev-run --help'.\n");
	return RUN_EXIT_USAGE;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (!*end || !strcmp(end, "M") || !strcmp(end, "m"))
		v <<= 20;
	else if (!strcmp(end, "G") || !strcmp(end, "g"))
		v <<= 30;
	else if (!strcmp(end, "K") || !strcmp(end, "k"))
		v <<= 10;
	else
		return -EINVAL;
	if (v < (16ull << 20) || v > (64ull << 30) || (v & 0xfffff))
		return -ERANGE;
	*out = v;
	return 0;
}

/* @return 0 to run, or an exit status. */
static int parse_args(int argc, char **argv, struct vm_opts *o)
{
	enum { O_BIOS = 256, O_DEVICE, O_SERIAL, O_DEBUGCON, O_KERNEL, O_APPEND, O_INITRD,
	       O_SAVE, O_LOAD, O_TIMEOUT, O_SERCON, O_CPU };
	static const struct option lopts[] = {
		{ "bios", required_argument, NULL, O_BIOS },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "memory", required_argument, NULL, 'm' },
		{ "serial", required_argument, NULL, O_SERIAL },
		{ "debugcon", required_argument, NULL, O_DEBUGCON },
		{ "sercon", no_argument, NULL, O_SERCON },
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "append", required_argument, NULL, O_APPEND },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "save-state", required_argument, NULL, O_SAVE },
		{ "load-state", required_argument, NULL, O_LOAD },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "cpu", required_argument, NULL, O_CPU },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	unsigned long t;
	int c;

	memset(o, 0, sizeof(*o));
	o->ram_size = 128ull << 20;
	o->serial = "stdio";
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:vh", lopts, NULL)) != -1) {
		switch (c) {
		case O_BIOS: o->bios = optarg; break;
		case O_DEVICE:
			if (o->n_devices == sizeof(o->devices) / sizeof(o->devices[0]))
				return bad_usage("too many --device options");
			o->devices[o->n_devices++] = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &o->ram_size))
				return bad_usage("--memory %s: want 16M..64G in whole MiB", optarg);
			break;
		case O_SERIAL: o->serial = optarg; break;
		case O_DEBUGCON: o->debugcon = optarg; break;
		case O_SERCON: o->sercon = 1; break;
		case O_KERNEL: o->kernel = optarg; break;
		case O_APPEND: o->append = optarg; break;
		case O_INITRD: o->initrd = optarg; break;
		case O_SAVE: o->save_state = optarg; break;
		case O_LOAD: o->load_state = optarg; break;
		case O_TIMEOUT:
			errno = 0;
			t = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' || t == 0 || t > 86400)
				return bad_usage("--timeout %s: want 1..86400 seconds", optarg);
			o->timeout_s = (unsigned int)t;
			break;
		case O_CPU: o->cpu_model = optarg; break;
		case 'v': o->verbose++; break;
		case 'h': usage(stdout); return -1;
		case ':': return bad_usage("option %s needs an argument", argv[optind - 1]);
		default: return bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument %s", argv[optind]);
	if ((o->append || o->initrd) && !o->kernel)
		return bad_usage("--append and --initrd need --kernel");
	if (o->kernel && o->bios)
		return bad_usage("--kernel and --bios exclude each other");
	if (o->kernel && (o->save_state || o->load_state))
		return bad_usage("snapshots are for firmware boots (not with --kernel)");
	if (!o->kernel && !o->bios)
		o->bios = DEFAULT_BIOS;
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* fw_cfg files SeaBIOS reads: "etc/e820" and a few settings. */
static int firmware_files(struct vm *vm)
{
	uint8_t e820[3 * 20];
	unsigned int n = 0;
	uint16_t sercon = 0x3f8;
	uint32_t fail_wait = 1000; /* ms; then SeaBIOS resets, which ends the run */
	int rc;

	memset(e820, 0, sizeof(e820));
	put_le(e820 + n * 20, 0, 8);
	put_le(e820 + n * 20 + 8, vm->ram_below, 8);
	put_le(e820 + n * 20 + 16, 1, 4);
	n++;
	/* KVM's real-mode TSS and identity map (vm.c) */
	put_le(e820 + n * 20, 0xfffbc000, 8);
	put_le(e820 + n * 20 + 8, 0x4000, 8);
	put_le(e820 + n * 20 + 16, 2, 4);
	n++;
	if (vm->ram_above) {
		put_le(e820 + n * 20, GPA_4G, 8);
		put_le(e820 + n * 20 + 8, vm->ram_above, 8);
		put_le(e820 + n * 20 + 16, 1, 4);
		n++;
	}
	rc = fw_cfg_add_file(vm, "etc/e820", e820, n * 20);
	if (!rc)
		rc = fw_cfg_add_file(vm, "etc/boot-fail-wait", &fail_wait, sizeof(fail_wait));
	if (!rc && vm->opts->sercon)
		rc = fw_cfg_add_file(vm, "etc/sercon-port", &sercon, sizeof(sercon));
	return rc;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Main thread: signals (SIGUSR1 = save state, SIGINT/SIGTERM = stop) and the timeout. */
static void supervise(struct vm *vm, int sfd, double start)
{
	struct pollfd pfd[2] = {
		{ .fd = sfd, .events = POLLIN },
		{ .fd = vm->stop_efd, .events = POLLIN },
	};
	struct signalfd_siginfo si;
	int timeout_ms;

	while (!__atomic_load_n(&vm->stop, __ATOMIC_ACQUIRE)) {
		timeout_ms = -1;
		if (vm->opts->timeout_s) {
			double left = vm->opts->timeout_s - (now_s() - start);

			if (left <= 0) {
				vm_request_stop(vm, RUN_EXIT_TIMEOUT, "timeout");
				break;
			}
			timeout_ms = (int)(left * 1000) + 1;
		}
		if (poll(pfd, 2, timeout_ms) <= 0)
			continue;
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGUSR1) {
			if (!vm->opts->save_state) {
				fprintf(stderr, "vdev-run: SIGUSR1 ignored: no --save-state FILE\n");
			} else if (vcpu_pause(vm) == 0) {
				if (snapshot_save(vm, vm->opts->save_state) == 0)
					fprintf(stderr, "vdev-run: state saved to %s\n",
						vm->opts->save_state);
				vcpu_resume(vm);
			}
		} else {
			vm_request_stop(vm, RUN_EXIT_FAILURE, "signal");
		}
	}
}

static void report_unknown(struct vm *vm)
{
	if (vm->pio.unknown_reads || vm->pio.unknown_writes)
		fprintf(stderr, "vdev-run: unknown port accesses: %llu reads, %llu writes "
			"(last at 0x%llx)\n", (unsigned long long)vm->pio.unknown_reads,
			(unsigned long long)vm->pio.unknown_writes,
			(unsigned long long)vm->pio.last_unknown);
	if (vm->mmio.unknown_reads || vm->mmio.unknown_writes)
		fprintf(stderr, "vdev-run: unknown MMIO accesses: %llu reads, %llu writes "
			"(last at 0x%llx)\n", (unsigned long long)vm->mmio.unknown_reads,
			(unsigned long long)vm->mmio.unknown_writes,
			(unsigned long long)vm->mmio.last_unknown);
}

/* Errors that mean "this argument is wrong" (a spec, a missing file): exit status 2. */
static int arg_status(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case -EINVAL: case -ENOENT: case -ENOTSUP: case -EEXIST: case -ERANGE: case -EACCES:
	case -ENOEXEC: case -EPROTONOSUPPORT: case -E2BIG: case -ENAMETOOLONG: case -EISDIR:
	case -EFBIG: case -ENOSPC:
		return RUN_EXIT_USAGE;
	default:
		return RUN_EXIT_FAILURE;
	}
}

/* @return 0, RUN_EXIT_USAGE (a bad device spec or file) or RUN_EXIT_FAILURE. */
static int setup(struct vm *vm, const struct vm_opts *o)
{
	int rc;

	rc = vm_create(vm, o);
	rc = rc ? rc : host_ctx_create(vm);
	rc = rc ? rc : iothread_create(vm);
	rc = rc ? rc : serial_create(vm, o->serial);
	rc = rc ? rc : debugcon_create(vm, o->debugcon);
	rc = rc ? rc : exit_port_create(vm);
	rc = rc ? rc : platform_ports_create(vm);
	rc = rc ? rc : cmos_create(vm);
	rc = rc ? rc : fw_cfg_create(vm);
	rc = rc ? rc : pci_host_create(vm);
	rc = rc ? rc : firmware_files(vm);
	if (rc)
		return RUN_EXIT_FAILURE;
	rc = devices_create(vm);
	if (rc)
		return arg_status(rc);
	rc = vcpu_create(vm);
	if (rc)
		return rc == -EINVAL && o->cpu_model ? RUN_EXIT_USAGE : RUN_EXIT_FAILURE;
	if (o->kernel)
		return arg_status(bzimage_boot(vm, o->kernel, o->append, o->initrd));
	rc = vm_load_bios(vm, o->bios);
	if (rc)
		return arg_status(rc);
	/* A state file that is refused is a failure, not a usage error. */
	if (o->load_state && snapshot_load(vm, o->load_state))
		return RUN_EXIT_FAILURE;
	return 0;
}

int main(int argc, char **argv)
{
	struct vm_opts opts;
	struct vm vm;
	sigset_t set;
	double start = now_s();
	int rc, status, sfd;

	rc = parse_args(argc, argv, &opts);
	if (rc)
		return rc < 0 ? 0 : rc;

	/* Only the main thread takes these, through a signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);

	memset(&vm, 0, sizeof(vm));
	status = setup(&vm, &opts);
	if (!status && (iothread_start(&vm) || vcpu_start(&vm)))
		status = RUN_EXIT_FAILURE;
	if (status) {
		fprintf(stderr, "vdev-run: not started (exit status %d)\n", status);
	} else {
		supervise(&vm, sfd, start);
		vcpu_join(&vm);
		status = vm.exit_status;
		if (opts.verbose || status == RUN_EXIT_RESET || status == RUN_EXIT_FAILURE ||
		    status == RUN_EXIT_TIMEOUT)
			fprintf(stderr, "vdev-run: %s after %.3f s, exit status %d\n",
				vm.stop_reason ? vm.stop_reason : "stopped", now_s() - start,
				status);
		report_unknown(&vm);
	}
	iothread_destroy(&vm);
	devices_destroy(&vm);
	vcpu_destroy(&vm);
	vdev_ctx_free(vm.ctx);
	fw_cfg_destroy(&vm);
	cmos_destroy(&vm);
	pci_host_destroy(&vm);
	serial_destroy(&vm);
	debugcon_destroy(&vm);
	vm_destroy(&vm);
	if (sfd >= 0)
		close(sfd);
	return status;
}
