/**
 * The one set of error codes of architecture.md. Every boundary (HTTP, WebSocket, NATS reply)
 * maps to and from these, so a refusal keeps its code from the ledger to the kubectl plugin.
 */
export const ErrorCode = {
  Invalid: 'Invalid',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  NotFound: 'NotFound',
  PortAlreadyStolen: 'PortAlreadyStolen',
  Conflict: 'Conflict',
  Unavailable: 'Unavailable',
  /** A body or message above a size limit (Kubernetes' StatusReason of the same name). */
  RequestEntityTooLarge: 'RequestEntityTooLarge',
  /** A rate limit: retry later (Kubernetes' StatusReason of the same name). */
  TooManyRequests: 'TooManyRequests',
  /** `x-session-id` names a session that already ended (the mirrord CLI's special case, 410). */
  ReconnectNotPossible: 'ReconnectNotPossible',
  /** Every licensed seat is taken this billing period and overages are off (the license server said so). */
  MaxSeatCountReached: 'MaxSeatCountReached',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const httpStatusOf: Readonly<Record<ErrorCode, number>> = Object.freeze({
  Invalid: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  PortAlreadyStolen: 409,
  Conflict: 409,
  Unavailable: 503,
  RequestEntityTooLarge: 413,
  TooManyRequests: 429,
  ReconnectNotPossible: 410,
  MaxSeatCountReached: 403,
});

/** The wire shape of an error in NATS replies and WebSocket answers. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field?: string;
}

export interface AppErrorOptions {
  field?: string;
  hint?: string;
  cause?: unknown;
  /** An HTTP status other than the code's own (414 for a path too long, still `Invalid`). */
  httpStatus?: number;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly hint: string | undefined;
  readonly #httpStatus: number | undefined;

  constructor(code: ErrorCode, message: string, opts: AppErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = `${code}Error`;
    this.code = code;
    this.field = opts.field;
    this.hint = opts.hint;
    this.#httpStatus = opts.httpStatus;
  }

  get httpStatus(): number {
    return this.#httpStatus ?? httpStatusOf[this.code];
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.field !== undefined) body.field = this.field;
    return body;
  }
}

export const invalid = (field: string, message: string, hint?: string): AppError =>
  new AppError(ErrorCode.Invalid, `${field}: ${message}${hint ? ` (${hint})` : ''}`, { field, hint });
export const notFound = (message: string): AppError => new AppError(ErrorCode.NotFound, message);
export const conflict = (message: string): AppError => new AppError(ErrorCode.Conflict, message);
export const forbidden = (message: string): AppError => new AppError(ErrorCode.Forbidden, message);
export const unauthorized = (message: string): AppError => new AppError(ErrorCode.Unauthorized, message);
export const unavailable = (message: string, cause?: unknown): AppError =>
  new AppError(ErrorCode.Unavailable, message, { cause });
export const tooLarge = (field: string, message: string, hint?: string): AppError =>
  new AppError(ErrorCode.RequestEntityTooLarge, `${field}: ${message}${hint ? ` (${hint})` : ''}`, {
    field,
    ...(hint ? { hint } : {}),
  });

const codes = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && codes.has(v);
}

export function isAppError(e: unknown, code?: ErrorCode): e is AppError {
  return e instanceof AppError && (code === undefined || e.code === code);
}

/** Rebuilds the typed error from a reply body (client side of NATS / WebSocket). */
export function fromErrorBody(body: ErrorBody): AppError {
  const code = isErrorCode(body.code) ? body.code : ErrorCode.Unavailable;
  const opts: AppErrorOptions = {};
  if (body.field !== undefined) opts.field = body.field;
  return new AppError(code, body.message, opts);
}

export function isErrorBody(v: unknown): v is ErrorBody {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { code?: unknown }).code === 'string' &&
    typeof (v as { message?: unknown }).message === 'string'
  );
}

/** Anything thrown becomes an AppError; unknown failures are Unavailable, never leaked raw. */
export function toAppError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new AppError(ErrorCode.Unavailable, msg, { cause: e });
}
