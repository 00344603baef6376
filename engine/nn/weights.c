/* Weights files: see weights.h for the format. */
#define _POSIX_C_SOURCE 200809L
#include "nn/weights.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

struct dc_weights {
    dc_weight_entry *t;
    int n, cap;
    char **keys, **values;
    int nmeta, capmeta;
};

dc_status dc_weights_new(dc_weights **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? DC_STATUS_OK : DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for weights");
}

void dc_weights_free(dc_weights *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    for (int i = 0; i < w->nmeta; i++) {
        free(w->keys[i]);
        free(w->values[i]);
    }
    free(w->t);
    free(w->keys);
    free(w->values);
    free(w);
}

const dc_weight_entry *dc_weights_find(const dc_weights *w, const char *name)
{
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) return &w->t[i];
    return NULL;
}

int dc_weights_count(const dc_weights *w) { return w->n; }
const dc_weight_entry *dc_weights_at(const dc_weights *w, int i) { return &w->t[i]; }
int dc_weights_meta_count(const dc_weights *w) { return w->nmeta; }

void dc_weights_meta_at(const dc_weights *w, int i, const char **key, const char **value)
{
    *key = w->keys[i];
    *value = w->values[i];
}

static int name_ok(const char *name)
{
    if (!*name || strlen(name) > 255) return 0;
    for (const char *c = name; *c; c++)
        if (*c <= ' ' || *c > '~') return 0;
    return 1;
}

/* Takes ownership of data. */
static dc_status add_owned(dc_weights *w, const char *name, int ndim, const int *shape, size_t numel,
                           float *data)
{
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        dc_weight_entry *grown = realloc(w->t, (size_t)cap * sizeof *grown);
        if (!grown) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory adding tensor %s", name);
        w->t = grown;
        w->cap = cap;
    }
    dc_weight_entry *e = &w->t[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->numel = numel;
    e->data = data;
    w->n++;
    return DC_STATUS_OK;
}

static dc_status shape_numel(const char *name, int ndim, const int *shape, size_t *numel)
{
    if (ndim < 0 || ndim > DC_WEIGHTS_MAX_DIMS)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "tensor %s: %d dimensions (at most %d)", name, ndim,
                       DC_WEIGHTS_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || shape[i] > (1 << 30))
            return DC_FAIL(DC_STATUS_INVALID_ARG, "tensor %s: dimension %d is %d", name, i, shape[i]);
        n *= (size_t)shape[i];
        if (n > ((size_t)1 << 34)) return DC_FAIL(DC_STATUS_INVALID_ARG, "tensor %s is too large", name);
    }
    *numel = n;
    return DC_STATUS_OK;
}

dc_status dc_weights_add(dc_weights *w, const char *name, int ndim, const int *shape, const float *data)
{
    if (!name_ok(name))
        return DC_FAIL(DC_STATUS_INVALID_ARG, "tensor name '%s' must be 1-255 printable characters "
                       "without spaces", name);
    if (dc_weights_find(w, name)) return DC_FAIL(DC_STATUS_INVALID_ARG, "tensor %s added twice", name);
    size_t n;
    DC_TRY(shape_numel(name, ndim, shape, &n));
    float *copy = malloc(n * sizeof *copy);
    if (!copy) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for tensor %s", name);
    memcpy(copy, data, n * sizeof *copy);
    dc_status st = add_owned(w, name, ndim, shape, n, copy);
    if (st != DC_STATUS_OK) free(copy);
    return st;
}

dc_status dc_weights_meta_set(dc_weights *w, const char *key, const char *value)
{
    for (int i = 0; i < w->nmeta; i++) {
        if (strcmp(w->keys[i], key) == 0) {
            char *v = strdup(value);
            if (!v) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
            free(w->values[i]);
            w->values[i] = v;
            return DC_STATUS_OK;
        }
    }
    if (w->nmeta == w->capmeta) {
        int cap = w->capmeta ? 2 * w->capmeta : 16;
        char **k = realloc(w->keys, (size_t)cap * sizeof *k);
        if (!k) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
        w->keys = k;
        char **v = realloc(w->values, (size_t)cap * sizeof *v);
        if (!v) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
        w->values = v;
        w->capmeta = cap;
    }
    w->keys[w->nmeta] = strdup(key);
    w->values[w->nmeta] = strdup(value);
    if (!w->keys[w->nmeta] || !w->values[w->nmeta]) {
        free(w->keys[w->nmeta]);
        free(w->values[w->nmeta]);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    }
    w->nmeta++;
    return DC_STATUS_OK;
}

const char *dc_weights_meta_get(const dc_weights *w, const char *key)
{
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->keys[i], key) == 0) return w->values[i];
    return NULL;
}

static void shape_str(int ndim, const int *shape, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", i ? ", " : "", shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

dc_status dc_weights_expect(const dc_weights *w, const char *label, const char *name, int ndim,
                            const int *shape, const dc_weight_entry **out)
{
    const dc_weight_entry *e = dc_weights_find(w, name);
    char want[96], have[96];
    shape_str(ndim, shape, want, sizeof want);
    if (!e)
        return DC_FAIL(DC_STATUS_NOT_FOUND, "%s has no tensor %s (expected shape %s): the weights were "
                       "made for another network configuration", label, name, want);
    int same = e->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
    if (!same) {
        shape_str(e->ndim, e->shape, have, sizeof have);
        return DC_FAIL(DC_STATUS_SHAPE, "%s: tensor %s has shape %s but the network needs %s: the "
                       "weights were made for another network configuration", label, name, have, want);
    }
    *out = e;
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ files */

static const char MAGIC[] = "DCWEIGHTS 1\n";

static int put(gzFile f, const void *p, size_t n) { return n == 0 || gzwrite(f, p, (unsigned)n) == (int)n; }

static int key_cmp(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

dc_status dc_weights_save(const dc_weights *w, const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    dc_file_remove_stale_temps(path);
    /* metadata in sorted key order: the same content always gives the same file */
    const char **order = malloc(((size_t)w->nmeta + 1) * sizeof *order);
    if (!order) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory saving %s", path);
    for (int i = 0; i < w->nmeta; i++) order[i] = w->keys[i];
    qsort(order, (size_t)w->nmeta, sizeof *order, key_cmp);
    gzFile f = gzopen(tmp, "wb6");
    if (!f) {
        int e = errno;
        free(order);
        return DC_FAIL(DC_STATUS_IO, "cannot write %s: %s", tmp, strerror(e));
    }
    int ok = put(f, MAGIC, sizeof MAGIC - 1) && gzprintf(f, "meta %d\n", w->nmeta) > 0;
    for (int i = 0; ok && i < w->nmeta; i++) {
        const char *key = order[i], *value = dc_weights_meta_get(w, key);
        ok = gzprintf(f, "%zu %zu\n", strlen(key), strlen(value)) > 0 && put(f, key, strlen(key)) &&
             put(f, value, strlen(value)) && put(f, "\n", 1);
    }
    free(order);
    ok = ok && gzprintf(f, "tensors %d\n", w->n) > 0;
    for (int i = 0; ok && i < w->n; i++) {
        const dc_weight_entry *e = &w->t[i];
        ok = gzprintf(f, "%s %d", e->name, e->ndim) > 0;
        for (int d = 0; ok && d < e->ndim; d++) ok = gzprintf(f, " %d", e->shape[d]) > 0;
        ok = ok && put(f, "\n", 1);
        /* float32 little-endian: the hosts we build for are little-endian */
        for (size_t off = 0; ok && off < e->numel; off += (1u << 24)) {
            size_t cnt = e->numel - off < (1u << 24) ? e->numel - off : (1u << 24);
            ok = put(f, e->data + off, cnt * sizeof(float));
        }
    }
    if (gzclose(f) != Z_OK) ok = 0;
    if (!ok) {
        remove(tmp);
        return DC_FAIL(DC_STATUS_IO, "writing %s failed (disk full?); the previous file is untouched", path);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return DC_FAIL(DC_STATUS_IO, "cannot move %s into place as %s: %s", tmp, path, strerror(e));
    }
    return DC_STATUS_OK;
}

/* The decompressed stream, with its running CRC-32 and length for the gzip trailer check. */
typedef struct reader { gzFile f; uLong crc; uint64_t len; } reader;

static int rd(reader *r, void *buf, size_t n)
{
    if (n == 0) return 1;
    if (gzread(r->f, buf, (unsigned)n) != (int)n) return 0;
    r->crc = crc32(r->crc, buf, (uInt)n);
    r->len += n;
    return 1;
}

static int get_line(reader *r, char *buf, int size)
{
    if (!gzgets(r->f, buf, size)) return 0;
    size_t n = strlen(buf);
    r->crc = crc32(r->crc, (const Bytef *)buf, (uInt)n);
    r->len += n;
    if (n == 0 || buf[n - 1] != '\n') return 0;
    buf[n - 1] = '\0';
    return 1;
}

/* A weights file is exactly one gzip member: it starts with the gzip magic and its last 8 bytes
 * are the member's trailer, the CRC-32 and length (mod 2^32) of what was decompressed. A damaged
 * trailer, bytes appended after it, or a file cut short all fail this. */
static const char *check_trailer(const char *path, const reader *r)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return "cannot re-open it to check its checksum";
    unsigned char t[8];
    int ok = fseek(fp, -8, SEEK_END) == 0 && fread(t, 1, 8, fp) == 8;
    fclose(fp);
    if (!ok) return "too short for a gzip trailer";
    uint32_t crc = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    uint32_t len = (uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
    if (crc != (uint32_t)r->crc || len != (uint32_t)r->len)
        return "checksum mismatch: the gzip trailer (CRC-32 and length) does not match the content, "
               "or bytes follow it; the file is damaged or was altered";
    return NULL;
}

static int gzip_magic(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 1; /* gzopen reports the error */
    unsigned char m[2] = {0, 0};
    size_t got = fread(m, 1, 2, fp);
    fclose(fp);
    return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static dc_status corrupt(const char *path, const char *what)
{
    return DC_FAIL(DC_STATUS_FORMAT, "%s is not a valid deepcee weights file (%s); re-create it or "
                   "pick another file", path, what);
}

dc_status dc_weights_load(const char *path, dc_weights **out)
{
    *out = NULL;
    DC_TRY(dc_file_check(path, "weights file"));
    if (!gzip_magic(path)) return corrupt(path, "bad magic: not gzip-compressed");
    gzFile f = gzopen(path, "rb");
    if (!f) return DC_FAIL(DC_STATUS_IO, "cannot open weights file %s: %s", path, strerror(errno));
    reader r = {f, crc32(0L, Z_NULL, 0), 0};
    dc_weights *w;
    dc_status st = dc_weights_new(&w);
    if (st != DC_STATUS_OK) {
        gzclose(f);
        return st;
    }
    char line[1024];
    int count;
    if (!get_line(&r, line, sizeof line) || strcmp(line, "DCWEIGHTS 1") != 0) {
        st = corrupt(path, "bad magic");
        goto done;
    }
    if (!get_line(&r, line, sizeof line) || sscanf(line, "meta %d", &count) != 1 || count < 0) {
        st = corrupt(path, "bad metadata count");
        goto done;
    }
    for (int i = 0; i < count; i++) {
        size_t kl, vl;
        if (!get_line(&r, line, sizeof line) || sscanf(line, "%zu %zu", &kl, &vl) != 2 || kl > 4096 ||
            vl > (1u << 24)) {
            st = corrupt(path, "bad metadata entry");
            goto done;
        }
        char *buf = malloc(kl + vl + 2);
        if (!buf) {
            st = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory reading %s", path);
            goto done;
        }
        if (!rd(&r, buf, kl + vl + 1) || buf[kl + vl] != '\n') {
            free(buf);
            st = corrupt(path, "truncated metadata");
            goto done;
        }
        buf[kl + vl] = '\0';
        char *value = strdup(buf + kl);
        buf[kl] = '\0';
        st = value ? dc_weights_meta_set(w, buf, value) : DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of memory");
        free(value);
        free(buf);
        if (st != DC_STATUS_OK) goto done;
    }
    if (!get_line(&r, line, sizeof line) || sscanf(line, "tensors %d", &count) != 1 || count < 0) {
        st = corrupt(path, "bad tensor count");
        goto done;
    }
    for (int i = 0; i < count; i++) {
        char name[256];
        int ndim, shape[DC_WEIGHTS_MAX_DIMS] = {0}, used = 0;
        if (!get_line(&r, line, sizeof line) || sscanf(line, "%255s %d%n", name, &ndim, &used) != 2 ||
            ndim < 0 || ndim > DC_WEIGHTS_MAX_DIMS) {
            st = corrupt(path, "bad tensor header");
            goto done;
        }
        const char *p = line + used;
        for (int d = 0; d < ndim; d++) {
            int k;
            if (sscanf(p, "%d%n", &shape[d], &k) != 1) {
                st = corrupt(path, "bad tensor shape");
                goto done;
            }
            p += k;
        }
        size_t n;
        if ((st = shape_numel(name, ndim, shape, &n)) != DC_STATUS_OK) {
            st = corrupt(path, "bad tensor shape");
            goto done;
        }
        /* the buffer grows with the data actually read, so a damaged header claiming billions of
         * elements fails as truncated instead of allocating them first (found by fuzz_weights) */
        size_t cap = n < (1u << 20) ? n : (1u << 20);
        float *data = malloc((cap ? cap : 1) * sizeof *data);
        int ok = data != NULL, oom = !data;
        for (size_t off = 0; ok && off < n; off += (1u << 20)) {
            size_t cnt = n - off < (1u << 20) ? n - off : (1u << 20);
            if (off + cnt > cap) {
                size_t grow = cap * 2 < off + cnt ? off + cnt : cap * 2;
                if (grow > n) grow = n;
                float *bigger = realloc(data, grow * sizeof *data);
                if (!bigger) {
                    ok = 0;
                    oom = 1;
                    break;
                }
                data = bigger;
                cap = grow;
            }
            ok = rd(&r, data + off, cnt * sizeof(float));
        }
        if (oom) {
            free(data);
            st = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory reading tensor %s of %s", name, path);
            goto done;
        }
        if (!ok) {
            free(data);
            char what[300];
            snprintf(what, sizeof what, "tensor %s is truncated", name);
            st = corrupt(path, what);
            goto done;
        }
        size_t bad = n;
        for (size_t k = 0; k < n && bad == n; k++)
            if (!isfinite(data[k])) bad = k;
        if (bad < n) {
            st = DC_FAIL(DC_STATUS_FORMAT, "%s: tensor %s holds a non-finite value (%g at element %zu): the "
                         "training that wrote it diverged; use an earlier checkpoint or retrain with a lower lr",
                         path, name, (double)data[bad], bad);
            free(data);
            goto done;
        }
        if ((st = add_owned(w, name, ndim, shape, n, data)) != DC_STATUS_OK) {
            free(data);
            goto done;
        }
    }
    {
        /* nothing may follow the last tensor, and the stream must end cleanly */
        unsigned char extra;
        int got = gzread(f, &extra, 1), zerr;
        const char *msg = gzerror(f, &zerr);
        if (got > 0) st = corrupt(path, "data after the last tensor");
        else if (got < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR)) {
            char what[300];
            snprintf(what, sizeof what, "damaged compressed data: %s", msg);
            st = corrupt(path, what);
        } else if (!gzeof(f)) st = corrupt(path, "the compressed stream does not end");
        else {
            const char *why = check_trailer(path, &r);
            if (why) st = corrupt(path, why);
        }
    }
done:
    gzclose(f);
    if (st != DC_STATUS_OK) {
        dc_weights_free(w);
        return st;
    }
    *out = w;
    return DC_STATUS_OK;
}
