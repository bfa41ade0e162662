// The version and the commit a binary was built from, as the build passed them: PE_VERSION from the
// VERSION file (Package.swift, every build), PE_COMMIT from the Makefile's release builds
// (`-Xcc -DPE_COMMIT=<git describe>`); a plain `swift build` says "unknown".
#ifndef PARTNER_EXPORT_BUILD_INFO_H
#define PARTNER_EXPORT_BUILD_INFO_H

#define PE_BUILD_STRING2(x) #x
#define PE_BUILD_STRING(x) PE_BUILD_STRING2(x)

static inline const char *pe_build_version(void) {
#ifdef PE_VERSION
    return PE_BUILD_STRING(PE_VERSION);
#else
    return "unknown";
#endif
}

static inline const char *pe_build_commit(void) {
#ifdef PE_COMMIT
    return PE_BUILD_STRING(PE_COMMIT);
#else
    return "unknown";
#endif
}

#endif
