#ifndef PARTNER_EXPORT_CMALLOC_SHIM_H
#define PARTNER_EXPORT_CMALLOC_SHIM_H
#include <malloc.h>

/* Fixes glibc's mmap threshold (which otherwise adapts upwards after the first large free), so that
   large buffers are always mapped and returned to the system when freed. */
static inline int pe_malloc_fix_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
#endif
