/**
 * Coded errors (STYLE.md §8): services throw `AppError` with a stable code; one filter turns any
 * error into a JSON body `{ error, message, details? }` with the right HTTP status, so every
 * client gets a clear statement of what was wrong.
 */
import { ArgumentMetadata, ArgumentsHost, BadRequestException, Catch, ExceptionFilter, HttpException, HttpStatus, Logger, ValidationError, ValidationPipe } from '@nestjs/common';

export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number = HttpStatus.BAD_REQUEST,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/**
 * The words of anything thrown, for a log line: an Error's message (or any object's), else the
 * value as text. A catch block that read `.message` of a thrown `undefined` would throw itself,
 * and in a background loop that is a rejection nobody handles, which ends a Node 20 process.
 */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

@Catch()
export class AppErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');
  catch(exception: unknown, host: ArgumentsHost) {
    const res = host.switchToHttp().getResponse<{ status(n: number): { json(b: unknown): void }; headersSent?: boolean }>();
    if (res.headersSent) return;
    const { status, body } = errorResponse(exception, this.logger);
    res.status(status).json(body);
  }
}

/** The status and JSON body any error is answered with (`AppErrorFilter`, and routes served outside Nest). */
export function errorResponse(exception: unknown, logger: Pick<Logger, 'error'>): { status: number; body: unknown } {
  if (exception instanceof AppError) {
    return { status: exception.status, body: { error: exception.code, message: exception.message, details: exception.details } };
  }
  if (exception instanceof HttpException) {
    const body = exception.getResponse();
    const status = exception.getStatus();
    if (typeof body === 'object' && body && 'error' in body && 'message' in body && typeof (body as { error: unknown }).error === 'string' && !(body as { statusCode?: unknown }).statusCode) {
      return { status, body };
    }
    const message = typeof body === 'string' ? body : (body as { message?: unknown }).message ?? exception.message;
    return { status, body: { error: httpCode(status), message: Array.isArray(message) ? message.join('; ') : String(message) } };
  }
  logger.error(`unhandled error: ${(exception as Error)?.message}`, (exception as Error)?.stack);
  return { status: 500, body: { error: 'internal_error', message: 'Something went wrong on our side; it has been logged.' } };
}

function httpCode(status: number): string {
  switch (status) {
    case 400: return 'bad_request';
    case 401: return 'unauthorized';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 409: return 'conflict';
    case 413: return 'payload_too_large';
    case 415: return 'unsupported_media_type';
    case 422: return 'unprocessable';
    default: return status >= 500 ? 'internal_error' : 'error';
  }
}

/** Each problem of a failed validation, named by its field (`source_number: …`). */
export function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((c) => `${path}: ${c}`);
    return [...own, ...flatten(e.children ?? [], path)];
  });
}

/** What a request that fails validation is answered with (400, each problem named). */
export function validationFailed(errors: ValidationError[]): BadRequestException {
  return new BadRequestException({ error: 'validation_failed', message: 'The request is not valid', details: flatten(errors) });
}

/**
 * Marks a DTO whose sender is our own service, possibly a newer release of it (`@ToleratesNewerSenders()`
 * in @app/contracts sets it; a registered symbol, so neither library imports the other).
 */
export const TOLERATES_NEWER_SENDERS = Symbol.for('ics-slot-exchange.tolerates-newer-senders');

/**
 * Validation for every DTO: unknown fields are refused and each problem is named. Except for a DTO
 * marked TOLERATES_NEWER_SENDERS (what a trust adapter posts to the exchange, Notify's callbacks): there a field this
 * release does not know is dropped, not refused. During a rolling release adapters may run the new
 * code before the exchange does; refusing a new optional field would have every forwarded SIU
 * refused for good (and a write-back outcome retried until it fails). Known fields are as strict.
 */
export function strictValidationPipe(): ValidationPipe {
  return new StrictValidationPipe();
}

class StrictValidationPipe extends ValidationPipe {
  private readonly tolerant = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: false, transform: true, exceptionFactory: validationFailed });

  constructor() {
    super({ whitelist: true, forbidNonWhitelisted: true, transform: true, exceptionFactory: validationFailed });
  }

  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const type = metadata.metatype as (Function & { [TOLERATES_NEWER_SENDERS]?: boolean }) | undefined;
    return type?.[TOLERATES_NEWER_SENDERS] ? this.tolerant.transform(value, metadata) : super.transform(value, metadata);
  }
}
