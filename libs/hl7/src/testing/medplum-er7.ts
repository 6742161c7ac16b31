/**
 * The ER7 reader as it was before `parseEr7` became our own lazy one: `@medplum/core`'s
 * `Hl7Message.parse` behind the same rules. Kept for tests only, as the reference the lazy reader
 * must agree with on every message (er7.spec.ts).
 */
import { Hl7Message } from '@medplum/core';
import { checkEncoding, er7Message, Er7Failure, Er7Message, Er7Segment, Separators, unescapeEr7 } from '../er7';

/** Parses normalised ER7 text with @medplum/core. Never throws. */
export function parseEr7WithMedplum(text: string): { ok: true; message: Er7Message } | { ok: false; failure: Er7Failure } {
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
    };
  };
  return { ok: true, message: er7Message(segments.map(wrap)) };
}
