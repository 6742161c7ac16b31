/**
 * Control characters in text that came from outside. Postgres cannot store U+0000 in a text
 * column at all (it refuses the whole statement, so one such value sinks every row written with
 * it), and the other C0 controls have no place in an identifier, a code or a name: they are an
 * export or encoding accident, refused where the text comes in, with the field named.
 */

/** C0 controls (U+0000–U+001F) and DEL. */
const CONTROL = /[\u0000-\u001F\u007F]/;
/** The same, less tab and line breaks, which free text typed by a person (a note, a reason) may hold. */
const CONTROL_BUT_LINE_BREAKS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/**
 * The first control character in `s` as `U+0000`, or null when there is none. `freeText` allows
 * tab, CR and LF.
 */
export function controlCharacterIn(s: string, freeText = false): string | null {
  const m = (freeText ? CONTROL_BUT_LINE_BREAKS : CONTROL).exec(s);
  return m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : null;
}

/**
 * Text we must keep but did not write (a PAS's error answer, quoted on the failures page), made
 * storable: U+0000, which Postgres refuses in any text column, becomes U+FFFD. Refusing it instead
 * would have the sender retry the same answer for ever.
 */
export function storableText(s: string): string {
  return s.replace(/\u0000/g, '\uFFFD');
}
