/* fuzz_writeback.c - libFuzzer target: the writeback journals
 * ($SHIMFS_CACHE_DIR/staging/, *.wb files) that a process which died, a full disk
 * or another local program may have left torn or corrupt, and that the
 * next process on the node commits (core/vfs/vfs_writeback.c, included to
 * reach its reader). Promises checked: no memory error; an accepted
 * journal's pieces each fit a chunk (and lie inside one, unless it is an
 * append journal, whose offsets are relative and which the commit cuts
 * at the chunk boundaries where it lands) and its bytes are exactly the
 * rest of the file, so committing it reads no more than the file holds
 * and allocates no more than one chunk per piece. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "../../core/vfs/vfs_writeback.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("journal", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    struct wb_header h;
    struct wb_piece *pc = NULL;
    if (wb_read_table(fd, &h, &pc) == 0) {
        uint64_t at = sizeof h + (uint64_t)h.n * sizeof *pc;
        for (uint32_t i = 0; i < h.n; i++) {
            assert(pc[i].len <= LAYOUT_CHUNK_SIZE);
            if (h.flags & WB_APPEND)
                assert(pc[i].off == at - sizeof h - (uint64_t)h.n * sizeof *pc);
            else
                assert(layout_chunk_index(pc[i].off) ==
                       layout_chunk_index(pc[i].off + pc[i].len - (pc[i].len > 0)));
            char *buf = malloc(pc[i].len ? pc[i].len : 1);
            assert(buf && wb_read_all(fd, buf, pc[i].len, (off_t)at) == 0);
            free(buf);
            at += pc[i].len;
        }
        assert(at == size);
        free(pc);
    }
    close(fd);
    return 0;
}
