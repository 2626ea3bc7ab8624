#ifndef POSTERN_CCLAMAV_SHIM_H
#define POSTERN_CCLAMAV_SHIM_H

// libclamav 1.x (Debian package libclamav-dev). Postern's Scanning target loads
// engines on a dedicated thread and scans on a bounded pool: every call blocks.
#include <clamav.h>

// CL_DB_STDOPT is an OR of macros, which Swift does not import.
static const unsigned int postern_cl_db_stdopt = CL_DB_STDOPT;

#endif
