/* Rule directories for tests that change a copy of a fixture: copy, write one file, remove; collect diagnostics. */
#ifndef DOM_TEST_RULES_DIR_H
#define DOM_TEST_RULES_DIR_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "domicile/diag.h"
#include "domicile/rules.h"

typedef struct diag_lines {
    char lines[16][1024];
    size_t n;
} diag_lines_t;

/* Keeps every diagnostic as "file:line:col: message" (the file as reported, not cut). */
__attribute__((unused)) static void collect_lines(void *ctx, const char *file, size_t line, size_t col, int is_warning,
                                                  const char *message)
{
    diag_lines_t *c = ctx;
    if (c->n < 16 && !is_warning)
        snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s:%zu:%zu: %s", file, line, col, message);
}

__attribute__((unused)) static void write_text(const char *dir, const char *name, const char *text)
{
    char p[2200];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    if (fp != NULL) {
        fputs(text, fp);
        fclose(fp);
    }
}

__attribute__((unused)) static void copy_yaml(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0)
            continue;
        char a[2200], b[2200], buf[8192];
        snprintf(a, sizeof(a), "%s/%s", from, e->d_name);
        snprintf(b, sizeof(b), "%s/%s", to, e->d_name);
        FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
        size_t k;
        while (in != NULL && out != NULL && (k = fread(buf, 1, sizeof(buf), in)) > 0)
            fwrite(buf, 1, k, out);
        if (in)
            fclose(in);
        if (out)
            fclose(out);
    }
    if (d)
        closedir(d);
}

__attribute__((unused)) static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[2200];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* The version (name, version) of a set, or NULL. */
__attribute__((unused)) static const dom_jurisdiction_t *find_version(const dom_ruleset_t *rs, const char *name,
                                                                      const char *version)
{
    for (size_t i = 0; rs != NULL && i < rs->n_jurisdictions; ++i)
        if (strcmp(rs->jurisdictions[i].name, name) == 0 && strcmp(rs->jurisdictions[i].version, version) == 0)
            return &rs->jurisdictions[i];
    return NULL;
}

#endif
