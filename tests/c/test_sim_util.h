/* Shared by the simulator tests: FNV-1a hashes of rendered fields (the recorded checksums that
 * prove an unchanged sky is bit-identical) and a survey over an RA/Dec box. */
#ifndef DC_TEST_SIM_UTIL_H
#define DC_TEST_SIM_UTIL_H

#include <stdint.h>

#include "dc_test.h"
#include "sim/sim.h"

#define TEST_FNV_BASIS 0xcbf29ce484222325ULL

/* FNV-1a: h continued over n bytes at p. */
static inline uint64_t test_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* The three bands' pixels of f, g first. */
static inline uint64_t test_sim_image_hash(const dc_sim_field *f)
{
    uint64_t h = TEST_FNV_BASIS;
    for (int b = 0; b < 3; b++) h = test_fnv(h, f->image[b]->data, (size_t)f->width * f->height * sizeof(float));
    return h;
}

/* The default survey config over RA ra_min..ra_max, Dec dec_min..dec_max (degrees). */
static inline void test_sim_survey_config(dc_sim_survey_config *s, uint64_t seed, double ra_min, double ra_max,
                                          double dec_min, double dec_max)
{
    dc_sim_survey_config_default(s);
    s->seed = seed;
    s->ra_min = ra_min;
    s->ra_max = ra_max;
    s->dec_min = dec_min;
    s->dec_max = dec_max;
}

#endif
