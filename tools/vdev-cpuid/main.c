/* SPDX-License-Identifier: MIT */
/*
 * vdev-cpuid: the CPUID tables of libvdev from the command line.
 *
 *   vdev-cpuid list
 *   vdev-cpuid show MODEL[,+feat,-feat...] [--topology S:C:T] [--vcpu N]
 *                   [--hyperv] [--no-kvm] [--mask-host] [--enforce]
 *   vdev-cpuid host
 *   vdev-cpuid diff A B          (A, B: model specs or files written by show/host)
 *   vdev-cpuid baseline A B ...
 *
 * Exit status: 0 success (diff: a guest on A may move to B), 1 failure
 * (diff: it may not), 2 bad arguments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <vdev/vdev.h>

static void usage(void)
{
	fprintf(stderr,
		"usage: vdev-cpuid list\n"
		"       vdev-cpuid show MODEL[,+feat,-feat...] [--topology S:C:T] [--vcpu N]\n"
		"                       [--hyperv] [--no-kvm] [--mask-host] [--enforce]\n"
		"       vdev-cpuid host\n"
		"       vdev-cpuid diff A B         (model specs or files from show/host)\n"
		"       vdev-cpuid baseline A B ...\n");
}

static void log_line(void *opaque, enum vdev_log_level level, const char *msg)
{
	(void)opaque;
	if (level <= VDEV_LOG_WARN)
		fprintf(stderr, "vdev-cpuid: %s\n", msg);
}

static int parse_uint(const char *s, unsigned long max, uint32_t *v)
{
	char *end;
	unsigned long x;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno || *end || x > max)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int cmd_list(void)
{
	struct vdev_cpuid_model_info mi;
	size_t i;

	printf("%-16s %-3s %-13s %-20s %s\n", "MODEL", "VER", "VENDOR", "FAMILY/MODEL/STEP",
	       "DESCRIPTION");
	for (i = 0;; i++) {
		mi.struct_size = sizeof(mi);
		if (vdev_cpuid_model_get(i, &mi))
			break;
		printf("%-16s %-3u %-13s %2u/%3u/%-12u %s\n", mi.name, mi.version, mi.vendor,
		       mi.family, mi.model, mi.stepping, mi.description);
	}
	return 0;
}

static void print_entries(const vdev_cpuid_table *t, uint32_t vcpu)
{
	struct vdev_cpuid_feature_info fi;
	size_t n = vdev_cpuid_entry_count(t), i;
	struct vdev_cpuid_entry *e = calloc(n ? n : 1, sizeof(*e));
	int rc;

	if (!e)
		return;
	rc = vdev_cpuid_entries(t, vcpu, e, n);
	printf("# function index     flags eax        ebx        ecx        edx\n");
	for (i = 0; rc > 0 && i < (size_t)rc; i++)
		printf("0x%08x 0x%08x 0x%x 0x%08x 0x%08x 0x%08x 0x%08x\n", e[i].function,
		       e[i].index, e[i].flags, e[i].eax, e[i].ebx, e[i].ecx, e[i].edx);
	free(e);
	printf("# features:");
	for (i = 0;; i++) {
		fi.struct_size = sizeof(fi);
		if (vdev_cpuid_feature_get(i, NULL, &fi))
			break;
		if (vdev_cpuid_table_has(t, fi.name) == 1)
			printf(" %s", fi.name);
	}
	printf("\n");
	for (i = 0; vdev_cpuid_table_dropped(t, i); i++)
		printf("%s %s", i ? "" : "# dropped (host lacks):", vdev_cpuid_table_dropped(t, i));
	if (i)
		printf("\n");
}

static int cmd_show(vdev_ctx *ctx, int argc, char **argv)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o) };
	vdev_cpuid_table *t = NULL, *host = NULL;
	uint32_t vcpu = 0;
	int i, rc, mask_host = 0;

	if (argc < 1)
		return 2;
	o.model = argv[0];
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--topology") && i + 1 < argc) {
			char extra;

			if (sscanf(argv[++i], "%u:%u:%u%c", &o.sockets, &o.cores, &o.threads,
				   &extra) != 3 || !o.sockets || !o.cores || !o.threads)
				return 2;
		} else if (!strcmp(argv[i], "--vcpu") && i + 1 < argc) {
			if (parse_uint(argv[++i], 0xffffffffu, &vcpu))
				return 2;
		} else if (!strcmp(argv[i], "--hyperv")) {
			o.hyperv = 1;
		} else if (!strcmp(argv[i], "--no-kvm")) {
			o.kvm_features = VDEV_CPUID_KVM_NONE;
		} else if (!strcmp(argv[i], "--mask-host")) {
			mask_host = 1;
		} else if (!strcmp(argv[i], "--enforce")) {
			o.enforce = 1;
		} else {
			return 2;
		}
	}
	if (mask_host || !strncmp(o.model, "host", 4)) {
		rc = vdev_cpuid_host_kvm(ctx, &host);
		if (rc) {
			fprintf(stderr, "vdev-cpuid: no host table: %s\n", vdev_strerror(rc));
			return 1;
		}
		o.host = host;
	}
	rc = vdev_cpuid_build(ctx, &o, &t);
	if (rc) {
		fprintf(stderr, "vdev-cpuid: %s: %s\n", o.model, vdev_strerror(rc));
		vdev_cpuid_table_free(host);
		return 1;
	}
	if (vcpu && vdev_cpuid_entries(t, vcpu, NULL, 0) == -EINVAL) {
		fprintf(stderr, "vdev-cpuid: vCPU %u is outside the topology\n", vcpu);
		vdev_cpuid_table_free(t);
		vdev_cpuid_table_free(host);
		return 2;
	}
	printf("# vdev-cpuid show %s, vCPU %u\n", o.model, vcpu);
	print_entries(t, vcpu);
	vdev_cpuid_table_free(t);
	vdev_cpuid_table_free(host);
	return 0;
}

static int dump_table(const vdev_cpuid_table *t)
{
	int len = vdev_cpuid_dump(t, NULL, 0);
	char *buf;

	if (len < 0)
		return 1;
	buf = malloc((size_t)len + 1);
	if (!buf)
		return 1;
	vdev_cpuid_dump(t, buf, (size_t)len + 1);
	fputs(buf, stdout);
	free(buf);
	return 0;
}

static int cmd_host(vdev_ctx *ctx)
{
	vdev_cpuid_table *t;
	int rc = vdev_cpuid_host_kvm(ctx, &t);

	if (rc) {
		fprintf(stderr, "vdev-cpuid: cannot read the host's CPUID from KVM: %s\n",
			vdev_strerror(rc));
		return 1;
	}
	rc = dump_table(t);
	vdev_cpuid_table_free(t);
	return rc;
}

/* A readable file is parsed; anything else is a model spec. */
static int load(vdev_ctx *ctx, const char *arg, vdev_cpuid_table **out)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = arg };
	struct stat st;
	FILE *f;
	char *buf;
	size_t n;
	int rc;

	if (stat(arg, &st) != 0 || !S_ISREG(st.st_mode))
		return vdev_cpuid_build(ctx, &o, out);
	if (st.st_size > (1 << 20))
		return -EFBIG;
	f = fopen(arg, "r");
	if (!f)
		return -errno;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	rc = vdev_cpuid_parse(ctx, buf, n, out);
	free(buf);
	return rc;
}

static void print_lacking(void *opaque, const char *name)
{
	printf("%s %s\n", (const char *)opaque, name);
}

static int cmd_diff(vdev_ctx *ctx, char **argv)
{
	vdev_cpuid_table *a = NULL, *b = NULL;
	int rc, ab;

	rc = load(ctx, argv[0], &a);
	if (!rc)
		rc = load(ctx, argv[1], &b);
	if (rc) {
		fprintf(stderr, "vdev-cpuid: %s: %s\n", a ? argv[1] : argv[0], vdev_strerror(rc));
		vdev_cpuid_table_free(a);
		return 1;
	}
	/* "-" lines: in A, missing in B; "+" lines: only in B. */
	ab = vdev_cpuid_compare(a, b, print_lacking, "-");
	vdev_cpuid_compare(b, a, print_lacking, "+");
	printf("# %s -> %s: %s\n", argv[0], argv[1], ab == 1 ? "safe" : "NOT safe");
	vdev_cpuid_table_free(a);
	vdev_cpuid_table_free(b);
	return ab == 1 ? 0 : 1;
}

static int cmd_baseline(vdev_ctx *ctx, int argc, char **argv)
{
	vdev_cpuid_table **t = calloc((size_t)argc, sizeof(*t));
	vdev_cpuid_table *base = NULL;
	int i, rc = 0, ret = 1;

	if (!t)
		return 1;
	for (i = 0; i < argc && !rc; i++) {
		rc = load(ctx, argv[i], &t[i]);
		if (rc)
			fprintf(stderr, "vdev-cpuid: %s: %s\n", argv[i], vdev_strerror(rc));
	}
	if (!rc) {
		rc = vdev_cpuid_baseline(ctx, (const vdev_cpuid_table *const *)t, (size_t)argc,
					 &base);
		if (rc)
			fprintf(stderr, "vdev-cpuid: baseline: %s\n", vdev_strerror(rc));
		else
			ret = dump_table(base);
	}
	for (i = 0; i < argc; i++)
		vdev_cpuid_table_free(t[i]);
	free(t);
	vdev_cpuid_table_free(base);
	return ret;
}

int main(int argc, char **argv)
{
	struct vdev_host_ops ops = { .struct_size = sizeof(ops), .log = log_line };
	vdev_ctx *ctx = NULL;
	int rc = 2;

	if (argc < 2) {
		usage();
		return 2;
	}
	if (vdev_ctx_new(&ops, &ctx)) {
		fprintf(stderr, "vdev-cpuid: cannot create a context\n");
		return 1;
	}
	if (!strcmp(argv[1], "list") && argc == 2)
		rc = cmd_list();
	else if (!strcmp(argv[1], "show") && argc >= 3)
		rc = cmd_show(ctx, argc - 2, argv + 2);
	else if (!strcmp(argv[1], "host") && argc == 2)
		rc = cmd_host(ctx);
	else if (!strcmp(argv[1], "diff") && argc == 4)
		rc = cmd_diff(ctx, argv + 2);
	else if (!strcmp(argv[1], "baseline") && argc >= 4)
		rc = cmd_baseline(ctx, argc - 2, argv + 2);
	if (rc == 2)
		usage();
	vdev_ctx_free(ctx);
	return rc;
}
