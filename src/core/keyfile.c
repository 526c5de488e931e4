/* Permissions of files that hold secrets (include/domicile/keyfile.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "domicile/keyfile.h"

int dom_keyfile_check(const char *what, const char *path, char *msg, size_t msglen)
{
    char scratch[1];
    struct stat st;
    if (msg == NULL || msglen == 0) {
        msg = scratch;
        msglen = sizeof(scratch);
    }
    msg[0] = '\0';
    if (stat(path, &st) != 0) {
        snprintf(msg, msglen, "%s %s: %s", what, path, strerror(errno));
        return DOM_EIO;
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, msglen, "%s %s: not a regular file", what, path);
        return DOM_EINVAL;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(msg, msglen, "%s %s: mode %04o lets %s replace it; chmod 600 %s (or 640 for a group that only reads)",
                 what, path, mode, (st.st_mode & S_IWOTH) ? "other users" : "its group", path);
        return DOM_EINVAL;
    }
    if (st.st_mode & S_IROTH) {
        snprintf(msg, msglen, "%s %s: mode %04o lets every user read it; chmod 600 %s (or 640 for a group)", what, path,
                 mode, path);
        return DOM_KEYFILE_WARNING;
    }
    return DOM_OK;
}
