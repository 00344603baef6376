/* Catalogues: a column store with FITS binary table (CFITSIO), CSV and DS9 region I/O, and the
 * mapping of the WHL12 and redMaPPer tables onto canonical column names. */
#include <ctype.h>
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "astro/astro_impl.h"

static const char *src_name(const dc_catalog *c) { return c->source[0] ? c->source : "(catalogue in memory)"; }

/* ---------------------------------------------------------------- the column store */

dc_status dc_catalog_new(dc_catalog **out, long nrows)
{
    DC_CHECK_ARG(nrows >= 0, "catalogue: negative row count %ld", nrows);
    *out = calloc(1, sizeof **out);
    if (!*out) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "catalogue: out of memory");
    (*out)->nrows = nrows;
    return DC_STATUS_OK;
}

void dc_catalog_free(dc_catalog *c)
{
    if (!c) return;
    for (int k = 0; k < c->ncols; k++) {
        free(c->cols[k].num);
        for (long r = 0; c->cols[k].str && r < c->nrows; r++) free(c->cols[k].str[r]);
        free(c->cols[k].str);
    }
    free(c->cols);
    free(c);
}

int dc_catalog_find(const dc_catalog *c, const char *name)
{
    for (int k = 0; k < c->ncols; k++)
        if (!strcasecmp(c->cols[k].name, name)) return k;
    return -1;
}

/* Append an empty column slot named name. */
static dc_status add_column(dc_catalog *c, const char *name, const char *unit, dc_catalog_column **col)
{
    DC_CHECK_ARG(name && *name && strlen(name) < sizeof c->cols[0].name, "catalogue %s: bad column name '%s'", src_name(c), name ? name : "(null)");
    DC_CHECK_ARG(dc_catalog_find(c, name) < 0, "catalogue %s: column '%s' exists already", src_name(c), name);
    if (c->ncols == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        void *p = realloc(c->cols, (size_t)cap * sizeof *c->cols);
        if (!p) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "catalogue: out of memory");
        c->cols = p;
        c->cap = cap;
    }
    *col = memset(&c->cols[c->ncols], 0, sizeof c->cols[0]);
    snprintf((*col)->name, sizeof (*col)->name, "%s", name);
    snprintf((*col)->unit, sizeof (*col)->unit, "%s", unit ? unit : "");
    return DC_STATUS_OK;
}

dc_status dc_catalog_add_double(dc_catalog *c, const char *name, const char *unit,
                                const double *values, double **out)
{
    dc_catalog_column *col;
    DC_TRY(add_column(c, name, unit, &col));
    col->num = malloc((size_t)(c->nrows ? c->nrows : 1) * sizeof *col->num);
    if (!col->num) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "catalogue: out of memory");
    for (long r = 0; r < c->nrows; r++) col->num[r] = values ? values[r] : NAN;
    c->ncols++;
    if (out) *out = col->num;
    return DC_STATUS_OK;
}

dc_status dc_catalog_add_string(dc_catalog *c, const char *name, const char *const *values)
{
    dc_catalog_column *col;
    DC_TRY(add_column(c, name, NULL, &col));
    col->str = calloc((size_t)(c->nrows ? c->nrows : 1), sizeof *col->str);
    if (!col->str) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "catalogue: out of memory");
    c->ncols++; /* counted now so that dc_catalog_free releases it on failure below */
    for (long r = 0; r < c->nrows; r++)
        DC_TRY(dc_catalog_set_string(c, c->ncols - 1, r, values && values[r] ? values[r] : ""));
    return DC_STATUS_OK;
}

dc_status dc_catalog_set_string(dc_catalog *c, int col, long row, const char *value)
{
    DC_CHECK_ARG(col >= 0 && col < c->ncols && c->cols[col].str && row >= 0 && row < c->nrows,
                 "catalogue %s: no string cell at column %d row %ld", src_name(c), col, row);
    char *s = strdup(value ? value : "");
    if (!s) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "catalogue: out of memory");
    free(c->cols[col].str[row]);
    c->cols[col].str[row] = s;
    return DC_STATUS_OK;
}

/* Parse a whole field as a number (surrounding blanks allowed); blank -> NaN. 0 if not a number. */
static int parse_number(const char *s, double *v)
{
    char *end;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) {
        *v = NAN;
        return 1;
    }
    *v = strtod(s, &end);
    if (end == s) return 0;
    while (isspace((unsigned char)*end)) end++;
    return *end == 0;
}

dc_status dc_catalog_get_double(const dc_catalog *c, const char *name, const double **out)
{
    int k = dc_catalog_find(c, name);
    if (k < 0) return DC_FAIL(DC_STATUS_NOT_FOUND, "catalogue %s: missing column '%s'", src_name(c), name);
    const dc_catalog_column *col = &c->cols[k];
    if (!col->num) {
        double v;
        for (long r = 0; r < c->nrows; r++)
            if (!parse_number(col->str[r], &v))
                return DC_FAIL(DC_STATUS_FORMAT, "catalogue %s: row %ld, column '%s': '%s' is not a number", src_name(c), r + 1, col->name, col->str[r]);
        return DC_FAIL(DC_STATUS_FORMAT, "catalogue %s: column '%s' holds text, not numbers", src_name(c), col->name);
    }
    *out = col->num;
    return DC_STATUS_OK;
}

dc_status dc_catalog_select_rows(const dc_catalog *c, const uint8_t *keep, dc_catalog **out)
{
    long n = 0;
    for (long r = 0; r < c->nrows; r++) n += keep[r] != 0;
    dc_catalog *o;
    DC_TRY(dc_catalog_new(&o, n));
    snprintf(o->source, sizeof o->source, "%s", c->source);
    dc_status s = DC_STATUS_OK;
    for (int k = 0; !s && k < c->ncols; k++) {
        const dc_catalog_column *col = &c->cols[k];
        if (col->num) {
            double *dst;
            s = dc_catalog_add_double(o, col->name, col->unit, NULL, &dst);
            for (long r = 0, j = 0; !s && r < c->nrows; r++)
                if (keep[r]) dst[j++] = col->num[r];
        } else {
            s = dc_catalog_add_string(o, col->name, NULL);
            for (long r = 0, j = 0; !s && r < c->nrows; r++)
                if (keep[r]) s = dc_catalog_set_string(o, k, j++, col->str[r]);
        }
    }
    if (s) {
        dc_catalog_free(o);
        return s;
    }
    *out = o;
    return DC_STATUS_OK;
}

/* ---------------------------------------------------------------- FITS tables */

static dc_status read_table_column(fitsfile *f, dc_catalog *c, int col, const char *origin)
{
    int st = 0, type, anynul;
    LONGLONG repeat, width;
    char key[FLEN_KEYWORD], name[FLEN_VALUE] = "", unit[FLEN_VALUE] = "";
    fits_make_keyn("TTYPE", col, key, &st);
    fits_read_key(f, TSTRING, key, name, NULL, &st);
    if (st) { /* an unnamed column gets its number as name */
        st = 0;
        fits_clear_errmsg();
        snprintf(name, sizeof name, "col%d", col);
    }
    fits_make_keyn("TUNIT", col, key, &st);
    if (fits_read_key(f, TSTRING, key, unit, NULL, &st)) {
        st = 0;
        fits_clear_errmsg();
    }
    if (fits_get_coltypell(f, col, &type, &repeat, &width, &st)) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: column %d ('%s'): cannot read its type", origin, col, name);
    if (type < 0) return DC_STATUS_OK; /* variable-length arrays hold no catalogue quantity: skipped */
    long n = (long)c->nrows;
    if (type == TSTRING) {
        DC_TRY(dc_catalog_add_string(c, name, NULL));
        dc_catalog_column *cc = &c->cols[c->ncols - 1];
        snprintf(cc->unit, sizeof cc->unit, "%s", unit);
        char *buf = malloc((size_t)width + 1);
        if (!buf) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "%s: out of memory", origin);
        for (long r = 0; r < n && !st; r++) {
            char *p = buf;
            if (!fits_read_col_str(f, col, r + 1, 1, 1, "", &p, &anynul, &st)) {
                for (size_t j = strlen(buf); j > 0 && buf[j - 1] == ' '; j--) buf[j - 1] = 0;
                if (dc_catalog_set_string(c, c->ncols - 1, r, buf)) st = MEMORY_ALLOCATION;
            }
        }
        free(buf);
        if (st) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: column '%s': cannot read (truncated or corrupt file?)", origin, name);
        return DC_STATUS_OK;
    }
    double *dst, nan = NAN;
    DC_TRY(dc_catalog_add_double(c, name, unit, NULL, &dst));
    if (repeat < 1 || n == 0) return DC_STATUS_OK;
    /* vector columns (redMaPPer's RA_CEN: 5 candidate centres) keep their first element */
    double *buf = malloc((size_t)n * (size_t)repeat * sizeof *buf);
    if (!buf) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "%s: out of memory", origin);
    if (type == TLOGICAL) {
        char *lb = (char *)buf;
        fits_read_col(f, TLOGICAL, col, 1, 1, n * repeat, NULL, lb, &anynul, &st);
        for (long r = 0; !st && r < n; r++) dst[r] = lb[r * repeat];
    } else {
        fits_read_col(f, TDOUBLE, col, 1, 1, n * repeat, &nan, buf, &anynul, &st);
        for (long r = 0; !st && r < n; r++) dst[r] = buf[r * repeat];
    }
    free(buf);
    if (st) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: column '%s': cannot read (truncated or corrupt file?)", origin, name);
    return DC_STATUS_OK;
}

dc_status dc_catalog_read_fits(const char *path, const char *extname, dc_catalog **out)
{
    fitsfile *f;
    int st = 0, nhdus = 0, type = 0, ncols = 0, index = 0;
    LONGLONG nrows = 0;
    char origin[sizeof ((dc_catalog *)0)->source];
    DC_TRY(dc_file_check(path, "catalogue"));
    if (fits_open_diskfile(&f, path, READONLY, &st)) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "'%s' is not a readable FITS file (truncated or corrupt?)", path);
    dc_status s = DC_STATUS_OK;
    fits_get_num_hdus(f, &nhdus, &st);
    if (extname) {
        if (fits_movnam_hdu(f, ANY_HDU, (char *)extname, 0, &st))
            s = DC_FAIL(DC_STATUS_NOT_FOUND, "%s: no HDU with EXTNAME '%s' (file has %d HDUs)", path, extname, nhdus);
        else
            fits_get_hdu_type(f, &type, &st);
    } else {
        for (index = 0; index < nhdus && !st; index++)
            if (!fits_movabs_hdu(f, index + 1, &type, &st) && type != IMAGE_HDU) break;
        if (!st && (index == nhdus || type == IMAGE_HDU)) s = DC_FAIL(DC_STATUS_NOT_FOUND, "%s: none of its %d HDUs is a table", path, nhdus);
    }
    fits_get_hdu_num(f, &index);
    snprintf(origin, sizeof origin, "%s[HDU %d]", path, index - 1);
    if (!s && !st && type == IMAGE_HDU) s = DC_FAIL(DC_STATUS_FORMAT, "%s is an image, not a table", origin);
    if (!s && !st) {
        fits_get_num_rowsll(f, &nrows, &st);
        fits_get_num_cols(f, &ncols, &st);
    }
    if (!s && st) s = DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: cannot read the table (truncated or corrupt file?)", origin);
    dc_catalog *c = NULL;
    if (!s) s = dc_catalog_new(&c, (long)nrows);
    if (!s) snprintf(c->source, sizeof c->source, "%s", origin);
    for (int k = 1; !s && k <= ncols; k++) s = read_table_column(f, c, k, origin);
    st = 0;
    fits_close_file(f, &st);
    fits_clear_errmsg();
    if (s) {
        dc_catalog_free(c);
        return s;
    }
    *out = c;
    return DC_STATUS_OK;
}

dc_status dc_catalog_write_fits(const dc_catalog *c, const char *path, const char *extname)
{
    char tmp[1100], name[1110];
    fitsfile *f;
    int st = 0, n = c->ncols;
    char **ttype = calloc((size_t)n + 1, sizeof *ttype), **tunit = calloc((size_t)n + 1, sizeof *tunit);
    char (*tform)[24] = calloc((size_t)n + 1, sizeof *tform), *tforms[n + 1];
    if (!ttype || !tunit || !tform) {
        free(ttype), free(tunit), free(tform);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "catalogue: out of memory");
    }
    for (int k = 0; k < n; k++) {
        const dc_catalog_column *col = &c->cols[k];
        size_t w = 1;
        for (long r = 0; col->str && r < c->nrows; r++) w = strlen(col->str[r]) > w ? strlen(col->str[r]) : w;
        if (col->num) snprintf(tform[k], sizeof tform[k], "1D");
        else snprintf(tform[k], sizeof tform[k], "%zuA", w);
        ttype[k] = (char *)col->name;
        tunit[k] = (char *)col->unit;
        tforms[k] = tform[k];
    }
    dc_astro_temp_path(path, tmp, sizeof tmp);
    snprintf(name, sizeof name, "!%s", tmp);
    fits_create_file(&f, name, &st);
    if (st) {
        free(ttype), free(tunit), free(tform);
        return DC_FITS_FAIL(DC_STATUS_IO, st, "cannot create FITS file '%s' (directory missing or not writable?)", path);
    }
    fits_create_tbl(f, BINARY_TBL, c->nrows, n, ttype, tforms, tunit, extname ? extname : "CATALOG", &st);
    for (int k = 0; k < n && !st && c->nrows > 0; k++) {
        const dc_catalog_column *col = &c->cols[k];
        if (col->num) fits_write_col(f, TDOUBLE, k + 1, 1, 1, c->nrows, col->num, &st);
        else fits_write_col_str(f, k + 1, 1, 1, c->nrows, col->str, &st);
    }
    int wst = st;
    st = 0;
    fits_close_file(f, &st);
    free(ttype), free(tunit), free(tform);
    if (wst || st) {
        remove(tmp);
        return DC_FITS_FAIL(DC_STATUS_IO, wst ? wst : st, "cannot write catalogue '%s'", path);
    }
    return dc_astro_commit(tmp, path);
}

/* ---------------------------------------------------------------- text files */

static dc_status slurp(const char *path, char **text)
{
    *text = NULL;
    DC_TRY(dc_file_check(path, "catalogue"));
    FILE *fp = fopen(path, "rb");
    if (!fp) return DC_FAIL(DC_STATUS_IO, "cannot open catalogue '%s': %s", path, strerror(errno));
    long n = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (n < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        int e = errno;
        fclose(fp);
        return DC_FAIL(DC_STATUS_IO, "cannot read catalogue '%s': %s", path, strerror(e));
    }
    *text = malloc((size_t)n + 1);
    size_t got = *text ? fread(*text, 1, (size_t)n, fp) : 0;
    int bad = *text && ferror(fp);
    fclose(fp);
    if (!*text) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "'%s': out of memory (%ld bytes)", path, n);
    if (bad) {
        free(*text);
        *text = NULL;
        return DC_FAIL(DC_STATUS_IO, "cannot read catalogue '%s': read error", path);
    }
    (*text)[got] = 0;
    return DC_STATUS_OK;
}

/* Split one line in place into fields separated by delim (quotes removed, "" -> "); returns the
 * field count. */
static int csv_split(char *line, char delim, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *w = p, *start = p;
        if (*p == '"') {
            start = w = ++p;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++;
                *w++ = *p++;
            }
            if (*p == '"') p++;
            while (*p && *p != delim) p++;
        } else {
            while (*p && *p != delim) p++;
            w = p;
        }
        char sep = *p;
        *w = 0;
        if (n < max) fields[n] = start;
        n++;
        if (sep != delim) return n;
        p++;
    }
}

/* The delimiter of a header line: the most frequent of comma, tab, semicolon and bar outside
 * quotes (VizieR exports tab- or semicolon-separated text; a one-column file is comma). */
static char guess_delim(const char *line)
{
    const char cand[] = {',', '\t', ';', '|'};
    int count[4] = {0}, quoted = 0;
    for (const char *q = line; *q; q++) {
        if (*q == '"') quoted = !quoted;
        for (int k = 0; k < 4 && !quoted; k++) count[k] += *q == cand[k];
    }
    int best = 0;
    for (int k = 1; k < 4; k++)
        if (count[k] > count[best]) best = k;
    return count[best] ? cand[best] : ',';
}

/* A VizieR separator line: only dashes, blanks and delimiters, at least one dash. */
static int dash_line(const char *line, char delim)
{
    int dashes = 0;
    for (const char *q = line; *q; q++) {
        if (*q == '-') dashes++;
        else if (*q != ' ' && *q != delim) return 0;
    }
    return dashes > 0;
}

/* Sexagesimal "h m s" / "h:m:s" (or d m s) to a number of hours (degrees): 0 if not one. */
static int parse_sexagesimal(const char *s, double *v)
{
    while (isspace((unsigned char)*s)) s++;
    double sign = 1;
    if (*s == '-' || *s == '+') sign = *s++ == '-' ? -1 : 1;
    double part[3] = {0, 0, 0};
    int n = 0;
    while (n < 3 && *s) {
        char *end;
        part[n] = strtod(s, &end);
        if (end == s || part[n] < 0) return 0;
        n++;
        s = end;
        while (*s == ':' || *s == ' ') s++;
    }
    if (n < 2 || *s) return 0;
    *v = sign * (part[0] + part[1] / 60 + part[2] / 3600);
    return 1;
}

/* The next line (CR/LF stripped) or NULL at the end; advances *p. */
static char *next_line(char **p)
{
    if (!**p) return NULL;
    char *line = *p, *e = strchr(line, '\n');
    *p = e ? e + 1 : line + strlen(line);
    if (e) *e = 0;
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r') line[n - 1] = 0;
    return line;
}

dc_status dc_catalog_read_csv(const char *path, dc_catalog **out)
{
    char *text, *p, *line, *hdr = NULL;
    DC_TRY(slurp(path, &text));
    long nlines = 1, rows = 0, lineno = 0, hdr_line = 0;
    for (const char *q = text; *q; q++) nlines += *q == '\n';
    char **cells = NULL, *names[1024], *units[1024] = {0};
    int ncols = 0, after_hdr = 0, dashes_seen = 0;
    char delim = ',';
    dc_status s = DC_STATUS_OK;
    p = text;
    /* VizieR ASCII exports: '#' comments, then the header, a unit line and a dash line */
    int unit_row = 0; /* row 0 of cells holds the line after the header, maybe the units */
    while (!s && (line = next_line(&p))) {
        lineno++;
        if (line[0] == '#' || !line[strspn(line, " \t")]) continue;
        if (!hdr) {
            hdr = line;
            hdr_line = lineno;
            delim = guess_delim(line);
            ncols = csv_split(line, delim, names, 1024);
            if (ncols > 1024) s = DC_FAIL(DC_STATUS_FORMAT, "%s: more than 1024 columns", path);
            cells = malloc((size_t)nlines * ncols * sizeof *cells);
            if (!s && !cells) s = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
            continue;
        }
        after_hdr++;
        if (!dashes_seen && after_hdr <= 2 && dash_line(line, delim)) {
            dashes_seen = 1;
            if (unit_row && rows == 1) /* the line between the header and the dashes: units */
                for (int k = 0; k < ncols; k++) units[k] = cells[k];
            rows = 0;
            continue;
        }
        int n = csv_split(line, delim, cells + (size_t)rows * ncols, ncols);
        if (n != ncols) {
            if (!dashes_seen && after_hdr == 1) continue; /* a unit line of another width: the dashes will say */
            s = DC_FAIL(DC_STATUS_FORMAT, "%s: line %ld (row %ld) has %d fields, the header (line %ld) has %d", path, lineno, rows + 1, n, hdr_line, ncols);
        }
        if (after_hdr == 1) unit_row = 1;
        rows++;
    }
    if (!s && !hdr) s = DC_FAIL(DC_STATUS_FORMAT, "%s: empty catalogue file (no header line)", path);
    dc_catalog *c = NULL;
    if (!s) s = dc_catalog_new(&c, rows);
    if (!s) snprintf(c->source, sizeof c->source, "%s", path);
    for (int k = 0; !s && k < ncols; k++) {
        char name[72], unit[32] = "";
        snprintf(name, sizeof name, "%s", names[k] + strspn(names[k], " "));
        for (size_t j = strlen(name); j > 0 && name[j - 1] == ' '; j--) name[j - 1] = 0;
        if (units[k]) {
            snprintf(unit, sizeof unit, "%s", units[k] + strspn(units[k], " \""));
            for (size_t j = strlen(unit); j > 0 && (unit[j - 1] == ' ' || unit[j - 1] == '"'); j--) unit[j - 1] = 0;
        }
        int hms = strcmp(unit, "h:m:s") == 0, dms = strcmp(unit, "d:m:s") == 0;
        double *dst, v;
        long r = 0;
        if (hms || dms) { /* VizieR sexagesimal positions become degrees */
            while (r < rows && parse_sexagesimal(cells[(size_t)r * ncols + k], &v)) r++;
            if (r != rows) {
                s = DC_FAIL(DC_STATUS_FORMAT, "%s: column '%s' (unit %s) row %ld: '%s' is not sexagesimal", path, name,
                            unit, r + 1, cells[(size_t)r * ncols + k]);
                break;
            }
            s = dc_catalog_add_double(c, name, "deg", NULL, &dst);
            for (r = 0; !s && r < rows; r++) {
                parse_sexagesimal(cells[(size_t)r * ncols + k], &dst[r]);
                if (hms) dst[r] *= 15;
            }
            continue;
        }
        while (r < rows && parse_number(cells[(size_t)r * ncols + k], &v)) r++;
        if (r == rows) { /* every field is a number or blank */
            s = dc_catalog_add_double(c, name, unit[0] ? unit : NULL, NULL, &dst);
            for (r = 0; !s && r < rows; r++) parse_number(cells[(size_t)r * ncols + k], &dst[r]);
        } else {
            s = dc_catalog_add_string(c, name, NULL);
            for (r = 0; !s && r < rows; r++) s = dc_catalog_set_string(c, k, r, cells[(size_t)r * ncols + k]);
        }
    }
    free(cells);
    free(text);
    if (s) {
        dc_catalog_free(c);
        return s;
    }
    *out = c;
    return DC_STATUS_OK;
}

/* Write text through a temporary file, then rename. */
typedef struct text_out { FILE *fp; char tmp[1100]; const char *path; } text_out;

static dc_status text_open(text_out *t, const char *path)
{
    t->path = path;
    dc_astro_temp_path(path, t->tmp, sizeof t->tmp);
    t->fp = fopen(t->tmp, "w");
    if (!t->fp) return DC_FAIL(DC_STATUS_IO, "cannot write '%s': %s", path, strerror(errno));
    return DC_STATUS_OK;
}

static dc_status text_close(text_out *t)
{
    int bad = ferror(t->fp);
    bad |= fclose(t->fp) != 0;
    if (bad) {
        remove(t->tmp);
        return DC_FAIL(DC_STATUS_IO, "cannot write '%s' (disk full?)", t->path);
    }
    return dc_astro_commit(t->tmp, t->path);
}

static void csv_field(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\n\r") && s[0] != '#' && s[0] != ' ') {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

dc_status dc_catalog_write_csv(const dc_catalog *c, const char *path)
{
    text_out t;
    DC_TRY(text_open(&t, path));
    for (int k = 0; k < c->ncols; k++) {
        if (k) fputc(',', t.fp);
        csv_field(t.fp, c->cols[k].name);
    }
    fputc('\n', t.fp);
    for (long r = 0; r < c->nrows; r++) {
        for (int k = 0; k < c->ncols; k++) {
            const dc_catalog_column *col = &c->cols[k];
            if (k) fputc(',', t.fp);
            if (col->str) csv_field(t.fp, col->str[r]);
            else if (!isnan(col->num[r])) fprintf(t.fp, "%.17g", col->num[r]);
        }
        fputc('\n', t.fp);
    }
    return text_close(&t);
}

/* ---------------------------------------------------------------- DS9 regions */

dc_status dc_catalog_write_ds9(const dc_catalog *c, const char *path, const dc_ds9_style *style)
{
    dc_ds9_style d = style ? *style : (dc_ds9_style){.radius_arcsec = 30};
    const double *ra, *dec, *rad = NULL;
    int text = -1;
    DC_TRY(dc_catalog_get_double(c, d.ra_col ? d.ra_col : "ra", &ra));
    DC_TRY(dc_catalog_get_double(c, d.dec_col ? d.dec_col : "dec", &dec));
    if (d.radius_col) DC_TRY(dc_catalog_get_double(c, d.radius_col, &rad));
    if (d.text_col && (text = dc_catalog_find(c, d.text_col)) < 0)
        return DC_FAIL(DC_STATUS_NOT_FOUND, "catalogue %s: missing column '%s' (DS9 text)", src_name(c), d.text_col);
    text_out t;
    DC_TRY(text_open(&t, path));
    fprintf(t.fp, "# Region file format: DS9 version 4.1\nfk5\n");
    for (long r = 0; r < c->nrows; r++) {
        fprintf(t.fp, "circle(%.7f,%.7f,%.3f\") # color=%s", ra[r], dec[r], rad ? rad[r] : d.radius_arcsec,
                d.color ? d.color : "green");
        if (text >= 0) {
            if (c->cols[text].str) fprintf(t.fp, " text={%s}", c->cols[text].str[r]);
            else fprintf(t.fp, " text={%.10g}", c->cols[text].num[r]);
        }
        fputc('\n', t.fp);
    }
    return text_close(&t);
}

dc_status dc_catalog_read_ds9(const char *path, dc_catalog **out)
{
    char *text, *p, *line;
    DC_TRY(slurp(path, &text));
    long cap = 1, n = 0, lineno = 0;
    for (const char *q = text; *q; q++) cap += *q == '\n';
    double *v = malloc((size_t)cap * 3 * sizeof *v);
    char **labels = calloc((size_t)cap, sizeof *labels);
    dc_status s = v && labels ? DC_STATUS_OK : DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    p = text;
    while (!s && (line = next_line(&p))) {
        lineno++;
        char *l = line + strspn(line, " \t"), *shape;
        if (!*l || *l == '#' || !strncmp(l, "global", 6) || !strcmp(l, "fk5") || !strcmp(l, "icrs") || !strcmp(l, "j2000")) continue;
        if (!strncmp(l, "fk5;", 4) || !strncmp(l, "icrs;", 5)) l = strchr(l, ';') + 1;
        if (strncmp(l, "circle(", 7) != 0) {
            shape = strndup(l, strcspn(l, "( "));
            s = DC_FAIL(DC_STATUS_FORMAT, "%s: line %ld: '%s' region; only fk5 circle regions in degrees are read", path, lineno, shape ? shape : "?");
            free(shape);
            break;
        }
        char unit = 0, *end;
        double ra = strtod(l + 7, &end), dec = NAN, r = NAN;
        if (*end == ',') dec = strtod(end + 1, &end);
        if (*end == ',') r = strtod(end + 1, &end);
        if (*end == '"' || *end == '\'' || *end == 'd') unit = *end++;
        if (*end != ')' || isnan(r)) {
            s = DC_FAIL(DC_STATUS_FORMAT, "%s: line %ld: cannot read circle(ra,dec,radius) in degrees: %s", path, lineno, l);
            break;
        }
        v[3 * n] = ra;
        v[3 * n + 1] = dec;
        v[3 * n + 2] = unit == '"' ? r : unit == '\'' ? r * 60 : r * 3600; /* DS9: bare sizes are degrees */
        char *tx = strstr(end, "text={");
        if (tx) labels[n] = strndup(tx + 6, strcspn(tx + 6, "}"));
        n++;
    }
    dc_catalog *c = NULL;
    double *col[3];
    if (!s) s = dc_catalog_new(&c, n);
    if (!s) snprintf(c->source, sizeof c->source, "%s", path);
    if (!s) s = dc_catalog_add_double(c, "ra", "deg", NULL, &col[0]);
    if (!s) s = dc_catalog_add_double(c, "dec", "deg", NULL, &col[1]);
    if (!s) s = dc_catalog_add_double(c, "radius", "arcsec", NULL, &col[2]);
    if (!s) s = dc_catalog_add_string(c, "text", (const char *const *)labels);
    for (long r = 0; !s && r < n; r++)
        for (int k = 0; k < 3; k++) col[k][r] = v[3 * r + k];
    for (long r = 0; labels && r < n; r++) free(labels[r]);
    free(labels);
    free(v);
    free(text);
    if (s) {
        dc_catalog_free(c);
        return s;
    }
    *out = c;
    return DC_STATUS_OK;
}

dc_status dc_catalog_read(const char *path, dc_catalog **out)
{
    if (dc_astro_ends_with(path, ".csv") || dc_astro_ends_with(path, ".tsv") || dc_astro_ends_with(path, ".txt"))
        return dc_catalog_read_csv(path, out);
    if (dc_astro_ends_with(path, ".reg")) return dc_catalog_read_ds9(path, out);
    return dc_catalog_read_fits(path, NULL, out);
}

/* ---------------------------------------------------------------- column mapping */

/* A canonical column and the source columns it may come from, first present wins. */
typedef struct map_rule { const char *canon, *unit, *from[3]; int required; } map_rule;

static const map_rule whl12_rules[] = {
    {"ra", "deg", {"RAJ2000"}, 1},       {"dec", "deg", {"DEJ2000"}, 1},
    {"richness", "", {"RL*"}, 0},        {"n200", "", {"N200"}, 0},
    {"r200", "Mpc", {"r200"}, 0},        {"bcg_rmag", "mag", {"rmag"}, 0},
    {"bcg_ra", "deg", {"RAJ2000"}, 1},   {"bcg_dec", "deg", {"DEJ2000"}, 1}, /* WHL positions are the BCG's */
    {NULL, NULL, {NULL}, 0}};
static const map_rule redmapper_rules[] = {
    {"ra", "deg", {"RA"}, 1},           {"dec", "deg", {"DEC"}, 1},
    {"z", "", {"Z_LAMBDA"}, 1},         {"richness", "", {"LAMBDA"}, 1},
    {"n200", "", {NULL}, 0},            {"r200", "Mpc", {NULL}, 0},
    {"bcg_rmag", "mag", {"MODEL_MAG_R"}, 0},
    {"bcg_ra", "deg", {"RA_CEN", "RA"}, 1}, {"bcg_dec", "deg", {"DEC_CEN", "DEC"}, 1},
    {NULL, NULL, {NULL}, 0}};
static const map_rule canonical_rules[] = {
    {"ra", "deg", {"ra"}, 1},           {"dec", "deg", {"dec"}, 1},
    {"z", "", {"z"}, 1},                {"richness", "", {"richness"}, 0},
    {"n200", "", {"n200"}, 0},          {"r200", "Mpc", {"r200"}, 0},
    {"bcg_rmag", "mag", {"bcg_rmag"}, 0}, {"bcg_ra", "deg", {"bcg_ra"}, 0},
    {"bcg_dec", "deg", {"bcg_dec"}, 0}, {NULL, NULL, {NULL}, 0}};

static const char *format_name(dc_catalog_format f)
{
    return f == DC_CATALOG_FORMAT_WHL12 ? "WHL12" : f == DC_CATALOG_FORMAT_REDMAPPER ? "redMaPPer" : "canonical";
}

static dc_status map_numeric(const dc_catalog *src, dc_catalog *o, const map_rule *rule, dc_catalog_format fmt)
{
    double *dst;
    const double *v = NULL;
    DC_TRY(dc_catalog_add_double(o, rule->canon, rule->unit, NULL, &dst));
    for (int i = 0; i < 3 && rule->from[i] && !v; i++)
        if (dc_catalog_find(src, rule->from[i]) >= 0) DC_TRY(dc_catalog_get_double(src, rule->from[i], &v));
    if (!v && rule->required)
        return DC_FAIL(DC_STATUS_NOT_FOUND, "catalogue %s: missing column '%s', required for %s in the %s format", src_name(src), rule->from[0], rule->canon, format_name(fmt));
    if (v) memcpy(dst, v, (size_t)src->nrows * sizeof *dst);
    return DC_STATUS_OK;
}

/* WHL12 redshift: the BCG's spectroscopic zsp where measured, else the photometric zph. */
static dc_status map_whl_z(const dc_catalog *src, dc_catalog *o)
{
    const double *zph, *zsp = NULL;
    double *z;
    DC_TRY(dc_catalog_get_double(src, "zph", &zph));
    if (dc_catalog_find(src, "zsp") >= 0) DC_TRY(dc_catalog_get_double(src, "zsp", &zsp));
    DC_TRY(dc_catalog_add_double(o, "z", "", NULL, &z));
    for (long r = 0; r < src->nrows; r++) z[r] = zsp && zsp[r] > 0 ? zsp[r] : zph[r];
    return DC_STATUS_OK;
}

static dc_status map_id(const dc_catalog *src, dc_catalog *o, const char *const *from)
{
    int k = -1;
    for (int i = 0; from[i] && k < 0; i++) k = dc_catalog_find(src, from[i]);
    DC_TRY(dc_catalog_add_string(o, "id", NULL));
    for (long r = 0; k >= 0 && r < src->nrows; r++) {
        char buf[40];
        const dc_catalog_column *col = &src->cols[k];
        if (!col->str) snprintf(buf, sizeof buf, "%.17g", col->num[r]);
        DC_TRY(dc_catalog_set_string(o, o->ncols - 1, r, col->str ? col->str[r] : buf));
    }
    if (k < 0) /* no identifier: row numbers */
        for (long r = 0; r < src->nrows; r++) {
            char buf[24];
            snprintf(buf, sizeof buf, "%ld", r + 1);
            DC_TRY(dc_catalog_set_string(o, o->ncols - 1, r, buf));
        }
    return DC_STATUS_OK;
}

static dc_status map_into(const dc_catalog *src, dc_catalog_format fmt, dc_catalog *o)
{
    static const char *const whl_id[] = {"WHL", "id", NULL}, *const rm_id[] = {"ID", "NAME", NULL},
                             *const canon_id[] = {"id", NULL};
    const map_rule *rules = fmt == DC_CATALOG_FORMAT_WHL12 ? whl12_rules : fmt == DC_CATALOG_FORMAT_REDMAPPER ? redmapper_rules : canonical_rules;
    DC_TRY(map_id(src, o, fmt == DC_CATALOG_FORMAT_WHL12 ? whl_id : fmt == DC_CATALOG_FORMAT_REDMAPPER ? rm_id : canon_id));
    for (const map_rule *r = rules; r->canon; r++) {
        DC_TRY(map_numeric(src, o, r, fmt));
        if (fmt == DC_CATALOG_FORMAT_WHL12 && !strcmp(r->canon, "dec")) DC_TRY(map_whl_z(src, o)); /* keeps the canonical order */
    }
    for (int k = 0; k < src->ncols; k++) { /* the rest under their own names */
        const dc_catalog_column *col = &src->cols[k];
        if (dc_catalog_find(o, col->name) >= 0) continue;
        if (col->num) DC_TRY(dc_catalog_add_double(o, col->name, col->unit, col->num, NULL));
        else DC_TRY(dc_catalog_add_string(o, col->name, (const char *const *)col->str));
    }
    return DC_STATUS_OK;
}

dc_status dc_catalog_map(const dc_catalog *src, dc_catalog_format fmt, dc_catalog **out,
                         dc_catalog_format *detected)
{
    if (fmt == DC_CATALOG_FORMAT_AUTO) {
        if (dc_catalog_find(src, "RAJ2000") >= 0) fmt = DC_CATALOG_FORMAT_WHL12;
        else if (dc_catalog_find(src, "Z_LAMBDA") >= 0 || dc_catalog_find(src, "LAMBDA") >= 0) fmt = DC_CATALOG_FORMAT_REDMAPPER;
        else if (dc_catalog_find(src, "ra") >= 0) fmt = DC_CATALOG_FORMAT_CANONICAL;
        else return DC_FAIL(DC_STATUS_NOT_FOUND, "catalogue %s: cannot tell its format: it has none of the columns RAJ2000 (WHL12), Z_LAMBDA (redMaPPer) or ra (canonical)", src_name(src));
    }
    dc_catalog *o;
    DC_TRY(dc_catalog_new(&o, src->nrows));
    snprintf(o->source, sizeof o->source, "%s", src->source);
    dc_status s = map_into(src, fmt, o);
    if (s) {
        dc_catalog_free(o);
        return s;
    }
    if (detected) *detected = fmt;
    *out = o;
    return DC_STATUS_OK;
}
