import { Configuration } from './configuration.js';
import { ApiError } from './errors.js';
import type {
  AnalysisKind,
  AnalysisList,
  AnalysisRecord,
  AnalysisResult,
  Health,
  JsonSchema,
  LoanTapeCreated,
  LoanTapeList,
  LoanTapeWithRows,
  OperationId,
  Preset,
  PresetList,
  Result,
  Scenarios,
  SimulationList,
  SimulationRecord,
} from './models.js';
import type { FetchInitLike } from './runtime.js';
import type {
  AnalysisRecordOf,
  AnalysisResultOf,
  CreateAnalysisRequest,
  CreateSimulationRequest,
  SimulationStatus,
} from './types.js';

/** Per-call options. */
export interface RequestOptions {
  /** An `AbortSignal` to cancel the request (the call then rejects with the signal's reason). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  signal?: any;
  /** Extra headers for this call. */
  headers?: Record<string, string>;
}

/** Query of `listSimulations`. */
export interface ListSimulationsParams {
  /** Only simulations in this status. */
  status?: SimulationStatus;
  /** Page size, 1..200 (server default 50). */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string | null;
}

/** Query of `listAnalyses` (as for simulations). */
export type ListAnalysesParams = ListSimulationsParams;

/** Options of `getAnalysisResult`. */
export interface AnalysisResultOptions<K extends AnalysisKind> extends RequestOptions {
  /**
   * The kind the caller expects: the result is typed for it, and the call rejects with an
   * `ApiError` (`bad_response`) when the analysis is of another kind.
   */
  kind?: K;
}

/** Options of `getScenarios`. */
export interface ScenariosOptions extends RequestOptions {
  /** Only these metrics, in this order (default: all); an unknown name rejects with a 400 `bad_request`. */
  metrics?: string[];
}

interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | null | undefined>;
  /** A JSON body. */
  body?: unknown;
  /** A text body sent as is, with `Content-Type: text/csv` (a loan tape). */
  csv?: string;
}

/**
 * The REST API (every operation of schemas/openapi.yaml; method names are its operationIds).
 * Every failure rejects with an {@link ApiError}.
 */
export class SimulationApi implements Record<OperationId, (...args: never[]) => Promise<unknown>> {
  readonly configuration: Configuration;

  constructor(configuration: Configuration = new Configuration()) {
    this.configuration = configuration;
  }

  /** POST /simulations: validate, store and queue a simulation (201, the record, status `queued`). */
  createSimulation(body: CreateSimulationRequest, options?: RequestOptions): Promise<SimulationRecord> {
    return this.request({ method: 'POST', path: '/simulations', body }, options);
  }

  /** GET /simulations: one page of this key's simulations, newest first. */
  listSimulations(params: ListSimulationsParams = {}, options?: RequestOptions): Promise<SimulationList> {
    return this.request({
      method: 'GET', path: '/simulations',
      query: { status: params.status, limit: params.limit, cursor: params.cursor },
    }, options);
  }

  /** Every simulation matching `params`, following `next_cursor` page by page. */
  async *iterateSimulations(params: ListSimulationsParams = {},
    options?: RequestOptions): AsyncGenerator<SimulationRecord, void, undefined> {
    let cursor = params.cursor ?? null;
    do {
      const page = await this.listSimulations({ ...params, cursor }, options);
      yield* page.items;
      cursor = page.next_cursor;
    } while (cursor !== null);
  }

  /** GET /simulations/{id}: one record. */
  getSimulation(id: string, options?: RequestOptions): Promise<SimulationRecord> {
    return this.request({ method: 'GET', path: `/simulations/${enc(id)}` }, options);
  }

  /** GET /simulations/{id}/result: the final result (409 `conflict` until it is completed). */
  getSimulationResult(id: string, options?: RequestOptions): Promise<Result> {
    return this.request({ method: 'GET', path: `/simulations/${enc(id)}/result` }, options);
  }

  /**
   * GET /simulations/{id}/scenarios: the per-scenario metric arrays of a completed simulation
   * (`metrics[name][i]` is scenario i's value, `null` where the metric does not exist). The
   * numbers are the engine's float64s exactly. 409 `conflict` until it is completed.
   */
  getScenarios(id: string, options: ScenariosOptions = {}): Promise<Scenarios> {
    const { metrics, ...rest } = options;
    if (metrics !== undefined && (!Array.isArray(metrics) || metrics.length === 0
      || metrics.some((m) => typeof m !== 'string' || m === '' || m.includes(',')))) {
      throw new TypeError(`equihome-sim-sdk: metrics must be a non-empty array of metric names, got ${JSON.stringify(metrics)}`);
    }
    return this.request({
      method: 'GET', path: `/simulations/${enc(id)}/scenarios`,
      query: { metrics: metrics?.join(',') },
    }, rest);
  }

  /**
   * POST /simulations/{id}/cancel (202): a queued run is cancelled at once; a running one stops at
   * its next stage, so the record returned may still say `running`. 409 if already finished.
   */
  cancelSimulation(id: string, options?: RequestOptions): Promise<SimulationRecord> {
    return this.request({ method: 'POST', path: `/simulations/${enc(id)}/cancel` }, options);
  }

  /** DELETE /simulations/{id} (204): cancel if needed, then delete the record and its result. */
  async deleteSimulation(id: string, options?: RequestOptions): Promise<void> {
    await this.request<unknown>({ method: 'DELETE', path: `/simulations/${enc(id)}` }, options);
  }

  /**
   * POST /analyses: validate completely, store and queue an analysis (201, its record, status
   * `queued`). The record's `kind` and `params` are typed after the request's `kind`. Its id is
   * followed like a simulation id (get, result, cancel, delete, WebSocket subscribe). An invalid
   * request rejects with a 422 `ApiError` whose `details` name the fields (`invalid_request`,
   * `invalid_config`, or `invalid_params`).
   */
  createAnalysis<K extends AnalysisKind>(body: CreateAnalysisRequest & { kind: K },
    options?: RequestOptions): Promise<AnalysisRecordOf<K>> {
    return this.request({ method: 'POST', path: '/analyses', body }, options);
  }

  /** GET /analyses: one page of this key's analyses, newest first. */
  listAnalyses(params: ListAnalysesParams = {}, options?: RequestOptions): Promise<AnalysisList> {
    return this.request({
      method: 'GET', path: '/analyses',
      query: { status: params.status, limit: params.limit, cursor: params.cursor },
    }, options);
  }

  /** Every analysis matching `params`, following `next_cursor` page by page. */
  async *iterateAnalyses(params: ListAnalysesParams = {},
    options?: RequestOptions): AsyncGenerator<AnalysisRecord, void, undefined> {
    let cursor = params.cursor ?? null;
    do {
      const page = await this.listAnalyses({ ...params, cursor }, options);
      yield* page.items;
      cursor = page.next_cursor;
    } while (cursor !== null);
  }

  /** GET /analyses/{id}: one analysis record (narrow on `kind` for its `params`). */
  getAnalysis(id: string, options?: RequestOptions): Promise<AnalysisRecord> {
    return this.request({ method: 'GET', path: `/analyses/${enc(id)}` }, options);
  }

  /**
   * GET /analyses/{id}/result: the table of a completed analysis (409 `conflict` until then),
   * a union discriminated on `kind`; with `{ kind }` typed for that kind (and checked).
   */
  getAnalysisResult(id: string, options?: RequestOptions & { kind?: undefined }): Promise<AnalysisResult>;
  getAnalysisResult<K extends AnalysisKind>(id: string,
    options: AnalysisResultOptions<K> & { kind: K }): Promise<AnalysisResultOf<K>>;
  async getAnalysisResult<K extends AnalysisKind>(id: string,
    options: AnalysisResultOptions<K> = {}): Promise<AnalysisResult> {
    const { kind, ...rest } = options;
    const result = await this.request<AnalysisResult>(
      { method: 'GET', path: `/analyses/${enc(id)}/result` }, rest);
    if (kind !== undefined && result.kind !== kind) {
      throw new ApiError(200, 'bad_response', `analysis ${id} is a ${result.kind} analysis, not ${kind}`,
        null, result);
    }
    return result;
  }

  /** POST /analyses/{id}/cancel (202): as `cancelSimulation`. 409 if already finished. */
  cancelAnalysis(id: string, options?: RequestOptions): Promise<AnalysisRecord> {
    return this.request({ method: 'POST', path: `/analyses/${enc(id)}/cancel` }, options);
  }

  /** DELETE /analyses/{id} (204): cancel if needed, then delete the record and its result. */
  async deleteAnalysis(id: string, options?: RequestOptions): Promise<void> {
    await this.request<unknown>({ method: 'DELETE', path: `/analyses/${enc(id)}` }, options);
  }

  /**
   * POST /loan-tapes: upload a loan tape, CSV text (UTF-8; at most 16 MiB and 20,000 loans, one
   * row a loan with the columns of DOMAIN.md "The fund's own book"). Resolves with
   * `{id, rows, errors: []}` (201): name it in a config as `portfolio.loans: 'tape:<id>'`. A bad
   * tape rejects with a 422 `ApiError` (`invalid_loan_tape`) whose `details` (also typed as
   * `tapeProblems`) give every bad row, column and value; nothing is stored then.
   */
  uploadLoanTape(csv: string, options?: RequestOptions): Promise<LoanTapeCreated> {
    if (typeof csv !== 'string') {
      throw new TypeError(`equihome-sim-sdk: uploadLoanTape takes the CSV text, got ${typeof csv}`);
    }
    return this.request({ method: 'POST', path: '/loan-tapes', csv }, options);
  }

  /** GET /loan-tapes: this key's loan tapes, newest first (`{items: [{id, rows, created_at, bytes}]}`). */
  listLoanTapes(options?: RequestOptions): Promise<LoanTapeList> {
    return this.request({ method: 'GET', path: '/loan-tapes' }, options);
  }

  /** GET /loan-tapes/{id}: one loan tape with its validated rows (`loans`). */
  getLoanTape(id: string, options?: RequestOptions): Promise<LoanTapeWithRows> {
    return this.request({ method: 'GET', path: `/loan-tapes/${enc(id)}` }, options);
  }

  /**
   * DELETE /loan-tapes/{id} (204): its bytes leave the key's quota. 409 `conflict` while a
   * queued or running run names it.
   */
  async deleteLoanTape(id: string, options?: RequestOptions): Promise<void> {
    await this.request<unknown>({ method: 'DELETE', path: `/loan-tapes/${enc(id)}` }, options);
  }

  /** GET /presets: every bundled preset with its full config. */
  listPresets(options?: RequestOptions): Promise<PresetList> {
    return this.request({ method: 'GET', path: '/presets' }, options);
  }

  /** GET /presets/{name}: one preset. */
  getPreset(name: string, options?: RequestOptions): Promise<Preset> {
    return this.request({ method: 'GET', path: `/presets/${enc(name)}` }, options);
  }

  /** GET /schema/config: the JSON Schema of a fund configuration. */
  getConfigSchema(options?: RequestOptions): Promise<JsonSchema> {
    return this.request({ method: 'GET', path: '/schema/config' }, options);
  }

  /** GET /schema/result: the JSON Schema of a result. */
  getResultSchema(options?: RequestOptions): Promise<JsonSchema> {
    return this.request({ method: 'GET', path: '/schema/result' }, options);
  }

  /** GET /health: liveness, version and queue depth (no key needed). */
  health(options?: RequestOptions): Promise<Health> {
    return this.request({ method: 'GET', path: '/health' }, options);
  }

  /** Sends one request; resolves with the parsed JSON body (undefined for 204). */
  protected async request<T>(call: Call, options: RequestOptions = {}): Promise<T> {
    const cfg = this.configuration;
    const headers: Record<string, string> = { Accept: 'application/json', ...cfg.headers,
      ...(options.headers ?? {}) };
    const key = await cfg.resolveApiKey();
    if (key) headers['X-API-Key'] = key;
    const init: FetchInitLike = { method: call.method, headers };
    if (call.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(call.body);
    } else if (call.csv !== undefined) {
      headers['Content-Type'] = 'text/csv; charset=utf-8';
      init.body = call.csv;
    }
    if (options.signal !== undefined) init.signal = options.signal;
    const url = cfg.apiBasePath + call.path + queryString(call.query);

    let text: string;
    let response;
    try {
      response = await cfg.fetchApi(url, init);
      text = await response.text();
    } catch (err) {
      if (options.signal?.aborted) throw err; // the caller aborted: keep the AbortError
      const why = err instanceof Error ? err.message : String(err);
      throw new ApiError(0, 'network_error', `${call.method} ${url}: ${why}`, null, null, { cause: err });
    }
    if (!response.ok) throw ApiError.fromResponse(response.status, response.statusText, text);
    if (response.status === 204 || text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new ApiError(response.status, 'bad_response', `${call.method} ${url}: the answer is not JSON`,
        null, text, { cause: err });
    }
  }
}

function enc(segment: string): string {
  if (typeof segment !== 'string' || segment === '') {
    throw new TypeError(`equihome-sim-sdk: expected a non-empty string, got ${String(segment)}`);
  }
  return encodeURIComponent(segment);
}

function queryString(query: Call['query']): string {
  if (!query) return '';
  const parts = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
