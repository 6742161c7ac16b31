/**
 * `@app/hl7`: the HL7 v2 edge. MLLP framing (server and client), ER7 parsing, reading SIU
 * scheduling messages, building ACKs and (for the sandbox and tests) SIU messages. It does no
 * logging and no trust checks; it returns data and typed errors for the adapter to act on.
 */
export * from './mllp';
export * from './siu';
export * from './ack';
export * from './build';
export * from './timestamp';
export { escapeEr7, unescapeEr7, normaliseSegmentEnds, parseEr7 } from './er7';
export type { Er7Message, Er7Segment, Er7Failure, Separators } from './er7';
