/* phase_time.h: opt-in timing of a compile's phases, to see where a cold compile's time goes.
 * With ATTN_TIME_COMPILE set to anything but "" or "0", each timed phase prints one line to
 * stderr, in the order the phases end:
 *   attnc time: +<ms since the compile began> <ms the phase took> <phase>
 * The clock starts in pipeline_compile; phases on other threads (the GPU back end's LLVM units,
 * the driver's JIT of the entries a load needs) print against the same start, so overlapping
 * phases show as such. Meant for one compile at a time: two compiles in parallel share the
 * start. Off, a phase costs one branch on a cached flag. */
#ifndef ATTNC_PHASE_TIME_H
#define ATTNC_PHASE_TIME_H

#include <stdbool.h>

bool phase_time_on(void);
double phase_time_now(void);   /* a monotonic clock, in ms */
void phase_time_start(void);   /* a compile begins: the clock's zero */
/* Prints the line of a phase that began at `begun` (a phase_time_now()) and ends now.
 * `fmt` names the phase, printf-style. */
void phase_time_end(double begun, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
