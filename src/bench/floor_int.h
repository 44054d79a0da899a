/* floor_int.h - the `floor` scenario's two halves: the writer (a forked
 * child: a plain epoll server that fans frames out to N connections) and
 * the readers (threads of the bench process), talking over two pipes.
 *
 * Frames are exactly frame_bytes long: the message index (8 bytes), its
 * scheduled send time (CLOCK_MONOTONIC ns, 8 bytes: the clock is shared by
 * the processes of one machine), then filler. */
#ifndef BENCH_FLOOR_INT_H
#define BENCH_FLOOR_INT_H

#include <stddef.h>
#include <stdint.h>

/* Parent -> writer: what to send, once every connection is accepted. */
typedef struct floor_go {
    uint64_t t0_ns;       /* first send (burst: every frame's time stamp) */
    uint64_t interval_ns; /* between messages; 0 = burst */
    uint64_t end_ns;      /* rate mode: no message scheduled after this */
    uint64_t messages;    /* burst mode: how many; rate mode: the cap */
    uint32_t frame_bytes, coalesce;
} floor_go;

/* Writer -> parent, when everything is written. */
typedef struct floor_wres {
    uint64_t messages, writes, eagain, bytes;
    uint64_t t_first_ns, t_last_ns; /* first and last write */
    int32_t accepted, error;
} floor_wres;

/* Runs in the child: accepts nconns on lfd, reads a floor_go from ctl,
 * writes, sends a floor_wres on rep, waits for EOF on ctl, exits. */
void floor_writer_main(int lfd, size_t nconns, int ctl, int rep)
    __attribute__((noreturn));

#endif
