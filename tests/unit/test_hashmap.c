// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* hashmap.h: a (u64, u64) -> pointer map that only ever grows. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/hashmap.h"

/* More than enough to force several doublings from the initial 64 slots. */
#define MANY 20000

/* The constants of key_hash() in hashmap.c: keys built with them all hash
 * alike, so they share one probe chain. */
#define HASH_MUL 0x9e3779b97f4a7c15ULL
#define HASH_ADD 0x632be59bd9b4e019ULL

static int values[MANY];

static struct lw_key key(uint64_t a, uint64_t b)
{
	return (struct lw_key){ .a = a, .b = b };
}

/* Spreads i over both words so neighbours differ in several bits. */
static struct lw_key many_key(size_t i)
{
	return key(i * 2654435761ULL, ~(uint64_t)i ^ (i << 32));
}

static void test_empty(void **state)
{
	struct hashmap *map = hashmap__new();
	size_t pos = 0;
	struct lw_key k;

	assert_non_null(map);
	assert_int_equal(hashmap__size(map), 0);
	assert_null(hashmap__get(map, key(0, 0)));
	assert_null(hashmap__get(map, key(1, 2)));
	assert_null(hashmap__next(map, &pos, &k));
	hashmap__free(map);
	hashmap__free(NULL); /* documented as fine */
}

static void test_set_get_replace(void **state)
{
	struct hashmap *map = hashmap__new();
	int v1 = 1, v2 = 2, v3 = 3;

	assert_non_null(map);
	assert_int_equal(hashmap__set(map, key(10, 20), &v1), 0);
	assert_int_equal(hashmap__size(map), 1);
	assert_ptr_equal(hashmap__get(map, key(10, 20)), &v1);

	/* replacing keeps the size and returns the new value */
	assert_int_equal(hashmap__set(map, key(10, 20), &v2), 0);
	assert_int_equal(hashmap__size(map), 1);
	assert_ptr_equal(hashmap__get(map, key(10, 20)), &v2);

	/* a second key leaves the first alone */
	assert_int_equal(hashmap__set(map, key(11, 20), &v3), 0);
	assert_int_equal(hashmap__size(map), 2);
	assert_ptr_equal(hashmap__get(map, key(10, 20)), &v2);
	assert_ptr_equal(hashmap__get(map, key(11, 20)), &v3);
	assert_null(hashmap__get(map, key(12, 20)));
	hashmap__free(map);
}

/* Empty slots are marked by a NULL value, so the all-zero key is a real key. */
static void test_zero_key(void **state)
{
	struct hashmap *map = hashmap__new();
	int v = 7;

	assert_null(hashmap__get(map, key(0, 0)));
	assert_int_equal(hashmap__set(map, key(0, 0), &v), 0);
	assert_ptr_equal(hashmap__get(map, key(0, 0)), &v);
	assert_int_equal(hashmap__size(map), 1);
	hashmap__free(map);
}

static void test_null_value_rejected(void **state)
{
	struct hashmap *map = hashmap__new();
	int v = 1;

	assert_int_equal(hashmap__set(map, key(1, 1), NULL), -EINVAL);
	assert_int_equal(hashmap__size(map), 0);
	assert_null(hashmap__get(map, key(1, 1)));

	/* NULL cannot be used to "remove" an entry either */
	assert_int_equal(hashmap__set(map, key(1, 1), &v), 0);
	assert_int_equal(hashmap__set(map, key(1, 1), NULL), -EINVAL);
	assert_int_equal(hashmap__size(map), 1);
	assert_ptr_equal(hashmap__get(map, key(1, 1)), &v);
	hashmap__free(map);
}

static void test_keys_differing_in_one_word(void **state)
{
	/* pairs that a careless hash (a ^ b, a + b, swapped words) merges */
	static const struct lw_key keys[] = {
		{ 1, 2 }, { 2, 1 }, { 1, 3 }, { 3, 1 }, { 0, 3 }, { 3, 0 },
		{ 0, 1 }, { 1, 0 }, { 1, 1 }, { 2, 2 }, { UINT64_MAX, 0 },
		{ 0, UINT64_MAX }, { UINT64_MAX, UINT64_MAX }, { 1234, 1 }, { 1234, 2 },
		{ 1, 1234 }, { 2, 1234 },
	};
	size_t nr = sizeof(keys) / sizeof(keys[0]);
	int vals[sizeof(keys) / sizeof(keys[0])];
	struct hashmap *map = hashmap__new();

	for (size_t i = 0; i < nr; i++)
		assert_int_equal(hashmap__set(map, keys[i], &vals[i]), 0);
	assert_int_equal(hashmap__size(map), nr);
	for (size_t i = 0; i < nr; i++)
		assert_ptr_equal(hashmap__get(map, keys[i]), &vals[i]);
	assert_null(hashmap__get(map, key(2, 3)));
	assert_null(hashmap__get(map, key(3, 2)));
	hashmap__free(map);
}

static void test_growth(void **state)
{
	struct hashmap *map = hashmap__new();

	for (size_t i = 0; i < MANY; i++) {
		assert_int_equal(hashmap__set(map, many_key(i), &values[i]), 0);
		assert_int_equal(hashmap__size(map), i + 1);
	}
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(hashmap__get(map, many_key(i)), &values[i]);
	/* replacing every entry after growth adds nothing */
	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(hashmap__set(map, many_key(i), &values[MANY - 1 - i]), 0);
	assert_int_equal(hashmap__size(map), MANY);
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(hashmap__get(map, many_key(i)), &values[MANY - 1 - i]);
	assert_null(hashmap__get(map, many_key(MANY)));
	hashmap__free(map);
}

/* Sequential keys, as (tgid, small stack id) pairs are in practice. */
static void test_growth_sequential(void **state)
{
	struct hashmap *map = hashmap__new();

	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(hashmap__set(map, key(4242, i), &values[i]), 0);
	assert_int_equal(hashmap__size(map), MANY);
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(hashmap__get(map, key(4242, i)), &values[i]);
	assert_null(hashmap__get(map, key(4243, 0)));
	hashmap__free(map);
}

/* Keys that all hash alike: one long probe chain, wrapping the table's end
 * and rehashed on every growth. */
static void test_full_collisions(void **state)
{
	const uint64_t target = 0x0123456789abcdefULL;
	const size_t nr = 1000;
	struct hashmap *map = hashmap__new();

	for (size_t i = 0; i < nr; i++) {
		struct lw_key k = key(i, (target ^ (i * HASH_MUL)) - HASH_ADD);

		assert_int_equal(hashmap__set(map, k, &values[i]), 0);
	}
	assert_int_equal(hashmap__size(map), nr);
	for (size_t i = 0; i < nr; i++) {
		struct lw_key k = key(i, (target ^ (i * HASH_MUL)) - HASH_ADD);

		assert_ptr_equal(hashmap__get(map, k), &values[i]);
	}
	/* a miss on the same chain runs to its end and stops */
	assert_null(hashmap__get(map, key(nr, (target ^ (nr * HASH_MUL)) - HASH_ADD)));
	hashmap__free(map);
}

static void test_iteration_visits_each_once(void **state)
{
	static unsigned char seen[MANY];
	struct hashmap *map = hashmap__new();
	size_t pos = 0, count = 0;
	struct lw_key k;
	void *v;

	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(hashmap__set(map, many_key(i), &values[i]), 0);
	while ((v = hashmap__next(map, &pos, &k))) {
		size_t i = (int *)v - values;

		assert_true(i < MANY);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		/* the key handed back is the one stored with the value */
		assert_int_equal(k.a, many_key(i).a);
		assert_int_equal(k.b, many_key(i).b);
		count++;
	}
	assert_int_equal(count, MANY);
	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(seen[i], 1);
	/* the end stays the end */
	assert_null(hashmap__next(map, &pos, &k));
	hashmap__free(map);
}

static void test_iteration_without_key(void **state)
{
	struct hashmap *map = hashmap__new();
	int a = 1, b = 2;
	size_t pos = 0;
	int sum = 0;
	void *v;

	assert_int_equal(hashmap__set(map, key(1, 1), &a), 0);
	assert_int_equal(hashmap__set(map, key(2, 2), &b), 0);
	while ((v = hashmap__next(map, &pos, NULL)))
		sum += *(int *)v;
	assert_int_equal(sum, 3);
	hashmap__free(map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_set_get_replace),
		cmocka_unit_test(test_zero_key),
		cmocka_unit_test(test_null_value_rejected),
		cmocka_unit_test(test_keys_differing_in_one_word),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_growth_sequential),
		cmocka_unit_test(test_full_collisions),
		cmocka_unit_test(test_iteration_visits_each_once),
		cmocka_unit_test(test_iteration_without_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
