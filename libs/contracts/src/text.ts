/**
 * The check of `controlCharacterIn` (libs/domain text.ts) as a class-validator decorator, for the
 * DTO strings the exchange stores: a NUL would make Postgres refuse the statement (a 500, and a
 * whole batch lost); here it is a 400 naming the field.
 */
import { controlCharacterIn } from '@app/domain';
import { ValidateBy, ValidationOptions, buildMessage } from 'class-validator';

export function NoControlCharacters(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy({
    name: 'noControlCharacters',
    validator: {
      // Type and presence are other decorators' to judge.
      validate: (v: unknown) => typeof v !== 'string' || controlCharacterIn(v) === null,
      defaultMessage: buildMessage((each) => `${each}$property must not contain a control character`, options),
    },
  }, options);
}
