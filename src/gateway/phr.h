/*
 * picohttpparser, the HTTP/1 parser inside libh2o: the library exports its functions (phr_*), but
 * Debian installs no header for them. The bundled build (cmake/h2o.cmake) puts the header of the very
 * source the library is built from on the include path; otherwise (-DDOMICILE_SYSTEM_H2O=ON) these are
 * its public declarations as picohttpparser.h of h2o 2.2.5 has them (MIT licence, Kazuho Oku et al.).
 */
#ifndef DOM_GATEWAY_PHR_H
#define DOM_GATEWAY_PHR_H

#if defined(__has_include) && __has_include(<picohttpparser.h>)
#include <picohttpparser.h>
#else
#include <sys/types.h>

struct phr_header {
    const char *name; /* NULL for a continuation line (obs-fold) */
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* the head's length if complete, -2 if partial, -1 if malformed */
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);

/* zero-filled before the first call */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};

/* decodes in place; -2 incomplete, -1 malformed, >= 0 complete (bytes left undecoded after the end) */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);
#endif

#endif
