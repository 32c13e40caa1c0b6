import type { LocMsg, TapeProblem } from './models.js';
import type { ErrorUpdate, ServerErrorCode } from './types.js';

/**
 * `error.code` of an {@link ApiError}: one of the server's codes, or, from the SDK itself,
 * `network_error` (no answer: status 0) and `bad_response` (an answer that is not the JSON
 * the API promises).
 */
export type ApiErrorCode = ServerErrorCode | 'network_error' | 'bad_response';

/**
 * A REST call that failed: HTTP `status`, the server's `code` and `message`, and `details`
 * (for 422, one `{loc, msg}` per offending field).
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  /** HTTP status; 0 when no answer arrived. */
  readonly status: number;
  readonly code: ApiErrorCode;
  /** Per-field problems (422), else null. */
  readonly details: LocMsg[] | null;
  /** The parsed error body (or the raw text when it was not JSON). */
  readonly body: unknown;

  constructor(status: number, code: ApiErrorCode, message: string, details: LocMsg[] | null = null,
    body: unknown = null, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
    this.details = details;
    this.body = body;
  }

  /**
   * The problems of a refused loan tape (`invalid_loan_tape`, 422): each names its `row` (from 1),
   * `column`, `value` and, in `msg`, the rule. Empty for any other error.
   */
  get tapeProblems(): TapeProblem[] {
    return this.code === 'invalid_loan_tape' ? (this.details ?? []) as TapeProblem[] : [];
  }

  /** `details` as `{"price_path.volatility.red": "message"}`, handy for form fields. */
  get fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of this.details ?? []) out[d.loc.join('.')] = d.msg;
    return out;
  }

  /** Builds the error from a non-2xx answer's status and body text. */
  static fromResponse(status: number, statusText: string, text: string): ApiError {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON (a proxy's HTML page, an empty body...): keep the text
    }
    const err = isRecord(body) && isRecord(body['error']) ? body['error'] : null;
    if (err && typeof err['code'] === 'string' && typeof err['message'] === 'string') {
      const details = Array.isArray(err['details']) ? (err['details'] as LocMsg[]) : null;
      return new ApiError(status, err['code'] as ApiErrorCode, err['message'], details, body);
    }
    const message = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
    return new ApiError(status, 'bad_response', message, null, body);
  }
}

/** A WebSocket-level problem: the socket failed, the handshake was refused, the client gave up. */
export class WebSocketClientError extends Error {
  override readonly name = 'WebSocketClientError';
  /** The HTTP status of a refused handshake, when the WebSocket implementation tells it (e.g. `ws`: 401). */
  readonly status: number | undefined;
  /** The implementation's own error event, if any. */
  readonly event: unknown;

  constructor(message: string, options: { status?: number; event?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.event = options.event;
  }
}

/** `waitForResult` rejected: the simulation failed, was cancelled, or cannot be followed. */
export class SimulationError extends Error {
  override readonly name = 'SimulationError';
  readonly simulationId: string;
  /** The server's `error` update. */
  readonly update: ErrorUpdate;
  /** True when the run was cancelled. */
  readonly cancelled: boolean;

  constructor(simulationId: string, update: ErrorUpdate) {
    super(update.error === 'cancelled' ? `simulation ${simulationId} was cancelled`
      : `simulation ${simulationId}: ${update.error}`);
    this.simulationId = simulationId;
    this.update = update;
    this.cancelled = update.error === 'cancelled';
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
