/**
 * Refuses, as a 400 naming the field, any request whose query, path or form carries a control
 * character other than tab and line breaks (which a note or a reason may hold). A NUL reaching
 * Postgres in a sign-in email, an audit filter, a note, a display name or a policy reason made it
 * refuse the statement: a 500 for what is the sender's mistake. Checked once here, ahead of the
 * session (a request this fails is refused the same whoever sends it), so no form needs its own.
 */
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { controlCharacterIn } from '@app/domain';
import { AppError } from '@app/platform';
import type { Request } from 'express';

@Injectable()
export class InputGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest<Request>();
    for (const [where, value] of [['query', req.query], ['path', req.params], ['form', req.body]] as const) {
      const found = controlCharacterAt(value);
      if (found) {
        const field = found.field === null ? `A ${where} field's name` : `The ${where} field "${found.field}"`;
        throw new AppError('control_character', `${field} holds a control character (${found.character}) the dashboard cannot take. Remove it and try again.`, 400);
      }
    }
    return true;
  }
}

/** The first control character in a parsed value (strings, arrays and objects of them, keys too): its field and code point. */
export function controlCharacterAt(value: unknown, field: string | null = null, depth = 0): { field: string | null; character: string } | null {
  if (typeof value === 'string') {
    const character = controlCharacterIn(value, true);
    return character ? { field, character } : null;
  }
  // A parsed query or form nests only a few levels; anything deeper is not one of ours either.
  if (typeof value !== 'object' || value === null || depth > 5) return null;
  for (const [key, v] of Object.entries(value)) {
    const keyCharacter = controlCharacterIn(key, true);
    if (keyCharacter) return { field: null, character: keyCharacter };
    const found = controlCharacterAt(v, Array.isArray(value) ? field : key, depth + 1);
    if (found) return found;
  }
  return null;
}
