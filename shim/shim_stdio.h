/* shim_stdio.h - stdio set-up at process start. */
#ifndef SHIM_STDIO_H
#define SHIM_STDIO_H

/* Make stdin read an inherited placeholder on fd 0 (constructor, after the
 * descriptor scan). */
void shim_stdio_adopt_stdin(void);

#endif
