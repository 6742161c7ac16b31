/**
 * Errors in GOV.UK Notify's v2 shape, `{ status_code, errors: [{ error, message }] }`, so that
 * notifications-node-client and the notifier see what they would see from the real service.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';

export interface NotifyErrorItem {
  error: string;
  message: string;
}

export class NotifyApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: NotifyErrorItem[],
  ) {
    super(errors.map((e) => e.message).join('; '));
  }

  static auth(status: 401 | 403, message: string): NotifyApiError {
    return new NotifyApiError(status, [{ error: 'AuthError', message }]);
  }
  static validation(messages: string[]): NotifyApiError {
    return new NotifyApiError(400, messages.map((message) => ({ error: 'ValidationError', message })));
  }
  static badRequest(message: string): NotifyApiError {
    return new NotifyApiError(400, [{ error: 'BadRequestError', message }]);
  }
  static notFound(): NotifyApiError {
    return new NotifyApiError(404, [{ error: 'NoResultFound', message: 'No result found' }]);
  }
  static rateLimited(limit: number): NotifyApiError {
    return new NotifyApiError(429, [{ error: 'RateLimitError', message: `Exceeded rate limit for key type LIVE of ${limit} requests per 60 seconds` }]);
  }
}

/** Scoped to the `/v2` controller: the sandbox's own routes keep the platform's error shape. */
@Catch()
export class NotifyApiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('notify-api');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<{ status(n: number): { json(b: unknown): void }; headersSent?: boolean }>();
    // A simulated dropped connection (outage.ts) has nobody to answer.
    if (res.headersSent || (exception instanceof Error && exception.name === 'ConnectionDropped')) return;
    let status = 500;
    let errors: NotifyErrorItem[] = [{ error: 'Exception', message: 'Internal server error' }];
    if (exception instanceof NotifyApiError) {
      status = exception.status;
      errors = exception.errors;
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      errors = [{ error: status === 404 ? 'NoResultFound' : 'BadRequestError', message: exception.message }];
    } else {
      this.logger.error(`unhandled error: ${(exception as Error)?.message}`, (exception as Error)?.stack);
    }
    res.status(status).json({ status_code: status, errors });
  }
}
