// Every error the proxy raises on purpose, with a stable code. Callers branch on `code`, never on
// message text. `httpStatusOf` is the one place where a code becomes an HTTP status.

export type ErrorCode =
  | 'NO_ROUTE'
  | 'HOLD_TIMEOUT'
  | 'HOLD_QUEUE_FULL'
  | 'CLIENT_ABORTED'
  | 'UPSTREAM_CONNECT_FAILED'
  | 'UPSTREAM_RESET'
  | 'UPSTREAM_HEADERS_TIMEOUT'
  | 'UPSTREAM_BAD_RESPONSE'
  | 'UPSTREAM_DRAIN_DEADLINE'
  | 'SHUTTING_DOWN'
  | 'INVALID_TRANSITION'
  | 'UNKNOWN_SERVICE'
  | 'UNKNOWN_UPSTREAM'
  | 'DUPLICATE_UPSTREAM'
  | 'BAD_LABEL'
  | 'BAD_CONFIG'
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'WAIT_TIMEOUT'
  | 'WAIT_FAILED'
  | 'TOO_MANY_WAITERS'
  | 'REQUEST_TIMEOUT'
  | 'URI_TOO_LONG'
  | 'HEADERS_TOO_LARGE'
  | 'TOO_MANY_CONNECTIONS';

export class BluegreenError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'BluegreenError';
  }
}

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'NO_ROUTE':
    case 'NOT_FOUND':
    case 'UNKNOWN_SERVICE':
    case 'UNKNOWN_UPSTREAM':
      return 404;
    case 'HOLD_TIMEOUT':
    case 'HOLD_QUEUE_FULL':
    case 'SHUTTING_DOWN':
    case 'TOO_MANY_WAITERS':
    case 'TOO_MANY_CONNECTIONS':
      return 503;
    case 'CLIENT_ABORTED':
      return 499;
    case 'UPSTREAM_CONNECT_FAILED':
    case 'UPSTREAM_RESET':
    case 'UPSTREAM_BAD_RESPONSE':
    case 'UPSTREAM_DRAIN_DEADLINE':
      return 502;
    case 'UPSTREAM_HEADERS_TIMEOUT':
    case 'WAIT_TIMEOUT':
      return 504;
    case 'INVALID_TRANSITION':
    case 'DUPLICATE_UPSTREAM':
    case 'WAIT_FAILED':
      return 409;
    case 'BAD_LABEL':
    case 'BAD_CONFIG':
    case 'BAD_REQUEST':
      return 400;
    case 'UNAUTHORIZED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'METHOD_NOT_ALLOWED':
      return 405;
    case 'REQUEST_TIMEOUT':
      return 408;
    case 'URI_TOO_LONG':
      return 414;
    case 'HEADERS_TOO_LARGE':
      return 431;
  }
}

export function isBluegreenError(err: unknown, code?: ErrorCode): err is BluegreenError {
  return err instanceof BluegreenError && (code === undefined || err.code === code);
}
