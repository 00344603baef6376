/* Weights files: round trip, shape mismatches named, corrupt and truncated files, atomic saves. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

#include "dc_test.h"
#include "nn/weights.h"

/* A damaged header claiming 2.2 billion elements (fuzz/fuzz_weights: it allocated 8.9 GB before
 * reading) is reported as truncated; the buffer grows only with the data read. */
static void huge_shape(void)
{
    const char *src = getenv("DEEPCEE_SOURCE_DIR");
    CHECK(src != NULL, "DEEPCEE_SOURCE_DIR is not set (ctest sets it)");
    if (!src) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz/corpus/weights/regress-huge-shape.dcw", src);
    /* in a child limited to 4 GB of address space, so allocating the claimed 8.9 GB first fails */
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit lim = {4ull << 30, 4ull << 30};
        setrlimit(RLIMIT_AS, &lim);
        dc_weights *w = NULL;
        dc_status st = dc_weights_load(path, &w);
        int ok = st == DC_STATUS_FORMAT && strstr(dc_error_message(), "truncated") != NULL;
        if (!ok) fprintf(stderr, "huge shape: %s\n", dc_error_message());
        dc_weights_free(w);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a header claiming 2.2e9 elements is not reported as truncated within 4 GB (status %d)", status);
}

int main(void)
{
    huge_shape();
    char dir[] = "/tmp/dc_test_wXXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/w.dcw", dir);

    dc_rng rng;
    dc_rng_seed(&rng, 42);
    dc_weights *w;
    CHECK_OK(dc_weights_new(&w));
    float a[3 * 5 * 7], b[11];
    for (size_t i = 0; i < sizeof a / sizeof *a; i++) a[i] = (float)dc_rng_normal(&rng);
    for (size_t i = 0; i < 11; i++) b[i] = (float)dc_rng_uniform(&rng) - 0.5f;
    CHECK_OK(dc_weights_add(w, "fn/conv1/w", 3, (int[]){3, 5, 7}, a));
    CHECK_OK(dc_weights_add(w, "fn/conv1/b", 1, (int[]){11}, b));
    CHECK_FAILS(dc_weights_add(w, "fn/conv1/b", 1, (int[]){11}, b), DC_STATUS_INVALID_ARG, "twice");
    CHECK_FAILS(dc_weights_add(w, "has space", 1, (int[]){1}, b), DC_STATUS_INVALID_ARG, "has space");
    CHECK_OK(dc_weights_meta_set(w, "config", "return { network = 'demo',\n steps = 10 }"));
    CHECK_OK(dc_weights_meta_set(w, "step", "120"));
    CHECK_OK(dc_weights_meta_set(w, "step", "121"));
    CHECK_OK(dc_weights_save(w, path));

    dc_weights *r;
    CHECK_OK(dc_weights_load(path, &r));
    CHECK(dc_weights_count(r) == 2, "count %d", dc_weights_count(r));
    const dc_weight_entry *e;
    CHECK_OK(dc_weights_expect(r, path, "fn/conv1/w", 3, (int[]){3, 5, 7}, &e));
    CHECK(memcmp(e->data, a, sizeof a) == 0, "tensor values changed in the round trip");
    CHECK_OK(dc_weights_expect(r, path, "fn/conv1/b", 1, (int[]){11}, &e));
    CHECK(memcmp(e->data, b, sizeof b) == 0, "bias values changed");
    CHECK(strcmp(dc_weights_meta_get(r, "step"), "121") == 0, "meta overwrite");
    CHECK(strcmp(dc_weights_meta_get(r, "config"), "return { network = 'demo',\n steps = 10 }") == 0,
          "multi-line meta");
    CHECK(dc_weights_meta_get(r, "seed") == NULL, "absent meta");
    /* a network of another configuration: the message names the tensor and both shapes */
    CHECK_FAILS(dc_weights_expect(r, path, "fn/conv1/w", 3, (int[]){3, 5, 9}, &e), DC_STATUS_SHAPE,
                "fn/conv1/w has shape [3, 5, 7] but the network needs [3, 5, 9]");
    CHECK_FAILS(dc_weights_expect(r, path, "rpn/cls/w", 2, (int[]){2, 2}, &e), DC_STATUS_NOT_FOUND,
                "rpn/cls/w");
    dc_weights_free(r);

    /* truncated: cut the compressed file in half */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size, "read back");
    fclose(f);
    snprintf(bad, sizeof bad, "%s/half.dcw", dir);
    f = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size / 2, f);
    fclose(f);
    CHECK_FAILS(dc_weights_load(bad, &r), DC_STATUS_FORMAT, "half.dcw");
    CHECK(r == NULL, "no weights on failure");
    /* not a weights file at all */
    f = fopen(bad, "wb");
    fputs("SIMPLE  =                    T\n", f);
    fclose(f);
    CHECK_FAILS(dc_weights_load(bad, &r), DC_STATUS_FORMAT, "bad magic");
    snprintf(bad, sizeof bad, "%s/absent.dcw", dir);
    CHECK_FAILS(dc_weights_load(bad, &r), DC_STATUS_IO, "absent.dcw");
    /* a directory is named as one (gzopen accepts it and the read failed as "bad magic") */
    snprintf(bad, sizeof bad, "%s/folder.dcw", dir);
    CHECK(mkdir(bad, 0755) == 0, "mkdir %s", bad);
    CHECK_FAILS(dc_weights_load(bad, &r), DC_STATUS_IO, "folder.dcw': it is a directory, not a file");
    /* a failed save leaves the previous file untouched */
    snprintf(bad, sizeof bad, "%s/no/such/dir/w.dcw", dir);
    CHECK_FAILS(dc_weights_save(w, bad), DC_STATUS_IO, "no/such/dir");
    CHECK_OK(dc_weights_load(path, &r));
    dc_weights_free(r);

    /* checksum: bytes appended after the gzip member, a damaged trailer CRC, a damaged length */
    snprintf(bad, sizeof bad, "%s/tail.dcw", dir);
    f = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size, f);
    fputs("junk", f);
    fclose(f);
    CHECK_FAILS(dc_weights_load(bad, &r), DC_STATUS_FORMAT, "checksum mismatch");
    for (int k = 8; k >= 1; k -= 4) { /* byte size-8: CRC; size-4: length */
        f = fopen(bad, "wb");
        bytes[size - k] ^= 0x01;
        fwrite(bytes, 1, (size_t)size, f);
        bytes[size - k] ^= 0x01;
        fclose(f);
        CHECK_FAILS(dc_weights_load(bad, &r), DC_STATUS_FORMAT, "tail.dcw");
    }
    /* the undamaged copy still loads (the checks reject the damage, not the file) */
    f = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size, f);
    fclose(f);
    CHECK_OK(dc_weights_load(bad, &r));
    dc_weights_free(r);

    /* metadata order: the same content set in another order gives a byte-identical file */
    dc_weights *w2;
    CHECK_OK(dc_weights_new(&w2));
    CHECK_OK(dc_weights_meta_set(w2, "step", "121"));
    CHECK_OK(dc_weights_meta_set(w2, "config", "return { network = 'demo',\n steps = 10 }"));
    CHECK_OK(dc_weights_add(w2, "fn/conv1/w", 3, (int[]){3, 5, 7}, a));
    CHECK_OK(dc_weights_add(w2, "fn/conv1/b", 1, (int[]){11}, b));
    char path2[256];
    snprintf(path2, sizeof path2, "%s/w2.dcw", dir);
    CHECK_OK(dc_weights_save(w2, path2));
    f = fopen(path2, "rb");
    char *bytes2 = malloc((size_t)size + 1);
    size_t got2 = fread(bytes2, 1, (size_t)size + 1, f);
    fclose(f);
    CHECK(got2 == (size_t)size && memcmp(bytes, bytes2, (size_t)size) == 0,
          "metadata set in another order gave another file (%zu vs %ld bytes)", got2, size);
    free(bytes2);

    /* a non-finite value is an error at load naming the tensor */
    float nanb[11];
    memcpy(nanb, b, sizeof nanb);
    nanb[4] = NAN;
    dc_weights *w3;
    CHECK_OK(dc_weights_new(&w3));
    CHECK_OK(dc_weights_add(w3, "fn/conv1/b", 1, (int[]){11}, nanb));
    snprintf(bad, sizeof bad, "%s/nan.dcw", dir);
    CHECK_OK(dc_weights_save(w3, bad));
    CHECK_FAILS(dc_weights_load(bad, &r), DC_STATUS_FORMAT, "tensor fn/conv1/b holds a non-finite value");
    dc_weights_free(w3);

    /* stale temporaries of killed saves are removed at the next save; a live process's stays */
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    char stale[300], live[300];
    snprintf(stale, sizeof stale, "%s.tmp%ld", path2, (long)child);
    snprintf(live, sizeof live, "%s.tmp1", path2);
    fclose(fopen(stale, "wb"));
    fclose(fopen(live, "wb"));
    CHECK_OK(dc_weights_save(w2, path2));
    CHECK(access(stale, F_OK) != 0, "stale temporary %s was not removed", stale);
    CHECK(access(live, F_OK) == 0, "the temporary of a live process (pid 1) was removed");
    remove(live);
    dc_weights_free(w2);

    free(bytes);
    dc_weights_free(w);
    return dc_test_finish("test_weights");
}
