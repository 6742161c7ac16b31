/**
 * V8 heap tuning for the adapter process, set at start-up (imported first by main.ts) so that it
 * holds wherever the app is started: tools/stack, the container image's entrypoint, Kubernetes.
 *
 * Why: a PTL import streams 250,000 rows through in 2,000-row batches. Each batch lives across a
 * young-generation collection or two (it is gathered, then in flight to the exchange), so it is
 * promoted to the old generation and becomes garbage there once sent. With V8's default growing
 * factor (up to 4x the live size when collections are cheap) the old generation was let grow from
 * ~33 MB live to ~125 MB of mostly dead batches before a full collection: that garbage was most of
 * the adapter's ~280 MB peak RSS (ptl_250k_peak_rss_mb, limit 300 MB). Growing by at most 50%
 * over the live size instead runs more, smaller full collections (measured on the import: 13
 * instead of 4, ~40 ms more pause in all over ~5 s) and takes ~70 MB off the peak. The adapter's
 * live heap is small (tens of MB), so this costs little elsewhere.
 *
 * The flag is read at each collection, so setting it from code (rather than a node command-line
 * flag, which NODE_OPTIONS does not accept for this V8 option) works.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
