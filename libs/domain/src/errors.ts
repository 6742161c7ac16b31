/**
 * Domain errors. Every rule broken inside `@app/domain` is reported with a stable `code`, so the
 * edges (HTTP filter, HL7 ACK builder, config loader) can map it without parsing the message.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
