import { host, type FetchLike } from './runtime.js';

/** Where the REST API is and how to call it. */
export interface ConfigurationParameters {
  /**
   * The server, e.g. `http://localhost:8000` (the default), or the REST base itself,
   * e.g. `http://localhost:8000/api`. The REST routes live under `/api`, so `/api` is
   * appended unless the path already ends with it (`https://hub.example/user/me/equihome`
   * becomes `.../equihome/api`, the Jupyter extension's mount). `''` means the page's own
   * origin (`/api`).
   */
  basePath?: string;
  /** API key, sent as the `X-API-Key` header; or a function giving it (called per request). */
  apiKey?: string | (() => string | Promise<string>);
  /** A `fetch` to use instead of the global one. */
  fetch?: FetchLike;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

export const DEFAULT_BASE_PATH = 'http://localhost:8000';

/** REST client settings, as in the spec: `new Configuration({ basePath: 'http://localhost:8000' })`. */
export class Configuration {
  /** basePath as given (trailing slashes removed). */
  readonly basePath: string;
  readonly apiKey: string | (() => string | Promise<string>) | undefined;
  readonly headers: Readonly<Record<string, string>>;
  private readonly fetchOverride: FetchLike | undefined;

  constructor(params: ConfigurationParameters = {}) {
    this.basePath = (params.basePath ?? DEFAULT_BASE_PATH).replace(/\/+$/, '');
    this.apiKey = params.apiKey;
    this.headers = { ...(params.headers ?? {}) };
    this.fetchOverride = params.fetch;
  }

  /** The REST base URL: basePath with `/api` appended unless it already ends with `/api`. */
  get apiBasePath(): string {
    return restBase(this.basePath);
  }

  /** The configured fetch, else the global one; throws when there is neither. */
  get fetchApi(): FetchLike {
    if (this.fetchOverride) return this.fetchOverride;
    const global = host.fetch;
    if (typeof global !== 'function') {
      throw new Error('equihome-sim-sdk: no global fetch; pass `fetch` to new Configuration({...})');
    }
    return (url, init) => global(url, init); // called unbound: some browsers require that
  }

  /** The API key for the next request (resolving a key function). */
  async resolveApiKey(): Promise<string | undefined> {
    const key = this.apiKey;
    return typeof key === 'function' ? await key() : key;
  }
}

/** `http://h:8000` -> `http://h:8000/api`; `http://h:8000/api` stays; `''` -> `/api`. */
export function restBase(basePath: string): string {
  const path = basePath.replace(/\/+$/, '');
  return /(^|\/)api$/.test(path) ? path : `${path}/api`;
}
