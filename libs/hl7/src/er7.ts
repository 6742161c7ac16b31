/**
 * ER7 (pipe-and-hat) reading. It began as a wrapper around `@medplum/core`'s `Hl7Message`, which
 * trusts its input: it takes the separators from MSH without checking them, does not unescape
 * `\F\`-style sequences, and throws a TypeError when asked for a repetition that is not there.
 * Everything here answers "empty" instead of throwing, so the SIU and ACK readers can be written
 * as plain lookups; the reading itself is now ours and lazy (see `parseEr7`), with the same answers.
 */

/** Why a text could not be read as ER7 at all; the caller turns this into an `AR`. */
export type Er7Failure = { reason: 'no-msh' | 'bad-encoding-characters' | 'unreadable'; field: 0 | 1 | 2 };

export interface Er7Segment {
  readonly name: string;
  /**
   * The unescaped text of one component (1-based `field`, `component`; 0-based `repetition`),
   * or '' when absent. HL7's explicit null `""` also reads as ''.
   */
  get(field: number, component?: number, repetition?: number): string;
  /** As `get`, then the first sub-component: for TS, HD and PL parts that may carry `&` detail. */
  getFirstSub(field: number, component?: number, repetition?: number): string;
  /** One sub-component (all indexes 1-based but `repetition`). */
  getSub(field: number, component: number, subcomponent: number, repetition?: number): string;
  /** How many repetitions the field has (0 when the field is absent). */
  repetitions(field: number): number;
}

export interface Er7Message {
  /** The `sequence`th (1-based) segment called `name`. */
  segment(name: string, sequence?: number): Er7Segment | undefined;
  /** The segment names in order, for structure checks. */
  readonly names: readonly string[];
}

/** Segment terminators arrive as CR, LF or CRLF depending on the sender; HL7 means CR. */
export function normaliseSegmentEnds(text: string): string {
  return text.replace(/\r\n|\n/g, '\r');
}

/**
 * Checks MSH-1 and MSH-2 before handing the text to the library, which would otherwise build a
 * context from whatever five characters follow "MSH" (and then split on letters or on '').
 */
export function checkEncoding(text: string): Er7Failure | null {
  if (!text.startsWith('MSH')) return { reason: 'no-msh', field: 0 };
  const fieldSep = text.charAt(3);
  if (!isSeparatorChar(fieldSep)) return { reason: 'bad-encoding-characters', field: 1 };
  const end = text.indexOf(fieldSep, 4);
  const enc = end < 0 ? text.slice(4) : text.slice(4, end);
  // Four characters (component, repetition, escape, sub-component); v2.7 adds a fifth, truncation.
  if (enc.length !== 4 && enc.length !== 5) return { reason: 'bad-encoding-characters', field: 2 };
  const all = fieldSep + enc;
  if (![...enc].every(isSeparatorChar) || new Set(all).size !== all.length) {
    return { reason: 'bad-encoding-characters', field: 2 };
  }
  return null;
}

function isSeparatorChar(c: string): boolean {
  return c.length === 1 && !/[A-Za-z0-9\s]/.test(c) && c.charCodeAt(0) >= 0x21 && c.charCodeAt(0) <= 0x7e;
}

/**
 * Parses normalised ER7 text. Never throws.
 *
 * Lazy: the text is cut into segment lines, and a line into fields only when one of its fields is
 * first asked for; components are cut per lookup. The intake reads some 25 values of a message
 * and ACK readers three, so building every field, repetition and component up front (as
 * `@medplum/core`'s `Hl7Message.parse` did here before) was most of the cost of reading one. The
 * answers are the same as that library's wrapped in the rules above (a property test in
 * er7.spec.ts compares the two on generated messages): segments split on any run of CR/LF, a
 * segment's name is its first field up to a component or repetition separator, MSH-1 and MSH-2
 * are the separators themselves, and MSH's other fields are numbered from MSH-1.
 */
export function parseEr7(text: string): { ok: true; message: Er7Message } | { ok: false; failure: Er7Failure } {
  const bad = checkEncoding(text);
  if (bad) return { ok: false, failure: bad };
  const seps: Separators = { field: text.charAt(3), component: text.charAt(4), repetition: text.charAt(5), escape: text.charAt(6), subcomponent: text.charAt(7) };
  const segments: LazySegment[] = [];
  for (const line of text.split(/[\r\n]+/)) {
    const segment = new LazySegment(line, seps);
    // Blank lines (e.g. a trailing CR before the end block) are nameless segments; dropped.
    if (segment.name.trim() !== '') segments.push(segment);
  }
  return { ok: true, message: er7Message(segments) };
}

/** A message over its (named, non-blank) segments. */
export function er7Message(segments: Er7Segment[]): Er7Message {
  return {
    names: segments.map((s) => s.name),
    segment(name, sequence = 1) {
      let seen = 0;
      for (const s of segments) {
        if (s.name === name && ++seen === sequence) return s;
      }
      return undefined;
    },
  };
}

/** One segment line, cut into fields on first use. */
class LazySegment implements Er7Segment {
  readonly name: string;
  private fields: string[] | undefined;

  constructor(
    private readonly line: string,
    private readonly seps: Separators,
  ) {
    const end = line.indexOf(seps.field);
    const first = end < 0 ? line : line.slice(0, end);
    this.name = first.split(seps.repetition, 1)[0]!.split(seps.component, 1)[0]!;
  }

  /** The field's text, or undefined when the segment has no such field. MSH-1 and MSH-2 are the separators. */
  private field(n: number): string | undefined {
    if (this.name === 'MSH') {
      if (n === 1) return this.seps.field;
      if (n === 2) return this.seps.component + this.seps.repetition + this.seps.escape + this.seps.subcomponent;
      // MSH-1 is the separator after the name, so MSH-3 is the third piece of the line.
      if (n > 2) n -= 1;
    }
    this.fields ??= this.line.split(this.seps.field);
    return Number.isInteger(n) && n >= 0 ? this.fields[n] : undefined;
  }

  /** One component as sent (undefined when the field or repetition is absent). */
  private component(field: number, component: number, repetition: number): string | undefined {
    const text = this.field(field);
    if (text === undefined) return undefined;
    // MSH-1 and MSH-2 are whole values, never cut (they contain the separators themselves).
    const reps = this.name === 'MSH' && (field === 1 || field === 2) ? [text] : text.split(this.seps.repetition);
    if (!Number.isInteger(repetition) || repetition < 0 || repetition >= reps.length) return undefined;
    const rep = reps[repetition]!;
    if (this.name === 'MSH' && (field === 1 || field === 2)) return component === 1 ? rep : '';
    return rep.split(this.seps.component)[component - 1] ?? '';
  }

  get(field: number, component = 1, repetition = 0): string {
    const value = this.component(field, component, repetition) ?? '';
    // MSH-1 and MSH-2 (and the name) are the separators themselves; unescaping them would be wrong.
    if (this.name === 'MSH' && field <= 2) return value;
    return value === '""' ? '' : unescapeEr7(value, this.seps);
  }

  getFirstSub(field: number, component = 1, repetition = 0): string {
    return this.getSub(field, component, 1, repetition);
  }

  getSub(field: number, component: number, subcomponent: number, repetition = 0): string {
    const value = this.component(field, component, repetition) ?? '';
    const sub = value.split(this.seps.subcomponent)[subcomponent - 1] ?? '';
    return sub === '""' ? '' : unescapeEr7(sub, this.seps);
  }

  repetitions(field: number): number {
    const text = this.field(field);
    if (text === undefined || text === '') return 0;
    return this.name === 'MSH' && (field === 1 || field === 2) ? 1 : text.split(this.seps.repetition).length;
  }
}

export interface Separators {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export const DEFAULT_SEPARATORS: Separators = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

/**
 * HL7 escape sequences (\F\ \S\ \T\ \R\ \E\ and \Xhh..\) back to text. Formatting sequences
 * (\H\, \N\, \.br\ …) mean nothing to an identifier or code, so they are dropped.
 */
export function unescapeEr7(value: string, seps: Separators = DEFAULT_SEPARATORS): string {
  const esc = seps.escape;
  if (!esc || !value.includes(esc)) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (c !== esc) {
      out += c;
      i++;
      continue;
    }
    const close = value.indexOf(esc, i + 1);
    if (close < 0) {
      // A lone escape character is the sender's mistake; keeping it loses nothing.
      out += value.slice(i);
      break;
    }
    const seq = value.slice(i + 1, close);
    switch (seq) {
      case 'F':
        out += seps.field;
        break;
      case 'S':
        out += seps.component;
        break;
      case 'T':
        out += seps.subcomponent;
        break;
      case 'R':
        out += seps.repetition;
        break;
      case 'E':
        out += esc;
        break;
      default:
        if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) {
          out += Buffer.from(seq.slice(1), 'hex').toString('latin1');
        }
    }
    i = close + 1;
  }
  return out;
}

/**
 * Makes free text safe to place in one ER7 component. Line breaks become spaces because a CR
 * would end the segment and the MLLP framing bytes would end the frame.
 */
export function escapeEr7(value: string, seps: Separators = DEFAULT_SEPARATORS): string {
  let out = '';
  for (const c of value) {
    if (c === seps.escape) out += `${seps.escape}E${seps.escape}`;
    else if (c === seps.field) out += `${seps.escape}F${seps.escape}`;
    else if (c === seps.component) out += `${seps.escape}S${seps.escape}`;
    else if (c === seps.subcomponent) out += `${seps.escape}T${seps.escape}`;
    else if (c === seps.repetition) out += `${seps.escape}R${seps.escape}`;
    else if (c === '\r' || c === '\n') out += ' ';
    else if (c === '\x0b' || c === '\x1c') continue;
    else out += c;
  }
  return out;
}
