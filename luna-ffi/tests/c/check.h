/* The checks shared by the C test programs: CHECK(call) returns 1 from main with the call
 * and its CK_RV on stderr unless the call returned CKR_OK; EXPECT(cond) likewise for a
 * condition. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

#define CHECK(call)                                                                   \
    do {                                                                              \
        CK_RV rv_ = (call);                                                           \
        if (rv_ != CKR_OK) {                                                          \
            fprintf(stderr, "%s:%d: %s returned 0x%08lX\n", __FILE__, __LINE__, #call, \
                    (unsigned long)rv_);                                              \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);        \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

#endif
