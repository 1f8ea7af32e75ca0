// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include "common/hashmap.h"

struct slot {
	struct lw_key key;
	void *value; /* NULL: empty */
};

struct hashmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t size;
};

static uint64_t key_hash(struct lw_key k)
{
	uint64_t h = k.a * 0x9e3779b97f4a7c15ULL ^ (k.b + 0x632be59bd9b4e019ULL);

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 29);
}

struct hashmap *hashmap__new(void)
{
	struct hashmap *map = calloc(1, sizeof(*map));

	if (!map)
		return NULL;
	map->cap = 64;
	map->slots = calloc(map->cap, sizeof(*map->slots));
	if (!map->slots) {
		free(map);
		return NULL;
	}
	return map;
}

void hashmap__free(struct hashmap *map)
{
	if (!map)
		return;
	free(map->slots);
	free(map);
}

static struct slot *find(const struct hashmap *map, struct lw_key key)
{
	size_t mask = map->cap - 1, i = key_hash(key) & mask;

	for (;; i = (i + 1) & mask) {
		struct slot *s = &map->slots[i];

		if (!s->value || (s->key.a == key.a && s->key.b == key.b))
			return s;
	}
}

void *hashmap__get(const struct hashmap *map, struct lw_key key)
{
	return find(map, key)->value;
}

static int grow(struct hashmap *map)
{
	struct hashmap bigger = { .cap = map->cap * 2 };

	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < map->cap; i++)
		if (map->slots[i].value)
			*find(&bigger, map->slots[i].key) = map->slots[i];
	free(map->slots);
	map->slots = bigger.slots;
	map->cap = bigger.cap;
	return 0;
}

int hashmap__set(struct hashmap *map, struct lw_key key, void *value)
{
	struct slot *s;

	if (!value)
		return -EINVAL;
	if ((map->size + 1) * 4 > map->cap * 3 && grow(map))
		return -ENOMEM;
	s = find(map, key);
	if (!s->value)
		map->size++;
	s->key = key;
	s->value = value;
	return 0;
}

size_t hashmap__size(const struct hashmap *map)
{
	return map->size;
}

void *hashmap__next(const struct hashmap *map, size_t *pos, struct lw_key *key)
{
	for (; *pos < map->cap; (*pos)++) {
		struct slot *s = &map->slots[*pos];

		if (s->value) {
			(*pos)++;
			if (key)
				*key = s->key;
			return s->value;
		}
	}
	return NULL;
}
