#ifndef POSTERN_CLDNS_SHIM_H
#define POSTERN_CLDNS_SHIM_H

// libldns 1.8 (Debian package libldns-dev). Postern's DNS target calls it from a
// dedicated pool of threads, never from the event loop: every ldns query blocks.
#include <ldns/ldns.h>

#endif
