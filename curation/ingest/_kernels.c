/* The ingest's compiled kernels: dump tag strings to tag ids (curation/ingest/tag_split.py) and
 * canonical post tags (curation/ingest/canonical.py).
 *
 * Plain C over caller-owned arrays, loaded through ctypes (curation/ingest/kernels.py), which
 * releases the GIL for every call, so the callers run one range of posts per core. There is
 * nothing to load or compile at run time (numba took about a second of CPU to load its cached
 * code, at the start of every ingest). The hot loops allocate nothing: when an output might not
 * hold the next post they stop at that post, and the caller grows the output and calls again
 * from where they stopped (their `state` in and out).
 *
 * Built as the extension module curation.ingest._kernels (the module itself is empty).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the token hash reads names as little-endian words"
#endif

/* the bytes that end a token: 0x01 between tag columns, and ASCII whitespace (9-13, 32) */
#define SEPARATORS ((1ULL << 1) | (1ULL << 9) | (1ULL << 10) | (1ULL << 11) | (1ULL << 12) | (1ULL << 13) | (1ULL << 32))
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define HASH_SEED 0x243F6A8885A308D3ULL

static inline int is_separator(uint8_t b) { return b <= 32 && ((SEPARATORS >> b) & 1); }

static inline int is_space(uint8_t b) { return b == 32 || (b >= 9 && b <= 13); }

/* An ASCII capital as its small letter; other bytes unchanged. Tokens are matched case-blind
 * here rather than lower-cased in SQL; a name with other capitals is unknown to the table and
 * lower-cased in Python. */
static inline uint8_t folded(uint8_t b) { return (uint8_t)(b - 'A') < 26 ? (uint8_t)(b + 32) : b; }

static inline uint64_t load8(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* folded() on each byte of a word at once: bytes 'A'..'Z' (and only those) get bit 5 set. */
static inline uint64_t fold8(uint64_t w) {
    uint64_t low7 = w & ~HIGHS;
    uint64_t from_a = low7 + 0x3F * ONES;  /* bit 7 where the byte is >= 'A' (0x41) */
    uint64_t past_z = low7 + 0x25 * ONES;  /* bit 7 where the byte is > 'Z' (0x5A) */
    return w | (((from_a & ~past_z & ~w) & HIGHS) >> 2);
}

/* Bit 7 set in the lowest byte of w below 0x21 (the bytes above it may be flagged wrongly), 0
 * when there is none: where a token may end. */
static inline uint64_t below_0x21(uint64_t w) { return (w - 0x21 * ONES) & ~w & HIGHS; }

/* murmur3's finaliser: the multiplications leave the low bits (which index the tables) mixed
 * poorly. */
static inline uint64_t mix(uint64_t h) {
    h = (h ^ (h >> 33)) * 0xFF51AFD7ED558CCDULL;
    h = (h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

static inline uint64_t hash_step(uint64_t h, uint64_t word) {
    h = (h ^ word) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

static inline uint64_t hash_finish(uint64_t h, int64_t length) { return mix(h ^ (uint64_t)length); }

/* The hash's words from data[i] on, byte by byte: into *h until end, or until a separator when
 * at_separator; returns where it stopped. */
static inline int64_t hash_run(const uint8_t *data, int64_t i, int64_t end, int at_separator, uint64_t *h) {
    uint64_t word = 0;
    int filled = 0;
    for (; i < end && !(at_separator && is_separator(data[i])); i++) {
        word |= (uint64_t)folded(data[i]) << (8 * filled);
        if (++filled == 8) {
            *h = hash_step(*h, word);
            word = 0;
            filled = 0;
        }
    }
    if (filled) *h = hash_step(*h, word);
    return i;
}

/* The token hash: of the ASCII-folded bytes taken as little-endian 8-byte words (the last one
 * zero-padded) and the length. Byte by byte here; scan_token computes the same a word at a
 * time. */
static inline uint64_t hash_bytes(const uint8_t *data, int64_t start, int64_t end) {
    uint64_t h = HASH_SEED;
    hash_run(data, start, end, 0, &h);
    return hash_finish(h, end - start);
}

/* The token that starts at data[i] (not a separator) and ends at the next separator or at end
 * (the post's end): returns where it ends, its hash_bytes in *hash. Eight bytes at a time while
 * a whole word lies inside data (data_len bytes); a token holding a control byte that is not a
 * separator (never seen in real names) is finished byte by byte. */
static inline int64_t scan_token(const uint8_t *data, int64_t data_len, int64_t i, int64_t end, uint64_t *hash) {
    int64_t start = i;
    uint64_t h = HASH_SEED;
    while (i < end) {
        if (i + 8 > data_len) goto byte_by_byte;
        int64_t avail = end - i;
        uint64_t w = load8(data + i);
        uint64_t stops = below_0x21(w);
        if (avail < 8) stops |= HIGHS << (8 * avail); /* the bytes past the post's end */
        if (!stops) {
            h = hash_step(h, fold8(w));
            i += 8;
            continue;
        }
        int n = __builtin_ctzll(stops) >> 3;
        if (n < avail && !is_separator(data[i + n])) goto byte_by_byte;
        if (n) h = hash_step(h, fold8(w) & (~0ULL >> (64 - 8 * n)));
        i += n;
        break;
    }
    *hash = hash_finish(h, i - start);
    return i;
byte_by_byte: /* from a whole word past the start: the same words as hash_bytes */
    i = hash_run(data, i, end, 1, &h);
    *hash = hash_finish(h, i - start);
    return i;
}

static inline int same_bytes(const uint8_t *a, int64_t a_start, int64_t a_end, const uint8_t *b, int64_t b_start,
                             int64_t b_end) {
    if (a_end - a_start != b_end - b_start) return 0;
    for (int64_t i = 0; i < a_end - a_start; i++)
        if (folded(a[a_start + i]) != folded(b[b_start + i])) return 0;
    return 1;
}

/* The hash ``tag_split`` tables use, for tests: of data[start:end]. */
uint64_t ck_hash(const uint8_t *data, int64_t start, int64_t end) { return hash_bytes(data, start, end); }

/* Open-addressing table over n names (offsets (n + 1,) into data): slots (cap,) int32 filled
 * with -1 by the caller, cap a power of two at least twice n; each name's number is put in the
 * slot its hash probes to. */
void ck_name_table(const int64_t *offsets, int64_t n, const uint8_t *data, int32_t *slots, int64_t cap) {
    uint64_t mask = (uint64_t)cap - 1;
    for (int64_t k = 0; k < n; k++) {
        uint64_t s = hash_bytes(data, offsets[k], offsets[k + 1]) & mask;
        while (slots[s] >= 0) s = (s + 1) & mask;
        slots[s] = (int32_t)k;
    }
}

/* The number of the known name data[start:stop] with hash h, or -1; name_data is folded
 * already (only the token's bytes are folded here). */
static inline int64_t lookup(const int32_t *slots, uint64_t mask, const int64_t *name_offsets,
                             const uint8_t *name_data, uint64_t h, const uint8_t *data, int64_t start, int64_t stop) {
    int64_t length = stop - start;
    for (uint64_t s = h & mask; slots[s] >= 0; s = (s + 1) & mask) {
        int32_t t = slots[s];
        int64_t at = name_offsets[t];
        if (name_offsets[t + 1] - at != length) continue;
        const uint8_t *name = name_data + at, *token = data + start;
        int64_t j = 0;
        while (j + 8 <= length && load8(name + j) == fold8(load8(token + j))) j += 8;
        if (j + 8 <= length) continue;
        while (j < length && name[j] == folded(token[j])) j++;
        if (j == length) return t;
    }
    return -1;
}

int64_t ck_lookup(const int32_t *slots, int64_t cap, const int64_t *name_offsets, const uint8_t *name_data,
                  uint64_t h, const uint8_t *data, int64_t start, int64_t stop) {
    return lookup(slots, (uint64_t)cap - 1, name_offsets, name_data, h, data, start, stop);
}

/* Posts' tokens looked up among the known names, from post state[0] and row state[1] of tags
 * on, until the posts end or tags might not hold the next post.
 *
 * offsets (n_posts + 1,) into data (data_len bytes): per post its tag columns joined by the byte 0x01; slots
 * (cap,) from ck_name_table over the known names name_offsets (N + 1,) and name_data (folded),
 * whose tag ids are known_ids (N,); tags (tags_cap,) gets a known name's tag id or -1; counts
 * (n_posts,) the tokens of each post done. state out: (the next post, the next row of tags,
 * unknown tokens seen in this call). */
void ck_split_known(const int64_t *offsets, int64_t n_posts, const uint8_t *data, int64_t data_len, const int32_t *slots,
                    int64_t cap,
                    const int64_t *name_offsets, const uint8_t *name_data, const int32_t *known_ids, int32_t *tags,
                    int64_t tags_cap, int64_t *counts, int64_t *state) {
    uint64_t mask = (uint64_t)cap - 1;
    int64_t post = state[0], k = state[1], unknown = 0;
    for (; post < n_posts; post++) {
        int64_t i = offsets[post], end = offsets[post + 1];
        if (k + (end - i + 1) / 2 > tags_cap) break; /* the post might not fit */
        int64_t first = k;
        while (i < end) {
            if (is_separator(data[i])) {
                i++;
                continue;
            }
            int64_t start = i;
            uint64_t h;
            i = scan_token(data, data_len, i, end, &h);
            int64_t t = lookup(slots, mask, name_offsets, name_data, h, data, start, i);
            if (t >= 0) {
                tags[k] = known_ids[t];
            } else {
                tags[k] = -1;
                unknown++;
            }
            k++;
        }
        counts[post] = k - first;
    }
    state[0] = post;
    state[1] = k;
    state[2] = unknown;
}

/* The unknown tokens (-1 in tags, as ck_split_known left them) numbered by name, from post
 * state[0] and row state[1] of tags on: each becomes -1 - u for the u-th distinct unknown name.
 * The table of unknown names: slots (cap,) int32 (-1 empty) and per name (cap / 2 rows) its
 * hash, its (start, end) in data (at, row-major (cap / 2, 2)) and its uses per tag column
 * (uses, row-major (cap / 2, n_cols)); filled[0] names so far. Stops early, at a post boundary,
 * when the table might fill up (the caller grows it and calls again). state out: (the next
 * post, the next row of tags). */
void ck_number_unknown(const int64_t *offsets, int64_t n_posts, const uint8_t *data, int32_t *tags, int32_t *slots,
                       int64_t cap, uint64_t *hashes, int64_t *at, int64_t *uses, int64_t n_cols, int64_t *filled,
                       int64_t *state) {
    uint64_t mask = (uint64_t)cap - 1;
    int64_t n_unknown = filled[0], post = state[0], k = state[1];
    for (; post < n_posts; post++) {
        int64_t i = offsets[post], end = offsets[post + 1];
        if (2 * (n_unknown + (end - i + 1) / 2) > cap) break;
        int64_t column = 0;
        while (i < end) {
            if (data[i] == 1) {
                column++;
                i++;
                continue;
            }
            if (is_space(data[i])) {
                i++;
                continue;
            }
            int64_t start = i;
            while (i < end && !is_separator(data[i])) i++;
            k++;
            if (tags[k - 1] != -1) continue;
            uint64_t h = hash_bytes(data, start, i);
            uint64_t s = h & mask;
            int64_t u = -1;
            for (; slots[s] >= 0; s = (s + 1) & mask) {
                int32_t v = slots[s];
                if (hashes[v] == h && same_bytes(data, at[2 * v], at[2 * v + 1], data, start, i)) {
                    u = v;
                    break;
                }
            }
            if (u < 0) {
                u = n_unknown++;
                slots[s] = (int32_t)u;
                hashes[u] = h;
                at[2 * u] = start;
                at[2 * u + 1] = i;
                for (int64_t c = 0; c < n_cols; c++) uses[u * n_cols + c] = 0;
            }
            if (column < n_cols) uses[u * n_cols + column]++;
            tags[k - 1] = (int32_t)(-1 - u);
        }
    }
    filled[0] = n_unknown;
    state[0] = post;
    state[1] = k;
}

/* Slots (cap,) int32, all -1, refilled with the names 0 .. n-1 by their hashes (n,). */
void ck_rehash(int32_t *slots, int64_t cap, const uint64_t *hashes, int64_t n) {
    uint64_t mask = (uint64_t)cap - 1;
    for (int64_t v = 0; v < n; v++) {
        uint64_t s = hashes[v] & mask;
        while (slots[s] >= 0) s = (s + 1) & mask;
        slots[s] = (int32_t)v;
    }
}

/* In place: every -1 - u in tags (n,) becomes new_ids[u]. */
void ck_resolve(int32_t *tags, int64_t n, const int32_t *new_ids) {
    for (int64_t i = 0; i < n; i++)
        if (tags[i] < 0) tags[i] = new_ids[-1 - tags[i]];
}

/* How many of data's n bytes are the byte: memchr from one to the next (a dump's newlines are
 * a kilobyte apart, and libc's memchr is several times faster than a counting loop). */
int64_t ck_count_byte(const uint8_t *data, int64_t n, uint8_t byte) {
    int64_t count = 0;
    const uint8_t *end = data + n;
    for (const uint8_t *p = data; p < end && (p = memchr(p, byte, (size_t)(end - p))) != NULL; p++) count++;
    return count;
}

/* The runs of equal post ids in post_ids (n,): their count R. */
int64_t ck_count_runs(const int64_t *post_ids, int64_t n) {
    int64_t runs = n ? 1 : 0;
    for (int64_t i = 1; i < n; i++) runs += post_ids[i] != post_ids[i - 1];
    return runs;
}

/* The rows grouped by post, through runs of equal post ids (no per-row reordering).
 *
 * post_ids (n,) with R runs (ck_count_runs) -> run_bounds (R + 1,) row offsets of the runs,
 * posts (R,) the distinct ids in first-seen order (P of them), post_runs (R + 1,) of which the
 * first P + 1 are offsets into run_order (R,), the runs of each post. Returns P, or -1 when
 * scratch memory could not be had. */
int64_t ck_group_runs(const int64_t *post_ids, int64_t n, int64_t n_runs, int64_t *run_bounds, int64_t *posts,
                      int64_t *post_runs, int64_t *run_order) {
    int bits = 1;
    while ((1LL << bits) < 2 * n_runs) bits++;
    int64_t cap = 1LL << bits;
    int64_t *keys = malloc(cap * sizeof(int64_t));
    int32_t *slots = malloc(cap * sizeof(int32_t));
    int32_t *run_post = malloc((n_runs + 1) * sizeof(int32_t)); /* the dense post number of each run */
    int64_t *fill = malloc((n_runs + 1) * sizeof(int64_t));
    if (!keys || !slots || !run_post || !fill) {
        free(keys), free(slots), free(run_post), free(fill);
        return -1;
    }
    int64_t r = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || post_ids[i] != post_ids[i - 1]) run_bounds[r++] = i;
    run_bounds[n_runs] = n;
    for (int64_t s = 0; s < cap; s++) slots[s] = -1;
    int64_t n_posts = 0;
    for (r = 0; r < n_runs; r++) {
        int64_t p = post_ids[run_bounds[r]];
        uint64_t h = ((uint64_t)p * 0x9E3779B97F4A7C15ULL) >> (64 - bits); /* Fibonacci hashing */
        while (slots[h] >= 0 && keys[h] != p) h = (h + 1) & (uint64_t)(cap - 1);
        if (slots[h] < 0) {
            keys[h] = p;
            slots[h] = (int32_t)n_posts;
            posts[n_posts++] = p;
        }
        run_post[r] = slots[h];
    }
    for (int64_t d = 0; d <= n_posts; d++) post_runs[d] = 0;
    for (r = 0; r < n_runs; r++) post_runs[run_post[r] + 1]++;
    for (int64_t d = 0; d < n_posts; d++) post_runs[d + 1] += post_runs[d];
    for (int64_t d = 0; d < n_posts; d++) fill[d] = post_runs[d];
    for (r = 0; r < n_runs; r++) run_order[fill[run_post[r]]++] = r;
    free(keys), free(slots), free(run_post), free(fill);
    return n_posts;
}

/* Row k set to (tag, implied) unless the post (stamp == mark) has the tag already; returns 0,
 * or 1 when out was full (nothing written then). */
static inline int add_once(int64_t *stamp, int64_t mark, int32_t *out_tag, uint8_t *out_implied, int64_t cap,
                           int64_t *k, int32_t tag, uint8_t implied) {
    if (stamp[tag] == mark) return 0;
    if (*k == cap) return 1;
    stamp[tag] = mark;
    out_tag[*k] = tag;
    out_implied[*k] = implied;
    (*k)++;
    return 0;
}

/* Per post from state[0] to stop: its aliased dump tags once each, then every implied tag it
 * lacks, written from row state[1] of the outputs on. When the outputs (cap,) might not hold a
 * post, it stops before that post.
 *
 * post_runs (P + 1,), run_order (R,), run_bounds (R + 1,) from ck_group_runs; tag_ids (n,) dense
 * tag numbers; alias (T,) the canonical number of each tag; closure_starts (T + 1,) and
 * closure_ids (m,) the implied numbers of each tag (CSR); live (P,) bool; post_rows
 * (stop - first_post,) gets the number of rows of each post from first_post on (the rows carry
 * no post id: the caller run-length encodes the ids); out_tag, out_implied (cap,) the rows;
 * counts (T,) live posts per tag; stamp (T,) marks what the current post has, as base + d (base differs on every call, so a post begun before an
 * early return restarts clean). state out: (the next post, the next row). */
void ck_canonical_rows(const int64_t *post_runs, const int64_t *run_order, const int64_t *run_bounds,
                       const int32_t *tag_ids, const int32_t *alias, const int64_t *closure_starts,
                       const int32_t *closure_ids, const uint8_t *live, int64_t first_post, int64_t *post_rows,
                       int32_t *out_tag, uint8_t *out_implied, int64_t cap, int64_t *counts, int64_t *stamp,
                       int64_t base, int64_t stop, int64_t *state) {
    int64_t d = state[0], k = state[1];
    for (; d < stop; d++) {
        int64_t first = k, mark = base + d;
        int full = 0;
        for (int64_t q = post_runs[d]; q < post_runs[d + 1] && !full; q++) {
            int64_t run = run_order[q];
            for (int64_t i = run_bounds[run]; i < run_bounds[run + 1] && !full; i++)
                full = add_once(stamp, mark, out_tag, out_implied, cap, &k, alias[tag_ids[i]], 0);
        }
        int64_t written = k; /* the closure is transitive: implied tags need no expanding of their own */
        for (int64_t w = first; w < written && !full; w++) {
            int32_t t = out_tag[w];
            for (int64_t c = closure_starts[t]; c < closure_starts[t + 1] && !full; c++)
                full = add_once(stamp, mark, out_tag, out_implied, cap, &k, closure_ids[c], 1);
        }
        if (full) {
            k = first;
            break;
        }
        post_rows[d - first_post] = k - first;
        if (live[d])
            for (int64_t w = first; w < k; w++) counts[out_tag[w]]++;
    }
    state[0] = d;
    state[1] = k;
}

static struct PyModuleDef kernels_module = {PyModuleDef_HEAD_INIT, "_kernels",
                                            "The ingest's compiled kernels; loaded through ctypes "
                                            "(curation.ingest.kernels).",
                                            -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernels_module); }
