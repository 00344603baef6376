/* CLBlast tuning entries (engine/cl/tune.h): parse/format, the per-device file (round trip,
 * corrupt and foreign files), application at start-up through dc_ctx_new, SGEMM results with an
 * applied entry against a plain C reference on both GEMM paths, and the measurement's rejection
 * of a set that cannot run. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/ops_tune.h"
#include "dc_test.h"
#include "ops/ops_conv.h"

/* A set every OpenCL device can run (work-groups of 8x8, no vectors, no local memory). The
 * direct kernel handles m*n*k < 48^3 (both paths get exercised below). */
static const char *const k_valid[] = {
    "Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=32 NDIMB=8 NDIMC=8 NWG=32 SA=0 SB=0 "
    "STRM=0 STRN=0 VWM=1 VWN=1",
    "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=1 VWND=1 WGD=16",
    "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=48",
};

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static dc_tune_entry make_entry(const char *const *sets, int n, const char *note)
{
    dc_tune_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.note, sizeof e.note, "%s", note);
    for (int i = 0; i < n; i++) {
        dc_tune_set s;
        CHECK_OK(dc_tune_set_parse(sets[i], "test", &s));
        CHECK_OK(dc_tune_entry_put(&e, &s));
    }
    return e;
}

static int entries_equal(const dc_tune_entry *a, const dc_tune_entry *b)
{
    if (a->n != b->n || strcmp(a->note, b->note) != 0) return 0;
    for (int i = 0; i < a->n; i++) {
        const dc_tune_set *x = &a->sets[i], *y = &b->sets[i];
        if (strcmp(x->kernel, y->kernel) != 0 || x->n != y->n) return 0;
        for (int j = 0; j < x->n; j++)
            if (strcmp(x->names[j], y->names[j]) != 0 || x->values[j] != y->values[j]) return 0;
    }
    return 1;
}

static void test_sets(void)
{
    dc_tune_set s;
    CHECK_OK(dc_tune_set_parse("  Xgemm\tMWG=64  NWG=128 ", "t", &s));
    CHECK(strcmp(s.kernel, "Xgemm") == 0 && s.n == 2, "parsed %s with %d values", s.kernel, s.n);
    CHECK(dc_tune_set_get(&s, "NWG", 0) == 128 && dc_tune_set_get(&s, "KWG", 7) == 7, "get");
    char text[256];
    CHECK(strcmp(dc_tune_set_format(&s, text, sizeof text), "Xgemm MWG=64 NWG=128") == 0, "format: %s", text);
    CHECK_FAILS(dc_tune_set_parse("Xgemm MWG=64 MWG=32", "here", &s), DC_STATUS_FORMAT, "given twice");
    CHECK_FAILS(dc_tune_set_parse("Xgemm MWG=-4", "here", &s), DC_STATUS_FORMAT, "not a non-negative integer");
    CHECK_FAILS(dc_tune_set_parse("Xgemm MWG", "here", &s), DC_STATUS_FORMAT, "not NAME=VALUE");
    CHECK_FAILS(dc_tune_set_parse("Xgemm", "here", &s), DC_STATUS_FORMAT, "no NAME=VALUE");
    CHECK_FAILS(dc_tune_set_parse("X9 A=1", "here", &s), DC_STATUS_FORMAT, "kernel name");
    CHECK_FAILS(dc_tune_set_parse("Xgemm mwg=1", "here", &s), DC_STATUS_FORMAT, "parameter name");
    CHECK_FAILS(dc_tune_set_parse("Xgemm MWG=1x", "here", &s), DC_STATUS_FORMAT, "here");
}

/* Save, load, corrupt and foreign files for a fake device (no OpenCL needed). */
static void test_files(const char *dir)
{
    dc_device_info dev;
    memset(&dev, 0, sizeof dev);
    snprintf(dev.name, sizeof dev.name, "Test Device 9000");
    snprintf(dev.driver, sizeof dev.driver, "1.2.3");
    char path[1200], other[1200];
    CHECK_OK(dc_tune_path(&dev, path, sizeof path));
    CHECK(strncmp(path, dir, strlen(dir)) == 0, "path %s is not under DEEPCEE_CACHE %s", path, dir);
    dc_device_info dev2 = dev;
    snprintf(dev2.driver, sizeof dev2.driver, "1.2.4");
    CHECK_OK(dc_tune_path(&dev2, other, sizeof other));
    CHECK(strcmp(path, other) != 0, "another driver version must give another file");

    dc_tune_entry e = make_entry(k_valid, 3, "made by test_tune"), back;
    int found = 1;
    CHECK_OK(dc_tune_load(path, &dev, &back, &found));
    CHECK(found == 0, "a missing file is 'not found', not an error");
    CHECK_OK(dc_tune_save(path, &dev, &e));
    CHECK_OK(dc_tune_load(path, &dev, &back, &found));
    CHECK(found == 1 && entries_equal(&e, &back), "entry differs after the round trip");
    /* no temporary file left behind */
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0, "temporary file %s left behind", tmp);
    /* written for another device or driver: refused, naming the file */
    CHECK_FAILS(dc_tune_load(path, &dev2, &back, &found), DC_STATUS_FORMAT, "driver '1.2.3'");
    CHECK(strstr(dc_error_message(), path) != NULL, "message lacks the path: %s", dc_error_message());

    static const struct { const char *text, *needle; } corrupt[] = {
        {"", "is empty"},
        {"hello\n", "expected the header"},
        {"# deepcee CLBlast tuning 1\ndevice Test Device 9000\ndriver 1.2.3\nXgemm MWG=6x4\n", "line 4"},
        {"# deepcee CLBlast tuning 1\ndevice Test Device 9000\ndriver 1.2.3\n", "any parameter set"},
        {"# deepcee CLBlast tuning 1\ndriver 1.2.3\nXgemm MWG=64\n", "'device' line"},
        {"# deepcee CLBlast tuning 1\ndevice Other\ndriver 1.2.3\nXgemm MWG=64\n", "device 'Other'"},
        {"# deepcee CLBlast tuning 1\ndevice Test Device 9000\ndriver 1.2.3\nXgemm A=1\nXgemm A=2\n",
         "appears twice"},
    };
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        write_text(path, corrupt[i].text);
        CHECK_FAILS(dc_tune_load(path, &dev, &back, &found), DC_STATUS_FORMAT, corrupt[i].needle);
        CHECK(strstr(dc_error_message(), path) && strstr(dc_error_message(), "deepcee tune"),
              "corrupt file %zu: message must name the file and the fix: %s", i, dc_error_message());
    }
    remove(path);
}

/* Plain C reference of dc_gemm_mem's row-major op(A) op(B); returns the largest error relative to
 * sum |a b| of each entry. */
static double gemm_error(int ta, int tb, int m, int n, int k, const float *a, const float *b,
                         const float *c)
{
    double worst = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 1e-30;
            for (int p = 0; p < k; p++) {
                double x = ta ? a[(size_t)p * m + i] : a[(size_t)i * k + p];
                double y = tb ? b[(size_t)j * k + p] : b[(size_t)p * n + j];
                s += x * y;
                mag += fabs(x * y);
            }
            double err = fabs(c[(size_t)i * n + j] - s) / mag;
            if (!(err <= worst)) worst = err;
        }
    return worst;
}

/* SGEMM through the engine on odd shapes, all transposes, both GEMM paths (the direct kernel below
 * 48^3 = 110592 for k_valid, below 128^3 for the built-in entry): each entry within 1e-5 of
 * sum |a b| (float rounding is ~1e-7). */
static void check_gemm(dc_ctx *ctx, const char *what)
{
    static const int shapes[][5] = {
        {37, 41, 53, 0, 0},   {70, 133, 41, 0, 0}, {29, 65, 203, 1, 0},
        {45, 50, 30, 0, 1},   {64, 96, 48, 1, 1},  {101, 67, 88, 0, 1},
        {150, 170, 130, 1, 1}, /* above 128^3: the indirect path for the built-in entry too */
    };
    dc_rng rng;
    dc_rng_seed(&rng, 42);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3], tb = shapes[s][4];
        dc_tensor *a, *b, *c;
        CHECK_OK(dc_tensor_new(ctx, 2, (int[]){ta ? k : m, ta ? m : k}, &a));
        CHECK_OK(dc_tensor_new(ctx, 2, (int[]){tb ? n : k, tb ? k : n}, &b));
        CHECK_OK(dc_tensor_new(ctx, 2, (int[]){m, n}, &c));
        float *ha = malloc(a->numel * sizeof(float)), *hb = malloc(b->numel * sizeof(float));
        float *hc = malloc(c->numel * sizeof(float));
        for (size_t i = 0; i < a->numel; i++) ha[i] = (float)(2 * dc_rng_uniform(&rng) - 1);
        for (size_t i = 0; i < b->numel; i++) hb[i] = (float)(2 * dc_rng_uniform(&rng) - 1);
        CHECK_OK(dc_tensor_upload(a, ha, a->numel));
        CHECK_OK(dc_tensor_upload(b, hb, b->numel));
        CHECK_OK(dc_matmul(ctx, ta, tb, 1.0f, a, b, 0.0f, c));
        CHECK_OK(dc_tensor_download(c, hc, c->numel));
        double err = gemm_error(ta, tb, m, n, k, ha, hb, hc);
        CHECK(err <= 1e-5, "%s: %dx%dx%d %c%c relative error %.3g", what, m, n, k, ta ? 'T' : 'N',
              tb ? 'T' : 'N', err);
        free(ha);
        free(hb);
        free(hc);
        dc_tensor_free(a);
        dc_tensor_free(b);
        dc_tensor_free(c);
    }
}

static void test_device(void)
{
    unsetenv("DEEPCEE_TUNE");
    dc_ctx *ctx;
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    if (!ctx) return;
    dc_device_info dev = *dc_ctx_info(ctx);
    dc_ctx_free(ctx);
    char path[1200];
    CHECK_OK(dc_tune_path(&dev, path, sizeof path));

    /* A stored entry is applied by dc_ctx_new and SGEMM stays correct on both paths. */
    dc_tune_entry e = make_entry(k_valid, 3, "test_tune: a set every device runs");
    CHECK_OK(dc_tune_save(path, &dev, &e));
    dc_tune_entry found;
    dc_tune_origin origin;
    CHECK_OK(dc_tune_lookup(&dev, &found, &origin));
    CHECK(origin == DC_TUNE_ORIGIN_STORED && entries_equal(&e, &found), "lookup must return the stored entry");
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    if (ctx) {
        check_gemm(ctx, "stored entry");
        /* the measurement used by `deepcee tune` passes these parameters */
        dc_tune_shape small = {48, 300, 72, 0, 0, "small", 0};
        dc_tune_measurement m;
        CHECK_OK(dc_tune_measure(ctx, &small, 1, 1, NULL, NULL, &m));
        CHECK(m.bad[0] == '\0' && m.gflops > 0, "valid set rejected: %s", m.bad);
        /* ... also through the tile-padded path of the convolutions (forward NN, backward TN) */
        setenv("DEEPCEE_GEMM_PAD", "on", 1);
        const dc_tune_shape both[2] = {{48, 300, 72, 0, 0, "padded NN", 0}, {72, 300, 48, 1, 0, "padded TN", 0}};
        CHECK_OK(dc_tune_measure(ctx, both, 2, 1, NULL, NULL, &m));
        CHECK(m.bad[0] == '\0' && m.gflops > 0, "valid set rejected on the padded path: %s", m.bad);
        unsetenv("DEEPCEE_GEMM_PAD");
        /* a set the device cannot launch (work-groups of 128 x 64 > the 4096 PoCL allows, more
         * than any GPU allows) is a rejection, not an error */
        dc_tune_entry huge = make_entry((const char *const[]){
            "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=128 MDIMC=128 MWG=128 NDIMB=64 NDIMC=64 NWG=64 "
            "SA=0 SB=0 STRM=0 STRN=0 VWM=1 VWN=1",
            "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=1"}, 2, "");
        CHECK_OK(dc_tune_override(ctx, &huge));
        CHECK_OK(dc_tune_measure(ctx, &small, 1, 1, NULL, NULL, &m));
        CHECK(m.bad[0] != '\0' && m.gflops == 0, "an unlaunchable set must be rejected");
        dc_ctx_free(ctx);
    }

    /* The compiled-in entry of this device (if it has one) also keeps SGEMM correct. */
    const dc_tune_entry *builtin = dc_tune_builtin(dev.name);
    if (builtin) {
        remove(path);
        CHECK_OK(dc_tune_lookup(&dev, &found, &origin));
        CHECK(origin == DC_TUNE_ORIGIN_BUILTIN, "without a file the built-in entry applies");
        CHECK_OK(dc_ctx_new(&ctx, NULL));
        if (ctx) {
            check_gemm(ctx, "built-in entry");
            dc_ctx_free(ctx);
        }
    } else {
        printf("no built-in entry for %s: skipped its check\n", dev.name);
    }

    /* A stored set CLBlast refuses (parameters missing) fails dc_ctx_new, naming it. */
    dc_tune_entry partial = make_entry((const char *const[]){"Xgemm MWG=64"}, 1, "");
    CHECK_OK(dc_tune_save(path, &dev, &partial));
    ctx = NULL;
    CHECK_FAILS(dc_ctx_new(&ctx, NULL), DC_STATUS_BLAS, "Xgemm MWG=64");
    dc_ctx_free(ctx);

    /* A corrupt file fails dc_ctx_new with a message naming it; DEEPCEE_TUNE=off skips it. */
    write_text(path, "# deepcee CLBlast tuning 1\ngarbage\n");
    ctx = NULL;
    CHECK_FAILS(dc_ctx_new(&ctx, NULL), DC_STATUS_FORMAT, path);
    dc_ctx_free(ctx);
    setenv("DEEPCEE_TUNE", "off", 1);
    ctx = NULL;
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    dc_ctx_free(ctx);
    unsetenv("DEEPCEE_TUNE");
    remove(path);
}

int main(void)
{
    char dir[] = "/tmp/dc_test_tuneXXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    setenv("DEEPCEE_CACHE", dir, 1);
    test_sets();
    test_files(dir);
    test_device();
    rmdir(dir);
    return dc_test_finish("test_tune");
}
