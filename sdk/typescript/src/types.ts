// Friendly names for the generated models (src/models.ts) as the SDK's API uses them.

import type {
  AnalysisKind,
  AnalysisModule,
  AnalysisRecord,
  AnalysisResult,
  AnalysisResultMessage,
  AnalysisRowMessage,
  CreateAnalysis,
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
/** WebSocket `result` update of a simulation: the final result. */
export type ResultUpdate = ResultMessage;
/**
 * WebSocket `error` update, emitted by the client as `error_update`: the end of a failed or
 * cancelled run (it has a `module` field; `error` is `"cancelled"` for a cancellation), or the
 * answer to an invalid command (no `module` field).
 */
export type ErrorUpdate = ErrorMessage;
/** WebSocket `guardrail_violation` update. */
export type GuardrailViolationUpdate = GuardrailViolationMessage;

// ------------------------------------------------------------------ analyses

/** Body of `createAnalysis`: `{kind, config | preset, overrides?, params?, name?}`, `params` typed per kind. */
export type CreateAnalysisRequest = CreateAnalysis;

/** The analysis record of kind `K` (its `params` typed for that kind). */
export type AnalysisRecordOf<K extends AnalysisKind> = Extract<AnalysisRecord, { kind: K }>;

/** The result payload of an analysis of kind `K` (`StressResult`, `TornadoResult`, ...). */
export type AnalysisResultOf<K extends AnalysisKind> = Extract<AnalysisResult, { kind: K }>;

/** The row type of an analysis of kind `K` (what its result's `rows` hold). */
export type AnalysisTableRow<K extends AnalysisKind> = AnalysisResultOf<K>['rows'][number];

/**
 * The `module` of `progress`, `module_started`, `module_completed` and `error` updates: an engine
 * stage (simulations), an analysis variant such as `"stress:mvd_20"`, or `"analysis"` (the final
 * progress of an analysis).
 */
export type ModuleName = Module | AnalysisModule | 'analysis';

/**
 * WebSocket `intermediate_result` update of an analysis, emitted by the client as `analysis_row`:
 * a finished row, `module` the variant that produced it (`"stress:mvd_20"`, `"tornado:hurdle_rate:high"`,
 * `"breakeven:3"`, `"sweep:avg_loan_ltv=0.3000"`).
 */
export type AnalysisRowUpdate = AnalysisRowMessage;

/**
 * WebSocket `result` update of an analysis, emitted by the client as `analysis_result`:
 * `result` is the analysis's table (typed per kind; narrow on `result.kind`).
 */
export type AnalysisResultUpdate<K extends AnalysisKind = AnalysisKind> =
  Omit<AnalysisResultMessage, 'result'> & { result: AnalysisResultOf<K> };

/** Every update the server sends (simulations and analyses). */
export type ServerMessage =
  | ProgressUpdate
  | ModuleStartedUpdate
  | ModuleCompletedUpdate
  | IntermediateResultUpdate
  | AnalysisRowUpdate
  | ResultUpdate
  | AnalysisResultUpdate
  | ErrorUpdate
  | GuardrailViolationUpdate;

/** The `type` of a server update. */
export type UpdateType = ServerMessage['type'];

/** A command the client sends. */
export interface ClientCommand {
  action: 'subscribe' | 'unsubscribe' | 'cancel';
  simulation_id: string;
}
