// Friendly names for the generated models (src/models.ts) as the SDK's API uses them.

import type {
  CreateSimulation,
  ErrorMessage,
  ErrorResponse,
  GuardrailViolationMessage,
  IntermediateResultMessage,
  Module,
  ModuleCompletedMessage,
  ModuleStartedMessage,
  ProgressMessage,
  ResultMessage,
  RunningStatistics,
  SimulationRecord,
  TranchesData,
} from './models.js';

/** `queued`, `running`, `completed`, `failed` or `cancelled`. */
export type SimulationStatus = SimulationRecord['status'];

/** Body of `createSimulation`: `{config, name?}` or `{preset, overrides?, name?}`. */
export type CreateSimulationRequest = CreateSimulation;

/** The server's error codes (`error.code` of every REST error answer). */
export type ServerErrorCode = ErrorResponse['error']['code'];

/** WebSocket `progress` update: overall percent, the stage now running and a sentence. */
export type ProgressUpdate = ProgressMessage;
/** WebSocket `module_started` update (once per stage per simulation). */
export type ModuleStartedUpdate = ModuleStartedMessage;
/** WebSocket `module_completed` update (`execution_time` in seconds). */
export type ModuleCompletedUpdate = ModuleCompletedMessage;
/**
 * WebSocket `intermediate_result` update: `data.tranches` from `waterfall_engine` (asyncapi.yaml's
 * `if module is waterfall_engine then data is TranchesData`), running Monte Carlo statistics from
 * `metrics`. Test `module` to narrow `data`.
 */
export type IntermediateResultUpdate =
  | (Omit<IntermediateResultMessage, 'module' | 'data'> & { module: 'waterfall_engine'; data: TranchesData })
  | (Omit<IntermediateResultMessage, 'module'> & { module: Exclude<Module, 'waterfall_engine'>;
    data: RunningStatistics | TranchesData });
/** WebSocket `result` update: the final result. */
export type ResultUpdate = ResultMessage;
/**
 * WebSocket `error` update, emitted by the client as `error_update`: the end of a failed or
 * cancelled run (it has a `module` field; `error` is `"cancelled"` for a cancellation), or the
 * answer to an invalid command (no `module` field).
 */
export type ErrorUpdate = ErrorMessage;
/** WebSocket `guardrail_violation` update. */
export type GuardrailViolationUpdate = GuardrailViolationMessage;

/** Every update the server sends. */
export type ServerMessage =
  | ProgressUpdate
  | ModuleStartedUpdate
  | ModuleCompletedUpdate
  | IntermediateResultUpdate
  | ResultUpdate
  | ErrorUpdate
  | GuardrailViolationUpdate;

/** The `type` of a server update. */
export type UpdateType = ServerMessage['type'];

/** A command the client sends. */
export interface ClientCommand {
  action: 'subscribe' | 'unsubscribe' | 'cancel';
  simulation_id: string;
}
