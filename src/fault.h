/* Fault injection for tests: CLFORMER_FAULT makes chosen operations fail the way a driver, a full disk
 * or a bad step would, so the error paths can be exercised. Unset, every check is false.
 *
 * CLFORMER_FAULT is a comma-separated list of key=value settings:
 *   device=TEXT     the device faults below apply only to devices whose name contains TEXT
 *   alloc=N         the N-th device buffer allocation (1-based, counted per process) fails: out of memory
 *   build=NAME      building kernel program NAME ("*" for any) fails with an injected build log
 *   write=N         the N-th safetensors file write (1-based, counted per process: checkpoints, gradient
 *                   dumps) fails as if the disk were full, halfway through its temporary file
 *   write_delay_ms=MS  every safetensors write pauses MS milliseconds halfway through its temporary
 *                   file (a window for tests that kill the process in the middle of a save)
 *   nonfinite=S     the gradients of training step S (1-based) are made non-finite
 *   nonfinite_count=C  ... and of the C-1 steps after it (default 1)
 */
#ifndef CLFORMER_FAULT_H
#define CLFORMER_FAULT_H

#include <stdbool.h>

/* Reads CLFORMER_FAULT again and resets the counters (the first check does this by itself). */
void clf_fault_reload(void);

bool clf_fault_alloc(const char *device_name);
bool clf_fault_build(const char *device_name, const char *program);
bool clf_fault_write(void);
/* Milliseconds to pause in the middle of each file write (0: none). */
long clf_fault_write_delay_ms(void);
bool clf_fault_nonfinite(long step);

#endif
