/* SPDX-License-Identifier: MIT */
/*
 * Persistent reservations of the SCSI target for its one I_T nexus:
 * READ KEYS / READ RESERVATION / REPORT CAPABILITIES, REGISTER (and
 * IGNORE EXISTING KEY), RESERVE and RELEASE of every type, CLEAR,
 * PREEMPT; the generation counter; RESERVATION CONFLICT for wrong keys
 * and types; parameter-list errors with field pointers; and the SPC-4
 * conflict table for a nexus that holds nothing (forced state).
 */
#include "scsi_test_util.h"
#include "scsi/scsi_internal.h"

#define MB (1024u * 1024u)
#define K1 0x1111222233334444ull
#define K2 0xaaaabbbbccccddddull

static int setup(void **state)
{
	struct st *s = st_new();

	st_add_disk(s, 0, 0, MB, 512);
	st_clear_ua(s, 0, 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	st_free(*state);
	return 0;
}

static struct sreq *pr_in(struct st *s, uint8_t sa, uint16_t alloc)
{
	uint8_t cdb[10] = { 0x5e, sa };

	st_put_be(cdb + 7, alloc, 2);
	return st_cmd(s, 0, 0, cdb, 10, NULL, 0, 256);
}

static struct sreq *pr_out_full(struct st *s, uint8_t sa, uint8_t scope_type, uint64_t rk,
				uint64_t sark, uint8_t flags, uint32_t plen, size_t sent)
{
	uint8_t cdb[10] = { 0x5f, sa, scope_type };
	uint8_t p[32] = { 0 };

	st_put_be(cdb + 5, plen, 4);
	st_put_be(p, rk, 8);
	st_put_be(p + 8, sark, 8);
	p[20] = flags;
	return st_cmd(s, 0, 0, cdb, 10, p, sent, 0);
}

static struct sreq *pr_out(struct st *s, uint8_t sa, uint8_t type, uint64_t rk, uint64_t sark)
{
	return pr_out_full(s, sa, type, rk, sark, 0, 24, 24);
}

static void out_good(struct st *s, uint8_t sa, uint8_t type, uint64_t rk, uint64_t sark)
{
	struct sreq *q = pr_out(s, sa, type, rk, sark);

	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, 24);
	sreq_free(q);
}

static void out_conflict(struct st *s, uint8_t sa, uint8_t type, uint64_t rk, uint64_t sark)
{
	struct sreq *q = pr_out(s, sa, type, rk, sark);

	assert_int_equal(q->r.response, VDEV_SCSI_RESP_OK);
	assert_int_equal(q->r.status, VDEV_SCSI_RESERVATION_CONFLICT);
	assert_int_equal(q->r.sense_len, 0);
	sreq_free(q);
}

/* Generation and key list. */
static void expect_keys(struct st *s, uint32_t gen, uint64_t key)
{
	struct sreq *q = pr_in(s, 0x00, 256);

	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), gen);
	assert_int_equal(st_get_be(q->in + 4, 4), key ? 8 : 0);
	assert_int_equal(q->r.data_in_len, key ? 16 : 8);
	if (key)
		assert_int_equal(st_get_be(q->in + 8, 8), key);
	sreq_free(q);
}

static void expect_resv(struct st *s, uint8_t type, uint64_t key)
{
	struct sreq *q = pr_in(s, 0x01, 256);

	st_expect_good(q);
	assert_int_equal(st_get_be(q->in + 4, 4), type ? 16 : 0);
	assert_int_equal(q->r.data_in_len, type ? 24 : 8);
	if (type) {
		assert_int_equal(st_get_be(q->in + 8, 8), key);
		assert_int_equal(q->in[21], type);
	}
	sreq_free(q);
}

static void test_capabilities(void **state)
{
	struct st *s = *state;
	struct sreq *q = pr_in(s, 0x02, 256);

	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8);
	assert_int_equal(st_get_be(q->in, 2), 8);
	assert_int_equal(q->in[2], 0x00); /* no CRH, SIP_C, ATP_C, PTPL_C */
	assert_int_equal(q->in[3], 0x80); /* TMV */
	assert_int_equal(q->in[4], 0xea);
	assert_int_equal(q->in[5], 0x01);
	sreq_free(q);
	expect_keys(s, 0, 0);
	expect_resv(s, 0, 0);
	/* Truncation. */
	q = pr_in(s, 0x00, 4);
	assert_int_equal(q->r.data_in_len, 4);
	sreq_free(q);
}

static void test_register(void **state)
{
	struct st *s = *state;

	/* Unregistering while unregistered: no change, no generation. */
	out_good(s, 0x00, 0, 0, 0);
	expect_keys(s, 0, 0);
	/* A non-zero reservation key while unregistered: conflict. */
	out_conflict(s, 0x00, 0, K1, K2);
	out_good(s, 0x00, 0, 0, K1);
	expect_keys(s, 1, K1);
	out_conflict(s, 0x00, 0, 0, K2);
	out_conflict(s, 0x00, 0, K2, K2);
	out_good(s, 0x00, 0, K1, K2);
	expect_keys(s, 2, K2);
	/* REGISTER AND IGNORE EXISTING KEY. */
	out_good(s, 0x06, 0, 12345, K1);
	expect_keys(s, 3, K1);
	out_good(s, 0x06, 0, 0, 0);
	expect_keys(s, 4, 0);
	out_good(s, 0x06, 0, 0, K2);
	expect_keys(s, 5, K2);
}

static void test_reserve_release(void **state)
{
	struct st *s = *state;
	static const uint8_t types[] = { 1, 3, 5, 6, 7, 8 };
	uint8_t cdb[16], data[512] = { 7 };

	out_conflict(s, 0x01, 1, 0, 0); /* not registered */
	out_good(s, 0x00, 0, 0, K1);
	for (unsigned int i = 0; i < sizeof(types); i++) {
		bool ar = types[i] == 7 || types[i] == 8;

		out_conflict(s, 0x01, types[i], K2, 0); /* wrong key */
		out_good(s, 0x01, types[i], K1, 0);
		expect_resv(s, types[i], ar ? 0 : K1);
		out_good(s, 0x01, types[i], K1, 0);  /* again, same type: fine */
		out_conflict(s, 0x01, types[i] == 1 ? 3 : 1, K1, 0);
		/* The holder reads and writes freely. */
		st_write(s, 0, 0, 3, data, 1, 512);
		st_cmd_good(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 3, 1));
		/* RELEASE with the wrong type; the wrong key; the right one. */
		{
			struct sreq *q = pr_out(s, 0x02, types[i] == 1 ? 3 : 1, K1, 0);

			st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x04);
			sreq_free(q);
		}
		out_conflict(s, 0x02, types[i], K2, 0);
		out_good(s, 0x02, types[i], K1, 0);
		expect_resv(s, 0, 0);
	}
	/* Releasing nothing is fine; the generation never moved. */
	out_good(s, 0x02, 1, K1, 0);
	expect_keys(s, 1, K1);

	/* Unregistering the holder releases the reservation. */
	out_good(s, 0x01, 3, K1, 0);
	out_good(s, 0x00, 0, K1, 0);
	expect_resv(s, 0, 0);
	expect_keys(s, 2, 0);

	/* Bad type and scope. */
	out_good(s, 0x00, 0, 0, K1);
	{
		struct sreq *q = pr_out(s, 0x01, 2, K1, 0);

		st_expect_bad_cdb(q, 2, 3);
		sreq_free(q);
		q = pr_out(s, 0x01, 0x11, K1, 0);
		st_expect_bad_cdb(q, 2, 7);
		sreq_free(q);
		q = pr_out(s, 0x04, 0, K1, K1);
		st_expect_bad_cdb(q, 2, 3);
		sreq_free(q);
	}
}

static void test_clear_preempt(void **state)
{
	struct st *s = *state;
	struct sreq *q;

	out_good(s, 0x00, 0, 0, K1);          /* gen 1 */
	out_good(s, 0x01, 1, K1, 0);
	/* Preempt ourselves into another type; an unknown key conflicts. */
	out_good(s, 0x04, 3, K1, K1);         /* gen 2 */
	expect_resv(s, 3, K1);
	out_conflict(s, 0x04, 3, K1, K2);
	out_conflict(s, 0x04, 3, K2, K1);
	q = pr_out(s, 0x04, 3, K1, 0);
	st_expect_bad_param(q, 8, 7);
	sreq_free(q);
	out_good(s, 0x05, 1, K1, K1);         /* PREEMPT AND ABORT, gen 3 */
	expect_resv(s, 1, K1);
	expect_keys(s, 3, K1);
	/* All-registrants: key 0 preempts everyone and re-reserves. */
	out_good(s, 0x02, 1, K1, 0);
	out_good(s, 0x01, 7, K1, 0);
	out_good(s, 0x04, 8, K1, 0);          /* gen 4 */
	expect_resv(s, 8, 0);
	out_conflict(s, 0x04, 8, K1, K2);
	/* No reservation: key 0 is invalid, our own key is fine. */
	out_good(s, 0x02, 8, K1, 0);
	q = pr_out(s, 0x04, 1, K1, 0);
	st_expect_bad_param(q, 8, 7);
	sreq_free(q);
	out_good(s, 0x04, 1, K1, K1);         /* gen 5 */
	expect_resv(s, 0, 0);
	/* CLEAR: wrong key conflicts; right key wipes everything. */
	out_good(s, 0x01, 5, K1, 0);
	out_conflict(s, 0x03, 0, K2, 0);
	out_good(s, 0x03, 0, K1, 0);          /* gen 6 */
	expect_keys(s, 6, 0);
	expect_resv(s, 0, 0);
	out_conflict(s, 0x03, 0, 0, 0);       /* unregistered */
}

static void test_param_errors(void **state)
{
	struct st *s = *state;
	struct sreq *q;

	q = pr_out_full(s, 0x00, 0, 0, K1, 0, 23, 23);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	sreq_free(q);
	q = pr_out_full(s, 0x00, 0, 0, K1, 0, 32, 32);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	sreq_free(q);
	q = pr_out_full(s, 0x00, 0, 0, K1, 0, 24, 16);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	sreq_free(q);
	q = pr_out_full(s, 0x00, 0, 0, K1, 0x08, 24, 24);
	st_expect_bad_param(q, 20, 3);
	sreq_free(q);
	q = pr_out_full(s, 0x00, 0, 0, K1, 0x04, 24, 24);
	st_expect_bad_param(q, 20, 2);
	sreq_free(q);
	q = pr_out_full(s, 0x00, 0, 0, K1, 0x01, 24, 24);
	st_expect_bad_param(q, 20, 0);
	sreq_free(q);
	q = pr_out_full(s, 0x00, 0, 0, K1, 0x10, 24, 24);
	st_expect_bad_param(q, 20, 4);
	sreq_free(q);
	q = pr_out_full(s, 0x00, 0, 0, K1, 0x02, 24, 24);
	st_expect_bad_param(q, 20, 1);
	sreq_free(q);
	expect_keys(s, 0, 0); /* nothing registered by the failures */
	/* REGISTER AND MOVE, REPLACE LOST RESERVATION: not supported. */
	q = pr_out(s, 0x07, 0, 0, K1);
	st_expect_bad_cdb(q, 1, 4);
	sreq_free(q);
	q = pr_out(s, 0x08, 0, 0, K1);
	st_expect_bad_cdb(q, 1, 4);
	sreq_free(q);
	{
		uint8_t cdb[10] = { 0x5f, 0x00, 0, 0x01, 0, 0, 0, 0, 24, 0 };

		q = st_cmd(s, 0, 0, cdb, 10, NULL, 24, 0);
		st_expect_bad_cdb(q, 3, 0);
		sreq_free(q);
		cdb[1] = 0x20;
		cdb[3] = 0;
		q = st_cmd(s, 0, 0, cdb, 10, NULL, 24, 0);
		st_expect_bad_cdb(q, 1, 5);
		sreq_free(q);
	}
}

/*
 * SPC-4 Table 69 for a nexus that holds nothing (a state one nexus cannot
 * reach through commands: forced here to check the rule itself).
 */
static void test_conflict_table(void **state)
{
	struct st *s = *state;
	vdev_scsi_lun *l = vdev_scsi_lun_find(s->bus, 0, 0);
	uint8_t rd[16], wr[16], data[512] = { 0 };
	static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	static const uint8_t tur[6] = { 0 };
	static const uint8_t rc[10] = { 0x25 };
	struct sreq *q;

	st_cdb_rw(rd, 0x28, 0, 1);
	st_cdb_rw(wr, 0x2a, 0, 1);
	l->pr.reserved = 1;
	l->pr.registered = 0;
	for (uint8_t type = 1; type <= 8; type++) {
		bool we = type == 1 || type == 5 || type == 7;

		if (type == 2 || type == 4)
			continue;
		l->pr.type = type;
		q = st_cmd(s, 0, 0, rd, 10, NULL, 0, 512);
		assert_int_equal(q->r.status, we ? VDEV_SCSI_GOOD : VDEV_SCSI_RESERVATION_CONFLICT);
		sreq_free(q);
		q = st_cmd(s, 0, 0, wr, 10, data, 512, 0);
		assert_int_equal(q->r.status, VDEV_SCSI_RESERVATION_CONFLICT);
		sreq_free(q);
		st_cmd_good(s, 0, 0, inq, 6);
		st_cmd_good(s, 0, 0, tur, 6);
		st_cmd_good(s, 0, 0, rc, 10);
	}
	/* Registered: a registrant of any type has access here. */
	l->pr.registered = 1;
	l->pr.key = K1;
	q = st_cmd(s, 0, 0, wr, 10, data, 512, 0);
	st_expect_good(q);
	sreq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_preempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_param_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_table, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
