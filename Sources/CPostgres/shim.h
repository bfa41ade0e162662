#ifndef PARTNER_EXPORT_CPOSTGRES_SHIM_H
#define PARTNER_EXPORT_CPOSTGRES_SHIM_H
#include <libpq-fe.h>
#endif
