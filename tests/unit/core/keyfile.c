/*
 * Tests src/core/keyfile.c: which modes of a secret-holding file are refused (writable by the
 * group or every user, not a regular file), warned about (readable by every user) or accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "domicile/keyfile.h"
#include "test.h"

static char tmpdir[] = "/tmp/dom-unit-keyfile-XXXXXX";
static char path[512];

static int check_mode(unsigned mode, char *msg, size_t msglen)
{
    chmod(path, mode);
    return dom_keyfile_check("pin keys", path, msg, msglen);
}

static void test_modes(void)
{
    char msg[512], want[1200];
    /* silent: only the owner, or a group that only reads */
    static const unsigned fine[] = {0600, 0640, 0400, 0440, 0700, 0750};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); ++i) {
        strcpy(msg, "stale");
        is_int(check_mode(fine[i], msg, sizeof(msg)), DOM_OK);
        is_str(msg, "");
    }
    /* warned: every user can read it */
    static const unsigned readable[] = {0644, 0604, 0444, 0755};
    for (size_t i = 0; i < sizeof(readable) / sizeof(readable[0]); ++i)
        is_int(check_mode(readable[i], msg, sizeof(msg)), DOM_KEYFILE_WARNING);
    check_mode(0644, msg, sizeof(msg));
    snprintf(want, sizeof(want), "pin keys %s: mode 0644 lets every user read it; chmod 600 %s (or 640 for a group)",
             path, path);
    is_str(msg, want);
    /* refused: anyone but the owner can write it */
    static const unsigned writable[] = {0666, 0660, 0620, 0602, 0622, 0777, 0670};
    for (size_t i = 0; i < sizeof(writable) / sizeof(writable[0]); ++i)
        is_int(check_mode(writable[i], msg, sizeof(msg)), DOM_EINVAL);
    check_mode(0666, msg, sizeof(msg));
    snprintf(want, sizeof(want),
             "pin keys %s: mode 0666 lets other users replace it; chmod 600 %s (or 640 for a group that only reads)",
             path, path);
    is_str(msg, want);
    check_mode(0660, msg, sizeof(msg));
    ok(strstr(msg, "mode 0660 lets its group replace it") != NULL);
    /* no message buffer, or a tiny one: still the verdict */
    is_int(check_mode(0666, NULL, 0), DOM_EINVAL);
    is_int(check_mode(0644, msg, 8), DOM_KEYFILE_WARNING);
    is_int(strlen(msg), 7);
    chmod(path, 0600);
}

static void test_not_a_file(void)
{
    char msg[512], other[600];
    is_int(dom_keyfile_check("audit.hash_key_file", tmpdir, msg, sizeof(msg)), DOM_EINVAL);
    ok(strstr(msg, "not a regular file") != NULL);
    snprintf(other, sizeof(other), "%s/missing", tmpdir);
    is_int(dom_keyfile_check("admin.token_file", other, msg, sizeof(msg)), DOM_EIO);
    ok(strstr(msg, "admin.token_file") == msg && strstr(msg, "No such file or directory") != NULL);
    /* a symbolic link is judged by its target (the file that is read), whatever the link's own mode */
    snprintf(other, sizeof(other), "%s/link", tmpdir);
    ok(symlink(path, other) == 0);
    chmod(path, 0666);
    is_int(dom_keyfile_check("pin keys", other, msg, sizeof(msg)), DOM_EINVAL);
    chmod(path, 0600);
    is_int(dom_keyfile_check("pin keys", other, msg, sizeof(msg)), DOM_OK);
    unlink(other);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/keys", tmpdir);
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        perror(path);
        return 1;
    }
    fputs("k1 000102030405060708090a0b0c0d0e0f\n", fp);
    fclose(fp);
    subtest("modes", test_modes);
    subtest("not a file", test_not_a_file);
    unlink(path);
    rmdir(tmpdir);
    return done_testing();
}
