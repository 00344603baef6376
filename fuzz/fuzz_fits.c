/* libFuzzer: the FITS image and header path of detect and the dataset builder (CFITSIO through
 * engine/astro) and the WCS built from the header (WCSLIB), then a pixel <-> sky round trip. */
#include "astro/astro.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".fits");
    dc_image *img = NULL;
    dc_fits_header *hdr = NULL;
    if (dc_fits_image_read(path, 0, NULL, &img, &hdr) == DC_STATUS_OK) {
        dc_wcs *w = NULL;
        if (dc_wcs_from_header(hdr, &w) == DC_STATUS_OK) {
            double x = 0.5 * img->nx, y = 0.5 * img->ny, ra, dec;
            if (dc_wcs_pix2world(w, 1, &x, &y, &ra, &dec) == DC_STATUS_OK) dc_wcs_world2pix(w, 1, &ra, &dec, &x, &y);
            dc_wcs_free(w);
        }
        dc_image_fill_nonfinite(img, 0);
        dc_image *small = NULL;
        if (img->nx > 0 && img->ny > 0 && dc_image_resample(img, 1 + img->nx / 4, 1 + img->ny / 4, &small) == DC_STATUS_OK)
            dc_image_free(small);
    }
    dc_image_free(img);
    dc_fits_header_free(hdr);
    remove(path);
    return 0;
}
