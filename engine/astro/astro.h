/* deepcee astro: the astronomical I/O layer, all in plain host memory.
 *
 *   images      dc_image (float32), FITS read/write through CFITSIO (plain, .gz, Rice .fz)
 *   headers     dc_fits_header: an ordered list of 80-character FITS cards
 *   WCS         dc_wcs through WCSLIB: any WCS a header holds, and a TAN/CD constructor
 *   catalogues  dc_catalog: named double and string columns; FITS tables, CSV, DS9 regions;
 *               WHL12 and redMaPPer column mapping onto canonical names
 *   cosmology   flat LambdaCDM distances
 *   pictures    dc_rgb (8-bit RGB): composites (sqrt or Lupton asinh), drawing, PNG through libpng
 *
 * Conventions
 * - Pixel coordinates are 0-based: the centre of data[y*nx + x] is (x, y); the FITS pixel is
 *   (x+1, y+1). Row 0 of a dc_image is FITS row 1 (the bottom of a north-up image).
 * - A dc_rgb is in display order: row 0 is the TOP. dc_composite_make flips rows, so image pixel
 *   (x, y) becomes rgb column x, row ny-1-y; a north-up WCS gives a north-up picture.
 * - Every writer is atomic: it writes a temporary file beside the target and renames it, so a
 *   failed write never destroys a file that already exists.
 * - Errors name the file, HDU, key, column or row concerned (see core.h). */
#ifndef DC_ASTRO_H
#define DC_ASTRO_H

#include <stdint.h>

#include "core.h"

/* ---------------------------------------------------------------- images */

typedef struct dc_image {
    int nx, ny;  /* columns, rows */
    float *data; /* nx*ny values, row-major (y rows of nx) */
} dc_image;

/* A zero-filled nx x ny image. */
dc_status dc_image_new(dc_image **out, int nx, int ny);
void dc_image_free(dc_image *img);

/* Area-averaging resample to nx x ny (any factor, integer or not): each output pixel is the
 * mean of the source over its footprint, so the mean pixel value is conserved. */
dc_status dc_image_resample(const dc_image *src, int nx, int ny, dc_image **out);
/* The nx x ny window whose pixel (0,0) is source pixel (x0, y0); pixels outside the source are
 * filled with `fill`. */
dc_status dc_image_crop(const dc_image *src, int x0, int y0, int nx, int ny, float fill,
                        dc_image **out);
/* Mirror left-right in place. */
void dc_image_flip_x(dc_image *img);
/* Set every NaN/infinite (masked) pixel to v; returns how many there were. Both `detect` and the
 * dataset builder's cut-outs fill masked pixels with 0 (blank, sky-subtracted sky) this way. */
size_t dc_image_fill_nonfinite(dc_image *img, float v);
/* The number of NaN/infinite pixels. */
size_t dc_image_count_nonfinite(const dc_image *img);

/* ---------------------------------------------------------------- FITS headers */

/* An ordered list of header cards. Setting a key that exists replaces its card. Keys are
 * case-insensitive; keys longer than 8 characters become HIERARCH cards. */
typedef struct dc_fits_header dc_fits_header;

dc_status dc_fits_header_new(dc_fits_header **out);
void dc_fits_header_free(dc_fits_header *h);
dc_status dc_fits_header_set_string(dc_fits_header *h, const char *key, const char *value,
                                    const char *comment);
dc_status dc_fits_header_set_double(dc_fits_header *h, const char *key, double value,
                                    const char *comment);
dc_status dc_fits_header_set_int(dc_fits_header *h, const char *key, long long value,
                                 const char *comment);
/* Append a COMMENT or HISTORY card (kind is "COMMENT" or "HISTORY"). */
dc_status dc_fits_header_add_text(dc_fits_header *h, const char *kind, const char *text);
/* Copy every card of src into dst (replacing keys dst already has). */
dc_status dc_fits_header_merge(dc_fits_header *dst, const dc_fits_header *src);
/* Read a value: DC_STATUS_NOT_FOUND when the key is absent, DC_STATUS_FORMAT when its value
 * has the wrong type; messages name the key and the file/HDU the header came from. */
dc_status dc_fits_header_get_double(const dc_fits_header *h, const char *key, double *out);
dc_status dc_fits_header_get_int(const dc_fits_header *h, const char *key, long long *out);
dc_status dc_fits_header_get_string(const dc_fits_header *h, const char *key, char *buf,
                                    size_t size);
int dc_fits_header_has(const dc_fits_header *h, const char *key);
/* Number of cards and the i-th card (80 characters, NUL-terminated). */
int dc_fits_header_count(const dc_fits_header *h);
const char *dc_fits_header_card(const dc_fits_header *h, int i);
/* "file.fits[HDU 1]" for a header read from a file, "" for one built in memory. */
const char *dc_fits_header_origin(const dc_fits_header *h);

/* ---------------------------------------------------------------- FITS images */

/* Read an image HDU as float32 (any BITPIX; BSCALE/BZERO applied; tile-compressed HDUs
 * decompressed; a .gz file is read transparently). Select the HDU by extname (when non-NULL),
 * else by hdu (0 = primary), else with hdu < 0 the first HDU holding image data (the primary of
 * an SDSS frame, HDU 1 of an fpack file). Returns the header too when hdr is non-NULL
 * (structural keys included, so WCS can be built from it). Errors: missing file (IO), corrupt or
 * truncated file, HDU that is a table (FORMAT), HDU out of range or EXTNAME absent (NOT_FOUND). */
dc_status dc_fits_image_read(const char *path, int hdu, const char *extname, dc_image **img,
                             dc_fits_header **hdr);

typedef struct dc_fits_write_opts {
    /* Tile compression for a path ending ".fz": quantize_level 0 keeps float pixels exactly
     * (GZIP_2 tiles, lossless); q > 0 quantises to noise/q and Rice-compresses like fpack's
     * default (q = 4: smaller, lossy). Ignored for other paths. */
    float quantize_level;
} dc_fits_write_opts;

/* Write img as a float32 image with the cards of hdr (may be NULL; structural keys in it are
 * ignored). The path's ending picks the format: ".gz" gzip-compressed file, ".fz" primary HDU
 * empty and the image tile-compressed in HDU 1 (fpack layout), otherwise plain FITS. opts may be
 * NULL (lossless). Atomic: an existing file is replaced only when the write succeeded. */
dc_status dc_fits_image_write(const char *path, const dc_image *img, const dc_fits_header *hdr,
                              const dc_fits_write_opts *opts);

/* ---------------------------------------------------------------- WCS */

typedef struct dc_wcs dc_wcs;

/* The primary WCS the header holds (any projection WCSLIB knows, CD or PC/CDELT, SIP...).
 * A header without celestial WCS keys is DC_STATUS_NOT_FOUND naming the header's origin. */
dc_status dc_wcs_from_header(const dc_fits_header *h, dc_wcs **out);
/* A gnomonic (RA---TAN/DEC--TAN) WCS with a CD matrix: reference pixel (crpix_x, crpix_y) in
 * 0-based pixels maps to (ra0, dec0) degrees; scale in arcsec/px. rot_deg is CROTA2 (Calabretta
 * & Greisen 2002): 0 puts north along +y and east along -x; the CD matrix is
 * [[-s cos r, -s sin r], [-s sin r, s cos r]] with s = scale in degrees. */
dc_status dc_wcs_new_tan(dc_wcs **out, double crpix_x, double crpix_y, double ra0, double dec0,
                         double scale_arcsec, double rot_deg);
/* The WCS of a derived image whose pixel (u, v) covers source pixels starting at (x0, y0) with
 * `scale` source pixels per new pixel (crop: scale 1; crop then resample by f: scale f). Exact
 * for linear WCS (no distortion terms). */
dc_status dc_wcs_subimage(const dc_wcs *w, double x0, double y0, double scale, dc_wcs **out);
void dc_wcs_free(dc_wcs *w);
/* Write the WCS keys (CTYPE, CRPIX, CRVAL, CD or PC/CDELT, ...) into h. */
dc_status dc_wcs_to_header(const dc_wcs *w, dc_fits_header *h);
/* n points, 0-based pixels <-> degrees. A point that has no valid transform is an error
 * (DC_STATUS_INVALID_ARG naming its index). */
dc_status dc_wcs_pix2world(const dc_wcs *w, int n, const double *x, const double *y, double *ra,
                           double *dec);
dc_status dc_wcs_world2pix(const dc_wcs *w, int n, const double *ra, const double *dec, double *x,
                           double *y);
/* Local pixel scale in arcsec/px at pixel (x, y) (geometric mean of the two axes). */
dc_status dc_wcs_pixel_scale(const dc_wcs *w, double x, double y, double *arcsec);

/* ---------------------------------------------------------------- catalogues */

typedef struct dc_catalog_column {
    char name[72];
    char unit[72];
    double *num; /* nrows values (NaN = blank) for a numeric column, else NULL */
    char **str;  /* nrows owned strings for a string column, else NULL */
} dc_catalog_column;

typedef struct dc_catalog {
    long nrows;
    int ncols, cap;
    dc_catalog_column *cols;
    char source[512]; /* the file it was read from ("" if built in memory), for messages */
} dc_catalog;

dc_status dc_catalog_new(dc_catalog **out, long nrows);
void dc_catalog_free(dc_catalog *c);
/* Add a numeric column (copied from values, or NaN-filled when values is NULL); *col (may be
 * NULL) receives its storage. A second column of the same name is DC_STATUS_INVALID_ARG. */
dc_status dc_catalog_add_double(dc_catalog *c, const char *name, const char *unit,
                                const double *values, double **col);
/* Add a string column (copied; NULL values or a NULL entry give ""). */
dc_status dc_catalog_add_string(dc_catalog *c, const char *name, const char *const *values);
dc_status dc_catalog_set_string(dc_catalog *c, int col, long row, const char *value);
/* Column index by name (case-insensitive), -1 when absent. */
int dc_catalog_find(const dc_catalog *c, const char *name);
/* The numeric data of a column. NOT_FOUND names the column and file when absent; a string
 * column is DC_STATUS_FORMAT naming the first row and value that is not a number. */
dc_status dc_catalog_get_double(const dc_catalog *c, const char *name, const double **out);
/* A new catalogue with the rows where keep[row] != 0. */
dc_status dc_catalog_select_rows(const dc_catalog *c, const uint8_t *keep, dc_catalog **out);

/* FITS binary table: the first table HDU when extname is NULL. Numeric columns of any type
 * become doubles (vector columns: the first element; TNULL/NaN become NaN), character columns
 * strings; units from TUNITn. */
dc_status dc_catalog_read_fits(const char *path, const char *extname, dc_catalog **out);
/* Delimited text with a header line: CSV, and VizieR ASCII exports (tab-, semicolon- or
 * bar-separated: the header's most frequent delimiter). Lines starting with '#' are skipped;
 * fields may be "quoted"; a unit line followed by a dash line after the header (VizieR) gives the
 * columns' units, and columns in "h:m:s" / "d:m:s" become degrees. A column whose every non-blank
 * field is a number is numeric (blanks NaN), otherwise a string column. dc_catalog_read takes
 * .csv, .tsv and .txt files this way. */
dc_status dc_catalog_read_csv(const char *path, dc_catalog **out);
/* DS9 region file of circles (fk5): columns ra, dec, radius (arcsec) and text (string). */
dc_status dc_catalog_read_ds9(const char *path, dc_catalog **out);
/* By the path's ending: .csv, .reg, otherwise FITS. */
dc_status dc_catalog_read(const char *path, dc_catalog **out);

/* Binary table (TTYPE/TFORM/TUNIT; numeric columns as 1D, strings as nA) in HDU 1 with
 * EXTNAME extname (NULL: "CATALOG"). */
dc_status dc_catalog_write_fits(const dc_catalog *c, const char *path, const char *extname);
/* CSV with a header line; numbers with 17 significant digits (exact round trip), blank for NaN. */
dc_status dc_catalog_write_csv(const dc_catalog *c, const char *path);

typedef struct dc_ds9_style {
    const char *ra_col, *dec_col; /* NULL: "ra", "dec" */
    double radius_arcsec;         /* circle radius, or ... */
    const char *radius_col;       /* ... a column of radii in arcsec (NULL: use radius_arcsec) */
    const char *text_col;         /* column shown as text={...} (NULL: none) */
    const char *color;            /* NULL: "green" */
} dc_ds9_style;
/* `# Region file format: DS9 version 4.1`, `fk5`, then one circle(ra,dec,r") per row. */
dc_status dc_catalog_write_ds9(const dc_catalog *c, const char *path, const dc_ds9_style *style);

typedef enum dc_catalog_format {
    DC_CATALOG_FORMAT_AUTO,      /* decided by the columns present */
    DC_CATALOG_FORMAT_CANONICAL, /* already canonical (the simulator's truth catalogues) */
    DC_CATALOG_FORMAT_WHL12,     /* Wen, Han & Liu 2012 (VizieR J/ApJS/199/34/table1) */
    DC_CATALOG_FORMAT_REDMAPPER  /* redMaPPer DR8 */
} dc_catalog_format;

/* A new catalogue with the canonical columns
 *   id (string), ra, dec (deg), z, richness, n200, r200 (Mpc), bcg_rmag, bcg_ra, bcg_dec
 * (NaN where the source has no such quantity), plus every source column not consumed under its
 * own name. WHL12: WHL->id, RAJ2000/DEJ2000 -> ra/dec (BCG position, so also bcg_ra/bcg_dec),
 * z = zsp where present else zph, RL* -> richness, N200, r200, rmag -> bcg_rmag.
 * redMaPPer: ID (or NAME) -> id, RA/DEC, Z_LAMBDA -> z, LAMBDA -> richness, MODEL_MAG_R ->
 * bcg_rmag, RA_CEN/DEC_CEN -> bcg_ra/bcg_dec (RA/DEC when absent). A missing required column
 * (ra/dec/z and, for redMaPPer, LAMBDA) is DC_STATUS_NOT_FOUND naming column and file;
 * a non-numeric value is DC_STATUS_FORMAT naming row and column. *detected (may be NULL)
 * receives the format used. */
dc_status dc_catalog_map(const dc_catalog *src, dc_catalog_format fmt, dc_catalog **out,
                         dc_catalog_format *detected);

/* ---------------------------------------------------------------- cosmology */

/* Flat LambdaCDM, matter + Lambda (no radiation). Paper: H0 = 71 km/s/Mpc, Om = 0.27. */
typedef struct dc_cosmo {
    double h0; /* km/s/Mpc */
    double om; /* matter density; OL = 1 - om */
} dc_cosmo;

dc_cosmo dc_cosmo_paper(void);
/* Distances in Mpc; NaN for z < 0 or a non-finite z. */
double dc_cosmo_comoving_mpc(const dc_cosmo *c, double z);
double dc_cosmo_angular_mpc(const dc_cosmo *c, double z);
double dc_cosmo_luminosity_mpc(const dc_cosmo *c, double z);
double dc_cosmo_kpc_per_arcsec(const dc_cosmo *c, double z);
double dc_cosmo_distmod(const dc_cosmo *c, double z);

/* ---------------------------------------------------------------- cut-outs */

typedef struct dc_cutout {
    int x0, y0;               /* source pixel of the cut-out's pixel (0, 0) */
    int size;                 /* cut-out is size x size */
    double dx_arcsec, dy_arcsec; /* offset applied to the centre, along +x and +y */
    double tx, ty;            /* the target (ra, dec) in cut-out pixels */
    int inside;               /* 1 when the window lies entirely inside the source image */
} dc_cutout;

/* Plan a size x size cut-out of an nx x ny image centred on (ra, dec) moved by a uniform random
 * offset in [-max_offset_arcsec, +max_offset_arcsec] along each pixel axis (paper: 270 arcsec;
 * 0 and rng NULL for none). Cut each band with dc_image_crop(src, x0, y0, size, size, 0, ...)
 * so all bands share the offset; dc_wcs_subimage(w, x0, y0, 1) gives the cut-out's WCS. */
dc_status dc_cutout_plan(const dc_wcs *w, int nx, int ny, double ra, double dec, int size,
                         double max_offset_arcsec, dc_rng *rng, dc_cutout *out);

/* ---------------------------------------------------------------- RGB pictures */

typedef struct dc_rgb {
    int nx, ny;
    uint8_t *data; /* nx*ny*3 bytes, R G B interleaved, row 0 at the top */
} dc_rgb;

dc_status dc_rgb_new(dc_rgb **out, int nx, int ny);
void dc_rgb_free(dc_rgb *img);
void dc_rgb_flip_x(dc_rgb *img);
/* The 8 symmetries of the pixel grid (training augmentation; the paper's section 4.2 suggests
 * quarter turns and flips): t = 0..7 mirrors left-right when t >= 4, then turns the picture
 * t % 4 quarter turns anticlockwise as displayed. A continuous point (x, y) of the w x h picture
 * (x right, y down, pixel k covering [k, k+1]) goes to (w - x, y) under the mirror and to
 * (y, w - x) under one turn (the picture becomes h x w); odd t swap nx and ny. */
dc_status dc_rgb_dihedral(dc_rgb *img, int t);

/* Photometric augmentation of a picture made with the square-root stretch (DC_STRETCH_SQRT):
 * per channel (R, G, B as the composite: i, r, g) the stretch is inverted,
 * x = lo + (hi - lo) (v / 255)^2, the flux multiplied by scale, Gaussian noise of sigma added
 * (drawn from seed, one pass over the picture; a 4096-level discrete Gaussian, rgb.c), and the stretch re-applied with the same
 * rounding as dc_composite_make. Pixels clipped at lo or hi keep no memory of how far beyond
 * they were, so noise on a clipped sky pixel is one-sided. scale 1, sigma 0 is the identity. */
typedef struct dc_photometric_params {
    float lo[3], hi[3]; /* the composite's flux limits per channel */
    float scale[3];     /* flux multipliers (> 0) */
    float sigma[3];     /* added noise, same units as lo/hi (>= 0) */
    uint64_t seed;
} dc_photometric_params;
dc_status dc_rgb_photometric(dc_rgb *img, const dc_photometric_params *p);

typedef enum dc_stretch {
    DC_STRETCH_SQRT,  /* y = sqrt(clip((x - lo) / (hi - lo), 0, 1)) per channel (the paper's) */
    DC_STRETCH_LUPTON /* Lupton et al. 2004 asinh on the mean intensity (astropy make_lupton_rgb) */
} dc_stretch;

typedef struct dc_composite_params {
    dc_stretch stretch;
    float lo[3], hi[3];       /* SQRT: flux limits per channel R (i), G (r), B (g) */
    float minimum[3];         /* LUPTON: per channel value subtracted first */
    float lupton_stretch, q;  /* LUPTON: linear stretch and softening Q (astropy: 5, 8) */
} dc_composite_params;

/* i -> R, r -> G, g -> B; the three images must share a shape. Channel values are
 * floor(255 * y + 0.5) for SQRT; LUPTON follows astropy (clip at 0, rescale pixels whose
 * maximum exceeds 255, truncate). Rows are flipped to display order (see top). */
dc_status dc_composite_make(const dc_image *g, const dc_image *r, const dc_image *i,
                            const dc_composite_params *p, dc_rgb **out);

/* Outlines, clipped to the picture; colour 0xRRGGBB; coordinates in rgb pixels (row 0 top). */
void dc_rgb_draw_circle(dc_rgb *img, double cx, double cy, double radius, uint32_t color,
                        int thickness);
void dc_rgb_draw_rect(dc_rgb *img, int x0, int y0, int x1, int y1, uint32_t color,
                      int thickness);

/* 8-bit RGB PNG (atomic write). */
dc_status dc_rgb_write_png(const dc_rgb *img, const char *path);
/* Any PNG, converted to 8-bit RGB. */
dc_status dc_rgb_read_png(const char *path, dc_rgb **out);

#endif
