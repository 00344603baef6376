/* Catalogues: round trips through FITS tables, CSV and DS9 regions; WHL12 (VizieR CSV) and
 * redMaPPer (FITS with vector columns) mapped onto canonical names; bad inputs name the file,
 * column and row. */
#include <fitsio.h>
#include <unistd.h>

#include "astro/astro.h"
#include "dc_test.h"

static char dir[64];

static const char *tmp(const char *name)
{
    static char buf[8][256];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 256, "%s/%s", dir, name);
    return b;
}

static void write_text(const char *name, const char *text)
{
    FILE *fp = fopen(tmp(name), "w");
    fputs(text, fp);
    fclose(fp);
}

enum { N = 5 };
static const double RA[N] = {150.1, 0.000123456789, 359.99999, 12.3456789012345, 200};
static const double DEC[N] = {2.2, -1.5, 89.9, 0.1234567890123, -30};
static const double Z[N] = {0.1, 0.123456789, NAN, 0.2, 1e-5};
static const char *const IDS[N] = {"C1", "with,comma", "say \"hi\"", "", "C5"};

static dc_catalog *sample(void)
{
    dc_catalog *c;
    if (dc_catalog_new(&c, N)) return NULL;
    CHECK_OK(dc_catalog_add_string(c, "id", IDS));
    CHECK_OK(dc_catalog_add_double(c, "ra", "deg", RA, NULL));
    CHECK_OK(dc_catalog_add_double(c, "dec", "deg", DEC, NULL));
    CHECK_OK(dc_catalog_add_double(c, "z", NULL, Z, NULL));
    return c;
}

static void check_sample(const dc_catalog *c, const char *what, int units)
{
    const double *ra, *dec, *z;
    CHECK(c->nrows == N && c->ncols == 4, "%s: %ld rows %d cols", what, c->nrows, c->ncols);
    CHECK_OK(dc_catalog_get_double(c, "ra", &ra));
    CHECK_OK(dc_catalog_get_double(c, "DEC", &dec)); /* names are case-insensitive */
    CHECK_OK(dc_catalog_get_double(c, "z", &z));
    if (c->nrows != N || !ra || !dec || !z) return;
    int id = dc_catalog_find(c, "id");
    for (int r = 0; r < N; r++) {
        CHECK(ra[r] == RA[r] && dec[r] == DEC[r], "%s row %d: %.17g %.17g", what, r, ra[r], dec[r]);
        CHECK(isnan(Z[r]) ? isnan(z[r]) : z[r] == Z[r], "%s row %d: z %.17g", what, r, z[r]);
        CHECK(id >= 0 && c->cols[id].str && !strcmp(c->cols[id].str[r], IDS[r]), "%s row %d: id '%s'", what, r, id >= 0 && c->cols[id].str ? c->cols[id].str[r] : "?");
    }
    if (units) CHECK(!strcmp(c->cols[dc_catalog_find(c, "ra")].unit, "deg"), "%s: unit '%s'", what, c->cols[dc_catalog_find(c, "ra")].unit);
}

static void roundtrips(void)
{
    dc_catalog *c = sample(), *back = NULL;
    CHECK_OK(dc_catalog_write_fits(c, tmp("cat.fits"), NULL));
    CHECK_OK(dc_catalog_read(tmp("cat.fits"), &back));
    if (back) check_sample(back, "FITS", 1);
    dc_catalog_free(back);
    back = NULL;
    /* the table carries the FITS conventions */
    fitsfile *f;
    int st = 0, type;
    char ttype[FLEN_VALUE], tform[FLEN_VALUE], tunit[FLEN_VALUE];
    fits_open_diskfile(&f, tmp("cat.fits"), READONLY, &st);
    fits_movabs_hdu(f, 2, &type, &st);
    fits_read_key(f, TSTRING, "TTYPE2", ttype, NULL, &st);
    fits_read_key(f, TSTRING, "TFORM2", tform, NULL, &st);
    fits_read_key(f, TSTRING, "TUNIT2", tunit, NULL, &st);
    fits_close_file(f, &st);
    CHECK(st == 0 && type == BINARY_TBL && !strcmp(ttype, "ra") && !strcmp(tform, "1D") && !strcmp(tunit, "deg"), "TTYPE2 %s TFORM2 %s TUNIT2 %s (status %d)", ttype, tform, tunit, st);

    CHECK_OK(dc_catalog_write_csv(c, tmp("cat.csv")));
    CHECK_OK(dc_catalog_read(tmp("cat.csv"), &back));
    if (back) check_sample(back, "CSV", 0);
    dc_catalog_free(back);
    back = NULL;

    double rad[N] = {30, 45.5, 1, 2, 3};
    CHECK_OK(dc_catalog_add_double(c, "radius_arcsec", "arcsec", rad, NULL));
    dc_ds9_style style = {.radius_col = "radius_arcsec", .text_col = "id", .color = "red"};
    CHECK_OK(dc_catalog_write_ds9(c, tmp("cat.reg"), &style));
    FILE *fp = fopen(tmp("cat.reg"), "r");
    char l1[100] = "", l2[100] = "", l3[100] = "";
    if (fp) {
        if (!fgets(l1, sizeof l1, fp) || !fgets(l2, sizeof l2, fp) || !fgets(l3, sizeof l3, fp)) l1[0] = 0;
        fclose(fp);
    }
    CHECK(!strcmp(l1, "# Region file format: DS9 version 4.1\n") && !strcmp(l2, "fk5\n"), "DS9 head: %s%s", l1, l2);
    CHECK(!strcmp(l3, "circle(150.1000000,2.2000000,30.000\") # color=red text={C1}\n"), "DS9 line: %s", l3);
    CHECK_OK(dc_catalog_read(tmp("cat.reg"), &back));
    if (back) {
        const double *ra, *dec, *r;
        CHECK_OK(dc_catalog_get_double(back, "ra", &ra));
        CHECK_OK(dc_catalog_get_double(back, "dec", &dec));
        CHECK_OK(dc_catalog_get_double(back, "radius", &r));
        int t = dc_catalog_find(back, "text");
        CHECK(back->nrows == N && t >= 0, "DS9: %ld rows", back->nrows);
        for (int k = 0; back->nrows == N && ra && dec && r && k < N; k++) {
            CHECK(fabs(ra[k] - RA[k]) < 6e-8 && fabs(dec[k] - DEC[k]) < 6e-8 && fabs(r[k] - rad[k]) < 6e-4, "DS9 row %d: %.8f %.8f %.4f", k, ra[k], dec[k], r[k]);
            CHECK(t >= 0 && !strcmp(back->cols[t].str[k], IDS[k]), "DS9 text row %d: '%s'", k, back->cols[t].str[k]);
        }
    }
    dc_catalog_free(back);

    uint8_t keep[N] = {1, 0, 0, 1, 1};
    dc_catalog *sel = NULL;
    CHECK_OK(dc_catalog_select_rows(c, keep, &sel));
    if (sel) {
        const double *ra;
        CHECK_OK(dc_catalog_get_double(sel, "ra", &ra));
        CHECK(sel->nrows == 3 && ra[1] == RA[3] && !strcmp(sel->cols[0].str[2], "C5"), "select rows");
    }
    dc_catalog_free(sel);
    dc_catalog_free(c);
}

/* VizieR J/ApJS/199/34/table1 as CSV; the second cluster has no spectroscopic redshift. */
static const char *whl_csv =
    "# VizieR CSV export\n"
    "WHL,RAJ2000,DEJ2000,zph,zsp,rmag,r200,RL*,N200,Other\n"
    "J000000.6+321233,0.00236,32.20911,0.1274,0.1320,15.92,1.05,53.29,23,\n"
    "J000004.0+082249,0.01670,8.38030,0.1508,,16.58,0.98,47.18,21,A0001\n"
    "J000006.0-005001,0.02494,-0.83361,0.1835,0.1781,16.93,1.34,82.44,35,\"A,B\"\n";

static void whl12(void)
{
    dc_catalog *raw = NULL, *c = NULL;
    dc_catalog_format fmt = DC_CATALOG_FORMAT_AUTO;
    write_text("whl.csv", whl_csv);
    CHECK_OK(dc_catalog_read(tmp("whl.csv"), &raw));
    if (raw) CHECK_OK(dc_catalog_map(raw, DC_CATALOG_FORMAT_AUTO, &c, &fmt));
    CHECK(fmt == DC_CATALOG_FORMAT_WHL12, "detected format %d", (int)fmt);
    if (c) {
        const double *ra, *dec, *z, *rich, *n200, *r200, *bm, *bra;
        CHECK_OK(dc_catalog_get_double(c, "ra", &ra));
        CHECK_OK(dc_catalog_get_double(c, "dec", &dec));
        CHECK_OK(dc_catalog_get_double(c, "z", &z));
        CHECK_OK(dc_catalog_get_double(c, "richness", &rich));
        CHECK_OK(dc_catalog_get_double(c, "n200", &n200));
        CHECK_OK(dc_catalog_get_double(c, "r200", &r200));
        CHECK_OK(dc_catalog_get_double(c, "bcg_rmag", &bm));
        CHECK_OK(dc_catalog_get_double(c, "bcg_ra", &bra));
        CHECK(c->nrows == 3 && ra[1] == 0.01670 && dec[2] == -0.83361, "positions");
        CHECK(z[0] == 0.1320 && z[1] == 0.1508 && z[2] == 0.1781, "z: zsp where present else zph: %g %g %g", z[0], z[1], z[2]);
        CHECK(rich[2] == 82.44 && n200[0] == 23 && r200[1] == 0.98 && bm[2] == 16.93 && bra[0] == 0.00236, "richness, N200, r200, rmag, BCG");
        int id = dc_catalog_find(c, "id"), other = dc_catalog_find(c, "Other");
        CHECK(id == 0 && !strcmp(c->cols[id].str[1], "J000004.0+082249"), "id column");
        CHECK(other >= 0 && !strcmp(c->cols[other].str[2], "A,B"), "source columns carried along");
    }
    dc_catalog_free(c);
    dc_catalog_free(raw);
}

/* redMaPPer DR8 layout written by CFITSIO: ID (J), NAME, float columns, 5-element RA_CEN/DEC_CEN. */
static void redmapper(void)
{
    char name[300];
    char *ttype[] = {"ID", "NAME", "RA", "DEC", "Z_LAMBDA", "LAMBDA", "MODEL_MAG_R", "RA_CEN", "DEC_CEN", "P_CEN"};
    char *tform[] = {"1J", "20A", "1D", "1D", "1E", "1E", "1E", "5D", "5D", "5E"};
    int ids[2] = {1, 42};
    char *names[2] = {"RMJ155820.0+271400.0", "RMJ164019.8+464241.5"};
    double ra[2] = {239.5833, 250.0825}, dec[2] = {27.2333, 46.7115}, cen_ra[10] = {239.58, 1, 2, 3, 4, 250.08, 5, 6, 7, 8},
           cen_dec[10] = {27.23, 0, 0, 0, 0, 46.71, 0, 0, 0, 0};
    float z[2] = {0.0944f, 0.2324f}, lam[2] = {169.8f, 131.2f}, mag[2] = {14.2f, 16.1f}, pcen[10] = {0};
    fitsfile *f;
    int st = 0;
    snprintf(name, sizeof name, "!%s", tmp("redmapper.fits"));
    fits_create_file(&f, name, &st);
    fits_create_tbl(f, BINARY_TBL, 2, 10, ttype, tform, NULL, "REDMAPPER", &st);
    fits_write_col(f, TINT, 1, 1, 1, 2, ids, &st);
    fits_write_col_str(f, 2, 1, 1, 2, names, &st);
    fits_write_col(f, TDOUBLE, 3, 1, 1, 2, ra, &st);
    fits_write_col(f, TDOUBLE, 4, 1, 1, 2, dec, &st);
    fits_write_col(f, TFLOAT, 5, 1, 1, 2, z, &st);
    fits_write_col(f, TFLOAT, 6, 1, 1, 2, lam, &st);
    fits_write_col(f, TFLOAT, 7, 1, 1, 2, mag, &st);
    fits_write_col(f, TDOUBLE, 8, 1, 1, 10, cen_ra, &st);
    fits_write_col(f, TDOUBLE, 9, 1, 1, 10, cen_dec, &st);
    fits_write_col(f, TFLOAT, 10, 1, 1, 10, pcen, &st);
    fits_close_file(f, &st);
    CHECK(st == 0, "fixture written: status %d", st);

    dc_catalog *raw = NULL, *c = NULL;
    dc_catalog_format fmt = DC_CATALOG_FORMAT_AUTO;
    CHECK_OK(dc_catalog_read_fits(tmp("redmapper.fits"), "REDMAPPER", &raw));
    if (raw) CHECK_OK(dc_catalog_map(raw, DC_CATALOG_FORMAT_AUTO, &c, &fmt));
    CHECK(fmt == DC_CATALOG_FORMAT_REDMAPPER, "detected format %d", (int)fmt);
    if (c) {
        const double *cz, *rich, *bm, *bra, *bdec, *n200, *cra;
        CHECK_OK(dc_catalog_get_double(c, "z", &cz));
        CHECK_OK(dc_catalog_get_double(c, "richness", &rich));
        CHECK_OK(dc_catalog_get_double(c, "bcg_rmag", &bm));
        CHECK_OK(dc_catalog_get_double(c, "bcg_ra", &bra));
        CHECK_OK(dc_catalog_get_double(c, "bcg_dec", &bdec));
        CHECK_OK(dc_catalog_get_double(c, "n200", &n200));
        CHECK_OK(dc_catalog_get_double(c, "ra", &cra));
        CHECK(cz[1] == (double)0.2324f && rich[0] == (double)169.8f && bm[1] == (double)16.1f, "z, richness, BCG magnitude");
        CHECK(bra[1] == 250.08 && bdec[0] == 27.23, "BCG = first of the 5 candidate centres: %g %g", bra[1], bdec[0]);
        CHECK(isnan(n200[0]) && cra[0] == 239.5833, "n200 absent -> NaN; ra");
        int id = dc_catalog_find(c, "id");
        CHECK(id >= 0 && !strcmp(c->cols[id].str[1], "42"), "id from ID: '%s'", id >= 0 ? c->cols[id].str[1] : "?");
        CHECK(dc_catalog_find(c, "NAME") >= 0 && !strcmp(c->cols[dc_catalog_find(c, "NAME")].str[0], names[0]), "NAME kept");
    }
    dc_catalog_free(c);
    dc_catalog_free(raw);
}

static void bad_inputs(void)
{
    dc_catalog *raw = NULL, *c = NULL;
    CHECK_FAILS(dc_catalog_read(tmp("none.csv"), &raw), DC_STATUS_IO, "none.csv");
    CHECK_FAILS(dc_catalog_read(tmp("none.fits"), &raw), DC_STATUS_IO, "none.fits");

    /* a WHL table without DEJ2000 */
    write_text("nodec.csv", "WHL,RAJ2000,zph\nA,1.0,0.1\n");
    CHECK_OK(dc_catalog_read(tmp("nodec.csv"), &raw));
    if (raw) CHECK_FAILS(dc_catalog_map(raw, DC_CATALOG_FORMAT_WHL12, &c, NULL), DC_STATUS_NOT_FOUND, "nodec.csv: missing column 'DEJ2000'");
    dc_catalog_free(raw);
    raw = NULL;

    /* a non-numeric redshift in the second data row */
    write_text("badz.csv", "WHL,RAJ2000,DEJ2000,zph\nA,1.0,2.0,0.1\nB,1.5,2.5,0.1x\n");
    CHECK_OK(dc_catalog_read(tmp("badz.csv"), &raw));
    if (raw) CHECK_FAILS(dc_catalog_map(raw, DC_CATALOG_FORMAT_AUTO, &c, NULL), DC_STATUS_FORMAT, "badz.csv: row 2, column 'zph': '0.1x' is not a number");
    dc_catalog_free(raw);
    raw = NULL;

    write_text("ragged.csv", "a,b\n1,2\n3\n");
    CHECK_FAILS(dc_catalog_read(tmp("ragged.csv"), &raw), DC_STATUS_FORMAT, "ragged.csv: line 3 (row 2) has 1 fields");
    write_text("empty.csv", "# only a comment\n");
    CHECK_FAILS(dc_catalog_read(tmp("empty.csv"), &raw), DC_STATUS_FORMAT, "empty.csv");
    write_text("unknown.csv", "x,y\n1,2\n");
    CHECK_OK(dc_catalog_read(tmp("unknown.csv"), &raw));
    if (raw) CHECK_FAILS(dc_catalog_map(raw, DC_CATALOG_FORMAT_AUTO, &c, NULL), DC_STATUS_NOT_FOUND, "cannot tell its format");
    dc_catalog_free(raw);
    raw = NULL;
    write_text("box.reg", "# Region file format: DS9 version 4.1\nfk5\nbox(1,2,3,4,0)\n");
    CHECK_FAILS(dc_catalog_read(tmp("box.reg"), &raw), DC_STATUS_FORMAT, "box.reg: line 3: 'box' region");

    /* a FITS file with only an image is not a catalogue; a truncated table is reported */
    dc_image *img;
    CHECK_OK(dc_image_new(&img, 8, 8));
    CHECK_OK(dc_fits_image_write(tmp("image.fits"), img, NULL, NULL));
    dc_image_free(img);
    CHECK_FAILS(dc_catalog_read(tmp("image.fits"), &raw), DC_STATUS_NOT_FOUND, "image.fits: none of its 1 HDUs is a table");
    CHECK_FAILS(dc_catalog_read_fits(tmp("redmapper.fits"), "NOPE", &raw), DC_STATUS_NOT_FOUND, "no HDU with EXTNAME 'NOPE'");
    FILE *in = fopen(tmp("redmapper.fits"), "rb"), *out = fopen(tmp("cut.fits"), "wb");
    char buf[2880 * 2 + 100];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    CHECK(dc_catalog_read(tmp("cut.fits"), &raw) == DC_STATUS_FORMAT && strstr(dc_error_message(), "cut.fits"), "truncated table: %s", dc_error_message());

    /* a failed write keeps the existing file */
    dc_catalog *s = sample();
    CHECK_OK(dc_catalog_write_csv(s, tmp("keep.csv")));
    CHECK_FAILS(dc_catalog_write_ds9(s, tmp("keep.csv"), &(dc_ds9_style){.text_col = "nope"}), DC_STATUS_NOT_FOUND, "'nope'");
    CHECK_OK(dc_catalog_read(tmp("keep.csv"), &raw));
    if (raw) check_sample(raw, "kept CSV", 0);
    dc_catalog_free(raw);
    CHECK_FAILS(dc_catalog_add_double(s, "RA", NULL, NULL, NULL), DC_STATUS_INVALID_ARG, "'RA' exists already");
    dc_catalog_free(s);
}

/* VizieR ASCII exports (J/ApJS/199/34 as the portal writes them): '#' comments, a header, a unit
 * line and a dash line, tab- or semicolon-separated, positions in degrees or sexagesimal. */
static void vizier(void)
{
    const char *tsv = "#\n#   VizieR Astronomical Server vizier.cds.unistra.fr\n#RESOURCE=yCat_21990034\n"
                      "#Column\tRAJ2000\t(F8.5)\tRight ascension\n\n"
                      "WHL\tRAJ2000\tDEJ2000\tzph\tN200\n"
                      "\tdeg\tdeg\t\t\n"
                      "----------------\t--------\t--------\t------\t---\n"
                      "J000004.0+082249\t  0.01670\t+08.38028\t0.1508\t 25\n"
                      "J235959.9-005001\t359.99958\t-00.83361\t0.1781\t 31\n";
    const char *semi = "#semicolon export, sexagesimal\nWHL;RAJ2000;DEJ2000;zph;N200\n;\"h:m:s\";\"d:m:s\";;\n"
                       "---;---;---;---;---\nJ000004.0+082249;00 00 04.01;+08 22 49.0;0.1508;25\n"
                       "J235959.9-005001;23:59:59.90;-00:50:01.0;0.1781;31\n";
    const struct { const char *name, *text; } files[] = {{"whl.tsv", tsv}, {"whl-semi.txt", semi}};
    for (int f = 0; f < 2; f++) {
        dc_catalog *raw = NULL, *c = NULL;
        dc_catalog_format fmt = DC_CATALOG_FORMAT_AUTO;
        write_text(files[f].name, files[f].text);
        CHECK_OK(dc_catalog_read(tmp(files[f].name), &raw));
        if (!raw) continue;
        CHECK(raw->nrows == 2, "%s: %ld rows (the unit and dash lines are not rows)", files[f].name, raw->nrows);
        int col = dc_catalog_find(raw, "RAJ2000");
        CHECK(col >= 0 && !strcmp(raw->cols[col].unit, "deg"), "%s: RAJ2000 unit '%s'", files[f].name,
              col >= 0 ? raw->cols[col].unit : "?");
        CHECK_OK(dc_catalog_map(raw, DC_CATALOG_FORMAT_AUTO, &c, &fmt));
        CHECK(fmt == DC_CATALOG_FORMAT_WHL12, "%s: format %d", files[f].name, (int)fmt);
        if (c) {
            const double *ra, *dec, *n200;
            CHECK_OK(dc_catalog_get_double(c, "ra", &ra));
            CHECK_OK(dc_catalog_get_double(c, "dec", &dec));
            CHECK_OK(dc_catalog_get_double(c, "n200", &n200));
            /* 00 00 04.01 = 4.01 s x 15"/s = 0.0167083 deg; 23:59:59.90 = 359.999583; -00:50:01 = -0.833611 */
            double tol = f ? 1e-6 : 0;
            CHECK(fabs(ra[0] - (f ? 4.01 * 15 / 3600 : 0.01670)) <= tol && fabs(ra[1] - (f ? 360 - 0.1 * 15 / 3600 : 359.99958)) <= tol,
                  "%s: RA %.7f %.7f", files[f].name, ra[0], ra[1]);
            CHECK(fabs(dec[0] - (f ? 8 + 22 / 60.0 + 49 / 3600.0 : 8.38028)) <= tol &&
                      fabs(dec[1] - (f ? -(50 / 60.0 + 1 / 3600.0) : -0.83361)) <= tol,
                  "%s: Dec %.7f %.7f", files[f].name, dec[0], dec[1]);
            CHECK(n200[0] == 25 && n200[1] == 31, "%s: N200", files[f].name);
        }
        dc_catalog_free(c);
        dc_catalog_free(raw);
    }
    dc_catalog *raw = NULL;
    write_text("badsex.tsv", "RAJ2000\tDEJ2000\n\"h:m:s\"\t\"d:m:s\"\n---\t---\n10 00 xx\t+01 00 00\n");
    CHECK_FAILS(dc_catalog_read(tmp("badsex.tsv"), &raw), DC_STATUS_FORMAT, "column 'RAJ2000' (unit h:m:s) row 1: '10 00 xx'");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/dc-astro-cat-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    roundtrips();
    whl12();
    redmapper();
    bad_inputs();
    vizier();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return dc_test_finish("test_astro_catalog");
}
