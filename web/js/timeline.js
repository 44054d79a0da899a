// timeline.js - one conversation's loaded messages, merged from three
// overlapping sources (a history page, live `message` frames, `synced`
// pages) into one gap-free, duplicate-free run ordered by seq.
//
// Invariant: `msgs` holds every seq from `lo` to `hi`, in order
// (msgs[i].seq === lo + i). A message above hi + 1 waits in `waiting`
// until the gap before it is filled (PROTOCOL.md §7, "Merging"). Before
// the first page arrives (`loaded` false) every message waits.

export class Timeline {
  constructor() {
    this.loaded = false;
    this.lo = 1; // lowest seq held (hi + 1 when empty)
    this.hi = 0; // highest seq shown; every seq in [lo, hi] is held
    this.msgs = [];
    this.waiting = new Map(); // seq -> message, all > hi + 1
    this.hasOlder = false; // history below lo exists
  }

  // Starts the window from the latest page of history (ascending, as
  // GET .../messages?limit=N returns it). Returns what became visible.
  reset(page) {
    this.loaded = true;
    this.msgs = [];
    const sorted = contiguousTail(page);
    if (sorted.length) {
      this.lo = sorted[0].seq;
      this.hi = sorted[sorted.length - 1].seq;
      this.msgs = sorted;
    } else {
      this.lo = 1; // an empty page: the conversation has no messages yet
      this.hi = 0;
    }
    // seqs start at 1 without gaps, so anything above 1 has older history
    this.hasOlder = this.lo > 1;
    return this.msgs.slice().concat(this.drain());
  }

  // Merges one message (live or from a sync page). Returns the messages
  // that became visible, in seq order: [] for a duplicate or a gap.
  merge(m) {
    if (this.loaded && m.seq <= this.hi) return [];
    if (!this.loaded || m.seq > this.hi + 1) {
      if (!this.waiting.has(m.seq)) this.waiting.set(m.seq, m);
      return [];
    }
    this.push(m);
    return [m].concat(this.drain());
  }

  // Adds an older page (GET ...?before_seq=lo, ascending). Only messages
  // that extend the run downwards without a hole are taken. Returns them.
  prepend(page) {
    const older = [];
    let want = this.lo - 1;
    const bySeq = new Map(page.map((m) => [m.seq, m]));
    while (want >= 1 && bySeq.has(want)) {
      older.push(bySeq.get(want));
      want -= 1;
    }
    older.reverse();
    if (older.length) {
      this.msgs = older.concat(this.msgs);
      this.lo = older[0].seq;
    }
    // an empty answer while lo > 1 would loop forever: stop asking
    this.hasOlder = this.lo > 1 && older.length > 0;
    return older;
  }

  // The message at seq, if held.
  get(seq) {
    if (seq < this.lo || seq > this.hi) return undefined;
    return this.msgs[seq - this.lo];
  }

  get hasGap() {
    return this.waiting.size > 0;
  }

  push(m) {
    if (this.msgs.length === 0) this.lo = m.seq;
    this.msgs.push(m);
    this.hi = m.seq;
  }

  drain() {
    const out = [];
    for (const seq of [...this.waiting.keys()]) {
      if (seq <= this.hi) this.waiting.delete(seq);
    }
    while (this.waiting.has(this.hi + 1)) {
      const m = this.waiting.get(this.hi + 1);
      this.waiting.delete(m.seq);
      this.push(m);
      out.push(m);
    }
    return out;
  }
}

// The page sorted by seq, cut to its highest run without holes (a page
// from the server has none; this keeps the invariant whatever arrives).
function contiguousTail(page) {
  const sorted = [...new Map(page.map((m) => [m.seq, m])).values()].sort(
    (a, b) => a.seq - b.seq,
  );
  let start = sorted.length - 1;
  while (start > 0 && sorted[start - 1].seq === sorted[start].seq - 1) start -= 1;
  return sorted.slice(Math.max(start, 0));
}
