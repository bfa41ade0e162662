#ifndef PARTNER_EXPORT_CZLIB_SHIM_H
#define PARTNER_EXPORT_CZLIB_SHIM_H
#include <zlib.h>

/* deflateInit2 is a macro; 31 window bits = gzip framing. */
static inline int pe_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
#endif
