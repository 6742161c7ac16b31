/**
 * ER7 (pipe-and-hat) reading, wrapped around `@medplum/core`'s `Hl7Message`.
 *
 * The wrapper exists because the library trusts its input: it takes the separators from MSH
 * without checking them, does not unescape `\F\`-style sequences, and throws a TypeError when
 * asked for a repetition that is not there. Everything here answers "empty" instead of throwing,
 * so the SIU and ACK readers can be written as plain lookups.
 */
import { Hl7Message } from '@medplum/core';

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
  /** How many components one repetition (0-based) of the field has (0 when absent). */
  components(field: number, repetition?: number): number;
  /** The field as sent: separators and escape sequences left in ('' when absent). */
  text(field: number): string;
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

/** Parses normalised ER7 text. Never throws. */
export function parseEr7(text: string): { ok: true; message: Er7Message } | { ok: false; failure: Er7Failure } {
  const bad = checkEncoding(text);
  if (bad) return { ok: false, failure: bad };
  let parsed: Hl7Message;
  try {
    parsed = Hl7Message.parse(text);
  } catch {
    return { ok: false, failure: { reason: 'unreadable', field: 0 } };
  }
  const ctx = parsed.context;
  const seps: Separators = {
    field: ctx.fieldSeparator,
    component: ctx.componentSeparator,
    repetition: ctx.repetitionSeparator,
    escape: ctx.escapeCharacter,
    subcomponent: ctx.subcomponentSeparator,
  };
  // Blank lines (e.g. a trailing CR before the end block) parse as nameless segments; drop them.
  const segments = parsed.segments.filter((s) => s.name.trim() !== '');
  const names = segments.map((s) => s.name);
  const wrap = (raw: (typeof segments)[number]): Er7Segment => {
    const get = (field: number, component = 1, repetition = 0): string => {
      try {
        const f = raw.getField(field);
        if (!f) return '';
        const rep = f.components[repetition];
        if (!rep) return '';
        // MSH-1 and MSH-2 are the separators themselves; unescaping them would be wrong.
        const value = rep[component - 1] ?? '';
        if (raw.name === 'MSH' && field <= 2) return value;
        return value === '""' ? '' : unescapeEr7(value, seps);
      } catch {
        return '';
      }
    };
    const getSub = (field: number, component: number, subcomponent: number, repetition = 0): string => {
      try {
        const f = raw.getField(field);
        const value = f?.components[repetition]?.[component - 1] ?? '';
        const sub = value.split(seps.subcomponent)[subcomponent - 1] ?? '';
        return sub === '""' ? '' : unescapeEr7(sub, seps);
      } catch {
        return '';
      }
    };
    return {
      name: raw.name,
      get,
      getFirstSub(field, component = 1, repetition = 0) {
        return getSub(field, component, 1, repetition);
      },
      getSub,
      repetitions(field) {
        try {
          const f = raw.getField(field);
          if (!f) return 0;
          const text = f.toString();
          return text === '' ? 0 : f.components.length;
        } catch {
          return 0;
        }
      },
      components(field, repetition = 0) {
        try {
          return raw.getField(field)?.components[repetition]?.length ?? 0;
        } catch {
          return 0;
        }
      },
      text(field) {
        try {
          return raw.getField(field)?.toString() ?? '';
        } catch {
          return '';
        }
      },
    };
  };
  const wrapped = segments.map(wrap);
  return {
    ok: true,
    message: {
      names,
      segment(name, sequence = 1) {
        let seen = 0;
        for (const s of wrapped) {
          if (s.name === name && ++seen === sequence) return s;
        }
        return undefined;
      },
    },
  };
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
