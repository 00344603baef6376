/* Simulator speed: one 2000 x 2000 g, r, i field with its clusters (issue 3 target: <= 1 s on the
 * 2-core development machine), the same field written (3 FITS + truth + PNG), and survey
 * generation. Reference measured in the same run: writing the same three 2000 x 2000 float
 * images as FITS after a memset, i.e. the cost of merely producing the files. */
#include "bench_util.h"

#include <math.h>
#include <unistd.h>

#include "astro/astro.h"
#include "sim/sim.h"

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1) reps = 1;
    char dir[] = "/tmp/dc_bench_sim_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[256];

    /* reference: memset + FITS write of three 2000^2 images */
    double t_ref = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        for (int b = 0; b < 3; b++) {
            dc_image *img;
            if (dc_image_new(&img, 2000, 2000)) return bench_fail("bench_sim", "image");
            memset(img->data, 0, sizeof(float) * 2000 * 2000);
            snprintf(path, sizeof path, "%s/ref-%d.fits", dir, b);
            if (dc_fits_image_write(path, img, NULL, NULL)) return bench_fail("bench_sim", "reference write");
            dc_image_free(img);
        }
        double t = bench_now() - t0;
        if (t < t_ref) t_ref = t;
    }

    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    double t_sim = 0, t_sim_min = 1e30, t_write = 0;
    size_t objects = 0;
    for (int r = 0; r < reps; r++) {
        c.seed = 1000 + r;
        double t0 = bench_now();
        dc_sim_field *f;
        if (dc_sim_field_new(&c, &f)) return bench_fail("bench_sim", "field");
        double t1 = bench_now();
        dc_sim_write_opts o = {.preview_size = 1000};
        if (dc_sim_field_write(f, dir, "bench", &o)) return bench_fail("bench_sim", "write");
        double t2 = bench_now();
        t_sim += t1 - t0;
        if (t1 - t0 < t_sim_min) t_sim_min = t1 - t0;
        t_write += t2 - t1;
        objects += f->n_objects;
        dc_sim_field_free(f);
    }
    t_sim /= reps;
    t_write /= reps;

    dc_sim_survey_config sc;
    dc_sim_survey_config_default(&sc);
    sc.ra_max = sc.ra_min + 10; /* ~290 deg^2 */
    double t0 = bench_now();
    dc_sim_survey *s;
    if (dc_sim_survey_new(&sc, &s)) return bench_fail("bench_sim", "survey");
    double t_survey = bench_now() - t0;
    size_t ncl = s->n_clusters;
    t0 = bench_now();
    dc_sim_field *f;
    if (dc_sim_survey_field(s, &c, s->clusters[0].ra, s->clusters[0].dec, 1, &f)) return bench_fail("bench_sim", "survey field");
    double t_sfield = bench_now() - t0;
    dc_sim_field_free(f);
    dc_sim_survey_free(s);

    printf("bench_sim (%d repetitions, wall clock)\n", reps);
    printf("  reference: memset + FITS write of 3 x 2000^2 float images   %8.3f s (best)\n", t_ref);
    printf("  simulate 2000^2 g,r,i field with clusters (mean)           %8.3f s  (best %.3f s; %.0f objects; %.1f Mpix/s)\n",
           t_sim, t_sim_min, (double)objects / reps, 12.0 / t_sim);
    printf("    ratio to reference                                         %8.2f x\n", t_sim / t_ref);
    printf("    target <= 1 s                                              %s\n", t_sim <= 1.0 ? "met" : "MISSED");
    printf("  write 3 FITS + truth FITS/CSV + 1000^2 PNG preview (mean)   %8.3f s  (%.2f x reference)\n", t_write, t_write / t_ref);
    printf("  field throughput, simulate + write                          %8.2f fields/s\n", 1 / (t_sim + t_write));
    printf("  survey of %.0f deg^2: %zu clusters generated in              %8.3f s\n", 10.0 * (sin(25 * M_PI / 180) + sin(5 * M_PI / 180)) * 180 / M_PI, ncl, t_survey);
    printf("  survey cut-out field 2000^2 around a cluster                 %8.3f s\n", t_sfield);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
