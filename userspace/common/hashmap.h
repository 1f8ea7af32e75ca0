/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A map from a pair of 64-bit words to a pointer: (tgid, stack id) to a
 * stack, (module, address) to a resolved frame. Open addressing, grows at
 * 3/4 load; entries are never removed (the tool only learns). */
#ifndef LW_HASHMAP_H
#define LW_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct lw_key {
	uint64_t a, b;
};

struct hashmap;

struct hashmap *hashmap__new(void);
/* Frees the table, not the values. NULL is fine. */
void hashmap__free(struct hashmap *map);
void *hashmap__get(const struct hashmap *map, struct lw_key key);
/* Inserts or replaces; returns 0 or -ENOMEM. */
int hashmap__set(struct hashmap *map, struct lw_key key, void *value);
size_t hashmap__size(const struct hashmap *map);
/* Iteration: *pos starts at 0; returns the next value or NULL at the end. */
void *hashmap__next(const struct hashmap *map, size_t *pos, struct lw_key *key);

#endif
