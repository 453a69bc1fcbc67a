/* The safetensors reader: reads the whole file, checks every rule of the format before handing
 * out a tensor (the file may come from anywhere), and keeps the data in one buffer. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors_internal.h"

#define META_KEY "__metadata__"

typedef struct entry {
    clf_st_tensor t; /* first, so &entry->t and the entry are the same address */
    uint64_t begin, end;
    void *copy; /* an aligned copy when the data in the file is misaligned for its dtype */
} entry;

struct clf_st_file {
    char *path;
    json_t *root;         /* keeps the names and metadata strings alive */
    unsigned char *data;  /* the data section, data_len bytes */
    size_t data_len;
    entry *entries;       /* count, in file order */
    entry **by_name;      /* count, sorted by name */
    size_t count;
    const char **meta_keys, **meta_values; /* meta_count, sorted by key */
    size_t meta_count;
};

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "value";
}

static clf_status read_exact(FILE *fp, const char *path, void *dst, size_t n) {
    if (n == 0 || fread(dst, 1, n, fp) == n) return CLF_OK;
    if (ferror(fp)) return CLF_ERROR(CLF_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    return CLF_ERROR(CLF_ERR_IO, "cannot read %s: the file became shorter while being read", path);
}

/* ---- one tensor entry ------------------------------------------------------------------- */

static clf_status parse_shape(const char *path, const char *name, json_t *js, entry *e) {
    if (!json_is_array(js))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': \"shape\" is %s%s, not an array of integers", path, name,
                         js ? "a JSON " : "missing", js ? json_kind(js) : "");
    size_t rank = json_array_size(js);
    if (rank > CLF_ST_MAX_RANK)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': shape has %zu dims, more than the %d supported", path,
                         name, rank, CLF_ST_MAX_RANK);
    uint64_t numel = 1;
    bool overflow = false;
    for (size_t i = 0; i < rank; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d))
            return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is a JSON %s, not an integer", path, name,
                             i, json_kind(d));
        json_int_t v = json_integer_value(d);
        if (v < 0)
            return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': shape[%zu] = %lld is negative", path, name, i,
                             (long long)v);
        e->t.shape[i] = (int64_t)v;
        /* Keep checking the remaining dims even after an overflow, so a later negative dim is
         * still reported as such. */
        if (!overflow && !clf_st_mul(numel, (uint64_t)v, &numel)) overflow = true;
    }
    e->t.rank = (int)rank;
    char shape[256];
    clf_st_format_shape(shape, sizeof shape, e->t.rank, e->t.shape);
    uint64_t nbytes;
    if (overflow || numel > SIZE_MAX)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': shape %s: the element count overflows 64 bits", path,
                         name, shape);
    if (!clf_st_mul(numel, clf_st_dtype_size(e->t.dtype), &nbytes) || nbytes > SIZE_MAX)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': %s %s: the byte size overflows 64 bits", path, name,
                         clf_st_dtype_name(e->t.dtype), shape);
    e->t.numel = (size_t)numel;
    e->t.nbytes = (size_t)nbytes;
    return CLF_OK;
}

static clf_status parse_offsets(const char *path, const char *name, json_t *jo, size_t data_len, entry *e) {
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(jb) || !json_is_integer(je) ||
        json_integer_value(jb) < 0 || json_integer_value(je) < 0)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" is not two non-negative integers",
                         path, name);
    e->begin = (uint64_t)json_integer_value(jb);
    e->end = (uint64_t)json_integer_value(je);
    if (e->end < e->begin)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path,
                         name, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end - e->begin != e->t.nbytes) {
        char shape[256];
        clf_st_format_shape(shape, sizeof shape, e->t.rank, e->t.shape);
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %zu",
                         path, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)(e->end - e->begin), clf_st_dtype_name(e->t.dtype), shape, e->t.nbytes);
    }
    if (e->end > data_len)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%zu bytes)",
                         path, name, (unsigned long long)e->begin, (unsigned long long)e->end, data_len);
    return CLF_OK;
}

static clf_status parse_entry(const char *path, const char *name, json_t *v, size_t data_len, entry *e) {
    if (!json_is_object(v))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': entry is a JSON %s, not an object with dtype, shape and data_offsets",
                         path, name, json_kind(v));
    e->t.name = name;
    json_t *jd = json_object_get(v, "dtype");
    if (!json_is_string(jd))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is %s%s, not a string", path, name,
                         jd ? "a JSON " : "missing", jd ? json_kind(jd) : "");
    if (!clf_st_dtype_parse(json_string_value(jd), &e->t.dtype))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.64s'", path, name, json_string_value(jd));
    clf_status st = parse_shape(path, name, json_object_get(v, "shape"), e);
    if (st != CLF_OK) return st;
    return parse_offsets(path, name, json_object_get(v, "data_offsets"), data_len, e);
}

/* ---- the whole header ------------------------------------------------------------------- */

static int cmp_offsets(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp((*(entry *const *)a)->t.name, (*(entry *const *)b)->t.name);
}

/* Sorted by offset, each tensor must start where the previous one ended, from 0 to the end. */
static clf_status check_layout(const clf_st_file *f) {
    uint64_t at = 0;
    for (size_t i = 0; i < f->count; i++) {
        const entry *e = &f->entries[i], *prev = i ? &f->entries[i - 1] : NULL;
        if (e->begin < at)
            return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' at [%llu, %llu]",
                             f->path, e->t.name, (unsigned long long)e->begin, (unsigned long long)e->end,
                             prev->t.name, (unsigned long long)prev->begin, (unsigned long long)prev->end);
        if (e->begin > at)
            return CLF_ERROR(CLF_ERR_FORMAT, "%s: %llu unused bytes (a gap) before tensor '%s' at [%llu, %llu]%s%s%s",
                             f->path, (unsigned long long)(e->begin - at), e->t.name, (unsigned long long)e->begin,
                             (unsigned long long)e->end, prev ? ", after tensor '" : "", prev ? prev->t.name : "",
                             prev ? "'" : "");
        at = e->end;
    }
    if (at != f->data_len)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: %llu trailing bytes after the last tensor's data (it ends at %llu of %zu)",
                         f->path, (unsigned long long)(f->data_len - at), (unsigned long long)at, f->data_len);
    return CLF_OK;
}

static clf_status parse_metadata(clf_st_file *f, json_t *meta) {
    if (!json_is_object(meta))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: " META_KEY " is a JSON %s, not an object of strings", f->path,
                         json_kind(meta));
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "%s: no memory for %zu metadata entries", f->path, n);
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return CLF_ERROR(CLF_ERR_FORMAT, "%s: " META_KEY "['%s'] is a JSON %s, not a string", f->path, key,
                             json_kind(v));
        /* Insertion sort: metadata holds a handful of keys. */
        size_t i = f->meta_count++;
        for (; i > 0 && strcmp(f->meta_keys[i - 1], key) > 0; i--) {
            f->meta_keys[i] = f->meta_keys[i - 1];
            f->meta_values[i] = f->meta_values[i - 1];
        }
        f->meta_keys[i] = key;
        f->meta_values[i] = json_string_value(v);
    }
    return CLF_OK;
}

static clf_status verify_checksum(const clf_st_file *f) {
    const char *stored = clf_st_meta(f, CLF_ST_CHECKSUM_KEY);
    if (!stored) return CLF_OK; /* written by another tool */
    const size_t plen = strlen(CLF_ST_CHECKSUM_PREFIX);
    bool ok = strncmp(stored, CLF_ST_CHECKSUM_PREFIX, plen) == 0 && strlen(stored) == plen + 16 &&
              strspn(stored + plen, "0123456789abcdefABCDEF") == 16;
    if (!ok)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: " META_KEY "['" CLF_ST_CHECKSUM_KEY "'] = '%.64s' is not of the form "
                         CLF_ST_CHECKSUM_PREFIX "<16 hex digits>", f->path, stored);
    uint64_t want = strtoull(stored + plen, NULL, 16);
    uint64_t got = clf_xxh64(f->data, f->data_len, 0);
    if (got != want)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: checksum mismatch: the data is corrupt (stored %s, computed "
                         CLF_ST_CHECKSUM_PREFIX "%016llx)", f->path, stored, (unsigned long long)got);
    return CLF_OK;
}

static clf_status parse_header(clf_st_file *f, const char *text, size_t len) {
    json_error_t err;
    f->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!f->root)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: the header is not valid JSON: %s (line %d, column %d)", f->path,
                         err.text, err.line, err.column);
    if (!json_is_object(f->root))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: the header is a JSON %s, not an object", f->path, json_kind(f->root));
    json_t *meta = json_object_get(f->root, META_KEY);
    size_t n = json_object_size(f->root) - (meta != NULL);
    f->entries = calloc(n ? n : 1, sizeof *f->entries);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    if (!f->entries || !f->by_name)
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "%s: no memory for %zu tensor entries", f->path, n);
    const char *key;
    json_t *v;
    clf_status st;
    json_object_foreach(f->root, key, v) {
        if (v == meta) continue;
        st = parse_entry(f->path, key, v, f->data_len, &f->entries[f->count]);
        if (st != CLF_OK) return st;
        f->count++;
    }
    if (meta && (st = parse_metadata(f, meta)) != CLF_OK) return st;
    qsort(f->entries, f->count, sizeof *f->entries, cmp_offsets);
    if ((st = check_layout(f)) != CLF_OK) return st;
    return verify_checksum(f);
}

/* Point every tensor at its bytes; the data buffer comes from malloc, so only a tensor whose
 * offset is not a multiple of its element size (possible in files of other writers) is copied. */
static clf_status place_data(clf_st_file *f) {
    for (size_t i = 0; i < f->count; i++) {
        entry *e = &f->entries[i];
        unsigned char *p = f->data + e->begin;
        size_t align = clf_st_dtype_size(e->t.dtype);
        if (e->begin % align != 0) {
            e->copy = malloc(e->t.nbytes);
            if (!e->copy)
                return CLF_ERROR(CLF_ERR_NO_MEMORY, "%s: tensor '%s': no memory for an aligned copy of %zu bytes",
                                 f->path, e->t.name, e->t.nbytes);
            memcpy(e->copy, p, e->t.nbytes);
            p = e->copy;
        }
        e->t.data = p;
        f->by_name[i] = e;
    }
    qsort(f->by_name, f->count, sizeof *f->by_name, cmp_names);
    return CLF_OK;
}

static clf_status load(clf_st_file *f, FILE *fp) {
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) return CLF_ERROR(CLF_ERR_IO, "cannot stat %s: %s", f->path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return CLF_ERROR(CLF_ERR_IO, "cannot read %s: not a regular file", f->path);
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: truncated: %llu bytes, shorter than the 8-byte header length",
                         f->path, (unsigned long long)size);
    unsigned char len8[8];
    clf_status st = read_exact(fp, f->path, len8, 8);
    if (st != CLF_OK) return st;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    if (n > CLF_ST_MAX_HEADER)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: header length %llu is over the limit of %u bytes", f->path,
                         (unsigned long long)n, CLF_ST_MAX_HEADER);
    if (n > size - 8)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%llu bytes)",
                         f->path, (unsigned long long)n, (unsigned long long)size);
    if (size - 8 - n > SIZE_MAX)
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "%s: %llu bytes of data do not fit in memory", f->path,
                         (unsigned long long)(size - 8 - n));
    f->data_len = (size_t)(size - 8 - n);
    char *header = malloc((size_t)n + 1);
    f->data = malloc(f->data_len ? f->data_len : 1);
    if (!header || !f->data) {
        free(header);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "%s: no memory for %llu bytes of header and %zu of data", f->path,
                         (unsigned long long)n, f->data_len);
    }
    st = read_exact(fp, f->path, header, (size_t)n);
    if (st == CLF_OK) st = read_exact(fp, f->path, f->data, f->data_len);
    if (st == CLF_OK) st = parse_header(f, header, (size_t)n);
    free(header);
    if (st == CLF_OK) st = place_data(f);
    return st;
}

clf_status clf_st_open(const char *path, clf_st_file **out) {
    if (!out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_open: out is NULL");
    *out = NULL;
    if (!path) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_open: path is NULL");
    clf_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "%s: no memory to open it", path);
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        clf_status st = CLF_ERROR(CLF_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        clf_st_close(f);
        return st;
    }
    clf_status st = load(f, fp);
    fclose(fp);
    if (st != CLF_OK) {
        clf_st_close(f);
        return st;
    }
    *out = f;
    return CLF_OK;
}

void clf_st_close(clf_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->count; i++) free(f->entries[i].copy);
    free(f->entries);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->data);
    if (f->root) json_decref(f->root);
    free(f->path);
    free(f);
}

/* ---- lookups ---------------------------------------------------------------------------- */

const char *clf_st_path(const clf_st_file *f) { return f->path; }
size_t clf_st_count(const clf_st_file *f) { return f->count; }

const clf_st_tensor *clf_st_tensor_at(const clf_st_file *f, size_t i) {
    return i < f->count ? &f->entries[i].t : NULL;
}

const clf_st_tensor *clf_st_find(const clf_st_file *f, const char *name) {
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->t.name, name);
        if (c == 0) return &f->by_name[mid]->t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *clf_st_meta(const clf_st_file *f, const char *key) {
    for (size_t i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

size_t clf_st_meta_count(const clf_st_file *f) { return f->meta_count; }

void clf_st_meta_at(const clf_st_file *f, size_t i, const char **key, const char **value) {
    *key = i < f->meta_count ? f->meta_keys[i] : NULL;
    *value = i < f->meta_count ? f->meta_values[i] : NULL;
}

clf_status clf_st_get(const clf_st_file *f, const char *name, clf_st_dtype dtype, int rank,
                      const int64_t *shape, const clf_st_tensor **out) {
    if (!f || !name || !out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_get: f, name and out must not be NULL");
    *out = NULL;
    if (shape && (rank < 0 || rank > CLF_ST_MAX_RANK))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_get('%s'): a shape needs a rank in [0, %d], got %d", name,
                         CLF_ST_MAX_RANK, rank);
    const clf_st_tensor *t = clf_st_find(f, name);
    if (!t) return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s' is missing", f->path, name);
    if (t->dtype != dtype)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s' is %s, expected %s", f->path, name,
                         clf_st_dtype_name(t->dtype), clf_st_dtype_name(dtype));
    char have[256], want[256];
    clf_st_format_shape(have, sizeof have, t->rank, t->shape);
    if (rank >= 0 && t->rank != rank)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s' has rank %d (shape %s), expected rank %d", f->path, name,
                         t->rank, have, rank);
    if (shape && memcmp(shape, t->shape, (size_t)rank * sizeof *shape) != 0) {
        clf_st_format_shape(want, sizeof want, rank, shape);
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", f->path, name, have, want);
    }
    *out = t;
    return CLF_OK;
}

clf_status clf_st_read_i32(const clf_st_file *f, const char *name, int rank, clf_st_i32 *out) {
    if (!out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_read_i32: out is NULL");
    memset(out, 0, sizeof *out);
    if (rank < 0 || rank > CLF_ST_MAX_RANK)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_read_i32: rank %d outside [0, %d]", rank, CLF_ST_MAX_RANK);
    const clf_st_tensor *t;
    clf_status st = clf_st_get(f, name, CLF_ST_I32, rank, NULL, &t);
    if (st != CLF_OK) return st;
    out->path = f->path;
    out->name = t->name;
    out->rank = t->rank;
    memcpy(out->shape, t->shape, sizeof out->shape);
    out->numel = t->numel;
    out->data = t->data;
    return CLF_OK;
}

clf_status clf_st_i32_check_range(const clf_st_i32 *v, int32_t limit) {
    if (!v || (v->numel && !v->data)) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_i32_check_range: no tensor view");
    if (limit <= 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_i32_check_range('%s'): limit %d <= 0", v->name, limit);
    for (size_t i = 0; i < v->numel; i++) {
        int32_t x = v->data[i];
        if (x >= 0 && x < limit) continue;
        int64_t idx[CLF_ST_MAX_RANK];
        size_t rest = i;
        for (int d = v->rank - 1; d >= 0; d--) {
            idx[d] = (int64_t)(rest % (size_t)v->shape[d]);
            rest /= (size_t)v->shape[d];
        }
        char where[256];
        clf_st_format_shape(where, sizeof where, v->rank, idx);
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s': value %d at %s (element %zu) is outside [0, %d)",
                         v->path ? v->path : "?", v->name ? v->name : "?", x, where, i, limit);
    }
    return CLF_OK;
}
