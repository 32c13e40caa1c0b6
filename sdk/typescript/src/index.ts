// equihome-sim-sdk: REST client (Configuration, SimulationApi) and WebSocket client
// (WebSocketClient) of the Equihome Sim Engine. Zero runtime dependencies.

export { Configuration, DEFAULT_BASE_PATH, restBase, type ConfigurationParameters } from './configuration.js';
export {
  SimulationApi,
  type AnalysisResultOptions,
  type ListAnalysesParams,
  type ListSimulationsParams,
  type RequestOptions,
  type ScenariosOptions,
} from './api.js';
export {
  WebSocketClient,
  backoffDelay,
  buildWebSocketUrl,
  isAnalysisResult,
  isAnalysisRow,
  type ConnectionCloseEvent,
  type ConnectionOpenEvent,
  type ConnectionState,
  type ReconnectingEvent,
  type WaitForResultOptions,
  type WebSocketClientEvent,
  type WebSocketClientEventMap,
  type WebSocketClientHandler,
  type WebSocketClientOptions,
} from './websocket.js';
export { ApiError, SimulationError, WebSocketClientError, type ApiErrorCode } from './errors.js';
export type {
  FetchInitLike,
  FetchLike,
  FetchResponseLike,
  Logger,
  WebSocketConstructorLike,
  WebSocketLike,
} from './runtime.js';
export type * from './models.js';
export type * from './types.js';
