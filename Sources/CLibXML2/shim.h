#ifndef PARTNER_EXPORT_CLIBXML2_SHIM_H
#define PARTNER_EXPORT_CLIBXML2_SHIM_H
/* Debian's libxml2 headers pull in the system ICU headers, which clash with Foundation's private ICU.
   Hiding ICU support only removes ICU fields of xmlCharEncodingHandler, which Swift never touches. */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlwriter.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlmemory.h>
#include <libxml/parserInternals.h>

/* libxml2's generic error handler is variadic, so Swift cannot write one: this one drops everything
   (messages come through the structured handlers; the default would print lines of included files). */
static void pe_xml_silent_generic_error(void *context, const char *message, ...) { (void)context; (void)message; }
static inline void pe_xml_silence_generic_errors(void) { xmlSetGenericErrorFunc(NULL, pe_xml_silent_generic_error); }

/* xmlFree is a global function pointer that Swift 6 calls not concurrency-safe. */
static inline void pe_xml_free(void *pointer) { xmlFree(pointer); }

static inline const char *pe_xml_dotted_version(void) { return LIBXML_DOTTED_VERSION; }
#endif
